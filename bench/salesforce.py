"""The Salesforce sync against the bundled emulator: API requests per 1,000 contacts, against the floor.

    .venv/bin/python bench/salesforce.py                 # 1,000, 10,000 and 50,000 contacts
    .venv/bin/python bench/salesforce.py --quick         # 300 contacts (tests/test_bench_smoke.py)
    .venv/bin/python bench/salesforce.py --contacts 100000
    .venv/bin/python bench/salesforce.py --leads         # half Contacts, half Leads (objects: [Contact, Lead])

Set-up (as `cadence demo salesforce`): an in-process `SalesforceEmulator` (HTTPS, test CA)
with 5 users and `seed_contacts(n)`, a config whose rule enrolls every contact (so each gets
its first task), the client-credentials sign-in, then `run_sync` on a frozen Monday clock.
Counted: every request the emulator saw during the run, the OAuth token exchange included
(whether Salesforce counts that one against the daily allocation is UNCONFIRMED).

The floor (fact sheet §5): ceil(n / 2,000) query pages to read the contacts plus
ceil(tasks / 200) sObject Collections upserts; nothing else is unavoidable. Target: a first
sync within 1.25x of it. Above the floor, per run: the token exchange, and nothing else: the
first contact page, the task changes and the users come in one Composite request (one API
call), which takes the place of the first query page. An idle run (nothing changed) is
reported as a count: the token and that one Composite request.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

UTC = timezone.utc
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
TARGET = 1.25
CONFIG = """\
crm: {type: salesforce, auth: client_credentials, domain: bench.my}
calendar: {timezone: America/New_York, country: US}
guards: {min_gap: 1 day, touch_budget: {touches: 3, per: 7 days}, daily_capacity: 10000}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: email, exists: true}]}
    steps:
      - {id: intro-call, channel: call, priority: high, subject: "Call {{contact.first_name}}"}
      - {id: follow-up-email, channel: email, wait: 2 business days, subject: "{{contact.first_name}}, following up"}
"""


def measure(contacts: int, seed: int = 7, leads: bool = False) -> dict[str, Any]:
    """`contacts` people: all Contacts, or (leads) half Contacts and half Leads with `objects: [Contact, Lead]`,
    whose floor has one query page per object per 2,000."""
    from connector.configfile import load_config
    from connector.crm.salesforce.emulator import SalesforceEmulator
    from connector.sync import run_sync

    emu = SalesforceEmulator(api_max=10_000_000)
    clock = emu.freeze_clock(START - timedelta(days=1))
    emu.seed_users(5, seed=seed)
    n_leads = contacts // 2 if leads else 0
    emu.seed_contacts(contacts - n_leads, seed=seed)
    emu.seed_leads(n_leads, seed=seed)
    with emu, tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        path = Path(tmp) / "bench.yaml"
        config = CONFIG.replace("domain: bench.my}", "domain: bench.my, objects: [Contact, Lead]}") if leads else CONFIG
        path.write_text(config, encoding="utf-8")
        loaded = load_config(path)
        env = dict(os.environ, SALESFORCE_CONSUMER_KEY=emu.consumer_key, SALESFORCE_CONSUMER_SECRET=emu.consumer_secret,
                   SALESFORCE_LOGIN_URL=emu.base_url, SALESFORCE_CA_BUNDLE=emu.ca_file)
        clock.set_wall(START)
        emu.reset_log()
        began = time.perf_counter()
        first = run_sync(loaded, now=START, env=env)
        wall = time.perf_counter() - began
        assert first.status == "ok", first.errors[:3]
        first_counts = Counter(emu.counts())
        first_requests = emu.total_requests()
        clock.set_wall(START + timedelta(minutes=10))
        emu.reset_log()
        idle = run_sync(loaded, now=START + timedelta(minutes=10), env=env)
        assert idle.status == "ok", idle.errors[:3]
        idle_counts = Counter(emu.counts())
        idle_requests = emu.total_requests()
    created = first.counts["created"]
    floor = -(-(contacts - n_leads) // 2000) + -(-n_leads // 2000) + -(-created // 200)
    data_requests = first_requests - first_counts.get("POST /services/oauth2/token", 0)
    return {
        "contacts": contacts, "leads": n_leads, "tasks_created": created, "first_requests": first_requests,
        "first_requests_per_1000": round(first_requests * 1000 / contacts, 2),
        "first_data_requests": data_requests, "floor": floor, "floor_per_1000": round(floor * 1000 / contacts, 2),
        "ratio_to_floor": round(first_requests / floor, 3), "data_ratio_to_floor": round(data_requests / floor, 3),
        "first_by_endpoint": dict(sorted(first_counts.items())), "first_wall_s": round(wall, 2),
        "idle_requests": idle_requests, "idle_by_endpoint": dict(sorted(idle_counts.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size")
    parser.add_argument("--contacts", type=int, action="append", help="a size (repeatable)")
    parser.add_argument("--leads", action="store_true", help="half of each size are Leads (objects: [Contact, Lead])")
    args = parser.parse_args(argv)
    sizes = args.contacts or ([300] if args.quick else [1_000, 10_000, 50_000])
    rows = []
    if args.leads:
        print("each size: half Contacts, half Leads (objects: [Contact, Lead]); floor: one query page per object per 2,000")
    print(f"{'contacts':>9} {'tasks':>7} {'first req':>9} {'per 1,000':>9} {'floor':>6} {'x floor':>7} "
          f"{'x floor (no token)':>18} {'idle req':>8} {'wall s':>7}")
    for n in sizes:
        r = measure(n, leads=args.leads)
        rows.append(r)
        print(f"{n:>9,} {r['tasks_created']:>7,} {r['first_requests']:>9} {r['first_requests_per_1000']:>9} "
              f"{r['floor']:>6} {r['ratio_to_floor']:>7} {r['data_ratio_to_floor']:>18} {r['idle_requests']:>8} "
              f"{r['first_wall_s']:>7}")
        print(f"          first: {r['first_by_endpoint']}\n          idle:  {r['idle_by_endpoint']}")
    worst = max(r["ratio_to_floor"] for r in rows)
    verdict = "PASS" if worst <= TARGET else "MISS"
    print(f"target: a first sync within {TARGET}x of the floor (query pages of 2,000, upserts of 200): "
          f"worst {worst}x, {verdict}")
    for r in rows:
        fixed = r["first_requests"] - r["floor"]
        print(f"  {r['contacts']:>7,} contacts: {r['ratio_to_floor']}x "
              f"({'PASS' if r['ratio_to_floor'] <= TARGET else 'MISS'}); {fixed} request(s) above the floor "
              "(the token exchange: fixed per run)")
    print(json.dumps({"bench": "salesforce", "sizes": rows, "target_ratio": TARGET, "worst_ratio": worst,
                      "verdict": verdict}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
