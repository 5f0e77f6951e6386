"""`cadence status` for a person: recruiters by name, columns that fit the CRM, exits by
reason, reply and meeting rate per step. From the state only (no CRM request).

The JSON keeps the keys scripts read (`enrollments`, `ended`, `owners`, `runs`) and adds
`steps` (the funnel per cadence and step) and `exits` (endings grouped by kind).
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime
from typing import Any

from .funnel import funnels, percent
from .state import StateView

# ledger columns that only mean something when the CRM is written in batches over a network
_OPTIONAL = (("unsent", "not yet sent"), ("failed", "failed"), ("planned", "planned later"))


def build(view: StateView, now: datetime, base: dict[str, Any]) -> dict[str, Any]:
    """`base` (enrollments, ended, owners, runs as the store counts them) with names and funnels."""
    planned = Counter(t.owner_id for t in view.tasks if t.state == "planned")
    owners = []
    for row in base["owners"]:
        owner = view.owner(row["owner_id"] or "")
        owners.append({**row, "owner": owner.name, "timezone": owner.zone, "planned": planned.get(row["owner_id"], 0)})
    for owner_id, n in planned.items():  # owners whose only tasks wait in state
        if not any(o["owner_id"] == owner_id for o in owners):
            owner = view.owner(owner_id)
            owners.append({"owner_id": owner_id, "owner": owner.name, "timezone": owner.zone, "open": 0, "overdue": 0,
                           "unsent": 0, "failed": 0, "done": 0, "planned": n})
    queued = view.queued()
    for o in owners:
        o["queued"] = queued.get(o["owner_id"], 0)
    steps, exits = [], []
    for f in funnels(view.config, view.enrollments(), view.tasks):
        for s in f.steps:
            steps.append({
                "cadence": f.cadence_id, "step": s.step_id, "number": s.index + 1, "channel": s.channel,
                "planned": s.planned, "done": s.touched, "open": s.open, "replied": s.replied, "meeting": s.meeting,
                "not_now": s.not_now, "left": sum(s.exited.values()), "reply_rate": s.reply_rate, "meeting_rate": s.meeting_rate,
            })
        exits += [{"cadence": f.cadence_id, "kind": kind, "count": n} for kind, n in f.endings.most_common()]
    return {**base, "owners": owners, "steps": steps, "exits": exits}


def render(data: dict[str, Any], view: StateView, width: int) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=width, record=True, file=_Null(), color_system=None, highlight=False)
    zone_name = view.config.calendar.timezone
    from sequences.calendar import zone_or_none

    zone = zone_or_none(zone_name)
    now = data["now"].astimezone(zone) if zone else data["now"]
    console.print(Text(f"Status of account {data['account']} as of {now:%a %d %b %Y %H:%M %Z} ({zone_name})", style="bold"))
    console.print(f"state {data['state_file']}")

    def table(title: str, columns: list[str], right: set[str]) -> Any:
        grid = Table(title=title, title_justify="left", title_style="bold", box=None, show_edge=False, pad_edge=False,
                     header_style="bold")
        for c in columns:
            grid.add_column(c, justify="right" if c in right else "left", no_wrap=c not in ("reason", "ended because"),
                            overflow="fold")
        return grid

    owners = data["owners"]
    console.print()
    if owners:
        extra = [(key, label) for key, label in _OPTIONAL if any(o.get(key) for o in owners)]
        if any(o.get("queued") for o in owners):
            extra.append(("queued", "queued to start"))
        cols = ["recruiter", "time zone", "open", "overdue", "done"] + [label for _, label in extra]
        grid = table("Tasks per recruiter", cols, set(cols) - {"recruiter", "time zone"})
        for o in owners:
            grid.add_row(o["owner"], o["timezone"], str(o["open"]), str(o["overdue"]), str(o["done"]),
                         *(str(o.get(key, 0)) for key, _ in extra))
        console.print(grid)
    pacing = data.get("pacing") or {}
    if pacing.get("queued") or pacing.get("planned") or pacing.get("unreachable"):
        by_owner = ", ".join(f"{o or '(unassigned)'} {n}" for o, n in pacing.get("queued_by_owner", {}).items())
        console.print(f"queued (waiting for capacity): {pacing.get('queued', 0)}" + (f" ({by_owner})" if by_owner else ""),
                      soft_wrap=True, markup=False)
        console.print(f"planned in state, beyond the horizon: {pacing.get('planned', 0)}", soft_wrap=True, markup=False)
        console.print(f"unreachable (no phone, email or allowed channel): {pacing.get('unreachable', 0)}",
                      soft_wrap=True, markup=False)
    else:
        console.print("Tasks per recruiter: none yet")

    console.print()
    cols = ["cadence", "step", "channel", "planned", "done", "replied", "meeting", "not now", "left", "reply rate",
            "meeting rate"]
    grid = table("Per step (an outcome counts at the step whose task was open or last done)", cols,
                 set(cols) - {"cadence", "step", "channel"})
    last = ""
    for s in data["steps"]:
        grid.add_row(s["cadence"] if s["cadence"] != last else "", f"{s['number']}. {s['step']}", s["channel"],
                     str(s["planned"]), str(s["done"]), str(s["replied"]), str(s["meeting"]), str(s["not_now"]),
                     str(s["left"]), percent(s["reply_rate"]), percent(s["meeting_rate"]))
        last = s["cadence"]
    console.print(grid)

    console.print()
    grid = table("Enrollments in progress", ["cadence", "version", "step", "status", "count"], {"version", "count"})
    for e in data["enrollments"]:
        grid.add_row(e["cadence"], f"v{e['version']}", e["step"], e["status"], str(e["count"]))
    console.print(grid if data["enrollments"] else "Enrollments in progress: none")

    console.print()
    if data["exits"]:
        grid = table("Ended or paused, by reason", ["cadence", "count", "reason"], {"count"})
        last = ""
        for e in data["exits"]:
            grid.add_row(e["cadence"] if e["cadence"] != last else "", str(e["count"]), e["kind"])
            last = e["cadence"]
        console.print(grid)
    else:
        console.print("Ended or paused: none yet")

    console.print()
    runs = data["runs"]
    if runs:
        grid = table("Last runs", ["run", "started", "status", "what it did"], {"run"})
        for r in runs:
            counts = r["counts"]
            did = ", ".join(f"{k.replace('_', ' ')} {counts[k]}" for k in ("created", "closed", "errors", "bad_records")
                            if counts.get(k)) or "nothing to do"
            started = r["started_at"].astimezone(zone) if zone else r["started_at"]
            grid.add_row(f"#{r['id']}", f"{started:%a %d %b %H:%M %Z}", r["status"], did + (f"; {r['error']}" if r["error"] else ""))
        console.print(grid)
    else:
        console.print("Last runs: none yet")
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()).strip("\n") + "\n"


class _Null(io.StringIO):
    """Output thrown away (the console only records)."""

    def write(self, _: str) -> int:
        return 0
