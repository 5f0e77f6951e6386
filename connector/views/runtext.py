"""What `cadence sync` and `cadence plan` print for a person: a summary, aligned tables,
times in the reader's zone with the zone named, repeated reasons grouped with a count,
and, last, where the tasks went and what to do next.

Machine output stays `--json`; log lines stay on stderr (`--log-format`, or when not on a
terminal). This module only reads a run report's public fields (`created`, `closed`,
`skipped`, `notes`, `errors`, `bad_records`, `counts`, `status`, `plan_only`, `account`,
`started_at`, `duration`), so it does not care where the report class lives.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sequences.calendar import zone_or_none

SHOW_TASKS = 25  # task rows listed on screen; the rest are counted (all of them are in --json)
SHOW_NAMES = 3  # contacts named beside a grouped reason
_DATES = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@dataclass(frozen=True)
class Reader:
    """Who reads the output: their zone, the owners' names and zones, where tasks go."""

    zone: str  # the desk's zone (the config's calendar.timezone)
    owners: dict[str, tuple[str, str]]  # owner id -> (name, IANA zone)
    destination: str  # "examples/tasks.csv" or "HubSpot (https://api.hubapi.com)"
    config_path: str
    crm_type: str

    def owner(self, owner_id: str) -> tuple[str, ZoneInfo]:
        name, zone = self.owners.get(owner_id, (owner_id or "(no owner)", ""))
        return name, zone_or_none(zone) or zone_or_none(self.zone) or ZoneInfo("UTC")


def reader_for(loaded: Any, owners: list[Any], config_path: str) -> Reader:
    """The reader of a loaded config: owners from the state's cache (no CRM request)."""
    config = loaded.config
    crm_type = config.crm.type
    settings = config.crm.model_dump() if hasattr(config.crm, "model_dump") else {}
    if crm_type == "local":
        tasks = Path(settings.get("tasks") or "tasks.csv")
        path = tasks if tasks.is_absolute() else Path(loaded.directory) / tasks
        destination = _shown(path)
    else:
        destination = f"{crm_type.capitalize() if crm_type != 'hubspot' else 'HubSpot'}, in each owner's task queue"
    default = config.calendar.timezone
    table = {o.id: (o.full_name, o.timezone if zone_or_none(o.timezone) else default) for o in owners}
    return Reader(default, table, destination, config_path, crm_type)


def terminal_width() -> int:
    """The terminal's width; 160 columns when writing to a file or a pipe (no wrapping)."""
    import shutil
    import sys

    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return 160


def _shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _local(moment: datetime, zone: ZoneInfo, with_date: bool = True) -> str:
    here = moment.astimezone(zone)
    return f"{here:%a %d %b %H:%M} {here.tzname()}" if with_date else f"{here:%H:%M} {here.tzname()}"


