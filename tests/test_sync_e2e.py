"""Three simulated weeks of `cadence sync` on the examples, a recruiter working tasks.csv each day, through the real CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import holidays
import pytest
from support.examples import copy_examples

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # Monday; 07:00 in New York
DAYS = 21

# what the recruiter records when they do a contact's first call
OUTCOMES: dict[tuple[str, str], dict[str, str]] = {
    ("c001", "intro-call"): {"outcome": "replied", "note": "Interested, sent CV"},
    ("c002", "intro-call"): {"outcome": "not now", "note": "Busy until summer"},
    ("c004", "intro-call"): {"outcome": "do_not_contact", "note": "Asked not to be called"},
    ("c005", "intro-call"): {"outcome": "referral", "referred_first_name": "Kai", "referred_last_name": "Parker",
                             "referred_email": "kai.parker@example.com", "referred_phone": "+16025550199"},
    ("c010", "intro-call"): {"outcome": "opted_out"},
}


def cadence(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def work_the_queue(tasks_csv: Path, until: datetime) -> None:
    """The recruiter does every open task due before `until`, 30 minutes after it was due, recording outcomes."""
    with open(tasks_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        due = datetime.fromisoformat(row["due_utc"].replace("Z", "+00:00"))
        if row["status"] == "open" and due <= until:
            row.update(status="done", completed_at=(due + timedelta(minutes=30)).isoformat())
            row.update(OUTCOMES.get((row["contact_id"], row["step"]), {}))
    with open(tasks_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the three weeks once; tests inspect the result."""
    ws = copy_examples(tmp_path_factory.mktemp("e2e") / "examples")
    config = str(ws / "recruiting.yaml")
    reports, snapshots = [], []
    for day in range(DAYS):
        now = START + timedelta(days=day)
        result = cadence("sync", config, "--now", now.isoformat(), "--json")
        assert result.returncode == 0, result.stderr
        reports.append(json.loads(result.stdout))
        snapshots.append(read_rows(ws / "tasks.csv"))
        work_the_queue(ws / "tasks.csv", now + timedelta(hours=23))
    final = cadence("sync", config, "--now", (START + timedelta(days=DAYS - 1, hours=1)).isoformat(), "--json")
    status = cadence("status", config, "--json", "--now", (START + timedelta(days=DAYS)).isoformat())
    assert status.returncode == 0, status.stderr
    return {
        "ws": ws, "reports": reports, "snapshots": snapshots, "final": json.loads(final.stdout),
        "status": json.loads(status.stdout), "tasks": read_rows(ws / "tasks.csv"),
        "contacts": {r["id"]: r for r in read_rows(ws / "contacts.csv")},
        "owners": {r["id"]: r for r in read_rows(ws / "owners.csv")},
    }


def steps_of(sim: dict[str, Any], contact_id: str) -> list[tuple[str, str]]:
    rows = sorted((r for r in sim["tasks"] if r["contact_id"] == contact_id), key=lambda r: r["due_utc"])
    return [(r["step"], r["due_local"]) for r in rows]


def test_every_run_succeeds_without_errors(simulation: dict[str, Any]) -> None:
    """Each daily sync exits 0 with no errors and no bad records, and a repeat run creates nothing."""
    for report in simulation["reports"]:
        assert report["status"] == "ok" and report["errors"] == [] and report["bad_records"] == []
    assert simulation["final"]["created"] == [] and simulation["final"]["closed"] == []


def test_one_task_per_key_and_one_open_task_per_contact(simulation: dict[str, Any]) -> None:
    """After every run, tasks.csv holds each key once and at most one open task per contact."""
    for day, rows in enumerate(simulation["snapshots"]):
        keys = Counter(r["key"] for r in rows)
        assert max(keys.values()) == 1, f"day {day}: duplicate keys"
        open_per_contact = Counter(r["contact_id"] for r in rows if r["status"] == "open")
        assert not open_per_contact or max(open_per_contact.values()) == 1, f"day {day}: {open_per_contact}"


def test_due_times_respect_calendar_and_calling_hours(simulation: dict[str, Any]) -> None:
    """No task falls on a weekend, a public holiday of the contact's country, or the owner's day off; calls sit in 09:00-18:00 local."""
    contacts, owners = simulation["contacts"], simulation["owners"]
    for row in simulation["tasks"]:
        due = datetime.fromisoformat(row["due_local"])
        assert due.astimezone(timezone.utc) == datetime.fromisoformat(row["due_utc"].replace("Z", "+00:00"))
        assert due.weekday() < 5, row
        contact = contacts[row["contact_id"]]
        country = contact["country"] or "US"
        try:
            days = holidays.country_holidays(country, subdiv=contact["subdivision"] or None, years=due.year)
        except NotImplementedError:
            days = holidays.country_holidays(country, years=due.year)
        assert due.date() not in days, f"{row['contact_id']} due on {days.get(due.date())}"
        off = {date.fromisoformat(d) for d in owners[row["owner_id"]]["days_off"].split(";") if d}
        assert due.date() not in off, row
        if row["channel"] == "call":
            assert 8 <= due.hour < 21 and 9 <= due.hour < 18, row


