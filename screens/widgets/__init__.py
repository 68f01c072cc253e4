"""Widgets shared by ffui's screens (the Datasets/Train/Playground screens may import them too).

- ``FfuiScreen``: base screen (header + footer via ``compose_chrome``, failed workers as notices)
- ``Poller``: non-overlapping polling that pauses while its screen is hidden
- ``AppHeader``: modes, home, GPU summary
- ``ConfirmModal`` / ``ChoiceModal`` / ``TextModal``: keyboard-first dialogs
- ``LossChart``: braille loss / eval-loss chart; ``sparkline``: block-character trend
- ``LineView``: bounded Line-API list with follow mode; ``LogTail``: offset-based file tail
- ``GpuPanel``: per-GPU utilisation, memory, temperature, power (or why there is none)
"""

from screens.widgets.base import FfuiScreen, Poller, report_failed_worker
from screens.widgets.chart import LossChart
from screens.widgets.format import bar, fmt_eta, fmt_num, short_path, sparkline
from screens.widgets.gpu_panel import GpuPanel
from screens.widgets.header import AppHeader
from screens.widgets.lines import LineView
from screens.widgets.log_tail import LogTail
from screens.widgets.modals import ChoiceModal, ConfirmModal, Confirmed, TextModal

__all__ = [
    "AppHeader", "ChoiceModal", "ConfirmModal", "Confirmed", "FfuiScreen", "GpuPanel", "LineView", "LogTail",
    "LossChart", "Poller", "TextModal", "bar", "fmt_eta", "fmt_num", "report_failed_worker", "short_path", "sparkline",
]
