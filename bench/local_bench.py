"""The local (CSV) CRM's first sync: wall and CPU seconds per 1,000 contacts, from 1,000 to 100,000.

    .venv/bin/python bench/local_bench.py                      # 1,000, 10,000 and 100,000 contacts
    .venv/bin/python bench/local_bench.py --contacts 5000      # one size (repeatable)
    .venv/bin/python bench/local_bench.py --profile 10000      # cProfile of one size (top 25 by own time)

Set-up: a temp folder with `contacts.csv` (n contacts, 5 owners, four time zones, a phone and an
email each) and `owners.csv`, a config whose rule enrolls every contact (so each gets its first
task; capacity high enough that none waits), the SQLite state beside it. The sync runs in this
process (`connector.sync.run_sync`, a fixed Monday `now`, the CRM built from the config as `cadence
sync` builds it, so its end-of-run `close()` is included). Measured: wall and CPU seconds of that
one run; `created` is the run's report count and is checked against the rows of tasks.csv;
`replaced` and `appends` count how often the run rewrote tasks.csv whole and appended a batch to it.

Linear means the seconds per 1,000 contacts (wall s/1k, cpu s/1k) stay flat from 1,000 to 100,000.
Target (issue 14): a first sync of 100,000 contacts under 30 s on the bench machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# The code under test: this repository, or another tree of it named by CADENCE_BENCH_TREE (how
# bench/then_and_now.py measures an earlier commit with this same benchmark).
ROOT = Path(os.environ.get("CADENCE_BENCH_TREE") or Path(__file__).resolve().parent.parent).resolve()
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)  # a Monday, 08:00 in New York
SIZES = (1_000, 10_000, 100_000)
TARGET_100K_S = 30.0

CONFIG = """\
# crm-cadence local bench: every contact enrolls and gets its first task.
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv, owners: owners.csv}
calendar: {timezone: America/New_York, country: US}
guards:
  min_gap: 1 day
  touch_budget: {touches: 3, per: 7 days}
  daily_capacity: 10000  # per owner: 100,000 contacts over 5 owners need 20,000 a day
cadences:
  - id: everyone
    name: Every contact
    enroll_when: {all: [{property: id, exists: true}]}
    steps:
      - id: intro-call
        channel: call
        priority: high
        subject: "Call {{contact.first_name}} at {{contact.company}}"
        body: |
          Introduce yourself and the role. Offer to do the legwork: "I'll send the details and follow up,
          so you don't have to chase anything."
      - {id: follow-up-email, channel: email, wait: 2 business days, subject: "{{contact.first_name}}, following up"}
