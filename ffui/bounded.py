"""Bounded work on untrusted input: YAML whose aliases cannot blow up, and values shown in
messages at a bounded length.

YAML aliases make a DAG: nine levels of nine ``*a`` references are 600 bytes that stand for
387 million strings, which anything walking the result as a tree (``json.dumps`` of it in an
error message, say) expands. The loader here counts what the document would be with every
alias expanded, and refuses one past ``MAX_EXPANDED_NODES`` or ``MAX_DEPTH`` before building it.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import yaml

MAX_EXPANDED_NODES = 100_000  # a whole config of every setting is a few hundred
MAX_DEPTH = 64


class TooComplex(ValueError):
    """A document past the limits; str() says which."""


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that measures the expanded document before constructing it."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expanded_size(node)
        return super().construct_document(node)


# YAML 1.1 (PyYAML) reads 1e-4 as a string: it wants a dot. Learning rates are written 1e-4.
BoundedSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _check_expanded_size(root: yaml.Node) -> None:
    """Nodes of the document with aliases expanded (an alias is the same node object again),
    counted once per distinct node with its size memoised: linear in the file, not the blow-up."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if depth > MAX_DEPTH:
            raise TooComplex(f"it is nested more than {MAX_DEPTH} levels deep")
        if id(node) in size:
            continue
        kids = _children(node)
        if not children_done and kids:
            stack.append((node, depth, True))
            stack.extend((k, depth + 1, False) for k in kids if id(k) not in size)
            continue
        total = 1 + sum(size.get(id(k), 1) for k in kids)
        if total > MAX_EXPANDED_NODES:
            raise TooComplex(f"with its aliases (*name) expanded it holds more than {MAX_EXPANDED_NODES:,} values")
        size[id(node)] = total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml(text: str) -> Any:
    """yaml.safe_load with bounded work; raises yaml.YAMLError for bad syntax, TooComplex
    for a document past the limits."""
    try:
        return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise TooComplex("it is nested too deeply") from None


def brief(value: Any, width: int = 80) -> str:
    """``value`` as JSON-like text of at most about ``width`` characters, whatever its size:
    only the first few items of the first levels are looked at."""
    text = _brief(value, 0)
    return text if len(text) <= width else text[: width - 3] + "..."


def _brief(value: Any, depth: int, items: int = 4) -> str:
    if isinstance(value, dict):
        if depth >= 2:
            return "{...}"
        shown = [f"{_brief(str(k), depth + 1)}: {_brief(v, depth + 1)}" for k, v in itertools.islice(value.items(), items)]
        return "{" + ", ".join(shown + (["..."] if len(value) > items else [])) + "}"
    if isinstance(value, (list, tuple)):
        if depth >= 2:
            return "[...]"
        shown = [_brief(v, depth + 1) for v in value[:items]]
        return "[" + ", ".join(shown + (["..."] if len(value) > items else [])) + "]"
    if isinstance(value, str) and len(value) > 60:
        return json.dumps(value[:57])[:-1] + '..."'
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return type(value).__name__