def _due(item: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(item.due_local)
    except (TypeError, ValueError):
        return None


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _groups(items: list[Any], key: Any) -> list[tuple[str, int, list[str]]]:
    """(reason, count, first names) per distinct reason, most frequent first."""
    counts: Counter = Counter()
    names: dict[str, list[str]] = {}
    for item in items:
        reason = key(item)
        counts[reason] += 1
        who = item.contact_name or item.contact_id
        if len(names.setdefault(reason, [])) < SHOW_NAMES and who not in names[reason]:
            names[reason].append(who)
    return [(reason, n, names[reason]) for reason, n in counts.most_common()]


def _who(names: list[str], n: int) -> str:
    shown = ", ".join(names)
    return f"{shown} and {n - len(names)} more" if n > len(names) else shown


def render(report: Any, reader: Reader, width: int) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=width, record=True, file=_Null(), color_system=None, highlight=False)
    zone = zone_or_none(reader.zone) or ZoneInfo("UTC")
    plan = report.plan_only
    counts = report.counts
    verb = "plan" if plan else "sync"
    console.print(Text(f"{verb} for account {report.account}, {_local(report.started_at, zone)} ({reader.zone}): "
                       f"{report.status} in {report.duration:.1f}s", style="bold"))
    facts = [f"{counts.get('contacts_read', 0)} contacts read", f"{counts.get('contacts_planned', 0)} planned"]
    for name, value in sorted(counts.items()):
        if value and any(word in name for word in ("queue", "horizon", "later")):
            facts.append(f"{value} {name.replace('_', ' ')}")
    console.print("  " + ", ".join(facts))

    created = counts.get("created", 0)
    if created:
        console.print()
        title = f"{'Would create' if plan else 'Created'} {_count(created, 'task')} (due times in each recruiter's zone)"
        table = Table(title=title, title_justify="left", box=None, show_edge=False, pad_edge=False, header_style="bold")
        for column in ("recruiter", "due", "channel", "contact", "subject"):
            table.add_column(column, no_wrap=column != "subject", overflow="fold")
        rows = sorted(report.created, key=lambda i: (reader.owner(getattr(i, "owner_id", ""))[0], _due(i) or datetime.min))
        for item in rows[:SHOW_TASKS]:
            name, owner_zone = reader.owner(getattr(item, "owner_id", ""))
            due = _due(item)
            table.add_row(name, _local(due, owner_zone) if due else item.due_local, item.channel,
                          item.contact_name or item.contact_id, item.subject)
        console.print(table)
        if created > SHOW_TASKS:
            console.print(f"  ... and {created - SHOW_TASKS} more")
        for item in rows[:SHOW_TASKS]:  # why a guard moved a task, as preview shows it
            for move in getattr(item, "moves", ()):
                console.print(f"  {item.contact_name or item.contact_id}: moved: {move}", soft_wrap=True, markup=False)

    def group_table(title: str, items: list[Any], key: Any) -> None:
        """A bold title, then one row per reason: how many, the reason, who."""
        console.print()
        console.print(Text(title, style="bold"))
        table = Table(box=None, show_header=False, show_edge=False, pad_edge=False)
        table.add_column("n", justify="right", no_wrap=True)
        table.add_column("reason", overflow="fold")
        table.add_column("who", overflow="fold")
        for reason, n, names in _groups(items, key):
            table.add_row(f"{n}x", reason, _who(names, n))
        console.print(table)

    def grouped(title: str, name: str, items: list[Any], key: Any) -> None:
        total = counts.get(name, 0)
        if not total:
            return
        group_table(f"{title} ({total})", items, key)
        if total > len(items):
            console.print(f"  ... and {total - len(items)} more not listed")

    grouped("Closed" if not plan else "Would close", "closed", report.closed, lambda i: _DATES.sub("<date>", i.reason))
    grouped("Steps skipped", "skipped", report.skipped, lambda i: f"{i.cadence_id}/{i.step_id}: {i.reason}")
    texts = [i for i in report.notes if i.kind == "text"]
    others = [i for i in report.notes if i.kind != "text"]
    if texts:
        group_table(f"Task text to fix ({len(texts)}): a variable with no value shows as a [marker]", texts, lambda i: i.reason)
    if others:
        group_table(f"Enrollment changes ({counts.get('notes', 0) - len(texts)})", others,
                    lambda i: f"{_KIND.get(i.kind, i.kind)} {i.cadence_id}: {_DATES.sub('<date>', i.reason)}")
    if report.bad_records:
        console.print()
        console.print(Text(f"Records with a problem ({counts.get('bad_records', len(report.bad_records))}): "
                           "skipped, or the bad field left empty", style="bold"))
        for b in report.bad_records[:SHOW_TASKS]:
            console.print(f"  {b.source}: {b.field}: {b.message}")
    if report.errors:
        console.print()
        console.print(Text(f"Errors ({counts.get('errors', len(report.errors))})", style="bold"))
        for e in report.errors[:SHOW_TASKS]:
            console.print(f"  {e}")
    console.print()
    for line in next_steps(report, reader):
        console.print(line, soft_wrap=True)  # one line each, whatever the width: the terminal wraps
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()).strip("\n") + "\n"


_KIND = {"enroll": "enrolled in", "queue": "queued for", "finish": "finished", "exit": "exited", "snooze": "snoozed",
         "reengage": "re-engaged into", "hold": "on hold", "ignore": "ignored"}


def next_steps(report: Any, reader: Reader) -> list[str]:
    """The last lines: where the tasks went, and what to do next."""
    config = reader.config_path
    created = report.counts.get("created", 0)
    lines = []
    if report.plan_only:
        if created or report.counts.get("closed", 0):
            lines.append(f"Nothing was written. `cadence sync {config}` puts these tasks in {reader.destination}.")
        else:
            lines.append(f"Nothing to create or close now. Tasks so far are in {reader.destination}.")
        return lines
    if report.status != "ok":
        lines.append(f"The run did not finish ({report.status}); run `cadence sync {config}` again: it resumes.")
    if reader.crm_type == "local":
        where = f"Tasks are in {reader.destination}" + (f" ({created} new)" if created else "")
        lines.append(f"{where}: open it, set status to done (and an outcome) for what you did, then sync again.")
    else:
        lines.append(f"Tasks are in {reader.destination}" + (f" ({created} new)." if created else "."))
    lines.append(f"Next: `cadence agenda {config} --owner NAME` for a recruiter's day, "
                 f"`cadence report {config} --out report/` for the team's weeks.")
    return lines


class _Null(io.StringIO):
    """Output thrown away (the console only records)."""

    def write(self, _: str) -> int:
        return 0
