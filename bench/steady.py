"""The steady-state day: what a day of ordinary recruiter work costs in HubSpot requests, against its floor.

    .venv/bin/python bench/steady.py 100000            # 100,000 contacts, 24 hourly runs (a few minutes)
    .venv/bin/python bench/steady.py 2000 --runs 1     # the day's work, then one sync (the issue's first measurement)
    .venv/bin/python bench/steady.py 10000 --days 5    # five days of the same work; the figures are the fifth's
    .venv/bin/python bench/steady.py 300 --json        # one JSON object only

Set-up: `bench/sync_bench.py`'s portal (`seed_owners(5)`, `seed_contacts(n)`, every contact
matching the cadence, rate limits off, the clock frozen on a Monday 08:00 New York) and its
first sync (not counted). Then one day, through the emulator's action API (what recruiters
and candidates do inside HubSpot, connector/crm/hubspot/emulator/actions.py):

- 5% of n tasks completed (`complete_task`, open tasks of the first sync, at random): each
  completed intro call plans the follow-up email, a new task;
- 1% of n contacts changed (at random), in turn: a lead status set (`set_lead_status`:
  CONNECTED, UNQUALIFIED, BAD_TIMING, IN_PROGRESS), a reply (`record_reply`), a meeting
  (`record_meeting`), a job title edited (`set_property`); exits close the open task.

The schedule: one sync every hour (`cadence serve --every 1h`), 24 runs, the first an hour
after the first sync and the last 24 hours after it (so the once-a-day work, the sweep
until issue 14 replaces it, falls inside the day exactly once). The work is spread evenly:
half an hour before each run, 1/24 of the completions and of the changes happen.

The floor is what the work itself needs, run by run (HubSpot's page and batch limits):
contact change searches (contacts changed in the run's window / 200 a search page, at least
one a run), task change searches (tasks completed in the window / 200, at least one a run),
batch creates (tasks the run created / 100) and batch updates (tasks it closed / 100). An
idle run's floor is 2 (the two change searches). Requests are counted by the emulator's log,
by endpoint, so the share of anything that is not the work (the sweep's batch reads, the
per-run reads of the account and the owners) is visible.

`--days D` plays the same work D days running and reports the last day (each day's total is
printed too): the day after a first sync is not every day, since a check that looks at tasks
some days after they fall due (the sweep's) first shows when the first sync's tasks reach it.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_bench as sb

SEARCH_PAGE = 200  # HubSpot's largest search page
BATCH = 100  # HubSpot's largest batch create / update
RUNS = 24  # one sync an hour
COMPLETED_SHARE = 0.05  # tasks completed in the day, per contact in the portal
CHANGED_SHARE = 0.01  # contacts changed in the day
LEAD_STATUSES = ("CONNECTED", "UNQUALIFIED", "BAD_TIMING", "IN_PROGRESS")
SEED = 11


def run_floor(changed: int, completed: int, created: int, closed: int) -> dict[str, int]:
    """What one run's work needs at HubSpot's limits (a run searches both changes at least once)."""
    return {"contact_searches": max(1, math.ceil(changed / SEARCH_PAGE)),
            "task_searches": max(1, math.ceil(completed / SEARCH_PAGE)),
            "batch_creates": math.ceil(created / BATCH), "batch_updates": math.ceil(closed / BATCH)}


def _open_task_ids(emu: Any) -> list[str]:
    with emu.lock:
        ids = sorted(emu.state.stores["tasks"].records)
    return [str(t) for t in ids if (emu.get_task(t) or {}).get("hs_task_status") != "COMPLETED"]


def _change(emu: Any, contact_id: str, turn: int) -> str:
    kind = turn % 7
    if kind < 4:
        emu.set_lead_status(contact_id, LEAD_STATUSES[kind])
        return f"lead status {LEAD_STATUSES[kind]}"
    if kind == 4:
        emu.record_reply(contact_id)
        return "reply"
    if kind == 5:
        emu.record_meeting(contact_id)
        return "meeting"
    emu.set_property("contacts", contact_id, "jobtitle", f"Senior Engineer {turn}")
    return "job title"


def _spread(items: list[str], runs: int) -> list[list[str]]:
    """`items` in `runs` consecutive slices as equal as can be."""
    return [items[len(items) * i // runs : len(items) * (i + 1) // runs] for i in range(runs)]


def steady_day(n: int, *, runs: int = RUNS, days: int = 1, child: bool = False, seed: int = SEED,
               completed_share: float = COMPLETED_SHARE, changed_share: float = CHANGED_SHARE) -> dict[str, Any]:
    """A first sync of `n` contacts (not counted), then `days` days of the same work, `runs` syncs a day.

    The figures are the last day's; `days` (a summary each) shows how a day's cost moves as
    the first sync's tasks age (a check that falls due some days after it shows on that day)."""
    with sb.Portal(n) as portal:
        emu = portal.emu
        first = portal.sync(sb.START, child=child)
        rng = random.Random(seed)
        with emu.lock:
            contact_ids = [str(c) for c in sorted(emu.state.stores["contacts"].records)]
        every = timedelta(hours=24) / runs
        turn = 0
        summaries: list[dict[str, Any]] = []
        for day in range(days):
            open_tasks = _open_task_ids(emu)
            completions = rng.sample(open_tasks, min(len(open_tasks), round(n * completed_share)))
            changes = rng.sample(contact_ids, min(len(contact_ids), round(n * changed_share)))
            kinds: dict[str, int] = {}
            per_run: list[dict[str, Any]] = []
            start = sb.START + timedelta(days=day)
            for i, (done, changed) in enumerate(zip(_spread(completions, runs), _spread(changes, runs), strict=True)):
                portal.at(start + every * i + every / 2)
                for task_id in done:
                    emu.complete_task(task_id)
                for contact_id in changed:
                    kind = _change(emu, contact_id, turn)
                    kinds[kind] = kinds.get(kind, 0) + 1
                    turn += 1
                tasks_before = emu.count("tasks")
                r = portal.sync(start + every * (i + 1), child=child)
                created = emu.count("tasks") - tasks_before  # the recruiters create none: these are the sync's
                closed = r["report_counts"].get("closed", 0)
                floor = run_floor(len(changed), len(done), created, closed)
                per_run.append({
                    "run": i + 1, "at_h": round((every * (i + 1)).total_seconds() / 3600, 2), "completed": len(done),
                    "changed": len(changed), "created": created, "closed": closed, "requests": r["requests"],
                    "floor": sum(floor.values()), "floor_by_kind": floor, "by_endpoint": r["by_endpoint"],
                    "status": r["status"], "wall_s": r["wall_s"], "http_429": r["http_429"],
                })
            summary = _day_figures(per_run)
            summaries.append({"day": day + 1, "open_tasks_at_start": len(open_tasks),
                              **{k: summary[k] for k in ("requests", "floor", "ratio_to_floor", "by_endpoint")}})
        tasks_in_crm = emu.count("tasks")

    return {
        "contacts": n, "runs": runs, "every_h": round(every.total_seconds() / 3600, 3), "child_process": child,
        "day": days, "days": summaries,
        "first_sync": {"requests": first["requests"], "created": first["created"], "wall_s": first["wall_s"]},
        "completed": len(completions), "changed": len(changes), "changes_by_kind": kinds,
        **summary, "tasks_in_crm": tasks_in_crm, "per_run": per_run,
    }


