"""Widgets shared by ffui's screens (the Datasets/Train/Playground screens may import them too).

- ``FfuiScreen``: base screen (header + footer via ``compose_chrome``, failed workers as notices)
- ``Poller``: non-overlapping polling that pauses while its screen is hidden
- ``AppHeader``: modes, home, GPU summary
- ``ConfirmModal`` / ``ChoiceModal`` / ``TextModal``: keyboard-first dialogs
- ``LossChart``: braille loss / eval-loss chart; ``sparkline``: block-character trend
- ``LineView``: bounded Line-API list with follow mode; ``LogTail``: offset-based file tail
- ``Tick``: a check box that reads without colour (X or blank)
- ``GpuPanel``: per-GPU utilisation, memory, temperature, power (or why there is none)
"""

import importlib

# name -> module; imported on first use, so importing one widget does not import them all
# (start-up time: the first frame only pays for what the Runs screen shows).
_WHERE = {
    "FfuiScreen": "base", "Poller": "base", "report_failed_worker": "base", "LossChart": "chart",
    "bar": "format", "fmt_eta": "format", "fmt_num": "format", "short_path": "format", "sparkline": "format",
    "GpuPanel": "gpu_panel", "AppHeader": "header", "LineView": "lines", "LogTail": "log_tail",
    "Tick": "tick", "ChoiceModal": "modals", "ConfirmModal": "modals", "Confirmed": "modals", "TextModal": "modals",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'screens.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(f"screens.widgets.{_WHERE[name]}"), name)
