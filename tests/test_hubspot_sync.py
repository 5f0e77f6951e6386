"""The sync against HubSpot: real client, real HTTP to the emulator, simulated days with a frozen emulator clock.

The helpers shared with the HubSpot fault and crash tests (`Portal`, the configs, the scenarios) are in
tests/support/hubspot.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.hubspot import (
    NY,
    OUTCOMES_CONFIG,
    START,
    UTC,
    Portal,
    assert_converged,
    bulk_config,
    ends_with,
    hs_time,
    live_task_keys,
    make_crm,
    outcome_portal,
)

from connector.crm.hubspot.emulator import HubSpotEmulator, iana_to_hubspot_tz
from connector.crm.hubspot.mapping import country_code, parse_time, usable_phone
from connector.store import CREATED
from sequences.records import CreateTask, EnrollmentStatus

# ----------------------------------------------------------------------- the big first sync


def test_first_sync_of_ten_thousand_contacts(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """A first sync of 10,500 contacts creates exactly one correct, associated task per enrolled contact in
    at most 25 requests per 1,000 contacts, and the next run (nothing changed) makes at most 3 requests."""
    emu = hubspot_emulator
    portal = Portal(emu, tmp_path / "ws", bulk_config("pro"), owners=5, seed=3)
    ids = emu.seed_contacts(10_500, seed=3)
    contacts = {cid: emu.get_contact(cid) for cid in ids}
    emu.reset_log()

    report = portal.sync(START)

    assert report.status == "ok" and report.errors == [], report.errors[:3]
    first_requests = emu.total_requests()
    counts = emu.counts()
    print(f"first sync: {first_requests} requests for {len(ids)} contacts "
          f"({first_requests * 1000 / len(ids):.1f} per 1,000): {counts}")
    assert first_requests <= 25 * len(ids) / 1000
    assert counts.get("GET /crm/v3/objects/contacts", 0) == 105  # 100 a page
    assert counts.get("POST /crm/v3/objects/tasks/batch/create", 0) == -(-report.counts["created"] // 100)

    # enrolled: every contact with an email; each gets a task: its first step's, or, when every step
    # is skipped (no phone for the call, and opted out of email for the email), the one to-do
    # asking its owner to find a way to reach them
    def callable_(p: dict) -> bool:  # a phone that is a possible number (garbage phones are dropped, reported)
        phone = p.get("phone") or p.get("mobilephone")
        return bool(phone) and usable_phone(phone, country_code(p.get("country") or ""))

    # ... except those whose lead status recruiters had already set to one that ends or pauses the
    # cadence (the default mapping: UNQUALIFIED, CONNECTED, BAD_TIMING): no first touch for them
    answered = {"UNQUALIFIED", "CONNECTED", "BAD_TIMING"}
    expected = {cid for cid, p in contacts.items() if p.get("email") and p.get("hs_lead_status") not in answered}
    unreachable = {cid for cid in expected if not callable_(contacts[cid]) and contacts[cid].get("hs_email_optout") == "true"}
    assert len(expected) > 7_000 and any(p.get("hs_lead_status") in answered for p in contacts.values())
    tasks = assert_converged(portal)
    assert report.counts["created"] == len(tasks)
    by_contact = Counter()
    for key, (task_id, _) in tasks.items():
        linked = emu.contacts_for_task(task_id)
        assert len(linked) == 1, (key, linked)
        by_contact[linked[0]] += 1
    assert set(by_contact) == expected and max(by_contact.values()) == 1

    owners = {o["id"] for o in emu.state.owners}
    store = portal.store()
    try:
        ledger = {r.key: r.task for r in store.ledger([CREATED])}
    finally:
        store.close()
    types = Counter()
    for key, (task_id, props) in tasks.items():
        planned: CreateTask = ledger[key]
        contact = contacts[planned.contact_id]
        assert emu.contacts_for_task(task_id) == [planned.contact_id]
        assert props["hs_task_status"] == "NOT_STARTED"
        assert props["hs_timestamp"] == hs_time(planned.due_at)
        assert datetime.fromisoformat(planned.due_local).astimezone(UTC) == parse_time(props["hs_timestamp"])
        assert props["hs_task_subject"] == planned.subject
        assert (planned.step_id == "find-contact-details") is (planned.contact_id in unreachable)
        if contact.get("hubspot_owner_id") in owners:
            assert props.get("hubspot_owner_id") == contact["hubspot_owner_id"]
        elif not contact.get("hubspot_owner_id"):  # unowned: the round robin gives it one of the owners
            assert props.get("hubspot_owner_id") in owners
        else:
            assert not props.get("hubspot_owner_id")
        local = datetime.fromisoformat(planned.due_local)
        assert local.weekday() < 5 and 9 <= local.hour < 17, planned.due_local
        if planned.step_id == "intro-call":
            assert (props["hs_task_type"], props["hs_task_priority"]) == ("CALL", "HIGH")
            assert props["hs_task_subject"].startswith("Call ") and props["hs_task_subject"].endswith(f" at {contact['company']}")
            assert "Introduce yourself and the role." in props["hs_task_body"]
            assert "Who should I speak to?" in props["hs_task_body"]
            assert planned.due_at >= START
        elif planned.step_id == "find-contact-details":
            assert (props["hs_task_type"], props["hs_task_priority"]) == ("TODO", "MEDIUM")
            assert props["hs_task_subject"].startswith("Find a phone number or email for ")
        else:
            assert (props["hs_task_type"], props["hs_task_priority"]) == ("EMAIL", "MEDIUM")
            assert not callable_(contact)
        types[props["hs_task_type"]] += 1
    assert types["CALL"] > 5000 and types["EMAIL"] > 500 and types["TODO"] == len(unreachable) > 0, types

    emu.reset_log()
    idle = portal.sync(START + timedelta(minutes=30))
    print(f"idle second sync: {emu.total_requests()} requests: {emu.counts()}")
    assert idle.status == "ok" and idle.counts["created"] == 0 and idle.counts["closed"] == 0
    assert emu.total_requests() <= 3
    assert len(live_task_keys(emu)) == len(tasks)


# --------------------------------------------------------------------------- incremental


def test_incremental_runs_search_for_changes(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """After the first run, contacts are read by search (never the list API): a changed contact and a new one are enrolled."""
    emu = hubspot_emulator
    portal = Portal(emu, tmp_path / "ws", OUTCOMES_CONFIG)
    owner = emu.state.owners[0]["id"]
    base = {"country": "United States", "hs_timezone": iana_to_hubspot_tz("America/New_York"),
            "hubspot_owner_id": owner, "hs_lead_status": "NEW", "company": "Globex"}
    lead = emu.create_contact(base | {"firstname": "Lena", "email": "lena@example.com", "phone": "+1 212 555 0101",
                                      "lifecyclestage": "lead"})
    later = emu.create_contact(base | {"firstname": "Sub", "email": "sub@example.com", "phone": "+1 212 555 0102",
                                       "lifecyclestage": "subscriber"})
    emu.reset_log()
    first = portal.sync(START)
    assert first.status == "ok" and first.counts["created"] == 1
    # the first read pushes the enrollment rule into the search: the subscriber is not even read
    assert emu.counts().get("POST /crm/v3/objects/contacts/search", 0) == 1
    assert "GET /crm/v3/objects/contacts" not in emu.counts() and first.counts["contacts_read"] == 1

    portal.at(START + timedelta(hours=2))
    emu.set_property("contacts", later, "lifecyclestage", "lead")  # now matches the enrollment rule
    new = emu.create_contact(base | {"firstname": "Nico", "email": "nico@example.com", "phone": "+1 212 555 0103",
                                     "lifecyclestage": "lead"})
    emu.reset_log()
    second = portal.sync(START + timedelta(hours=3))

    counts = emu.counts()
    assert second.status == "ok", second.errors
    assert "GET /crm/v3/objects/contacts" not in counts, counts
    assert counts.get("POST /crm/v3/objects/contacts/search", 0) == 1, counts
    assert second.counts["contacts_read"] == 2  # the changed and the new contact only
    assert sorted(i.contact_id for i in second.created) == sorted([later, new])
    for cid in (lead, later, new):
        tasks = portal.tasks_of(cid)
        assert len(tasks) == 1 and tasks[0]["hs_task_type"] == "CALL"
    assert_converged(portal)


@pytest.mark.slow
def test_incremental_run_reads_more_than_ten_thousand_changes(hubspot_emulator: HubSpotEmulator, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    """An incremental run where 10,505 contacts changed reads every one by search despite the 10,000-result cap."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("long variant: run with -m slow")
    emu = hubspot_emulator
    portal = Portal(emu, tmp_path / "ws", bulk_config("pro"), owners=5, seed=3)
    ids = emu.seed_contacts(10_500, seed=3)
    assert portal.sync(START).status == "ok"
    portal.at(START + timedelta(hours=1))
    for cid in ids:
        emu.set_property("contacts", cid, "jobtitle", "Changed")
    new = [emu.create_contact({"firstname": f"New{i}", "email": f"new{i}@example.com", "phone": "+1 212 555 0100"})
           for i in range(5)]
    emu.reset_log()

    report = portal.sync(START + timedelta(hours=2))

    assert report.status == "ok" and report.counts["contacts_read"] == 10_505
    assert sorted(i.contact_id for i in report.created) == sorted(new)
    assert emu.counts(status=400) == {} and "GET /crm/v3/objects/contacts" not in emu.counts()
    assert emu.counts()["POST /crm/v3/objects/contacts/search"] == 53  # 200 a page
    assert_converged(portal)


