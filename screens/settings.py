"""Settings (mode 6): tokens, proxy, where things live, the database, export and import.

Secrets (the Hugging Face token, the RunPod API key) are typed into password inputs,
stored as secret settings, cleared from the input once saved, and shown afterwards only
masked (``mask_secret``); they are never written to a log line or a notification in full.
Each field saves with enter; ctrl+s saves every changed field.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static

from ffui.setting_keys import PROXY_URL as PROXY_RE
from screens.widgets.base import FfuiScreen
from screens.widgets.tick import Tick

SECRETS = (("huggingface.token", "Hugging Face token"), ("runpod.api_key", "RunPod API key"))
PROXIES = (("proxy.https", "HTTPS proxy"), ("proxy.http", "HTTP proxy"), ("proxy.no_proxy", "No proxy for"))


def field_id(key: str) -> str:
    return "set-" + key.replace(".", "-")


def check_value(key: str, label: str, value: str) -> str | None:
    """Why a value cannot be saved, or None."""
    if key in dict(SECRETS) and not value:
        return f"the {label} is empty; nothing was saved (paste it, then press enter)"
    if key in dict(SECRETS) and (len(value) < 8 or any(c.isspace() for c in value)):
        return f"that {label} cannot be right (too short or has spaces); nothing was saved"
    if key in ("proxy.https", "proxy.http") and value and not PROXY_RE.match(value):
        return f"{label}: expected a URL like http://proxy.example:3128, got {value[:40]!r}; nothing was saved"
    return None


def resolve_user_path(home: Path, text: str) -> Path:
    """A path typed in the UI: ~ expanded, relative paths under the ffui home (shown in the header)."""
    path = Path(text.strip()).expanduser()
    return path if path.is_absolute() else home / path


# What the tables hold, in the words the other screens use; in this order.
TABLE_WORDS = {
    "scrape_sessions": "datasets", "scraped_pairs": "dataset rows", "training_runs": "runs",
    "training_configs": "saved configs", "adapters": "adapters", "models": "models", "prompts": "prompt templates",
    "app_logs": "log lines", "settings": "settings", "datasets": "catalogued datasets", "configs": "catalogued configs",
    "evaluation_jobs": "evaluations", "evaluation_models": "evaluated models", "app_state": "app state",
}

class SettingsScreen(FfuiScreen):
    mode_title = "Settings"
    HELP = (
        "Tokens and keys are stored in the database as secrets: masked everywhere, left out of exports "
        "unless you tick 'with secrets'. Proxy settings apply to hub downloads and RunPod. Relative paths "
        "for export/import are inside the ffui home. The token field has the keys when Settings opens: paste, "
        "then enter. tab moves between fields; escape leaves a field (then 1-6 switch modes)."
    )
    BINDINGS = [
        Binding("ctrl+s", "save_all", "Save all", id="settings.save_all"),
        Binding("escape", "blur", "Leave field", show=False, id="settings.blur"),
    ]

    # The token field takes the keys: a pasted or typed token goes in it, digits included.
    AUTO_FOCUS = "#" + field_id("huggingface.token")

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[str, str] = {}  # non-secret values as stored, to tell what changed

    def compose(self) -> ComposeResult:
        yield from self.compose_chrome()
        with VerticalScroll(id="settings", can_focus=False):  # (tab goes field to field; no invisible stop)
            yield Label("Secrets  (enter saves; shown masked, never in full)", classes="section")
            for key, label in SECRETS:
                yield self._row(label, Input(password=True, compact=True, id=field_id(key), placeholder="paste, then enter"),
                                Static("", id=field_id(key) + "-state", classes="field-state"))
            yield Label("Proxy  (hub downloads, RunPod; empty + enter removes)", classes="section")
            for key, label in PROXIES:
                yield self._row(label, Input(compact=True, id=field_id(key), placeholder="not set"),
                                Static("", id=field_id(key) + "-state", classes="field-state"))
            yield Label("Where things live  (read-only)", classes="section")
            yield Static("", id="paths")
            yield Label("Database", classes="section")
            yield Static("reading…", id="db-info")
            yield Label("Export and import  (JSON; enter runs)", classes="section")
            yield self._row("Export to", Input(compact=True, id="export-path", placeholder="ffui-export.json"),
                            Tick("with secrets", id="export-secrets", compact=True))
            yield self._row("Import from", Input(compact=True, id="import-path", placeholder="path of an export"),
                            Static("", classes="field-state"))
            yield Static("", id="io-result")

    @staticmethod
    def _row(label: str, field, state) -> Horizontal:
        return Horizontal(Label(label, classes="field-label"), field, state, classes="field-row")

    def on_mount(self) -> None:
        self.query_one("#paths", Static).update(self.paths_table())
        self.run_worker(self.load, group="settings-load", exclusive=True, exit_on_error=False)

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.run_worker(self.load_db_info, group="settings-info", exclusive=True, exit_on_error=False)

    def paths_table(self) -> Table:
        paths = self.app.paths
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="fold")
        table.add_column(style="dim", no_wrap=True)
        table.add_row("home", str(paths.home), "FFUI_HOME / --home")
        table.add_row("database", str(paths.db), "FFUI_DB / --db")
        table.add_row("run outputs", str(paths.training_outputs), "follows the home")
        table.add_row("crash log", str(paths.home / "ffui-crash.log"), "")
        return table

    # -- loading -----------------------------------------------------------------------

    async def load(self) -> None:
        from ffui.db import get_setting, mask_secret

        db = self.app.db
        for key, _label in SECRETS:
            value = await get_setting(db, key)
            self._state(key, f"set: {mask_secret(value)}" if value else "not set", ok=bool(value))
        for key, _label in PROXIES:
            value = await get_setting(db, key) or ""
            self.saved[key] = value
            self.query_one("#" + field_id(key), Input).value = value
            self._state(key, "", ok=True)
        await self.load_db_info()

    async def load_db_info(self) -> None:
        """Rows by what they are to a user (datasets, runs), not by table (scrape_sessions)."""
        import asyncio

        from ffui.db import schema_version, table_counts

        db = self.app.db
        counts = await table_counts(db)
        version = await schema_version(db)
        size = await asyncio.to_thread(lambda: db.path.stat().st_size if db.path.exists() else 0)
        text = Text(f"schema v{version} · {size / 2**20:.1f} MB · rows: ", no_wrap=False)
        known = [t for t in TABLE_WORDS if counts.get(t)] + sorted(t for t in counts if t not in TABLE_WORDS and counts[t])
        text.append(", ".join(f"{TABLE_WORDS.get(t, t)} {counts[t]:,}" for t in known), style="dim")
        if not any(counts.values()):
            text.append("empty", style="dim")
        self.query_one("#db-info", Static).update(text)

    def _state(self, key: str, message: str, ok: bool) -> None:
        state = self.query_one("#" + field_id(key) + "-state", Static)
        state.update(Text(message, style="green" if ok else "dim"))

    # -- saving ------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        input_id = event.input.id or ""
        if input_id == "export-path":
            self.run_worker(partial(self.export, event.value), group="io", exclusive=True, exit_on_error=False)
        elif input_id == "import-path":
            self.run_worker(partial(self.import_, event.value), group="io", exclusive=True, exit_on_error=False)
        else:
            key = next((k for k, _ in SECRETS + PROXIES if field_id(k) == input_id), None)
            if key is not None:
                self.run_worker(partial(self.save, key, event.value), group=f"save-{key}", exit_on_error=False)

    async def save(self, key: str, raw: str) -> bool:
        from ffui.db import delete_setting, mask_secret, set_setting

        label = dict(SECRETS + PROXIES)[key]
        value = raw.strip()
        problem = check_value(key, label, value)
        if problem:
            self.notify(problem, severity="error", markup=False)
            return False
        field = self.query_one("#" + field_id(key), Input)
        if key in dict(SECRETS):
            await set_setting(self.app.db, key, value)
            field.value = ""  # the secret leaves the screen once it is stored
            self._state(key, f"set: {mask_secret(value)}", ok=True)
            self.notify(f"{label} saved ({mask_secret(value)})", markup=False)
        elif value:
            await set_setting(self.app.db, key, value)
            self.saved[key] = value
            self._state(key, "saved", ok=True)
        else:
            await delete_setting(self.app.db, key)
            self.saved[key] = ""
            self._state(key, "removed", ok=True)
        return True

    def action_save_all(self) -> None:
        self.run_worker(self._save_all, group="save-all", exit_on_error=False)

    async def _save_all(self) -> None:
        changed = self.changed_keys()
        if not changed:
            self.notify("nothing to save")
            return
        saved = [key for key in changed if await self.save(key, self.query_one("#" + field_id(key), Input).value)]
        if saved:
            self.notify(f"saved {len(saved)} setting{'s' if len(saved) != 1 else ''}")

    def changed_keys(self) -> list[str]:
        out = [k for k, _ in SECRETS if self.query_one("#" + field_id(k), Input).value]
        out += [k for k, _ in PROXIES if self.query_one("#" + field_id(k), Input).value.strip() != self.saved.get(k, "")]
        return out

    def has_unsaved_changes(self) -> bool:
        return bool(self.is_mounted and self.changed_keys())

    # -- export and import -------------------------------------------------------------

    async def export(self, raw: str) -> None:
        from ffui.db import export_database

        if not raw.strip():
            self.notify("type the path of the file to write, e.g. ffui-export.json", severity="error")
            return
        path = resolve_user_path(self.app.paths.home, raw)
        if path.is_dir():
            self.notify(f"{path} is a directory; give a file path like {path / 'ffui-export.json'}",
                        severity="error", markup=False)
            return
        if not path.parent.is_dir():
            self.notify(f"folder {path.parent} does not exist; create it or choose another path",
                        severity="error", markup=False)
            return
        secrets = self.query_one("#export-secrets", Tick).value
        counts = await export_database(self.app.db, path, include_secrets=secrets)
        note = " with secrets (file mode 0600)" if secrets else "; secrets left out"
        self._io(f"exported {sum(counts.values()):,} rows from {len(counts)} tables to {path}{note}")

    async def import_(self, raw: str) -> None:
        from ffui.db import import_database

        if not raw.strip():
            self.notify("type the path of an export file to import", severity="error")
            return
        path = resolve_user_path(self.app.paths.home, raw)
        if not path.exists():
            self.notify(f"{path} does not exist; nothing was imported", severity="error", markup=False)
            return
        report = await import_database(self.app.db, path)
        self._io(f"imported {path}:\n" + "\n".join(report.lines()))
        await self.load()

    def _io(self, message: str) -> None:
        self.query_one("#io-result", Static).update(Text(message))
        self.notify(message.splitlines()[0], markup=False)

    # -- navigation --------------------------------------------------------------------

    def focus_field(self, what: str) -> None:
        target = {"export": "#export-path", "import": "#import-path",
                  "token": "#" + field_id("huggingface.token")}.get(what)
        if target:
            self.query_one(target).focus()

    def action_blur(self) -> None:
        self.set_focus(None)