"""

OWNERS = [
    ("o1", "Dana", "Whitfield", "America/New_York"),
    ("o2", "Marcus", "Lee", "America/Los_Angeles"),
    ("o3", "Anika", "Sharma", "America/Chicago"),
    ("o4", "José", "Álvarez", "America/Denver"),
    ("o5", "Chloé", "Martin", "America/New_York"),
]
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
FIRST = ("Maya", "José", "Priya", "Liam", "Zoë", "Kenji", "Amara", "Lucas", "Ingrid", "Omar")
LAST = ("Thompson", "Álvarez", "Nguyen", "O'Brien", "Kowalski", "Mensah", "Larsen", "Haddad", "Rossi", "Kim")
CONTACT_HEADER = ["id", "first_name", "last_name", "email", "phone", "company", "title", "owner_id", "timezone",
                  "country", "lifecycle_stage"]


def write_workspace(folder: Path, n: int) -> Path:
    """contacts.csv, owners.csv and the config in `folder`; returns the config's path."""
    with open(folder / "owners.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "first_name", "last_name", "email", "timezone", "days_off"])
        for oid, first, last, zone in OWNERS:
            writer.writerow([oid, first, last, f"{first.lower()}@agency.example", zone, ""])
    with open(folder / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CONTACT_HEADER)
        for i in range(n):
            first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
            writer.writerow([f"c{i:07d}", first, last, f"person{i}@example.com", f"+1212555{i % 10_000:04d}",
                             f"Company {i % 997}", "Engineer", OWNERS[i % len(OWNERS)][0], ZONES[i % len(ZONES)],
                             "US", "lead"])
    path = folder / "bench.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def _task_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return sum(1 for _ in csv.DictReader(f))


def measure(n: int, *, profile: bool = False) -> dict[str, Any]:
    """A first sync of `n` contacts on the local CRM: {"contacts", "wall_s", "cpu_s", "created", ...}."""
    import inspect

    from connector.configfile import load_config
    from connector.crm.registry import load_crm
    from connector.sync import run_sync

    try:
        from connector.crm.local.csvtable import SETTLE_SECONDS as settle
    except ImportError:  # an earlier tree (bench/then_and_now.py): no settling rule there
        settle = 0.0
    clocks = {"now": NOW, "wall": NOW} if "wall" in inspect.signature(run_sync).parameters else {"now": NOW}

    with tempfile.TemporaryDirectory(prefix="local-bench-") as tmp:
        folder = Path(tmp)
        loaded = load_config(write_workspace(folder, n))
        time.sleep(settle)  # a file modified just now is read after it settles: not the run's cost
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        crm = load_crm(loaded)
        try:
            report = run_sync(loaded, crm=crm, **clocks)
        finally:
            crm.close()  # what run_sync does with a CRM it builds: the end-of-run sort of tasks.csv
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if profiler is not None:
            profiler.disable()
            import io
            import pstats

            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(int(os.environ.get("PROFILE_TOP", "25")))
            print(out.getvalue(), file=sys.stderr)
        assert report.status == "ok", (report.status, report.errors[:3])
        created = report.counts["created"]
        rows = _task_rows(folder / "tasks.csv")
        assert rows == created, f"tasks.csv has {rows} rows, the run says it created {created}"
        size = (folder / "tasks.csv").stat().st_size
    return {"contacts": n, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "created": created,
            "wall_s_per_1000": round(wall * 1000 / n, 3), "cpu_s_per_1000": round(cpu * 1000 / n, 3),
            "tasks_csv_mb": round(size / 1e6, 2), "tasks_csv_replaced": getattr(crm, "files_replaced", None),
            "tasks_csv_appends": getattr(crm, "appends", None)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, action="append", help="a size (repeatable)")
    parser.add_argument("--profile", type=int, help="profile one size (cProfile, to stderr)")
    args = parser.parse_args(argv)
    if args.profile:
        print(json.dumps(measure(args.profile, profile=True)))
        return 0
    sizes = args.contacts or list(SIZES)
    print(f"{'contacts':>9} {'created':>8} {'wall s':>8} {'cpu s':>8} {'wall s/1k':>10} {'cpu s/1k':>9} {'tasks.csv MB':>12} "
          f"{'replaced':>8} {'appends':>7}")
    rows = []
    for n in sizes:
        r = measure(n)
        rows.append(r)
        print(f"{n:>9,} {r['created']:>8,} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} {r['wall_s_per_1000']:>10.3f} "
              f"{r['cpu_s_per_1000']:>9.3f} {r['tasks_csv_mb']:>12.2f} {r['tasks_csv_replaced']!s:>8} "
              f"{r['tasks_csv_appends']!s:>7}", flush=True)
    per_1k = [r["wall_s_per_1000"] for r in rows]
    spread = round(max(per_1k) / min(per_1k), 2) if per_1k else 0.0
    large = [r["wall_s_per_1000"] for r in rows if r["contacts"] >= 10_000]
    spread_large = round(max(large) / min(large), 2) if len(large) > 1 else None
    big = next((r for r in rows if r["contacts"] == 100_000), None)
    verdict = "" if big is None else ("PASS" if big["wall_s"] < TARGET_100K_S else "MISS")
    print(f"linearity: wall seconds per 1,000 contacts vary {spread}x over all sizes"
          + (f", {spread_large}x from 10,000 up (a run's fixed costs weigh on the smallest)" if spread_large else "")
          + (f"; 100,000 contacts in {big['wall_s']:.1f} s (target < {TARGET_100K_S:.0f} s): {verdict}" if big else ""))
    print(json.dumps({"bench": "local", "sizes": rows, "per_1000_spread": spread, "per_1000_spread_from_10k": spread_large,
                      "target_100k_s": TARGET_100K_S, "verdict": verdict}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
