"""Guards: the rules that keep a recruiter persistent and never a pest.

Each guard takes a proposed due time and either accepts it or moves it later, saying why.
None of them drops a task: skipping a step is decided (and recorded) before a task is
proposed (see `reach.py`), and no guard ever moves a task earlier. `place` runs them all,
with the calendar (business days, windows, the owner's days off), until none objects.

The pipeline, in order: not in the past, minimum gap, touch budget, daily capacity. The
capacity guard takes part once the planner has a day ledger for the task's owner
(`Proposal.day_load`): see `capacity.py` for the order in which tasks claim days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from .calendar import LocalCalendar, local_day, local_day_text, zone_or_none
from .durations import Duration, Window

# A guard: (proposed due, context) -> (new due, reason) when it moves the task, else None.
Guard = Callable[[datetime, "Proposal"], "tuple[datetime, str] | None"]

MAX_ROUNDS = 50


@dataclass(slots=True)
class DayLoad:
    """One owner's tasks per owner-local day: the capacity guard's ledger.

    `counts` is shared by every task of the run (and holds what the CRM already has), so
    each placed task is seen by the next one.
    """

    owner_id: str
    zone_name: str
    capacity: int
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def day(self, moment: datetime) -> date:
        """The owner-local day of `moment`."""
        return local_day(moment, self.zone_name)

    def full(self, day: date) -> bool:
        return self.counts.get((self.owner_id, day.isoformat()), 0) >= self.capacity

    def take(self, day: date) -> None:
        slot = (self.owner_id, day.isoformat())
        self.counts[slot] = self.counts.get(slot, 0) + 1

    def claim(self, moment: datetime) -> bool:
        """Take a slot on the day of `moment` if it has room (`full` then `take`, in one look-up)."""
        slot = (self.owner_id, local_day_text(moment, self.zone_name))
        count = self.counts.get(slot, 0)
        if count >= self.capacity:
            return False
        self.counts[slot] = count + 1
        return True


@dataclass(frozen=True, slots=True)
class Proposal:
    """What the guards need to judge one proposed task."""

    calendar: LocalCalendar
    window: Window
    now: datetime
    touches: Sequence[datetime]  # past touches of this contact
    min_gap: Duration
    budget_touches: int
    budget_window: timedelta
    day_load: DayLoad | None = None  # the owner's day ledger, once capacity is being applied


def not_in_the_past(due: datetime, p: Proposal) -> tuple[datetime, str] | None:
    if due >= p.now:
        return None
    return p.now, "the wait had already passed: due at the next allowed time"


def minimum_gap(due: datetime, p: Proposal) -> tuple[datetime, str] | None:
    """At least `min_gap` after the last touch; business days are counted on the contact's calendar."""
    if not p.touches:
        return None
    last = max((t for t in p.touches if t <= due), default=None)
    if last is None:
        return None
    allowed = p.calendar.shift(last, p.min_gap)
    if due >= allowed:
        return None
    return allowed, f"minimum gap of {p.min_gap}: last touch was {last:%Y-%m-%d %H:%M} UTC"


def touch_budget(due: datetime, p: Proposal) -> tuple[datetime, str] | None:
    if len(p.touches) < p.budget_touches:  # the common case: too few touches to matter
        return None
    recent = sorted(t for t in p.touches if due - p.budget_window < t <= due)
    if len(recent) < p.budget_touches:
        return None
    # wait until enough of the recent touches fall out of the rolling window
    release = recent[len(recent) - p.budget_touches] + p.budget_window
    return release, f"touch budget: {len(recent)} touches in the last {p.budget_window.days} days"


def daily_capacity(due: datetime, p: Proposal) -> tuple[datetime, str] | None:
    """The owner's day is full: move to the start of their next day with room (owner-local)."""
    load = p.day_load
    if load is None:
        return None
    day = load.day(due)
    if not load.full(day):
        return None
    if load.capacity <= 0:
        raise ValueError(f"owner {load.owner_id or '(unassigned)'} has a daily capacity of 0: no day can take a task")
    later = day + timedelta(days=1)
    while True:  # the first allowed slot on a day with room (finitely many days are full: each holds tasks)
        while load.full(later):
            later += timedelta(days=1)
        start, _ = p.calendar.next_slot(datetime.combine(later, time(0), tzinfo=zone_or_none(load.zone_name)), p.window)
        if not load.full(load.day(start)):
            break
        later = load.day(start) + timedelta(days=1)
    who = load.owner_id or "the unassigned queue"
    return start, f"capacity: {who} already has {load.capacity} tasks on {day:%a %d %b %Y}"


GUARDS: tuple[Guard, ...] = (not_in_the_past, minimum_gap, touch_budget, daily_capacity)


def place(due: datetime, p: Proposal, guards: Sequence[Guard] = GUARDS) -> tuple[datetime, tuple[str, ...]]:
    """Move `due` until every guard and the calendar accept it; return it and the reasons."""
    moves: list[str] = []
    due, skipped = p.calendar.next_slot(due, p.window)
    moves.extend(skipped)
    for _ in range(MAX_ROUNDS):
        for guard in guards:
            moved = guard(due, p)
            if moved is not None:
                later, reason = moved
                due, skipped = p.calendar.next_slot(max(later, due), p.window)
                moves.append(reason)
                moves.extend(skipped)
                break
        else:
            return due, tuple(moves)
    raise ValueError("guards did not settle on a due time; check the touch budget and windows")
