"""Leads (`crm.objects: [Contact, Lead]`): read like Contacts, tasks on them through WhoId, and a
converted Lead handed over to its Contact. Real simple-salesforce over HTTPS to the emulator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from support.salesforce import START, Org, assert_converged, make_crm

from connector.crm.base import ConfigError, ReadContext
from connector.crm.salesforce.emulator import SalesforceEmulator
from sequences.records import EnrollmentStatus

CONFIG = """
account: test-org
crm: {type: salesforce, auth: client_credentials, domain: emulator.my, objects: [Contact, Lead]}
calendar: {timezone: America/New_York, country: US}
guards: {daily_capacity: 100, min_gap: 1 day}
outcomes:
  lead_status: {"Closed - Not Converted": do_not_contact}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: email, exists: true}]}
    steps:
      - {id: intro-call, channel: call, priority: high, subject: "Call {{contact.first_name}}"}
      - {id: follow-up-email, channel: email, wait: 2 business days, subject: "{{contact.first_name}}, following up"}
"""


def org_with_people(emu: SalesforceEmulator, tmp_path: Path, config: str = CONFIG) -> tuple[Org, list[str], list[str]]:
    org = Org(emu, tmp_path / "ws", config)
    contacts = emu.seed_contacts(3, seed=2, owners=org.users)
    leads = emu.seed_leads(4, seed=2, owners=org.users)
    return org, contacts, leads


def test_leads_are_followed_up_like_contacts(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """A first sync reads Contacts and Leads (not converted ones) in one Composite request and gives each its first
    task (WhoId the Lead's own 00Q id, OwnerId the Lead's owner, Company from the Lead); completing a Lead's task
    brings its next step, on the Lead."""
    emu = salesforce_emulator
    org, contacts, leads = org_with_people(emu, tmp_path)
    converted = emu.create_lead(FirstName="Old", LastName="Lead", Email="old@example.com", OwnerId=org.users[0])
    converted_to = emu.convert_lead(converted)
    emu.reset_log()

    report = org.sync(START)

    assert report.status == "ok" and report.errors == [], report.errors
    assert report.counts["contacts_read"] == 3 + 1 + 4  # the seeded contacts, the converted lead's contact, the leads
    assert {k: v for k, v in emu.counts().items() if "oauth2" not in k} == {
        "POST /composite": 1, "PATCH /composite/sobjects/Task/TaskKey__c": 1}
    tasks = assert_converged(org)
    assert sorted(t["WhoId"] for t in tasks.values()) == sorted([*contacts, converted_to, *leads])
    for lead in leads:
        [task] = org.open_tasks_of(lead)
        assert task["OwnerId"] == emu.records["Lead"][lead]["OwnerId"] and task["Type"] == "Call"
    store = org.store()
    try:
        lead_contact = store.contacts([leads[0]])[leads[0]]
    finally:
        store.close()
    assert lead_contact.company in ("Acme", "Globex") and lead_contact.country == "US"
    assert lead_contact.lead_status == "Open - Not Contacted" and lead_contact.properties["sobject"] == "Lead"

    [task] = org.open_tasks_of(leads[0])
    org.at(START + timedelta(hours=2))
    emu.complete_task(task["Id"])
    report = org.sync(START + timedelta(days=1))
    assert report.status == "ok" and report.counts["created"] == 1, report.errors
    [follow_up] = org.open_tasks_of(leads[0])
    assert follow_up["Type"] == "Email" and follow_up["WhoId"] == leads[0]


def test_converted_deleted_and_closed_leads_leave_their_cadence(salesforce_emulator: SalesforceEmulator,
                                                                 tmp_path: Path) -> None:
    """Incremental reads (queryAll on SystemModstamp) see a Lead converted, deleted, or given a status the config
    maps to do_not_contact: each enrollment ends and its open task is closed. The converted Lead ends as merged into
    its new Contact (its task moved there with the conversion, and is closed); that Contact is then a Contact like
    any other, enrolled by the rules."""
    emu = salesforce_emulator
    org, _, leads = org_with_people(emu, tmp_path)
    assert org.sync(START).counts["created"] == 7
    converting, deleting, closing, staying = leads
    task_of = {lead: org.open_tasks_of(lead)[0]["Id"] for lead in leads}
    org.at(START + timedelta(hours=1))
    new_contact = emu.convert_lead(converting)
    emu.delete_contact(deleting)
    emu.update_contact(closing, Status="Closed - Not Converted")

    report = org.sync(START + timedelta(hours=2))

    assert report.status == "ok", report.errors
    assert report.counts["contacts_read"] == 4  # the three changed leads and the new contact: nothing re-read
    for lead in (converting, deleting, closing):
        [enrollment] = org.enrollments(lead)
        assert enrollment.status is EnrollmentStatus.EXITED, enrollment
        assert emu.records["Task"][task_of[lead]]["Status"] == "Completed", lead
    assert org.enrollments(converting)[0].reason == f"contact merged into contact {new_contact}"
    assert org.enrollments(staying)[0].status is EnrollmentStatus.ACTIVE
    assert emu.records["Task"][task_of[converting]]["WhoId"] == new_contact  # moved by the conversion
    [fresh] = org.open_tasks_of(new_contact)
    assert fresh["Id"] != task_of[converting] and fresh["Type"] == "Call"
    assert_converged(org)
    assert org.sync(START + timedelta(hours=3)).counts["created"] == 0


def test_verify_sorts_ids_by_prefix_and_sees_converted_leads(salesforce_emulator: SalesforceEmulator) -> None:
    """The sweep's check of known ids: Leads (00Q) are looked up on Lead, Contacts on Contact; a converted Lead is
    merged into its Contact, a merged Lead into the surviving Lead."""
    emu = salesforce_emulator
    contact, gone_contact = emu.create_contact(LastName="c"), emu.create_contact(LastName="gone")
    live, deleted, purged, loser, converted = (emu.create_lead(LastName=n) for n in ("l", "d", "p", "m", "c"))
    emu.delete_contact(gone_contact)
    emu.delete_contact(deleted)
    emu.purge_contact(purged)
    emu.merge_contacts(live, loser)
    into = emu.convert_lead(converted)
    crm = make_crm(emu, objects=["Contact", "Lead"])
    gone = {c.id: c for c in crm.verify_contacts([contact, gone_contact, live, deleted, purged, loser, converted])}
    assert set(gone) == {gone_contact, deleted, purged, loser, converted}
    assert gone[deleted].deleted and gone[purged].deleted and gone[gone_contact].deleted
    assert gone[loser].merged_into == live and gone[converted].merged_into == into


def test_leads_are_read_only_when_configured(salesforce_emulator: SalesforceEmulator) -> None:
    """The default reads Contacts only; `objects` takes Contact and Lead, each once, nothing else."""
    emu = salesforce_emulator
    emu.seed_contacts(2)
    emu.seed_leads(3)
    by_default = [c for b in make_crm(emu).read_contacts(ReadContext(since=None)) for c in b.contacts]
    assert [c.id[:3] for c in by_default] == ["003", "003"]
    leads_only = [c for b in make_crm(emu, objects=["Lead"]).read_contacts(ReadContext(since=None)) for c in b.contacts]
    assert sorted(c.id[:3] for c in leads_only) == ["00Q"] * 3
    for bad in (["Account"], [], ["Lead", "Lead"]):
        with pytest.raises(ConfigError, match=r"crm\.objects"):
            make_crm(emu, objects=bad)


def test_setup_checks_the_lead_fields_too(salesforce_emulator: SalesforceEmulator) -> None:
    """With Leads configured, `cadence setup salesforce` checks the Lead fields the config reads, by their own key."""
    emu = salesforce_emulator
    ready = make_crm(emu, objects=["Contact", "Lead"]).setup()
    assert ready.ok and "reads Leads" in ready.done, ready
    report = make_crm(emu, objects=["Contact", "Lead"], lead_fields={"referred_by": "Referrer__c"}).setup()
    assert report.missing == ["Lead has no field Referrer__c (crm.lead_fields.referred_by): Setup > Object Manager > "
                              "Lead > Fields & Relationships > New, or change crm.lead_fields.referred_by"]


def test_a_lead_owned_by_a_queue_is_unowned(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """A queue (id 00G...) can own a Lead but not a task: the Lead reads as unowned, and its first task goes to a
    user (the engine's round-robin over the org's users)."""
    emu = salesforce_emulator
    org = Org(emu, tmp_path / "ws", CONFIG)
    queued = emu.create_lead(FirstName="Q", LastName="Lead", Email="q@example.com", OwnerId="00GKc0000000001AAA")
    [person] = [c for b in make_crm(emu, objects=["Lead"]).read_contacts(ReadContext(since=None)) for c in b.contacts]
    assert person.id == queued and person.owner_id == ""
    assert org.sync(START).status == "ok"
    [task] = org.open_tasks_of(queued)
    assert task["OwnerId"] in org.users
