"""Pacing and the horizon through whole syncs on the local CRM: queued contacts in state, shown in
`plan`, `sync` and `status`, costing no CRM request; guard moves explained."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from connector.configfile import load_config
from connector.crm.local import LocalCRM
from connector.sync import run_sync

MONDAY = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)  # 08:00 in New York

CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv}
calendar: {timezone: America/New_York, country: US}
guards: {daily_capacity: 2, min_gap: 0 days}
cadences:
  - id: main
    name: Main
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
      - {id: email, channel: email, wait: 2 weeks, subject: "Email {{contact.first_name}}"}
"""


def setup(tmp_path: Path, n: int = 30) -> Any:
    with open(tmp_path / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "first_name", "email", "phone", "owner_id", "timezone", "lifecycle_stage"])
        for i in range(n):
            w.writerow([f"c{i:02d}", f"N{i}", f"c{i}@x.io", "+12125550100", "o1", "America/New_York", "lead"])
    with open(tmp_path / "owners.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "first_name", "timezone"], ["o1", "Rita", "America/New_York"]])
    (tmp_path / "cadence.yaml").write_text(CONFIG, encoding="utf-8")
    return load_config(tmp_path / "cadence.yaml")


class CountingCRM:
    """The local CRM, counting the writes that reach it."""

    def __init__(self, inner: LocalCRM):
        self.inner = inner
        self.creates: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_tasks(self, tasks: Sequence[Any]) -> Any:
        self.creates.append(len(tasks))
        return self.inner.create_tasks(tasks)


def tasks(tmp_path: Path) -> list[dict[str, str]]:
    with open(tmp_path / "tasks.csv", newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_first_sync_starts_a_weeks_work_and_queues_the_rest(tmp_path: Path) -> None:
    """Cap 2 a day: the first sync creates 10 tasks (5 business days), queues 20 contacts, and says so."""
    loaded = setup(tmp_path)
    report = run_sync(loaded, now=MONDAY)
    assert report.ok and report.counts["created"] == 10 and report.counts["queued"] == 20  # the 10 started: enrolled only
    assert report.counts["contacts_planned"] == 30  # a first planning with no referrals: each contact planned once
    rows = tasks(tmp_path)
    assert len(rows) == 10
    due_days = sorted({r["due_local"][:10] for r in rows})
    assert due_days == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]
    assert {r["contact_id"] for r in rows if r["due_local"].startswith("2026-03-02")} == {"c00", "c01"}  # queue order
    assert {r["contact_id"] for r in rows if r["due_local"].startswith("2026-03-06")} == {"c08", "c09"}
    queued = [n for n in report.notes if n.kind == "queue"]
    assert queued and "waits for free capacity of o1" in queued[0].reason
    status = subprocess.run([sys.executable, "-m", "connector.cli", "status", str(tmp_path / "cadence.yaml"), "--json"],
                            capture_output=True, text=True, timeout=60)
    data = json.loads(status.stdout)
    assert data["pacing"]["queued"] == 20 and data["pacing"]["queued_by_owner"] == {"o1": 20}
    text = subprocess.run([sys.executable, "-m", "connector.cli", "status", str(tmp_path / "cadence.yaml")],
                          capture_output=True, text=True, timeout=60).stdout
    assert "queued (waiting for capacity): 20 (o1 20)" in text


def test_queued_contacts_cost_no_crm_request_and_start_as_capacity_frees(tmp_path: Path) -> None:
    """A run with a full week creates nothing for the queue; a new week admits the next in line."""
    loaded = setup(tmp_path)
    crm = CountingCRM(LocalCRM(loaded.config.crm.model_dump(exclude={"type"}), base_dir=loaded.directory))
    run_sync(loaded, now=MONDAY, crm=crm)  # type: ignore[arg-type]
    assert crm.creates == [10]
    again = run_sync(loaded, now=MONDAY + timedelta(hours=1), crm=crm)  # type: ignore[arg-type]
    assert again.ok and crm.creates == [10] and again.counts["created"] == 0
    # a week later (the first week's tasks done or not): Monday of the next week has room again
    later = run_sync(loaded, now=MONDAY + timedelta(days=3), crm=crm)  # type: ignore[arg-type]
    assert later.counts["created"] == 6  # Thursday: next Monday to Wednesday are free within the horizon
    started = sorted(r["contact_id"] for r in tasks(tmp_path))
    assert started == [f"c{i:02d}" for i in range(16)]


def test_plan_and_sync_explain_guard_moves(tmp_path: Path) -> None:
    """`plan` shows why a task was moved (capacity, a holiday, the gap), as preview does."""
    setup(tmp_path, n=6)
    out = subprocess.run([sys.executable, "-m", "connector.cli", "plan", str(tmp_path / "cadence.yaml"),
                          "--now", MONDAY.isoformat()], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "moved: capacity: o1 already has 2 tasks on Mon 02 Mar 2026" in out.stdout
    assert "waits for free capacity" not in out.stdout or "queue" in out.stdout


REFERRALS = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv}
calendar: {timezone: America/New_York, country: US}
guards: {daily_capacity: 2, min_gap: 0 days}
referral_thanks: false
cadences:
  - id: main
    name: Main
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    referral_cadence: warm
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
  - id: warm
    name: Warm
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}, referred"}
"""


def test_queue_priority_holds_across_planning_chunks(tmp_path: Path) -> None:
    """Referrals first, then the rest in queue order, however many chunks the queue's head is planned in.

    30 leads, the last five (c25-c29) referred by c00; cap 2 a day: a week's 10 starts go to
    the five referrals, then c00-c04. The engine plans 3 contacts a chunk here (the sync's
    default is thousands): it orders candidates within a chunk, so across chunks the order
    is the one the sync hands over (the queue's head, in queue order)."""
    from functools import partial

    from sequences.engine import plan_iter

    setup(tmp_path)
    with open(tmp_path / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "first_name", "email", "phone", "owner_id", "timezone", "lifecycle_stage", "referred_by"])
        for i in range(30):
            w.writerow([f"c{i:02d}", f"N{i}", f"c{i}@x.io", "+12125550100", "o1", "America/New_York", "lead",
                        "c00" if i >= 25 else ""])
    (tmp_path / "cadence.yaml").write_text(REFERRALS, encoding="utf-8")
    loaded = load_config(tmp_path / "cadence.yaml")
    report = run_sync(loaded, now=MONDAY, planner=partial(plan_iter, chunk=3))
    assert report.ok, report.errors
    rows = tasks(tmp_path)
    by_day: dict[str, set[str]] = {}
    for r in rows:
        by_day.setdefault(r["due_local"][:10], set()).add(r["contact_id"])
    assert by_day == {"2026-03-02": {"c25", "c26"}, "2026-03-03": {"c27", "c28"}, "2026-03-04": {"c29", "c00"},
                      "2026-03-05": {"c01", "c02"}, "2026-03-06": {"c03", "c04"}}
    assert {r["contact_id"] for r in rows if "referred" in r["subject"]} == {"c25", "c26", "c27", "c28", "c29"}


