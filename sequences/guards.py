"""Guards: the rules that keep a recruiter persistent and never a pest.

Each guard takes a proposed due time and either accepts it or moves it later, saying why.
None of them drops a task: skipping a step is decided (and recorded) before a task is
proposed, and the capacity guard only ever moves tasks to a later allowed day.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .calendar import LocalCalendar
from .durations import Window

# A guard: (proposed due, context) -> (new due, reason) when it moves the task, else None.
Guard = Callable[[datetime, "Proposal"], "tuple[datetime, str] | None"]

MAX_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class Proposal:
    """What the guards need to judge one proposed task."""

    calendar: LocalCalendar
    window: Window
    now: datetime
    touches: Sequence[datetime]  # past touches of this contact
    min_gap: timedelta
    budget_touches: int
    budget_window: timedelta


def not_in_the_past(due: datetime, p: Proposal) -> tuple[datetime, str] | None:
    if due >= p.now:
        return None
    return p.now, "the wait had already passed: due at the next allowed time"


def minimum_gap(due: datetime, p: Proposal) -> tuple[datetime, str] | None:
    earlier = [t for t in p.touches if t <= due]
    if not earlier:
        return None
    last = max(earlier)
    if due - last >= p.min_gap:
        return None
    return last + p.min_gap, f"minimum gap: last touch was {last:%Y-%m-%d %H:%M} UTC"


def touch_budget(due: datetime, p: Proposal) -> tuple[datetime, str] | None:
    recent = sorted(t for t in p.touches if due - p.budget_window < t <= due)
    if len(recent) < p.budget_touches:
        return None
    # wait until enough of the recent touches fall out of the rolling window
    release = recent[len(recent) - p.budget_touches] + p.budget_window
    return release, f"touch budget: {len(recent)} touches in the last {p.budget_window.days} days"


GUARDS: tuple[Guard, ...] = (not_in_the_past, minimum_gap, touch_budget)


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
