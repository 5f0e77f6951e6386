"""Engine throughput and memory: synthetic contacts streamed through `plan_iter`.

    .venv/bin/python bench/engine.py             # 100k and 1M contacts
    .venv/bin/python bench/engine.py --quick     # 20k contacts, a few seconds
    .venv/bin/python bench/engine.py --contacts 250000
    .venv/bin/python bench/engine.py --profile 50000   # cProfile, top functions

Prints contacts planned per second, the process's peak RSS after each size, the Python
heap peak (tracemalloc) for two traced sizes (equal peaks = memory bounded while
streaming), a table, and one JSON line. Results are consumed and dropped, never kept.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import platform
import pstats
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.clikit import GC_THRESHOLD
from sequences.config import Config
from sequences.engine import CHUNK, plan_iter, task_key
from sequences.records import (
    Contact,
    ContactState,
    Enrollment,
    EnrollmentStatus,
    Owner,
    Snapshot,
    TaskState,
    TaskStatus,
)

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday
TARGET = 50_000  # contacts per second on one core (the target)
CONTACTS_PER_OWNER = 250  # with ~45% of contacts getting a task, a little over a 100/day cap
ACCOUNT = "bench"

CONFIG = Config.model_validate({
    "calendar": {"timezone": "America/New_York", "country": "US"},
    "guards": {"min_gap": "1 day", "touch_budget": {"touches": 3, "per": "7 days"}, "daily_capacity": 100},
    "scripts": {
        "intro": {
            "subject": "Intro call: {{contact.first_name}} at {{contact.company}}",
            "body": "Hi {{contact.first_name}}, {{owner.first_name}} here about {{contact.title}} roles.",
            "objections": [{"objection": "I don't know of any jobs", "answer": "Who should I speak to?"}],
        },
    },
    "cadences": [{
        "id": "outreach", "name": "Outreach",
        "enroll_when": {"all": [{"property": "lifecycle_stage", "equals": "lead"}]},
        "steps": [
            {"id": "call-1", "channel": "call", "script": "intro", "skip_if": ["no_phone"], "priority": "high"},
            {"id": "email-1", "channel": "email", "wait": "2 business days", "subject": "Following up, {{contact.first_name}}"},
            {"id": "call-2", "channel": "call", "wait": "1 week", "script": "intro", "skip_if": ["no_phone"]},
            {"id": "linkedin-1", "channel": "linkedin", "wait": "3 days", "subject": "Connect on LinkedIn"},
        ],
    }],
})
STEPS = len(CONFIG.cadences[0].steps)

# (time zone, country, subdivision, phone): a spread of clocks, holiday tables and fallbacks
PLACES = [
    ("America/New_York", "US", "NY", "+12125550100"),
    ("America/Los_Angeles", "US", "CA", "+13105550100"),
    ("America/Chicago", "US", "", "+13125550100"),
    ("Europe/London", "GB", "", "+442079460000"),
    ("Europe/Berlin", "DE", "BY", "+4930123456"),
    ("Asia/Kolkata", "IN", "", "+919876543210"),
    ("Australia/Adelaide", "AU", "SA", "+61881234567"),
    ("", "DE", "", "+4930123456"),  # zone from the country
    ("", "", "", "+12125550100"),  # zone and country from the phone
    ("Not/AZone", "US", "", ""),  # the config default
]
# the situations one run meets, per 20 contacts
MIX = (
    ["new"] * 4  # 20%: new leads to enroll (a task is planned)
    + ["waiting"] * 8  # 40%: waiting on an open task (nothing to do)
    + ["completed"] * 5  # 25%: last task completed (the next step is planned)
    + ["idle"] * 3  # 15%: not a lead, never enrolled (nothing to do)
)


def owners(n_contacts: int) -> dict[str, Owner]:
    count = max(1, n_contacts // CONTACTS_PER_OWNER)
    return {f"o{i}": Owner(f"o{i}", f"Rec{i}", "Ruiter", timezone="America/New_York") for i in range(count)}


def contacts(n: int, n_owners: int) -> Iterator[ContactState]:
    """`n` synthetic contacts, generated one at a time (never held in a list)."""
    enrolled_at = NOW - timedelta(days=20)
    for i in range(n):
        kind = MIX[i % len(MIX)]
        zone, country, sub, phone = PLACES[(i * 7919) % len(PLACES)]
        cid = f"c{i}"
        contact = Contact(
            id=cid, first_name="Ana", last_name=f"Lee{i}", email=f"{cid}@example.com", phone=phone,
            company="Acme", title="Engineer", owner_id=f"o{(i * 31) % n_owners}", timezone=zone, country=country,
            subdivision=sub, lifecycle_stage="customer" if kind == "idle" else "lead",
        )
        if kind in ("new", "idle"):
            yield ContactState(contact)
            continue
        step = i % (STEPS - 1)
        key = task_key(ACCOUNT, cid, "outreach", 1, 1, CONFIG.cadences[0].steps[step].id)
        enrollment = Enrollment(cid, "outreach", 1, 1, EnrollmentStatus.ACTIVE, enrolled_at,
                                step_index=step, open_task_key=key, anchor_at=enrolled_at)
        if kind == "waiting":
            task = TaskState(key, cid, TaskStatus.OPEN, due_at=NOW - timedelta(hours=i % 48))
            yield ContactState(contact, (enrollment,), (task,), (enrolled_at + timedelta(days=1),))
        else:
            done = NOW - timedelta(hours=1 + i % 72)
            task = TaskState(key, cid, TaskStatus.COMPLETED, completed_at=done)
            yield ContactState(contact, (enrollment,), (task,), (enrolled_at + timedelta(days=1), done))


def run(n: int) -> dict:
    """Stream `n` contacts through plan_iter, dropping each result; count what it planned."""
    team = owners(n)
    snapshot = Snapshot(ACCOUNT, contacts(n, len(team)), team, {})
    counts: Counter[str] = Counter()
    gc.collect()
    gc.set_threshold(*GC_THRESHOLD)  # as `cadence sync` runs it
    start, cpu_start = time.perf_counter(), time.process_time()
    for result in plan_iter(CONFIG, snapshot, NOW):
        counts["creates"] += len(result.creates)
        counts["moved_by_capacity"] += sum(1 for t in result.creates if any(a.startswith("capacity") for a in t.adjustments))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"contacts": n, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "contacts_per_s": round(n / seconds), "contacts_per_cpu_s": round(n / cpu),
            "creates": counts["creates"], "moved_by_capacity": counts["moved_by_capacity"],
            "rss_peak_mib": round(_rss_peak_mib(), 1)}


def source_rate(n: int) -> int:
    """Contacts per CPU second the synthetic source alone yields (its share of the timing)."""
    start = time.process_time()
    for _ in contacts(n, max(1, n // CONTACTS_PER_OWNER)):
        pass
    return round(n / max(time.process_time() - start, 1e-9))


def traced_peak(n: int) -> float:
    """The Python heap's peak (MiB) while `n` contacts stream through."""
    gc.collect()
    tracemalloc.start()
    team = owners(n)
    for _ in plan_iter(CONFIG, Snapshot(ACCOUNT, contacts(n, len(team)), team, {}), NOW):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(peak / 2**20, 1)


