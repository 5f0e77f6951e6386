"""Where a read cursor may move: to the CRM's clock, never past ours.

A cursor says "every change up to here has been read". Set from our clock (the run's `now`),
two things lose changes for good: a `now` in the future (a clock jump, a `--now` typo) moves
it past changes the CRM has not made yet, and a search index that lags more than the read
overlap hides changes made just before the run. So the cursor moves to the newest change the
CRM returned (its own timestamps): a change not yet searchable is newer than that, and the
next run reads it. It never passes the run's time, and a stored cursor later than the
present (left by an older version or a clock that ran ahead) is not trusted: the next read
is a full one.

Bound: a change is read if the search shows it within `LAG_BOUND + OVERLAP` (35 minutes) of
being made (HubSpot's index is usually seconds behind, at worst a few minutes); the cursor
never stands more than `LAG_BOUND` behind the newest change returned, so a quiet account
does not re-read an old bulk import on every run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .logs import fields

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store
    from .sync_report import SyncReport

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)  # each incremental read starts this much before its cursor
LAG_BOUND = timedelta(minutes=30)  # how far behind the run's time the cursor may have to stay
CLOCK_SKEW = timedelta(minutes=5)  # how far a stored cursor may lie ahead of the present and be trusted


def trusted(cursor: datetime | None, now: datetime, wall: datetime) -> datetime | None:
    """The stored cursor, or None (read everything) when it lies in the future of this run."""
    if cursor is None or cursor > min(now, wall) + CLOCK_SKEW:
        return None
    return cursor


def read_from(cursor: datetime | None) -> datetime | None:
    """The `since` of an incremental read from a trusted cursor (None: a full read)."""
    return cursor - OVERLAP if cursor is not None else None


class Watermark:
    """The newest modification time among the records one read returned (the CRM's clock)."""

    __slots__ = ("newest",)

    def __init__(self) -> None:
        self.newest: datetime | None = None

    def see(self, times: Iterable[datetime | None]) -> None:
        for t in times:
            if t is not None and (self.newest is None or t > self.newest):
                self.newest = t

    def advance(self, previous: datetime | None, now: datetime, wall: datetime) -> datetime:
        """The cursor after this read: the newest change the CRM returned, or `LAG_BOUND` before the
        run's time if that is later (so a quiet account's cursor keeps moving); never back, never
        past the run's time."""
        cap = min(now, wall)
        value = max(t for t in (previous, self.newest, cap - LAG_BOUND) if t is not None)
        return min(value, cap)

    def lag(self, now: datetime, wall: datetime) -> float | None:
        """Seconds between the newest change returned and the run's time: an upper bound of the search
        index's lag when the account is busy (logged, so a lag near the bound is seen before it bites)."""
        return None if self.newest is None else max(0.0, (min(now, wall) - self.newest).total_seconds())


class RunCursors:
    """One run's view of the stored cursors: untrusted ones read as None (counted once each),
    and at the end each moves to where its read's watermark puts it."""

    def __init__(self, store: Store, report: SyncReport, now: datetime, wall: datetime) -> None:
        self.store, self.report, self.now, self.wall = store, report, now, wall
        self.reset: set[str] = set()  # cursors found in the future this run
        self.marks = {"contacts": Watermark(), "tasks": Watermark()}

    def get(self, name: str) -> datetime | None:
        stored = self.store.cursor(name)
        value = trusted(stored, self.now, self.wall)
        if stored is not None and value is None and name not in self.reset:
            self.reset.add(name)
            self.report.counts["cursors_reset"] += 1
            log.warning("cursor ahead of the present: read again from the start", extra=fields(cursor=name, at=stored))
        return value

    def move(self, swept: bool) -> None:
        with self.store.transaction():
            for name, mark in self.marks.items():
                self.store.set_cursor(name, mark.advance(self.get(name), self.now, self.wall), self.now)
                if (age := mark.lag(self.now, self.wall)) is not None:
                    log.debug("newest change read", extra=fields(cursor=name, age_seconds=round(age)))
            if swept:
                self.store.set_cursor("sweep", min(self.now, self.wall), self.now)
