"""Publishing to the Hugging Face Hub: ``upload`` (a folder and its card, as one commit) and the
``publish`` job kind's worker, ``python -m ffui.train.publish RUN_DIR`` (docs/export.md).

The worker's RUN_DIR/config.json (written by ffui.jobs.publishing) names the folder to publish
(an adapter, or a merged export), the repo, and the README card ffui wrote from what it knows.
The token comes in the environment (``HF_TOKEN``), never on a command line, and is never printed.
Every refusal of the hub is one line (``HubRefusal``) saying what to do: a bad token, no write
permission, a name taken, no network.

Files are staged in RUN_DIR/upload as hard links (a copy where links cannot be made), so the
card replaces the README.md that peft writes into an adapter folder without touching it, and the
job's folder keeps exactly what was published.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from ffui.events import DONE, START, STEP
from ffui.train.control import Control
from ffui.train.events import EXIT_OK, EventWriter, UserError

SET_TOKEN = "ffui settings set huggingface.token"


class HubRefusal(UserError):
    """The hub (or the way to it) said no; the message says what to do."""

    kind = "hub"


def stage(folder: Path, stage_dir: Path, card: str) -> list[str]:
    """``folder``'s files, linked into ``stage_dir``, with ``card`` as its README.md."""
    shutil.rmtree(stage_dir, ignore_errors=True)
    names = []
    for src in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = src.relative_to(folder)
        if rel.as_posix() == "README.md" or rel.parts[0].startswith("."):
            continue
        dst = stage_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:  # another filesystem, or one without hard links
            shutil.copy2(src, dst)
        names.append(rel.as_posix())
    stage_dir.mkdir(parents=True, exist_ok=True)
    (stage_dir / "README.md").write_text(card, encoding="utf-8")
    return names + ["README.md"]


def upload(stage_dir: Path, repo_id: str, *, repo_type: str = "model", private: bool = False, update: bool = False,
           token: str | None = None, progress: Callable[[str], None] = print) -> str:
    """Create ``repo_id`` (or, with ``update``, reuse it) and commit ``stage_dir`` to it; its URL."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise HubRefusal("publishing needs huggingface_hub, which is not installed",
                         "pip install 'ffui[train]' (or pip install huggingface_hub)") from None
    api = HfApi(token=token or None)
    try:
        progress(f"creating {repo_type} repo {repo_id}" + (" (private)" if private else ""))
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=update)
        progress(f"uploading {sum(1 for p in stage_dir.rglob('*') if p.is_file())} files to {url}")
        api.upload_folder(folder_path=stage_dir, repo_id=repo_id, repo_type=repo_type,
                          commit_message="Upload from ffui")
    except Exception as e:
        raise refusal(e, repo_id, repo_type, update) from None
    progress(f"published {url}")
    return str(url)


def refusal(e: Exception, repo_id: str, repo_type: str, update: bool) -> Exception:
    """The one line for what went wrong talking to the hub (an unforeseen error stays itself)."""
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    status = getattr(getattr(e, "response", None), "status_code", None) if isinstance(e, HfHubHTTPError) else None
    owner = repo_id.split("/")[0]
    if status == 401:
        return HubRefusal("the Hugging Face hub refused the token (401: invalid or expired)",
                          f"set a valid token with write access: {SET_TOKEN} hf_...")
    if status == 403:
        return HubRefusal(f"your Hugging Face token may not write to {owner!r} (403)",
                          f"use a token with write access to {owner} ({SET_TOKEN}), or publish under your own name")
    if status == 409:
        return HubRefusal(f"the name {repo_id} is taken: a {repo_type} repo of that name exists on the hub",
                          "choose another --to" + ("" if update else ", or add --update to push a new version to "
                                                   "a repo of yours"))
    if status is None and _is_network(e):
        return HubRefusal(f"cannot reach the Hugging Face hub at {endpoint} ({type(e).__name__})",
                          "check the network, or the proxy.https setting; nothing was published")
    if status is not None:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return HubRefusal(f"the Hugging Face hub refused the upload ({status}): {first}", "nothing was published")
    return e


def _is_network(e: BaseException) -> bool:
    import httpx2  # huggingface_hub's HTTP client

    while e is not None:
        if isinstance(e, (httpx2.TransportError, ConnectionError, TimeoutError)):
            return True
        e = e.__cause__ or e.__context__
    return False


def publish_job(run_dir: Path, events: EventWriter, control: Control) -> int:
    spec = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["publish"]
    events.emit(START, backend="publish", device="cpu", precision=None, config=spec, total_steps=3,
                resumed_from_step=None, data={})
    folder = Path(spec["folder"])
    if not folder.is_dir():
        raise UserError(f"{folder} is not on disk any more", "export the run again, then publish", kind="config")
    files = stage(folder, run_dir / "upload", spec["card"])
    print(f"staged {len(files)} files: {', '.join(files[:12])}" + (" ..." if len(files) > 12 else ""), flush=True)
    step = iter(range(1, 4))

    def progress(line: str) -> None:
        print(line, flush=True)
        events.emit(STEP, step=next(step, 3), total=3, loss=None, eta_s=None)

    url = upload(run_dir / "upload", spec["repo_id"], repo_type=spec.get("repo_type", "model"),
                 private=bool(spec.get("private")), update=bool(spec.get("update")),
                 token=os.environ.get("HF_TOKEN"), progress=progress)
    events.emit(DONE, adapter_path=None, metrics={"url": url, "repo_id": spec["repo_id"], "files": files})
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    from ffui.train.runner import worker_main

    return worker_main(sys.argv[1:] if argv is None else argv, publish_job, "ffui.train.publish")


if __name__ == "__main__":
    sys.exit(main())
