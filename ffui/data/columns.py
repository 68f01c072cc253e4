"""Every column accounted for: how training uses each column of a dataset, or that it does not.

    for c in column_report(layout, columns):
        print(c.column, c.status, c.use)   # "messages", "used", "turns: the conversation; ..."

What a layout reads comes from the format detection (ffui.data.formats.column_uses); this
module only words it, and names the columns that are kept but never trained. A column whose
name says it changes what a row means (preference sides, a per-row label, media) is reported
as ``changes meaning``: SFT training would not see it as its author meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .formats import Layout, column_uses

USED, KEPT, CHANGES_MEANING = "used", "kept, not trained", "changes meaning"

#: how each use (ffui.data.formats.FIELD_USES, "system") reads to the user
USE_WORDS = {
    "turns": "turns: the conversation; the assistant turns are trained",
    "prompt": "prompt: the user turn, not trained",
    "reply": "reply: the assistant turn, trained",
    "text": "text: trained whole",
    "system": "system: the first turn, not trained",
    "tools": "tools: the function schemas, given to the chat template, not trained",
    "history": "history: earlier turns, their answers trained",
    "context": "context: joined into the user turn, not trained",
}

#: columns that change what a row means, by (lower-cased) name
MEANING_COLUMNS = {
    **dict.fromkeys(("chosen", "rejected", "chosen_response", "rejected_response", "chosen_messages",
                     "rejected_messages"),
                    "preference data (chosen/rejected): SFT would train one side as plain text"),
    **dict.fromkeys(("label", "labels", "kto_tag", "desirable"),
                    "a per-row label (desirable or not): SFT would train every row alike"),
    **dict.fromkeys(("images", "image", "videos", "video", "audios", "audio"),
                    "media: a text-only model sees only its placeholders"),
}


@dataclass(frozen=True)
class ColumnUse:
    column: str
    status: str   # USED | KEPT | CHANGES_MEANING
    use: str      # the words shown beside the column
    short: str    # a word or two, where there is no room: turns, reply, kept, not trained, ...

    def to_dict(self) -> dict:
        return {"column": self.column, "status": self.status, "use": self.use}


def column_report(layout: Layout, columns: Iterable[str] | None = None) -> list[ColumnUse]:
    """One entry per column (``columns``, default the layout's column order), in order."""
    uses = column_uses(layout)
    out = []
    for col in dict.fromkeys([*(columns if columns is not None else layout.key_order), *uses]):
        if col in uses:
            out.append(ColumnUse(col, USED, USE_WORDS.get(uses[col], uses[col]), uses[col]))
        elif str(col).lower() in MEANING_COLUMNS:
            out.append(ColumnUse(col, CHANGES_MEANING, MEANING_COLUMNS[str(col).lower()], CHANGES_MEANING))
        else:
            out.append(ColumnUse(col, KEPT, KEPT, KEPT))
    return out


def report_lines(report: list[ColumnUse]) -> list[str]:
    """``column  how it is used`` lines, aligned, for the CLI and the import preview."""
    width = max((len(str(c.column)) for c in report), default=0)
    return [f"{str(c.column):<{width}}  " + (c.use if c.status != CHANGES_MEANING else f"changes meaning: {c.use}")
            for c in report]
