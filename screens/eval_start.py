"""Starting an evaluation from the TUI: a run's adapter (and its base) on a dataset.

The form asks what ``ffui eval`` asks; the job is made and queued by the same function the CLI
calls (ffui.jobs.evaluations.start_evaluation), and its run screen opens: the UI process
never loads a model.
"""

from __future__ import annotations

from screens.dataset_forms import Field, FormModal

METRICS = "loss,perplexity,exact_match,rouge_l"


async def default_dataset(db, run: dict) -> tuple[str, str]:
    """(dataset, split) to offer: the run's dataset, its validation part when it has one."""
    from ffui.data import store
    from ffui.data.errors import DataError

    try:
        session = await store.resolve(db, int(run["dataset_id"]))
    except (DataError, TypeError, ValueError, KeyError):
        return "", ""
    name = store.display_name(session)
    group = (store.session_meta(session).get("split") or {}).get("group") or name
    for part in ("validation", "test"):
        try:
            await store.resolve(db, f"{group}-{part}")
            return group, part
        except DataError:
            continue
    return name, ""


def evaluation_fields(dataset: str, split: str) -> list[Field]:
    return [
        Field("dataset", "Dataset:", value=dataset, required=True),
        Field("split", "Split:", value=split, placeholder="validation, test, or empty for the whole dataset",
              help="its part made by Split (NAME-validation)"),
        Field("limit", "Rows:", kind="int", value=None, placeholder="all"),
        Field("metrics", "Metrics:", value=METRICS, required=True,
              help="loss,perplexity,exact_match,rouge_l,judge (judge: settings eval.judge_url and _model)"),
        Field("base", "Compare with the base model", kind="check", value=True),
    ]


async def ask_to_evaluate(screen, run: dict) -> None:
    """Ask, then queue the evaluation of ``run``'s adapter and open its run screen."""
    dataset, split = await default_dataset(screen.app.db, run)

    def go(values: dict | None) -> None:
        if values:
            screen.run_worker(start(screen, run, values), group="evaluate", exit_on_error=False)

    screen.app.push_screen(FormModal(f"Evaluate run {run['id']} ({run['name']})", evaluation_fields(dataset, split),
                                     submit="Evaluate",
                                     note="Every model answers the same prompts with this run's chat template, "
                                          "greedily; the job runs detached, like a training run."), go)


async def start(screen, run: dict, values: dict) -> None:
    from ffui.jobs.evaluations import start_evaluation

    job = await start_evaluation(screen.app.db, adapters=[str(run["id"])], base=bool(values["base"]),
                                 dataset=values["dataset"], split=values["split"] or None, limit=values["limit"],
                                 metrics=values["metrics"])
    screen.app.notify(f"evaluation {job['id']} queued: {job['name']}", markup=False)
    screen.app.open_run(job["id"])
