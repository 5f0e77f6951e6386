"""Pacing and the horizon: what a first sync of a large portal puts into the CRM.

    .venv/bin/python bench/pacing.py                       # 100,000 contacts, 5 owners, capacity 40
    .venv/bin/python bench/pacing.py --contacts 20000      # smaller
    .venv/bin/python bench/pacing.py --variants default    # one variant (repeatable)

Set-up as `bench/sync_bench.py` (the bundled HubSpot emulator, `seed_owners(5)`,
`seed_contacts(n)`, rate limits off, the clock frozen on a Monday 08:00 New York), with a
config whose enrollment rule matches every contact and `guards.daily_capacity: 40`. The
first sync runs in a child process (its peak RSS is its own). Three variants:

- `default`: the default settings (pacing on, `pacing.horizon: 5 business days`);
- `no-horizon`: `pacing.horizon: null` (pacing still on);
- `horizon-only`: `pacing.enroll_at_capacity: false` (every contact starts at once; tasks
  due beyond the horizon wait in state);
- `unpaced`: `pacing: {horizon: null, enroll_at_capacity: false}` (every contact starts at
  once, every task is pushed: the behaviour before pacing and the horizon).

For each: requests by kind (batch creates), tasks pushed, contacts queued, peak RSS, wall
time, and the spread of the pushed tasks' due dates in days after the run (min, median,
95th percentile, max). Targets (the default): at most 200 batch-create requests and no
pushed task due more than 10 days out. Prints tables and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sync_bench  # noqa: E402
from sync_bench import START, Portal  # noqa: E402

CAPACITY = 40
VARIANTS = {
    "default": "",
    "no-horizon": "pacing: {{horizon: null}}\n",  # braces doubled: the text is formatted once more
    "horizon-only": "pacing: {{enroll_at_capacity: false}}\n",
    "unpaced": "pacing: {{horizon: null, enroll_at_capacity: false}}\n",
}
CONFIG = """\
# crm-cadence pacing bench: every contact matches; 5 recruiters at {capacity} tasks a day.
crm:
  type: hubspot
  tier: {{tier}}
calendar: {{{{timezone: America/New_York, country: US}}}}
guards:
  min_gap: 1 day
  daily_capacity: {capacity}
{pacing}cadences:
  - id: everyone
    name: Every contact
    enroll_when: {{{{all: [{{{{property: id, exists: true}}}}]}}}}
    steps:
      - {{{{id: intro-call, channel: call, subject: "Call {{{{{{{{contact.first_name}}}}}}}}", priority: high}}}}
      - {{{{id: follow-up-email, channel: email, wait: 2 business days, subject: "Following up"}}}}
"""


def due_spread(portal: Portal, now: datetime) -> dict[str, Any]:
    """Days from `now` to each pushed task's due time: min, median, p95, max."""
    from connector.crm.hubspot.mapping import parse_time

    days = []
    for task_id in portal.emu.state.stores["tasks"].records:
        props = portal.emu.get_task(int(task_id)) or {}
        due = parse_time(props.get("hs_timestamp"))
        if due is not None:
            days.append((due - now).total_seconds() / 86400)
    if not days:
        return {"tasks": 0}
    days.sort()
    return {"tasks": len(days), "min_days": round(days[0], 2), "median_days": round(statistics.median(days), 2),
            "p95_days": round(days[int(0.95 * (len(days) - 1))], 2), "max_days": round(days[-1], 2)}


def _queued(portal: Portal) -> int:
    """Contacts left in the enrollment queue (read from the state file after the run)."""
    import sqlite3

    assert portal.config_path is not None
    db = sqlite3.connect(portal.config_path.parent / "cadence-state.sqlite")
    try:
        return db.execute("SELECT count(*) FROM enrollments WHERE status='queued'").fetchone()[0]
    finally:
        db.close()


def run_variant(n: int, variant: str) -> dict[str, Any]:
    original = sync_bench.CONFIG
    sync_bench.CONFIG = CONFIG.format(capacity=CAPACITY, pacing=VARIANTS[variant])
    try:
        with Portal(n) as portal:
            first = portal.sync(START, child=True)
            spread = due_spread(portal, START)
            queued = _queued(portal)
    finally:
        sync_bench.CONFIG = original
    by = first["by_endpoint"]
    creates = sum(v for k, v in by.items() if "batch/create" in k and "tasks" in k)
    counts = first["report_counts"]
    return {
        "variant": variant, "contacts": n, "requests": first["requests"], "batch_creates": creates,
        "tasks_pushed": first["created"], "queue_notes": counts.get("queued", 0),
        "queue_considered": counts.get("queue_considered", 0), "planned_in_state": counts.get("planned_in_state", 0), "peak_rss_mib": first["ru_maxrss_mib"],
        "still_queued": queued, "wall_s": first["wall_s"], "cpu_s": first["cpu_s"], "status": first["status"], "due_days": spread,
        "by_endpoint": by,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--variants", action="append", choices=sorted(VARIANTS))
    args = parser.parse_args(argv)
    results = []
    for variant in args.variants or list(VARIANTS):
        print(f"... {variant}: first sync of {args.contacts:,} contacts", file=sys.stderr, flush=True)
        results.append(run_variant(args.contacts, variant))
        print(json.dumps({"variant_done": variant, **{k: v for k, v in results[-1].items() if k != "by_endpoint"}}),
              file=sys.stderr, flush=True)
    head = ["variant", "requests", "batch creates", "tasks pushed", "still queued", "due days min/median/p95/max",
            "peak RSS MiB", "wall s"]
    print(" | ".join(head))
    for r in results:
        d = r["due_days"]
        spread = f"{d.get('min_days')}/{d.get('median_days')}/{d.get('p95_days')}/{d.get('max_days')}"
        print(" | ".join(str(x) for x in (r["variant"], r["requests"], r["batch_creates"], r["tasks_pushed"],
                                          r["still_queued"], spread, r["peak_rss_mib"], r["wall_s"])))
    default = next((r for r in results if r["variant"] == "default"), None)
    if default is not None:
        ok_creates = default["batch_creates"] <= 200
        ok_spread = default["due_days"].get("max_days", 0) <= 10
        print(f"target: at most 200 batch creates: {default['batch_creates']} {'PASS' if ok_creates else 'MISS'}; "
              f"no pushed task due more than 10 days out: max {default['due_days'].get('max_days')} days "
              f"{'PASS' if ok_spread else 'MISS'}")
    print(json.dumps({"part": "pacing", "capacity": CAPACITY, "owners": sync_bench.OWNERS, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