def test_task_changes_reread_old_tasks_and_completions_only(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """`read_task_changes(since)` returns completed tasks and changed tasks created before the window, but not
    the previous run's untouched creates (so the run after a big first run stays cheap)."""
    emu = hubspot_emulator
    emu.freeze_clock(START)
    emu.seed_owners(2, seed=1)
    crm = make_crm(emu)
    cid = emu.create_contact({"firstname": "A", "email": "a@example.com"})
    owners = [o["id"] for o in emu.state.owners]

    def task(key: str) -> CreateTask:
        from sequences.records import Channel

        return CreateTask(key=key, contact_id=cid, owner_id=owners[0], cadence_id="c", version=1, seq=1, step_index=0,
                          step_id="s", channel=Channel.CALL, task_type="CALL", priority="HIGH", due_at=START + timedelta(days=1),
                          due_local="", timezone="UTC", subject="s", body="b", reason="r")

    old = crm.create_tasks([task("cc-old-changed"), task("cc-old-untouched")])
    emu.clock.set_wall(START + timedelta(days=1))
    fresh = crm.create_tasks([task("cc-new-untouched"), task("cc-new-completed")])
    assert all(r.ok for r in old + fresh)
    emu.clock.set_wall(START + timedelta(days=1, minutes=20))
    emu.set_property("tasks", old[0].crm_id, "hubspot_owner_id", owners[1])
    emu.complete_task(fresh[1].crm_id)

    states = {s.key: s for s in crm.read_task_changes(START + timedelta(days=1), {})}
    assert set(states) == {"cc-old-changed", "cc-new-completed"}
    assert states["cc-old-changed"].owner_id == owners[1]
    assert states["cc-new-completed"].status.value == "completed"
    everything = {s.key for s in crm.read_task_changes(None, {})}
    assert everything == {"cc-old-changed", "cc-old-untouched", "cc-new-untouched", "cc-new-completed"}


# ----------------------------------------------------------------------------- outcomes


@pytest.fixture
def outcomes(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> dict[str, Any]:
    return outcome_portal(hubspot_emulator, tmp_path / "ws")


_ends_with = ends_with


@pytest.mark.parametrize("action, status", [
    ("record_reply", EnrollmentStatus.FINISHED),
    ("record_meeting", EnrollmentStatus.FINISHED),
    ("UNQUALIFIED", EnrollmentStatus.EXITED),
    ("CONNECTED", EnrollmentStatus.FINISHED),
])
def test_an_outcome_ends_the_enrollment_and_closes_its_task(outcomes: dict[str, Any], action: str,
                                                             status: EnrollmentStatus) -> None:
    """A reply, a meeting, lead status UNQUALIFIED or CONNECTED ends the enrollment and completes its open task in HubSpot, for good."""
    emu, portal = outcomes["emu"], outcomes["portal"]
    name = {"record_reply": "Reply", "record_meeting": "Meet", "UNQUALIFIED": "Unq", "CONNECTED": "Conn"}[action]
    cid = outcomes["ids"][name]
    (task,) = portal.tasks_of(cid)
    portal.at(START + timedelta(hours=3))
    if action.startswith("record_"):
        getattr(emu, action)(cid)
    else:
        emu.set_lead_status(cid, action)

    report = portal.sync(START + timedelta(hours=4))

    assert report.status == "ok", report.errors
    assert [i.contact_id for i in report.closed] == [cid]
    assert emu.get_task(task["id"])["hs_task_status"] == "COMPLETED"
    _ends_with(portal, cid, status)
    for day in (1, 8, 40):  # nothing more, ever
        assert portal.sync(START + timedelta(days=day)).status == "ok"
    assert [t["id"] for t in portal.tasks_of(cid)] == [task["id"]]
    _ends_with(portal, cid, status)
    assert_converged(portal)


def test_bad_timing_snoozes_then_reengages_into_nurture(outcomes: dict[str, Any]) -> None:
    """Lead status BAD_TIMING closes the open task and snoozes; after the 30-day cool-off the contact gets the nurture cadence's first task."""
    emu, portal = outcomes["emu"], outcomes["portal"]
    cid = outcomes["ids"]["Later"]
    (task,) = portal.tasks_of(cid)
    portal.at(START + timedelta(hours=3))
    emu.set_lead_status(cid, "BAD_TIMING")

    report = portal.sync(START + timedelta(hours=4))

    assert emu.get_task(task["id"])["hs_task_status"] == "COMPLETED"
    assert cid in [i.contact_id for i in report.closed]
    snoozed = _ends_with(portal, cid, EnrollmentStatus.SNOOZED)
    # 30 calendar days on the contact's wall clock: the same local time across the DST change
    assert snoozed.snoozed_until == START + timedelta(hours=4, days=30) - timedelta(hours=1)
    assert portal.sync(START + timedelta(days=29)).status == "ok"
    assert portal.open_tasks_of(cid) == []

    back = portal.sync(START + timedelta(days=31))

    assert back.status == "ok", back.errors
    (new,) = portal.open_tasks_of(cid)
    assert new["hs_task_type"] == "EMAIL" and new["hs_task_priority"] == "LOW"
    assert new["hs_task_subject"] == "It's been a while, Later"
    live = _ends_with(portal, cid, EnrollmentStatus.ACTIVE)
    assert (live.cadence_id, live.seq) == ("nurture", 2)
    due = parse_time(new["hs_timestamp"]).astimezone(NY)
    assert due.date() >= (START + timedelta(days=31)).date() and due.weekday() < 5 and due.hour == 9
    assert_converged(portal)


def test_recruiter_completion_plans_the_next_step_in_business_days(outcomes: dict[str, Any]) -> None:
    """Completing the intro call on Monday puts the email (2 business days) on Wednesday 09:00 contact-local, in New York and in Berlin."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    done = START + timedelta(hours=3)  # Mon 16:00 UTC
    portal.at(done)
    for name in ("Reply", "Berlin"):  # Reply has not replied (yet): a plain completion, no answer
        (task,) = portal.tasks_of(ids[name])
        emu.complete_task(task["id"], at=done)

    report = portal.sync(done + timedelta(hours=1))

    assert report.status == "ok", report.errors
    ny_email = portal.open_tasks_of(ids["Reply"])
    berlin_email = portal.open_tasks_of(ids["Berlin"])
    assert [(t["hs_task_type"], t["hs_timestamp"]) for t in ny_email] == [("EMAIL", "2026-03-04T14:00:00.000Z")]
    assert [(t["hs_task_type"], t["hs_timestamp"]) for t in berlin_email] == [("EMAIL", "2026-03-04T08:00:00.000Z")]
    assert ny_email[0]["hubspot_owner_id"] == outcomes["owner"]
    assert_converged(portal)


def test_email_opt_out_skips_email_steps_and_calls_continue(outcomes: dict[str, Any]) -> None:
    """An email opt-out in HubSpot skips the email step; the follow-up call comes a week after the completed call (DST-correct)."""
    emu, portal = outcomes["emu"], outcomes["portal"]
    cid = outcomes["ids"]["Optout"]
    done = START + timedelta(hours=3)
    portal.at(done)
    emu.opt_out(cid)
    (task,) = portal.tasks_of(cid)
    emu.complete_task(task["id"], at=done)

    report = portal.sync(done + timedelta(hours=1))

    assert report.status == "ok", report.errors
    skipped = {(i.contact_id, i.step_id) for i in report.skipped}
    assert (cid, "intro-email") in skipped
    (nxt,) = portal.open_tasks_of(cid)
    assert nxt["hs_task_type"] == "CALL" and nxt["hs_task_subject"] == "Follow up with Optout"
    # Mon 2 Mar + 7 days, 09:00 New York, which is EDT (UTC-4) after the 8 March switch
    assert nxt["hs_timestamp"] == "2026-03-09T13:00:00.000Z"
    assert all(t["hs_task_type"] != "EMAIL" for t in portal.tasks_of(cid))
    assert_converged(portal)


def test_referral_is_enrolled_and_the_referrer_thanked_when_free(outcomes: dict[str, Any]) -> None:
    """A new contact with `referred_by` gets the referral cadence; the referrer's thank-you waits until their open task is done."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    referrer = ids["Referrer"]
    portal.at(START + timedelta(hours=2))
    kai = emu.create_contact({"firstname": "Kai", "lastname": "Parker", "email": "kai@example.com",
                              "phone": "+1 602 555 0199", "hs_timezone": iana_to_hubspot_tz("America/Phoenix"),
                              "country": "United States", "hubspot_owner_id": outcomes["owner"],
                              "lifecyclestage": "lead", "referred_by": referrer})

    report = portal.sync(START + timedelta(hours=3))

    assert report.status == "ok", report.errors
    (call,) = portal.tasks_of(kai)
    assert call["hs_task_subject"] == "Call Kai: referred by Referrer Test"
    assert call["hs_task_type"] == "CALL" and "Mention Referrer sent you." in call["hs_task_body"]
    assert call["hs_timestamp"] == "2026-03-02T16:00:00.000Z"  # 09:00 in Phoenix
    assert _ends_with(portal, kai, EnrollmentStatus.ACTIVE).cadence_id == "referral"
    assert len(portal.tasks_of(referrer)) == 1  # the intro call is still open: no thank-you yet

    portal.at(START + timedelta(hours=4))
    (intro,) = portal.tasks_of(referrer)
    emu.complete_task(intro["id"])
    portal.sync(START + timedelta(hours=5))

    (thanks,) = portal.open_tasks_of(referrer)
    assert thanks["hs_task_type"] == "TODO" and thanks["hs_task_subject"] == "Thank Referrer for referring Kai Parker"
    portal.at(START + timedelta(hours=6))
    emu.complete_task(thanks["id"])
    portal.sync(START + timedelta(hours=7))
    (email,) = portal.open_tasks_of(referrer)
    assert email["hs_task_type"] == "EMAIL"
    assert_converged(portal)


# ---------------------------------------------------------------------- deleted, merged


def test_verify_contacts_reports_deleted_and_merged(hubspot_emulator: HubSpotEmulator) -> None:
    """verify_contacts yields deleted ids as deleted and merged ids with the primary's id, in batches of 100, and nothing for live ones."""
    emu = hubspot_emulator
    emu.freeze_clock(START)
    ids = emu.seed_contacts(250, seed=5)
    crm = make_crm(emu)
    emu.delete_contact(ids[3])
    emu.delete_contact(ids[180])
    emu.merge_contacts(ids[10], ids[11])  # 11 merged into 10
    emu.merge_contacts(ids[200], ids[20])  # a merged id in another batch than its primary
    emu.merge_contacts(ids[30], ids[31])
    emu.merge_contacts(ids[40], ids[30])  # 30 (holding 31) merged into 40
    emu.reset_log()

    gone = {c.id: c for c in crm.verify_contacts(ids + ["999999999"])}

    assert emu.counts() == {"POST /crm/v3/objects/contacts/batch/read": 3}
    assert {cid for cid, c in gone.items() if c.deleted} == {ids[3], ids[180], "999999999"}
    assert {cid: c.merged_into for cid, c in gone.items() if c.merged_into} == {
        ids[11]: ids[10], ids[20]: ids[200], ids[30]: ids[40], ids[31]: ids[40]}
    assert not any(c.deleted and c.merged_into for c in gone.values())
    assert list(crm.verify_contacts([])) == []
    assert list(crm.verify_contacts(ids[:5] + [ids[10]])) == [gone[ids[3]]]


def test_deleted_and_merged_contacts_exit_at_the_daily_sweep(outcomes: dict[str, Any]) -> None:
    """At the next daily sweep a deleted contact's enrollments exit (the recycle bin lists it) and, at the
    next read (the survivor changed), a merged-away contact's; their open tasks are completed in HubSpot;
    the merge's primary keeps its own enrollment and its one open task."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    (deleted_task,) = portal.tasks_of(ids["Unq"])
    (merged_task,) = portal.tasks_of(ids["Conn"])
    portal.at(START + timedelta(hours=2))
    emu.delete_contact(ids["Unq"])
    emu.merge_contacts(ids["Meet"], ids["Conn"])  # Conn's task moves to Meet, who has one of their own

    report = portal.sync(START + timedelta(days=1, hours=1))

    assert report.status == "ok", report.errors
    assert report.counts["contacts_gone"] == 2
    assert {i.contact_id for i in report.closed} == {ids["Unq"], ids["Conn"]}
    assert emu.get_task(deleted_task["id"])["hs_task_status"] == "COMPLETED"
    assert emu.get_task(merged_task["id"])["hs_task_status"] == "COMPLETED"
    assert "deleted" in _ends_with(portal, ids["Unq"], EnrollmentStatus.EXITED).reason
    assert ids["Meet"] in _ends_with(portal, ids["Conn"], EnrollmentStatus.EXITED).reason
    assert len(portal.open_tasks_of(ids["Meet"])) == 1
    _ends_with(portal, ids["Meet"], EnrollmentStatus.ACTIVE)
    assert portal.sync(START + timedelta(days=2, hours=1)).counts["created"] == 0


def test_task_deleted_in_hubspot_skips_that_touch_at_the_sweep(outcomes: dict[str, Any]) -> None:
    """A recruiter deleting the open follow-up task in HubSpot skips that touch at the next daily sweep: the
    cadence moves on to its next step and stays active (only an outcome, e.g. a lead status, ends it)."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    (task,) = portal.tasks_of(ids["Reply"])
    portal.at(START + timedelta(hours=2))
    emu.delete_object("tasks", task["id"])

    report = portal.sync(START + timedelta(days=1, hours=1))

    assert report.status == "ok", report.errors
    _ends_with(portal, ids["Reply"], EnrollmentStatus.ACTIVE)
    assert any(n.contact_id == ids["Reply"] and "cancelled or skipped" in n.reason for n in report.skipped)
    (next_task,) = portal.tasks_of(ids["Reply"])
    assert next_task["id"] != task["id"]
    assert portal.sync(START + timedelta(days=2, hours=1)).counts["created"] == 0


def test_first_read_falls_back_to_the_list_api_when_a_rule_cannot_be_searched() -> None:
    """Rules HubSpot cannot evaluate like the engine (not_equals, contains, derived fields) mean a full list read."""
    from connector.crm.hubspot.filters import first_read_filters
    from connector.crm.hubspot.settings import ContactProperties
    from sequences.config import Rule

    p = ContactProperties()
    lead = Rule.model_validate({"all": [{"property": "lifecycle_stage", "equals": "lead"}]})
    groups = first_read_filters([lead], True, p)
    assert groups == [[{"propertyName": "lifecyclestage", "operator": "IN", "values": ["LEAD", "Lead", "lead"]}],
                      [{"propertyName": "referred_by", "operator": "HAS_PROPERTY"}]]
    for rule in ({"all": [{"property": "lifecycle_stage", "not_equals": "customer"}]},
                 {"all": [{"property": "company", "contains": "corp"}]},
                 {"all": [{"property": "email", "exists": True}]}):
        assert first_read_filters([Rule.model_validate(rule)], False, p) is None
    too_many = [lead] * 6
    assert first_read_filters(too_many, False, p) is None


def test_the_daily_sweep_costs_what_was_deleted_not_what_is_known(outcomes: dict[str, Any]) -> None:
    """The daily sweep reads HubSpot's recycle bin (one list page each for contacts and tasks here)
    instead of batch-reading every known contact and open task, and still finds a deleted contact
    and a deleted task."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    (task,) = portal.tasks_of(ids["Reply"])
    portal.at(START + timedelta(hours=2))
    emu.delete_contact(ids["Unq"])
    emu.delete_object("tasks", task["id"])
    mark = emu.total_requests()

    report = portal.sync(START + timedelta(days=1, hours=1))

    assert report.status == "ok", report.errors
    sent = [(e.method, e.path) for e in emu.requests()[mark:]]
    assert ("POST", "/crm/v3/objects/contacts/batch/read") not in sent, sent  # no contact is checked by id
    # open tasks by id: only the sample (all of this portal's few); none is three days overdue
    assert sent.count(("POST", "/crm/v3/objects/tasks/batch/read")) == 1, sent
    assert sent.count(("GET", "/crm/v3/objects/contacts")) == 1 and sent.count(("GET", "/crm/v3/objects/tasks")) == 1
    assert report.counts["contacts_gone"] == 1
    assert "deleted" in _ends_with(portal, ids["Unq"], EnrollmentStatus.EXITED).reason
    assert any(n.contact_id == ids["Reply"] and "cancelled or skipped" in n.reason for n in report.skipped)


def test_a_task_gone_for_good_is_found_at_the_next_sweep(outcomes: dict[str, Any]) -> None:
    """A task deleted past the recycle bin (the bin emptied) is in no list: the sweep's sample of
    open tasks checked by id (here all of them, so few are open) finds it gone, and the cadence
    that was waiting on it moves on. (Which tasks a big account checks: tests/test_sweep.py.)"""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    (task,) = portal.tasks_of(ids["Reply"])
    portal.at(START + timedelta(hours=2))
    emu.purge_object("tasks", task["id"])

    report = portal.sync(START + timedelta(days=1, hours=1))

    assert report.status == "ok", report.errors
    assert report.counts["tasks_checked"] >= 1
    assert any(n.contact_id == ids["Reply"] and "cancelled or skipped" in n.reason for n in report.skipped)
    (next_task,) = portal.open_tasks_of(ids["Reply"])
    assert next_task["id"] != task["id"]
