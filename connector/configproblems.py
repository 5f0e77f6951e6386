"""A located config problem (FILE:LINE:COL, field path, message) and the helpers that
word and place one: shared by the reader (connector/configfile.py) and the validation-error
locator (connector/configlocate.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from difflib import get_close_matches
from typing import Any

from ruamel.yaml.comments import CommentedMap


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config, located: FILE:LINE:COL (1-based), field path, message."""

    file: str
    line: int
    col: int
    path: str  # dotted field path, e.g. cadences[0].steps[1].wait ("" for the whole file)
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ConfigFileError(Exception):
    """The config cannot be used; `problems` lists every reason, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.path, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


def key_position(mapping: CommentedMap, key: Any) -> tuple[int, int]:
    try:
        line, col = mapping.lc.key(key)
    except (KeyError, TypeError):  # keys merged in with `<<:` have no position of their own
        line, col = mapping.lc.line, mapping.lc.col
    return line + 1, col + 1


def value_position(mapping: CommentedMap, key: Any) -> tuple[int, int]:
    if mapping.get(key) is None:  # `key:` with nothing after it: ruamel points at the next line
        return key_position(mapping, key)
    try:
        line, col = mapping.lc.value(key)
    except (KeyError, TypeError):
        return key_position(mapping, key)
    return line + 1, col + 1


def describe(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping (key: value)"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return repr(value)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def dotted(path: list[str | int]) -> str:
    """['cadences', 0, 'steps', 1, 'wait'] -> 'cadences[0].steps[1].wait'."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
