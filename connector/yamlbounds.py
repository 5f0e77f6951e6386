"""A bound on YAML alias expansion, checked before any YAML file the tool reads is loaded.

YAML aliases (`*name`) repeat an anchored node (`&name`) without repeating its text, so a few
hundred bytes can stand for a billion values (the "billion laughs"). Loading keeps one copy,
but everything after it (turning the tree into plain values, validation, locating errors)
walks the expanded tree. So every YAML file the tool reads (the config, the fleet file) is
first scanned here, event by event, in time and memory linear in its size: the expanded size
of each anchored node is counted once, and an alias that would take the document past
`MAX_EXPANDED_NODES` values is refused at its line and column.

A real config uses aliases to share a step list or a window between cadences: a few hundred
values at most. The bound is far above that and far below what can hurt.
"""

from __future__ import annotations

from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    ScalarEvent,
)

__all__ = ["MAX_EXPANDED_NODES", "AliasBomb", "alias_bomb"]

MAX_EXPANDED_NODES = 100_000


@dataclass(frozen=True, slots=True)
class AliasBomb:
    """Where the expansion went past the bound: 1-based line and column of the alias."""

    line: int
    col: int
    alias: str

    @property
    def message(self) -> str:
        return (f"the alias *{self.alias} takes this file past {MAX_EXPANDED_NODES:,} values once aliases are "
                "expanded; a config needs far fewer (is this a YAML 'billion laughs'?); "
                "write the repeated part out or use fewer aliases")


def alias_bomb(text: str, limit: int = MAX_EXPANDED_NODES) -> AliasBomb | None:
    """The first alias that takes the values aliases stand for in a document of `text` past
    `limit`, or None.

    A text YAML cannot parse is None here: the loader reports its syntax error, located."""
    sizes: dict[str, int] = {}  # anchor -> expanded size of the node it names
    stack: list[tuple[str | None, int]] = []  # open collections: (anchor, expanded size so far)
    total = 0  # values the document's aliases stand for
    try:
        for event in YAML(typ="rt").parse(text):
            if isinstance(event, DocumentStartEvent):
                sizes.clear()
                stack.clear()
                total = 0
            elif isinstance(event, CollectionStartEvent):
                stack.append((event.anchor, 1))
            elif isinstance(event, ScalarEvent | AliasEvent | CollectionEndEvent):
                if isinstance(event, ScalarEvent):
                    anchor, size = event.anchor, 1
                elif isinstance(event, AliasEvent):
                    anchor, size = None, sizes.get(str(event.anchor), 1)
                else:
                    anchor, size = stack.pop()
                if anchor is not None:
                    sizes[str(anchor)] = size
                total += size if isinstance(event, AliasEvent) else 0
                if stack:
                    parent_anchor, parent_size = stack[-1]
                    stack[-1] = (parent_anchor, parent_size + size)
                if isinstance(event, AliasEvent) and total > limit:
                    mark = event.start_mark
                    return AliasBomb(mark.line + 1, mark.column + 1, str(event.anchor))
    except Exception:  # not YAML: the loader says where and why
        return None
    return None
