"""Export and publish from the run screen: a small form each (the FormModal of the dataset
forms), then the same job functions ``ffui export`` and ``ffui publish`` call. A problem the
user can fix (no token, nothing merged yet, a folder that exists) is the one line those give."""

from __future__ import annotations

from screens.dataset_forms import Field, FormModal

NO_GGUF = "none"


def export_form(run_id: int) -> FormModal:
    return FormModal(f"Export run {run_id}", [
        Field("merged", "merged: the whole model, adapter merged in (16-bit)", "check", True),
        Field("dtype", "precision of a merged model:", "select", "bf16", [("bf16", "bf16"), ("fp16", "fp16")]),
        Field("gguf", "also GGUF (llama.cpp, merged only):", "select", NO_GGUF,
              [("no", NO_GGUF), ("q8_0", "q8_0"), ("f16", "f16"), ("bf16", "bf16")]),
        Field("out", "folder to write (empty: in the job's run folder):", path=True),
    ], submit="Export", note="An export job: it shows in Runs (1) with its progress and log.")


def publish_form(run_id: int) -> FormModal:
    return FormModal(f"Publish run {run_id} to the Hugging Face Hub", [
        Field("to", "repo (org/name):", placeholder="your-name/my-adapter", required=True),
        Field("merged", "the merged model (its newest merged export)", "check", False),
        Field("private", "private repo", "check", False),
        Field("update", "update: a new version in my existing repo", "check", False),
    ], submit="Publish", note="Uses the token in Settings (huggingface.token); a card is written from the run.")


async def export_run(screen, run_id: int) -> None:
    from ffui.jobs.exports import start_export

    form = await screen.app.push_screen_wait(export_form(run_id))
    if form is None:
        return
    gguf = None if form["gguf"] == NO_GGUF else form["gguf"]
    job = await start_export(screen.app.db, run_id, merged=form["merged"], dtype=form["dtype"], out=form["out"],
                             gguf=gguf)
    screen.notify(f"export job {job['id']} {'started' if job['status'] == 'running' else 'queued'}")


async def publish_run(screen, run_id: int) -> None:
    from ffui.jobs.publishing import start_publish

    form = await screen.app.push_screen_wait(publish_form(run_id))
    if form is None:
        return
    job = await start_publish(screen.app.db, run_id, form["to"], merged=form["merged"], private=form["private"],
                              update=form["update"])
    screen.notify(f"publish job {job['id']} to {form['to']} {'started' if job['status'] == 'running' else 'queued'}")
