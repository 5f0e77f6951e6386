"""The sync against Salesforce: real simple-salesforce over HTTPS to the emulator, simulated days
with a frozen emulator clock. Mirrors tests/test_hubspot_sync.py.

Shared helpers for the Salesforce fault and crash tests live here (`scenario`, the configs).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.salesforce import OUTCOMES_CONFIG, START, UPSERT, Org, assert_converged, make_crm, scenario

from connector.crm.base import ReadContext
from connector.crm.salesforce.emulator import SalesforceEmulator
from connector.crm.salesforce.mapping import parse_time
from connector.crm.testing import make_task
from connector.store import CREATED
from sequences.records import EnrollmentStatus, TaskStatus

# ----------------------------------------------------------------------- the big first sync


def test_first_sync_of_ten_thousand_contacts(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """A first sync of 10,500 contacts creates exactly one correct task per contact (WhoId, OwnerId,
    owner-local ActivityDate, ReminderDateTime at the due instant) in query pages of 2,000 and upserts of
    200, within 1.25x of the request floor; the next run, nothing changed, makes 2 requests."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", 10_500, seed=3, users=5)
    contacts = {cid: dict(row) for cid, row in emu.records["Contact"].items()}
    emu.reset_log()

    report = org.sync(START)

    assert report.status == "ok" and report.errors == [], report.errors[:3]
    counts = emu.counts()
    total = emu.total_requests()
    floor = -(-len(contacts) // 2000) + -(-report.counts["created"] // 200)
    print(f"first sync: {total} requests for {len(contacts)} contacts ({total * 1000 / len(contacts):.2f} per 1,000; "
          f"floor {floor}, {total / floor:.2f}x): {counts}")
    # one Composite request opens the contact read (first page), the task read and the users read; 5 more pages
    assert counts["POST /composite"] == 1 and counts["GET /query/{cursor}"] == 5 and "GET /query" not in counts
    assert counts[UPSERT] == -(-report.counts["created"] // 200)
    assert total <= 1.25 * floor

    tasks = assert_converged(org)
    assert report.counts["created"] == len(tasks) == len(contacts)
    assert sorted(t["WhoId"] for t in tasks.values()) == sorted(contacts)  # one task per contact
    store = org.store()
    try:
        ledger = {r.key: r.task for r in store.ledger([CREATED])}
    finally:
        store.close()
    users = emu.records["User"]
    for key, task in tasks.items():
        planned = ledger[key]
        contact = contacts[task["WhoId"]]
        assert task["OwnerId"] == contact["OwnerId"]
        assert parse_time(task["ReminderDateTime"]) == planned.due_at and task["IsReminderSet"] is True
        owner_zone = ZoneInfo(users[task["OwnerId"]]["TimeZoneSidKey"])
        assert task["ActivityDate"] == planned.due_at.astimezone(owner_zone).date().isoformat()
        assert (task["Type"], task["Priority"], task["Status"]) == ("Call", "High", "Not Started")
        assert task["Subject"] == planned.subject and key in task["Description"]

    emu.reset_log()
    idle = org.sync(START + timedelta(minutes=10))
    assert idle.status == "ok" and idle.counts["created"] == 0
    assert emu.total_requests() == 2, emu.counts()  # the token; contact and task changes in one Composite request


# ------------------------------------------------------------------------------ incremental


def test_incremental_runs_read_changes_deletes_and_merges(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """After the first run, contacts come from queryAll on SystemModstamp: a new contact is enrolled, a
    deleted one and a merged-away one exit (and their open tasks close) without any sweep."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", 30, seed=5)
    assert org.sync(START).counts["created"] == 30
    ids = sorted(emu.records["Contact"])
    org.at(START + timedelta(hours=1))
    new = emu.create_contact(FirstName="New", LastName="Person", Email="new@example.com", Phone="+12125550199",
                             OwnerId=org.users[0])
    emu.delete_contact(ids[0])
    emu.merge_contacts(ids[2], ids[1])
    emu.reset_log()

    report = org.sync(START + timedelta(hours=2))

    assert report.status == "ok", report.errors
    assert report.counts["contacts_read"] == 4  # the new, deleted, merged and surviving contacts: not all 31
    assert [t["WhoId"] for t in emu.tasks() if t["CreatedDate"] > emu.tasks()[0]["CreatedDate"]] == [new]
    counts = emu.counts()
    assert counts["POST /composite"] == 1 and counts.get(UPSERT) == 1  # queryAll inside the one Composite read
    for gone in ids[:2]:
        assert all(e.status is EnrollmentStatus.EXITED for e in org.enrollments(gone)), org.enrollments(gone)
    deleted_task = next(t for t in emu.tasks() if t["TaskKey__c"] and t["WhoId"] == ids[0])
    assert deleted_task["Status"] == "Completed"  # the cadence ended: its task closed


def test_task_changes_reread_old_tasks_and_completions_only(salesforce_emulator: SalesforceEmulator,
                                                            tmp_path: Path) -> None:
    """`read_task_changes(since)` returns closed, deleted and older changed tasks, not the run's own fresh creates."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", 6, seed=2)
    org.sync(START)
    tasks = list(org.tasks().values())
    org.at(START + timedelta(hours=1))
    emu.complete_task(tasks[0]["Id"], disposition="Left voicemail")
    emu.delete_task(tasks[1]["Id"])
    crm = make_crm(emu)
    states = {s.key: s for s in crm.read_task_changes(START - timedelta(minutes=5), {})}
    assert set(states) == {tasks[0]["TaskKey__c"], tasks[1]["TaskKey__c"]}
    assert states[tasks[0]["TaskKey__c"]].status is TaskStatus.COMPLETED
    assert states[tasks[1]["TaskKey__c"]].status is TaskStatus.DELETED
    everything = {s.key for s in crm.read_task_changes(None, {})}
    assert everything == {t["TaskKey__c"] for t in tasks}
    assert {s.key for s in crm.check_tasks({t["TaskKey__c"]: t["Id"] for t in tasks})} == everything


# ------------------------------------------------------------------------------- outcomes


@pytest.fixture
def outcomes(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> dict[str, Any]:
    """An org with one lead per outcome path, synced once on Monday morning."""
    emu = salesforce_emulator
    org = Org(emu, tmp_path / "ws", OUTCOMES_CONFIG)
    names = ["voicemail", "connected", "replied", "meeting", "not_now", "dnc", "wrong", "status_bad_timing",
             "status_unqualified", "optout", "ny", "berlin"]
    ids = {}
    for n, name in enumerate(names):
        values = {"FirstName": name.title(), "LastName": "Lead", "Email": f"{name}@example.com",
                  "Phone": "+12125550" + f"{100 + n}", "Stage__c": "lead", "OwnerId": org.users[0]}
        if name == "berlin":
            values |= {"Phone": "+493012345678", "MailingCountry": "Germany", "Time_Zone__c": "Europe/Berlin"}
        ids[name] = emu.create_contact(**values)
    report = org.sync(START)
    assert report.status == "ok" and report.counts["created"] == len(names), report.errors
    return {"emu": emu, "org": org, "ids": ids}


def _complete_call(o: dict[str, Any], name: str, disposition: str, at: datetime) -> dict[str, Any]:
    org, emu = o["org"], o["emu"]
    task = org.open_tasks_of(o["ids"][name])[0]
    org.at(at)
    emu.complete_task(task["Id"], disposition=disposition, at=at)
    return task


@pytest.mark.parametrize("name,disposition,status", [
    ("connected", "Connected", EnrollmentStatus.FINISHED),
    ("replied", "Replied", EnrollmentStatus.FINISHED),
    ("meeting", "Meeting booked", EnrollmentStatus.FINISHED),
    ("dnc", "Do not contact", EnrollmentStatus.EXITED),
    ("wrong", "Wrong person", EnrollmentStatus.EXITED),
    ("not_now", "Not now", EnrollmentStatus.SNOOZED),
])
def test_a_call_outcome_ends_or_snoozes_the_enrollment(outcomes: dict[str, Any], name: str, disposition: str,
                                                       status: EnrollmentStatus) -> None:
    """A call result logged in CallDisposition reaches the engine: finished, exited or snoozed, and no next step."""
    org = outcomes["org"]
    cid = outcomes["ids"][name]
    _complete_call(outcomes, name, disposition, START + timedelta(hours=2))
    report = org.sync(START + timedelta(hours=3))
    assert report.status == "ok", report.errors
    assert [e.status for e in org.enrollments(cid) if e.cadence_id == "outreach"] == [status]
    assert org.open_tasks_of(cid) == []


@pytest.mark.parametrize("value,status", [("UNQUALIFIED", EnrollmentStatus.EXITED),
                                          ("BAD_TIMING", EnrollmentStatus.SNOOZED),
                                          ("CONNECTED", EnrollmentStatus.FINISHED)])
def test_a_lead_status_change_closes_the_open_task(outcomes: dict[str, Any], value: str,
                                                    status: EnrollmentStatus) -> None:
    """A status change in the mapped Contact field ends (or snoozes) the enrollment and closes its open task."""
    org, emu = outcomes["org"], outcomes["emu"]
    cid = outcomes["ids"]["status_unqualified"]
    org.at(START + timedelta(hours=2))
    emu.update_contact(cid, Candidate_Status__c=value)
    report = org.sync(START + timedelta(hours=3))
    assert report.status == "ok" and report.counts["closed"] == 1, report.errors
    assert [e.status for e in org.enrollments(cid) if e.cadence_id == "outreach"] == [status]
    assert [t["Status"] for t in org.tasks_of(cid)] == ["Completed"]


def test_no_answer_plans_the_next_step_in_business_days(outcomes: dict[str, Any]) -> None:
    """'Left voicemail' is no response: the email comes 2 business days later at 09:00 contact-local (New York
    and Berlin), as a Salesforce Email task with its reminder at that instant."""
    org = outcomes["org"]
    for name in ("ny", "berlin"):
        _complete_call(outcomes, name, "Left voicemail", START + timedelta(hours=2))
    report = org.sync(START + timedelta(hours=3))
    assert report.status == "ok" and report.counts["created"] == 2
    for name, zone in (("ny", "America/New_York"), ("berlin", "Europe/Berlin")):
        task = org.open_tasks_of(outcomes["ids"][name])[0]
        due = parse_time(task["ReminderDateTime"]).astimezone(ZoneInfo(zone))
        assert (due.strftime("%a %H:%M"), task["Type"]) == ("Wed 09:00", "Email")


def test_email_opt_out_skips_email_steps(outcomes: dict[str, Any]) -> None:
    """HasOptedOutOfEmail skips the email step; the follow-up call comes a week after the completed call."""
    org, emu = outcomes["org"], outcomes["emu"]
    cid = outcomes["ids"]["optout"]
    emu.update_contact(cid, HasOptedOutOfEmail=True)
    _complete_call(outcomes, "optout", "No answer", START + timedelta(hours=2))
    report = org.sync(START + timedelta(hours=3))
    assert report.status == "ok"
    [task] = org.open_tasks_of(cid)
    assert task["Type"] == "Call" and parse_time(task["ReminderDateTime"]).date() == (START + timedelta(days=7)).date()


def test_task_deleted_in_salesforce_skips_that_touch(outcomes: dict[str, Any]) -> None:
    """A recruiter deleting the open task is seen by the next incremental read (queryAll, no sweep needed): that
    touch is skipped, the cadence moves on to its next step and stays active; the deleted task is not recreated."""
    org, emu = outcomes["org"], outcomes["emu"]
    cid = outcomes["ids"]["wrong"]
    task = org.open_tasks_of(cid)[0]
    org.at(START + timedelta(hours=1))
    emu.delete_task(task["Id"])
    report = org.sync(START + timedelta(hours=2))
    assert report.status == "ok" and report.counts["created"] == 1, report.errors
    [next_task] = org.open_tasks_of(cid)
    assert next_task["Id"] != task["Id"] and next_task["Type"] == "Email"
    assert [e.status for e in org.enrollments(cid)] == [EnrollmentStatus.ACTIVE]
    assert org.sync(START + timedelta(hours=3)).counts["created"] == 0


def test_verify_contacts_reports_deleted_purged_and_merged(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    live, deleted, purged, loser = (emu.create_contact(LastName=n) for n in ("live", "deleted", "purged", "loser"))
    emu.delete_contact(deleted)
    emu.purge_contact(purged)
    emu.merge_contacts(live, loser)
    gone = {c.id: c for c in make_crm(emu).verify_contacts([live, deleted, purged, loser])}
    assert set(gone) == {deleted, purged, loser}
    assert gone[deleted].deleted and gone[purged].deleted and gone[loser].merged_into == live


def test_a_rule_on_a_field_the_org_lacks_reads_as_empty(salesforce_emulator: SalesforceEmulator) -> None:
    """A config rule naming a Contact field the org does not have is left out of the query (one describe), not fatal."""
    emu = salesforce_emulator
    emu.seed_contacts(3)
    crm = make_crm(emu)
    ctx = ReadContext(since=None, properties=["Not_There__c", "LeadSource"], started_at=START)
    contacts = [c for batch in crm.read_contacts(ctx) for c in batch.contacts]
    assert len(contacts) == 3 and all(c.properties.get("LeadSource") for c in contacts)
    assert emu.counts()["GET /sobjects/Contact/describe"] == 1
    assert emu.counts()["GET /query"] == 1  # the Composite subrequest's INVALID_FIELD led to the describe: no re-run




# -------------------------------------------------------------------- the opening Composite read


def _data_counts(emu: SalesforceEmulator) -> dict[str, int]:
    return {k: v for k, v in emu.counts().items() if "oauth2" not in k}


def test_the_task_read_comes_from_the_opening_composite_only_when_fresh(salesforce_emulator: SalesforceEmulator) -> None:
    """read_contacts opens with one Composite request (contacts, task changes, users); read_task_changes for the
    same cursor right after is answered from it, but not after a write, nor for another cursor."""
    emu = salesforce_emulator
    [cid] = emu.seed_contacts(1)
    crm = make_crm(emu)
    since = START - timedelta(minutes=5)
    emu.reset_log()
    assert len([c for b in crm.read_contacts(ReadContext(since=None)) for c in b.contacts]) == 1
    assert list(crm.read_task_changes(None, {})) == [] and crm.list_owners()
    assert _data_counts(emu) == {"POST /composite": 1}

    list(crm.read_contacts(ReadContext(since=None)))
    assert crm.create_tasks([make_task(cid, run="k")])[0].ok  # a write after the prefetch: the task read is made again
    assert [s.key for s in crm.read_task_changes(None, {})] == [f"conf-k-{cid}-0"]
    list(crm.read_contacts(ReadContext(since=since)))
    list(crm.read_task_changes(since + timedelta(seconds=1), {}))  # another cursor than the prefetch's
    counts = _data_counts(emu)
    assert counts["POST /composite"] == 3 and counts["GET /queryAll"] == 2, counts


def test_a_refused_composite_falls_back_to_one_query_per_read(salesforce_emulator: SalesforceEmulator) -> None:
    """If the Composite request itself is refused, each read is made on its own, with the same results."""
    emu = salesforce_emulator
    emu.seed_contacts(3)
    crm = make_crm(emu)
    emu.faults.fail_next(1, status=400, path_glob="*/composite")
    emu.reset_log()
    assert len([c for b in crm.read_contacts(ReadContext(since=None)) for c in b.contacts]) == 3
    assert list(crm.read_task_changes(None, {})) == [] and len(crm.list_owners()) == 6
    assert _data_counts(emu) == {"POST /composite": 1, "GET /query": 2, "GET /queryAll": 1}