def _rss_peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def profile(n: int, top: int) -> None:
    team = owners(n)
    snapshot = Snapshot(ACCOUNT, contacts(n, len(team)), team, {})
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in plan_iter(CONFIG, snapshot, NOW):
        pass
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    global CONTACTS_PER_OWNER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, action="append", help="contacts to plan (repeatable); default 100k and 1M")
    parser.add_argument("--quick", action="store_true", help="20k contacts only, for a smoke run")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc passes")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile N contacts and print the hot spots")
    parser.add_argument("--top", type=int, default=25, help="functions to list with --profile")
    parser.add_argument("--contacts-per-owner", type=int, default=250,
                        help="contacts per recruiter; more means more capacity overflow")
    args = parser.parse_args(argv)
    CONTACTS_PER_OWNER = args.contacts_per_owner

    if args.profile:
        profile(args.profile, args.top)
        return 0
    sizes = args.contacts or ([20_000] if args.quick else [100_000, 1_000_000])
    run(2_000)  # warm caches (zones, holiday tables, phone facts) outside the timing
    results = [run(n) for n in sorted(sizes)]
    source = source_rate(min(sizes))
    traced: dict[str, float] = {}
    if not args.no_trace:
        # two sizes, both several chunks long: equal peaks mean memory does not grow with the stream
        small = min(sizes)
        for n in sorted({min(small, 2 * CHUNK), min(small, 100_000)}):
            traced[str(n)] = traced_peak(n)

    mix = Counter(MIX)
    print(f"crm-cadence engine bench  python {platform.python_version()}  {platform.machine()}  "
          f"mix per 20 contacts: {dict(mix)}  owners: 1 per {CONTACTS_PER_OWNER} contacts")
    print(f"{'contacts':>10} {'wall s':>8} {'CPU s':>8} {'contacts/s':>11} {'per CPU s':>10} {'creates':>9} "
          f"{'cap moves':>10} {'peak RSS MiB':>13}")
    for r in results:
        print(f"{r['contacts']:>10,} {r['seconds']:>8.2f} {r['cpu_seconds']:>8.2f} {r['contacts_per_s']:>11,} "
              f"{r['contacts_per_cpu_s']:>10,} {r['creates']:>9,} {r['moved_by_capacity']:>10,} {r['rss_peak_mib']:>13.1f}")
    for n, peak in traced.items():
        print(f"tracemalloc peak while streaming {int(n):,} contacts: {peak} MiB")
    print(f"(the synthetic source alone yields {source:,} contacts per CPU second; it is included in the timing)")
    for r in results:  # the engine's own share: the stream's CPU time less the source's, at the same size
        own_source = source if r["contacts"] == min(sizes) else source_rate(r["contacts"])
        r["source_contacts_per_s"] = own_source
        r["engine_only_per_cpu_s"] = round(r["contacts"] / max(r["cpu_seconds"] - r["contacts"] / own_source, 1e-9))
        print(f"engine alone at {r['contacts']:,}: {r['engine_only_per_cpu_s']:,} contacts per CPU second")
    # one core: CPU time, robust to a busy machine; the target is the engine's, so the
    # synthetic source's own CPU time (measured above) is left out of the verdict
    slowest = min(r["engine_only_per_cpu_s"] for r in results)
    print(f"target {TARGET:,} contacts/s on one core: {'met' if slowest >= TARGET else 'NOT met'} "
          f"(engine alone: slowest {slowest:,} per CPU second; with the synthetic source "
          f"{min(r['contacts_per_cpu_s'] for r in results):,})")
    print(json.dumps({"bench": "engine", "python": platform.python_version(), "results": results,
                      "tracemalloc_peak_mib": traced, "source_contacts_per_s": source,
                      "contacts_per_owner": CONTACTS_PER_OWNER, "target_contacts_per_s": TARGET,
                      "meets_target": slowest >= TARGET}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
