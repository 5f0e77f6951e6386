"""Waits and windows as people write them: "2 business days", "1 week", "09:00-12:00"."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time, timedelta

_UNITS = {
    "business day": "business_days",
    "business days": "business_days",
    "workday": "business_days",
    "workdays": "business_days",
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "hour": "hours",
    "hours": "hours",
}
_UNIT_LENGTH = {"hours": timedelta(hours=1), "days": timedelta(days=1), "weeks": timedelta(weeks=1)}
_DURATION = re.compile(r"^\s*(\d{1,4})\s*([a-z ]+?)\s*$")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class Duration:
    amount: int
    unit: str  # business_days, days, weeks, hours
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.amount, self.unit)))  # hashed once: a key of remembered answers

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        label = {"business_days": "business day", "days": "day", "weeks": "week", "hours": "hour"}[self.unit]
        return f"{self.amount} {label}{'' if self.amount == 1 else 's'}"

    @property
    def business(self) -> bool:
        """Counted in business days (on a calendar), not in fixed time."""
        return self.unit == "business_days"

    @property
    def fixed(self) -> timedelta:
        """The length as fixed time; only for hours, days and weeks (business days need a calendar)."""
        if self.unit == "business_days":
            raise ValueError(f"{self} has no fixed length: count it on a calendar")
        return _UNIT_LENGTH[self.unit] * self.amount


def parse_duration(text: str | int | Duration) -> Duration:
    """Parse "2 business days", "1 week", "3 days", "4 hours" (a bare number means days).

    Config values are parsed once, at load (the config models hold `Duration`s); a
    `Duration` passes through unchanged.
    """
    if isinstance(text, Duration):
        return text
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like '2 business days', got {text!r}")
    if isinstance(text, int):
        text = f"{text} days"
    match = _DURATION.match(str(text).lower())
    unit = _UNITS.get(match.group(2)) if match else None
    if not match or unit is None:
        raise ValueError(
            f"{text!r} is not a duration; write e.g. '2 business days', '3 days', '1 week' or '4 hours'"
        )
    return Duration(int(match.group(1)), unit)


@dataclass(frozen=True, slots=True)
class Window:
    """A daily window in local wall-clock time, start inclusive, end exclusive."""

    start: time
    end: time
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.start, self.end)))  # hashed once: a key of remembered answers

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end

    def intersect(self, other: Window) -> Window | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Window(start, end) if start < end else None


def parse_window(text: str) -> Window:
    """Parse "09:00-17:00" (24-hour clock, local time)."""
    match = _WINDOW.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a window; write e.g. '09:00-17:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} has an impossible time of day")
    start = time(h1, m1)
    end = time(23, 59, 59) if h2 == 24 else time(h2, m2)
    if start >= end:
        raise ValueError(f"{text!r} ends before it starts; windows cannot cross midnight")
    return Window(start, end)


_INTERVAL_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def parse_interval(text: str) -> timedelta:
    """A compact interval, as in a schedule: '15m', '30s', '1h30m', '2h', '1d', or plain seconds."""
    value = text.strip().lower().replace(" ", "")
    if value.isdigit():
        seconds = int(value)
    else:
        parts = re.findall(r"(\d+)([a-z]+)", value)
        if not parts or "".join(n + u for n, u in parts) != value or any(u not in _INTERVAL_UNITS for _, u in parts):
            raise ValueError(f"{text!r} is not an interval like 30s, 15m, 1h or 1h30m")
        seconds = sum(int(n) * _INTERVAL_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("the interval must be longer than 0s")
    return timedelta(seconds=seconds)
