"""Clocks for the emulator.

Two readings are needed: a monotonic one (rate-limit windows, search lag, token
expiry) and a wall one (``createdAt``, ``lastmodifieddate``, the daily budget's
midnight).  :class:`FakeClock` moves both together so tests can jump ahead
without sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class SystemClock:
    """Real time: ``time.monotonic`` and ``time.time``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class FakeClock:
    """A clock that only moves when told to.

    ``start`` is the wall time it reports at first (a datetime, or epoch seconds);
    the default is 2025-01-06T09:00:00Z, a Monday morning.
    """

    def __init__(self, start: datetime | float | None = None) -> None:
        if start is None:
            start = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
        if isinstance(start, datetime):
            if start.tzinfo is None:
                start = start.replace(tzinfo=timezone.utc)
            start = start.timestamp()
        self._wall0 = float(start)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._elapsed

    def time(self) -> float:
        return self._wall0 + self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._elapsed += seconds

    def set_wall(self, when: datetime | float) -> None:
        """Jump the wall reading to ``when`` (forward only)."""
        if isinstance(when, datetime):
            when = when.timestamp()
        self.advance(float(when) - self.time())


def now_ms(clock) -> int:
    return int(clock.time() * 1000)