def test_a_silent_contact_gets_the_whole_cadence(simulation: dict[str, Any]) -> None:
    """Zoë never answers: call, email, LinkedIn, follow-up call and closing email, each at its exact local time."""
    assert steps_of(simulation, "c012") == [
        ("intro-call", "2026-03-02T13:00:00+01:00"),
        ("intro-email", "2026-03-05T08:00:00+01:00"),
        ("linkedin-connect", "2026-03-10T09:00:00+01:00"),
        ("follow-up-call", "2026-03-17T09:00:00+01:00"),
    ]
    # the closing email falls due after the three weeks' horizon: it waits in state, planned
    planned = [n for r in simulation["reports"] for n in r["notes"] if n["contact_id"] == "c012" and n["kind"] == "plan"]
    assert [n["step_id"] for n in planned] == ["close-the-loop"]
    assert "close-the-loop due 2026-03-31 08:00 waits in state: beyond the 5 business days horizon" in planned[0]["reason"]


def test_first_day_tasks_are_due_at_the_window_start(simulation: dict[str, Any]) -> None:
    """On day one Maya's intro call is due 09:00 New York time with her name and company in the subject."""
    created = {c["contact_id"]: c for c in simulation["reports"][0]["created"]}
    maya = created["c001"]
    assert maya["due_local"] == "2026-03-02T09:00:00-05:00" and maya["due"] == "Mon 2026-03-02 09:00 America/New_York"
    assert maya["subject"] == "Call Maya at Northwind Analytics: introduce yourself"
    assert "c020" not in created and "c021" not in created  # do-not-contact and opted out of everything


def test_outcomes_end_or_pause_the_cadence(simulation: dict[str, Any]) -> None:
    """Replied, do not contact and opted out get no further cadence steps; not now is snoozed until the cool-off ends."""
    assert [s for s, _ in steps_of(simulation, "c001")] == ["intro-call", "thanks-c022"]  # replied; thanked for Hannah
    assert [s for s, _ in steps_of(simulation, "c004")] == ["intro-call"]
    assert [s for s, _ in steps_of(simulation, "c010")] == ["intro-call"]
    assert [s for s, _ in steps_of(simulation, "c002")] == ["intro-call", "thanks-c023"]
    snoozed = [e for e in simulation["status"]["enrollments"] if e["status"] == "snoozed"]
    # Olivia's "not now" after her intro call, and Arjun, already BAD_TIMING when he would have enrolled
    assert snoozed == [{"cadence": "passive-outreach", "version": 1, "step": "(not started)", "status": "snoozed", "count": 1},
                       {"cadence": "passive-outreach", "version": 1, "step": "intro-call", "status": "snoozed", "count": 1}]
    reasons = {(e["status"], e["reason"]) for e in simulation["status"]["ended"]}
    assert ("exited", "recruiter recorded 'do not contact' on the task") in reasons
    assert ("exited", "recruiter recorded 'opted out' on the task") in reasons
    assert ("finished", "recruiter recorded 'replied' on the task") in reasons


def test_a_referral_becomes_a_contact_with_its_own_cadence(simulation: dict[str, Any]) -> None:
    """Liam's referral adds Kai to contacts.csv (referred_by Liam), Kai is called mentioning Liam, Liam is thanked and continues."""
    kai = [c for c in simulation["contacts"].values() if c["first_name"] == "Kai"]
    assert len(kai) == 1 and kai[0]["referred_by"] == "c005" and kai[0]["owner_id"] == "o2"
    kai_tasks = [r for r in simulation["tasks"] if r["contact_id"] == kai[0]["id"]]
    first = min(kai_tasks, key=lambda r: r["due_utc"])
    assert first["subject"] == "Call Kai: referred by Liam O'Connor" and first["due_local"] == "2026-03-03T09:00:00-07:00"
    liam = [s for s, _ in steps_of(simulation, "c005")]
    assert liam[:3] == ["intro-call", f"thanks-{kai[0]['id']}", "intro-email"]


def test_recruiter_notes_survive_three_weeks_of_writes(simulation: dict[str, Any]) -> None:
    """Notes and outcomes typed into tasks.csv on day one are still there after twenty more syncs."""
    maya = next(r for r in simulation["tasks"] if r["contact_id"] == "c001" and r["step"] == "intro-call")
    assert (maya["status"], maya["outcome"], maya["note"]) == ("done", "replied", "Interested, sent CV")


def test_status_reports_owners_and_runs(simulation: dict[str, Any]) -> None:
    """cadence status lists open and overdue tasks per owner and the last runs."""
    status = simulation["status"]
    assert {o["owner_id"] for o in status["owners"]} == {"o1", "o2", "o3"}
    assert status["runs"][0]["status"] == "ok" and len(status["runs"]) == 10
    per_owner = defaultdict(int)
    for row in simulation["tasks"]:
        if row["status"] == "open":
            per_owner[row["owner_id"]] += 1
    assert {o["owner_id"]: o["open"] for o in status["owners"]} == {k: per_owner.get(k, 0) for k in ("o1", "o2", "o3")}
