"""What one conversation turn says, as the dataset layer and the trainer both read it.

A shared leaf (stdlib only; see the import-linter contracts): the Datasets screen, filters,
stats and dedupe (ffui.data) and the worker that trains (ffui.train) must agree on what a turn's
text is, or a filter keeps rows the trainer sees as empty.

- ``content`` may be a string or a list of typed parts: OpenAI's ``{"type": "text", "text"}``
  and LLaMA-Factory's ``{"type": "text", "value"}``; the text parts are joined, other parts
  (images, audio) are media (see :func:`media_parts`).
- an assistant turn may carry only ``tool_calls`` (OpenAI) or ``function_call``: those calls
  are what it says.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: placeholders that multimodal datasets (LLaVA, LLaMA-Factory, ms-swift) put where media go
MEDIA_PLACEHOLDER = re.compile(r"<(image|video|audio)>")
#: row columns that hold the media a row's placeholders refer to
MEDIA_COLUMNS = ("images", "videos", "audios", "image", "video", "audio")


def part_text(part: Any) -> str | None:
    """The text of one typed content part, or None for a non-text part."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict) or part.get("type", "text") != "text":
        return None
    text = part.get("text", part.get("value"))
    return text if isinstance(text, str) else None


def content_text(content: Any) -> str:
    """A turn's ``content`` as text: strings as they are, typed parts' text joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(t for t in map(part_text, content) if t is not None)
    if content is None:
        return ""
    return str(content)


def media_parts(content: Any) -> int:
    """How many non-text parts (image_url, input_audio, image, ...) a turn's content holds."""
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and part_text(p) is None)


def parsed_arguments(args: Any) -> Any:
    """Tool-call ``arguments`` as an object: the OpenAI wire format sends a JSON string, chat
    templates (Qwen, Llama 3.1, Hermes) expect a mapping and ``tojson`` it themselves."""
    if isinstance(args, str):
        try:
            value = json.loads(args)
        except ValueError:
            return args
        return value if isinstance(value, (dict, list)) else args
    return args


def turn_calls(turn: dict) -> list:
    """An assistant turn's calls (``tool_calls``, or a legacy ``function_call``) as a list."""
    calls = turn.get("tool_calls") or turn.get("function_call")
    if not calls:
        return []
    return calls if isinstance(calls, list) else [calls]


def calls_text(calls: list) -> str:
    """Calls as JSON lines ``{"name": ..., "arguments": {...}}`` (one per call)."""
    out = []
    for c in calls:
        fn = c.get("function", c) if isinstance(c, dict) else {}
        if not isinstance(fn, dict):
            fn = {}
        out.append(json.dumps({"name": fn.get("name"), "arguments": parsed_arguments(fn.get("arguments"))},
                              ensure_ascii=False))
    return "\n".join(out)


def turn_text(turn: dict, content_key: str = "content") -> str:
    """What a turn says: its content's text, or its tool calls when it has no text."""
    text = content_text(turn.get(content_key))
    if text:
        return text
    calls = turn_calls(turn)
    return calls_text(calls) if calls else ""


def strip_media_placeholders(text: str) -> str:
    """``text`` without ``<image>``/``<video>``/``<audio>`` placeholders (drop_media)."""
    return MEDIA_PLACEHOLDER.sub("", text).strip() if MEDIA_PLACEHOLDER.search(text) else text
