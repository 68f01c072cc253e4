"""The GPU panel: one line per GPU (utilisation, memory, temperature, power), or why there is none.

It draws ``app.gpu_state``, which the app refreshes from a thread (NVML blocks); the panel
itself never calls NVML.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ffui.gpu import GpuInfo, GpuState
from screens.widgets.format import bar


def gpu_line(g: GpuInfo) -> Text:
    util = g.util_pct if g.util_pct is not None else 0
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"GPU{g.index} ", style="bold")
    text.append(f"{g.name[:14]:<14} ")
    text.append(bar(util / 100, 8), style="red" if util >= 95 else "green")
    text.append(f" {util:>3}%  " if g.util_pct is not None else "   --  ")
    if g.mem_total_mb:
        text.append(f"{(g.mem_used_mb or 0) / 1024:5.1f}/{g.mem_total_mb / 1024:.0f}G  ")
    if g.temp_c is not None:
        text.append(f"{g.temp_c}°C  ", style="red" if g.temp_c >= 85 else "")
    if g.power_w is not None:
        text.append(f"{g.power_w:.0f}" + (f"/{g.power_limit_w:.0f}W" if g.power_limit_w else "W"))
    return text


def render_gpus(state: GpuState | None) -> Text:
    if state is None:
        return Text("GPU: checking…", style="dim")
    if not state.gpus:
        return Text(f"no GPU ({state.reason}): runs train on the CPU", style="dim") if state.reason != "no GPU" \
            else Text("no GPU: runs train on the CPU", style="dim")
    return Text("\n").join(gpu_line(g) for g in state.gpus)


class GpuPanel(Static):
    """Follows the app's ``gpu_state`` reactive."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; max-height: 8; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "gpu_state", self._show, init=True)

    def _show(self, state: GpuState | None) -> None:
        self.update(render_gpus(state))