def _day_figures(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    by_endpoint: dict[str, int] = {}
    floor_by_kind: dict[str, int] = {}
    for run in per_run:
        for ep, c in run["by_endpoint"].items():
            by_endpoint[ep] = by_endpoint.get(ep, 0) + c
        for k, c in run["floor_by_kind"].items():
            floor_by_kind[k] = floor_by_kind.get(k, 0) + c
    requests = sum(r["requests"] for r in per_run)
    floor = sum(floor_by_kind.values())
    heaviest = max(per_run, key=lambda r: r["requests"])
    return {
        "created": sum(r["created"] for r in per_run), "closed": sum(r["closed"] for r in per_run),
        "requests": requests, "floor": floor, "floor_by_kind": floor_by_kind,
        "ratio_to_floor": round(requests / floor, 2) if floor else None,
        "by_endpoint": dict(sorted(by_endpoint.items(), key=lambda kv: -kv[1])),
        "heaviest_run": {k: heaviest[k] for k in ("run", "at_h", "requests", "floor", "by_endpoint")},
        "http_429": sum(r["http_429"] for r in per_run), "statuses": sorted({r["status"] for r in per_run}),
        "wall_s": round(sum(r["wall_s"] for r in per_run), 2),
    }


def main(argv: list[str] | None = None) -> int:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contacts", type=int, nargs="?", default=100_000)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"syncs in the day (default {RUNS}: hourly)")
    parser.add_argument("--days", type=int, default=1,
                        help="days of the same work; the figures are the last day's (default 1: the day after the first sync)")
    parser.add_argument("--child", action="store_true", help="each sync in a child process")
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    day = steady_day(args.contacts, runs=args.runs, days=args.days, child=args.child)
    if not args.json:
        for d in day["days"]:
            print(f"day {d['day']}: {d['open_tasks_at_start']:,} open tasks at its start, {d['requests']:,} requests, "
                  f"floor {d['floor']:,}, {d['ratio_to_floor']}x")
        print(f"{day['contacts']:,} contacts, {day['runs']} runs every {day['every_h']} h: {day['completed']:,} tasks "
              f"completed, {day['changed']:,} contacts changed; {day['created']:,} created, {day['closed']:,} closed")
        print(f"requests {day['requests']:,}  floor {day['floor']:,}  ratio {day['ratio_to_floor']}x")
        print("floor: " + ", ".join(f"{k} {v:,}" for k, v in day["floor_by_kind"].items()))
        for ep, c in day["by_endpoint"].items():
            print(f"  {c:>7,}  {ep}")
        print(f"heaviest run: {day['heaviest_run']['run']} ({day['heaviest_run']['requests']:,} requests)")
    print(json.dumps(day))
    return 0


if __name__ == "__main__":
    sys.exit(main())