def test_a_first_sync_planned_in_one_pass_keeps_queue_order_across_chunks(tmp_path: Path) -> None:
    """A first sync with no referrals plans everyone once (no second pass over the queue's head):
    it starts contacts in contact-id order, the queue's order, however many chunks it takes, and
    a second sync then plans only what changed."""
    from functools import partial

    from sequences.engine import plan_iter

    loaded = setup(tmp_path)
    report = run_sync(loaded, now=MONDAY, planner=partial(plan_iter, chunk=3))
    assert report.ok, report.errors
    assert report.counts["contacts_planned"] == 30 and report.counts["queue_considered"] == 0
    by_day: dict[str, set[str]] = {}
    for r in tasks(tmp_path):
        by_day.setdefault(r["due_local"][:10], set()).add(r["contact_id"])
    assert by_day == {"2026-03-02": {"c00", "c01"}, "2026-03-03": {"c02", "c03"}, "2026-03-04": {"c04", "c05"},
                      "2026-03-05": {"c06", "c07"}, "2026-03-06": {"c08", "c09"}}
    assert report.counts["queued"] == 20
    again = run_sync(loaded, now=MONDAY + timedelta(hours=1), planner=partial(plan_iter, chunk=3))
    assert again.ok and again.counts["created"] == 0 and again.counts["queue_considered"] == 20  # the usual two passes
