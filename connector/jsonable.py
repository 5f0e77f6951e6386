"""One answer to "what is this value in JSON?", for the state file, the CLI's --json and log lines.

Dates and times, enums, sets (sorted, so the text is stable), tuples and read-only
mappings become what `json` can write; how a datetime is written is the caller's choice
(the state file uses fixed-width UTC text that sorts, the CLI ISO 8601 with the offset).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

_AS_IS = frozenset({str, int, float, bool, list, dict})


def jsonable(value: Any, *, when: Callable[[datetime], Any] = datetime.isoformat) -> Any:
    """`value` as JSON can hold it; a value with no JSON form raises TypeError."""
    if value is None or type(value) in _AS_IS:  # the common case first (a str Enum is not a str here)
        return value
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | list | dict):
        return value
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def loose(value: Any) -> Any:
    """For log lines, which must never fail: `jsonable`, else the value's text."""
    try:
        return jsonable(value)
    except TypeError:
        return str(value)
