"""`cadence agenda`: a recruiter's tasks in their own time zone, grouped by day, overdue first.

Read from the state only (no CRM request): what the last sync planned and what the CRM
last said about each task. Times are the recruiter's wall clock, with the zone named; the
contact's own time is shown beside a call when it differs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .state import OwnerView, StateView, TaskView

CHANNEL_LABEL = {"call": "call", "email": "email", "linkedin": "LinkedIn", "meeting": "meeting", "todo": "to-do"}


@dataclass
class OwnerAgenda:
    owner: OwnerView
    first: date
    last: date
    overdue: list[TaskView] = field(default_factory=list)
    days: dict[date, list[TaskView]] = field(default_factory=dict)
    done: int = 0  # tasks in the range already done

    @property
    def total(self) -> int:
        return len(self.overdue) + sum(len(v) for v in self.days.values())


def day_range(today: date, day: date | None, week: bool) -> tuple[date, date]:
    """The days shown: one day (default today), or the Monday-to-Sunday week holding it."""
    anchor = day or today
    if not week:
        return anchor, anchor
    monday = anchor - timedelta(days=anchor.weekday())
    return monday, monday + timedelta(days=6)


def build(view: StateView, owners: Iterable[OwnerView], now: datetime, day: date | None, week: bool) -> list[OwnerAgenda]:
    tasks_by_owner: dict[str, list[TaskView]] = {}
    for t in view.tasks:
        tasks_by_owner.setdefault(t.owner_id, []).append(t)
    out = []
    for owner in owners:
        zone = owner.tz
        first, last = day_range(now.astimezone(zone).date(), day, week)
        agenda = OwnerAgenda(owner, first, last)
        for d in range((last - first).days + 1):
            agenda.days[first + timedelta(days=d)] = []
        for t in sorted(tasks_by_owner.get(owner.id, []), key=_order):
            if t.due_at is None:
                continue
            local = t.due_at.astimezone(zone).date()
            if t.is_open and t.due_at < now:
                agenda.overdue.append(t)
            elif t.is_open and first <= local <= last:
                agenda.days[local].append(t)
            elif t.state == "done" and first <= local <= last:
                agenda.done += 1
        out.append(agenda)
    return out


def _order(t: TaskView) -> tuple[Any, ...]:
    return (t.due_at, {"high": 0, "medium": 1, "low": 2}.get(t.priority, 1), t.contact_name, t.key)


def task_dict(t: TaskView, owner: OwnerView) -> dict[str, Any]:
    due = t.due_at.astimezone(owner.tz) if t.due_at else None
    theirs = t.contact_local()
    return {
        "key": t.key, "due_local": due.isoformat() if due else None, "time": f"{due:%H:%M}" if due else "",
        "contact_id": t.contact_id, "contact": t.contact_name, "channel": t.channel, "reach": t.reach,
        "phone": t.phone, "email": t.email, "subject": t.subject, "priority": t.priority,
        "cadence": t.cadence_id, "step": t.step_id, "state": t.state,
        "contact_time": theirs.isoformat() if theirs else None, "contact_timezone": t.contact_zone,
    }


def to_dict(agendas: list[OwnerAgenda], now: datetime) -> dict[str, Any]:
    return {
        "now": now,
        "owners": [
            {
                "owner_id": a.owner.id, "owner": a.owner.name, "timezone": a.owner.zone,
                "from": a.first, "to": a.last, "done": a.done,
                "overdue": [task_dict(t, a.owner) for t in a.overdue],
                "days": [{"date": d, "tasks": [task_dict(t, a.owner) for t in ts]} for d, ts in a.days.items()],
            }
            for a in agendas
        ],
    }


def _their_time(t: TaskView, owner: OwnerView) -> str:
    theirs = t.contact_local()
    if theirs is None or t.due_at is None:
        return ""
    mine = t.due_at.astimezone(owner.tz)
    if theirs.utcoffset() == mine.utcoffset():
        return ""
    return f"{theirs:%H:%M} {theirs.tzname()}" + (f" {theirs:%a}" if theirs.date() != mine.date() else "")


def _span(a: OwnerAgenda) -> str:
    if a.first == a.last:
        return f"{a.first:%a %d %b %Y}"
    return f"{a.first:%a %d %b} to {a.last:%a %d %b %Y}"


def render(agendas: list[OwnerAgenda], now: datetime, width: int) -> str:
    """The agendas as aligned text tables (rich), one section per recruiter."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=width, record=True, file=_Null(), color_system=None, highlight=False)
    for i, a in enumerate(agendas):
        if i:
            console.print()
        zone = a.owner.tz
        console.print(Text(f"{a.owner.name}: {_span(a)}, times in {a.owner.zone} "
                           f"(now {now.astimezone(zone):%a %H:%M %Z})", style="bold"))
        if not a.total:
            console.print(f"  nothing due{'; ' + str(a.done) + ' done' if a.done else ''}")
            continue

        def table(title: str, rows: list[TaskView], with_date: bool) -> None:
            grid = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None,
                         header_style="bold", expand=False)
            grid.add_column("when" if with_date else "time", no_wrap=True)
            for name in ("channel", "contact", "phone / email", "subject", "their time"):
                grid.add_column(name, no_wrap=name in ("channel", "phone / email", "their time"),
                                overflow="fold")
            for t in rows:
                due = t.due_at.astimezone(zone) if t.due_at else None  # noqa: B023 - called in this iteration
                when = (f"{due:%a %d %b %H:%M}" if with_date else f"{due:%H:%M}") if due else ""
                subject = t.subject + ("  (not in the CRM yet)" if t.state in ("unsent", "planned") else "")
                grid.add_row(when, CHANNEL_LABEL.get(t.channel, t.channel), t.contact_name, t.reach,
                             subject, _their_time(t, a.owner))  # noqa: B023 - called in this iteration
            console.print(grid)

        today = now.astimezone(zone).date()
        if a.overdue:
            console.print()
            table(f"Overdue ({len(a.overdue)})", a.overdue, True)
        for d, rows in a.days.items():
            if rows:
                console.print()
                table(f"{d:%a %d %b} ({_count(len(rows), 'task')})", rows, False)
            elif d >= today and (a.first == a.last or d.weekday() < 5):
                console.print()
                console.print(f"{d:%a %d %b}: nothing due")
        if a.done:
            console.print()
            console.print(f"already done in this period: {a.done}")
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()).strip("\n") + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class _Null(io.StringIO):
    """Output thrown away (the console only records)."""

    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
