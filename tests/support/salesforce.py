"""Helpers for tests of the Salesforce path: the emulator's environment, a recruiter, an org with a config."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.configfile import load_config
from connector.crm.salesforce import SalesforceCRM
from connector.crm.salesforce.emulator import SalesforceEmulator
from connector.store import CREATED, LEDGER_STATUSES
from connector.store_sqlite import SQLiteStore, state_path
from connector.sync import run_sync
from connector.sync_report import SyncReport
from sequences.records import EnrollmentStatus
from support.hubspot import CANARY_TOKEN

UTC = timezone.utc
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday, 08:00 in New York
ACCOUNT = "test-org"
UPSERT = "PATCH /composite/sobjects/Task/TaskKey__c"

FIELD_TO_SF = {
    "first_name": "FirstName", "last_name": "LastName", "email": "Email", "phone": "Phone", "title": "Title",
    "owner_id": "OwnerId", "timezone": "Time_Zone__c", "country": "MailingCountry",
    "lead_status": "Candidate_Status__c", "lifecycle_stage": "Stage__c", "referred_by": "Referred_By__c",
}
# the crm: settings that read the custom Contact fields above
CUSTOM_FIELDS = {"timezone": "Time_Zone__c", "lead_status": "Candidate_Status__c", "lifecycle_stage": "Stage__c",
                 "referred_by": "Referred_By__c"}


def prepare(emu: SalesforceEmulator) -> None:
    """The canary is the client secret and a session id: the secret scan watches both paths.
    The custom Contact fields the tests' configs read exist in the org."""
    emu.consumer_secret = CANARY_TOKEN
    emu.sessions.add(CANARY_TOKEN)
    for name in CUSTOM_FIELDS.values():
        if name not in emu.schema["Contact"]:
            emu.add_field("Contact", name)


def env_for(emu: SalesforceEmulator, auth: str = "client_credentials") -> dict[str, str]:
    env = {"SALESFORCE_CA_BUNDLE": emu.ca_file}
    if auth == "session":
        return env | {"SALESFORCE_SESSION_ID": CANARY_TOKEN, "SALESFORCE_INSTANCE_URL": emu.base_url}
    return env | {"SALESFORCE_CONSUMER_KEY": emu.consumer_key, "SALESFORCE_CONSUMER_SECRET": CANARY_TOKEN,
                  "SALESFORCE_LOGIN_URL": emu.base_url}


def crm_settings(auth: str = "client_credentials", **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"auth": auth, "fields": dict(CUSTOM_FIELDS)}
    if auth == "client_credentials":
        settings["domain"] = "emulator.my"
    return settings | extra


def make_crm(emu: SalesforceEmulator, auth: str = "client_credentials", **extra: Any) -> SalesforceCRM:
    prepare(emu)
    return SalesforceCRM.from_config(crm_settings(auth, **extra), env=env_for(emu, auth), sleep=lambda s: None,
                                     backoff=0.0)


def to_fields(values: dict[str, str]) -> dict[str, Any]:
    return {FIELD_TO_SF[k]: v for k, v in values.items() if k in FIELD_TO_SF and v}


class SalesforceRecruiter:
    """A recruiter working in Salesforce, through the emulator's actions."""

    def __init__(self, emu: SalesforceEmulator, ids: dict[str, str] | None = None) -> None:
        self.emu = emu
        self.ids = ids or {}

    def complete_task(self, key: str, *, outcome: str = "", completed_at: datetime | None = None, note: str = "") -> None:
        task = self.emu.task_by_key(key)
        assert task is not None, key
        disposition = outcome.replace("_", " ").capitalize() if outcome else ""
        self.emu.complete_task(task["Id"], disposition=disposition, at=completed_at, note=note)

    def update_contact(self, contact_id: str, **changes: str) -> None:
        self.emu.update_contact(self.ids.get(contact_id, contact_id), **to_fields(changes))

    def set_property(self, contact_id: str, name: str, value: str) -> None:
        self.emu.update_contact(self.ids.get(contact_id, contact_id), **{name: value})

    def delete_task(self, key: str) -> None:
        task = self.emu.task_by_key(key)
        assert task is not None, key
        self.emu.delete_task(task["Id"])

    def delete_contact(self, contact_id: str) -> None:
        self.emu.delete_contact(self.ids.get(contact_id, contact_id))


class Org:
    """One emulated org with its clock frozen to the simulated `now`, a config on disk, and sync runs."""

    def __init__(self, emu: SalesforceEmulator, directory: Path, config: str, *, start: datetime = START,
                 users: int = 3, seed: int = 1) -> None:
        self.emu = emu
        self.clock = emu.freeze_clock(start - timedelta(days=1))
        self.users = emu.seed_users(users, seed=seed)
        prepare(emu)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "cadence.yaml"
        self.path.write_text(config, encoding="utf-8")
        self.loaded = load_config(self.path)

    def at(self, when: datetime) -> None:
        if when.timestamp() > self.clock.time():
            self.clock.set_wall(when)

    def crm(self, **kw: Any) -> SalesforceCRM:
        """The adapter the sync would build, except that retry back-offs are not slept."""
        crm = SalesforceCRM.from_config(self.loaded.config.crm.model_dump(exclude={"type"}), env=env_for(self.emu),
                                        backoff=0.0, sleep=lambda s: None)
        for name, value in kw.items():
            setattr(crm, name, value)
        return crm

    def sync(self, now: datetime, *, fast: bool = True, **kw: Any) -> SyncReport:
        self.at(now)
        if fast and "crm" not in kw:
            kw["crm"] = self.crm()
        return run_sync(self.loaded, now=now, env=env_for(self.emu), **kw)

    def store(self) -> SQLiteStore:
        return SQLiteStore.open(state_path(self.loaded), ACCOUNT)

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Task key -> task, for every live crm-cadence task (a duplicated key fails)."""
        keys = self.emu.task_keys()
        dupes = [k for k, n in Counter(k.lower() for k in keys).items() if n > 1]
        assert not dupes, f"duplicate tasks in Salesforce: {dupes[:5]}"
        return {t["TaskKey__c"]: t for t in self.emu.tasks() if t.get("TaskKey__c")}

    def tasks_of(self, contact_id: str) -> list[dict[str, Any]]:
        return sorted((t for t in self.emu.tasks() if t.get("WhoId") == contact_id and t.get("TaskKey__c")),
                      key=lambda t: t["CreatedDate"] + t["Id"])

    def open_tasks_of(self, contact_id: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks_of(contact_id) if not t["IsClosed"]]

    def enrollments(self, contact_id: str) -> tuple[Any, ...]:
        store = self.store()
        try:
            return store.enrollments([contact_id]).get(contact_id, ())
        finally:
            store.close()


def assert_converged(org: Org) -> dict[str, dict[str, Any]]:
    """Salesforce holds exactly one task per key, the ledger agrees (no unknown/pending rows), and every
    active enrollment's open task exists on the enrollment's contact."""
    tasks = org.tasks()
    store = org.store()
    try:
        rows = store.ledger(list(LEDGER_STATUSES))
        by_status = Counter(r.status for r in rows)
        assert by_status.get("unknown", 0) == 0 and by_status.get("pending", 0) == 0, by_status
        for row in rows:
            if row.status == CREATED:
                assert row.key in tasks, row.key
                assert tasks[row.key]["Id"] == row.crm_id
        assert set(tasks) <= {r.key for r in rows}, "Salesforce holds tasks the ledger does not know"
        for cid, enrollments in store.enrollments({r.contact_id for r in rows}).items():
            live = [e for e in enrollments if e.status is EnrollmentStatus.ACTIVE]
            assert len(live) <= 1, (cid, live)
            for e in live:
                assert e.open_task_key in tasks, (cid, e)
                assert tasks[e.open_task_key]["WhoId"] == cid
    finally:
        store.close()
    return tasks


# ------------------------------------------------------------- configs and scenarios (sync, fault and crash tests)

NY = ZoneInfo("America/New_York")
CRM = ("crm: {type: salesforce, auth: client_credentials, domain: emulator.my, fields: {timezone: Time_Zone__c, "
       "lead_status: Candidate_Status__c, lifecycle_stage: Stage__c, referred_by: Referred_By__c}}")

BULK_CONFIG = f"""
account: test-org
{CRM}
calendar: {{timezone: America/New_York, country: US}}
guards: {{daily_capacity: 5000, min_gap: 1 day}}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {{all: [{{property: email, exists: true}}]}}
    steps:
      - {{id: intro-call, channel: call, priority: high, subject: "Call {{{{contact.first_name}}}}", skip_if: [no_phone]}}
      - {{id: follow-up-email, channel: email, wait: 2 business days, subject: "{{{{contact.first_name}}}}, following up"}}
"""

OUTCOMES_CONFIG = f"""
account: test-org
{CRM}
calendar: {{timezone: America/New_York, country: US, working_hours: "09:00-17:00"}}
guards: {{daily_capacity: 100, min_gap: 1 day, touch_budget: {{touches: 6, per: 14 days}}}}
outcomes:
  lead_status: {{BAD_TIMING: not_now, UNQUALIFIED: do_not_contact, CONNECTED: connected}}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {{all: [{{property: lifecycle_stage, equals: lead}}]}}
    on: {{replied: finish, connected: finish, meeting_booked: finish, not_now: snooze}}
    not_now: {{snooze: 30 days, reengage_into: nurture}}
    steps:
      - {{id: intro-call, channel: call, priority: high, subject: "Call {{{{contact.first_name}}}}", skip_if: [no_phone]}}
      - {{id: intro-email, channel: email, wait: 2 business days, subject: "{{{{contact.first_name}}}}, a role for you"}}
      - {{id: follow-up-call, channel: call, wait: 1 week, subject: "Follow up with {{{{contact.first_name}}}}"}}
  - id: nurture
    name: Not now, later
    steps:
      - {{id: checkin-email, channel: email, priority: low, subject: "It's been a while, {{{{contact.first_name}}}}"}}
"""


def scenario(emu: SalesforceEmulator, directory: Path, contacts: int, seed: int, users: int = 3) -> Org:
    """The bulk config on `contacts` seeded contacts: the same data and task keys on any fresh emulator."""
    org = Org(emu, directory, BULK_CONFIG, users=users, seed=seed)
    emu.seed_contacts(contacts, seed=seed)
    return org


def task_summary(org: Org) -> dict[str, tuple[str, str, str, str]]:
    """Task key -> (contact, Type, reminder, subject): comparable across emulators."""
    return {key: (t["WhoId"], t["Type"], t["ReminderDateTime"], t["Subject"]) for key, t in org.tasks().items()}


_REFERENCE: dict[tuple[int, int], dict[str, tuple[str, str, str, str]]] = {}


def reference_tasks(directory: Path, contacts: int, seed: int) -> dict[str, tuple[str, str, str, str]]:
    """The tasks a fault-free first sync of `scenario(contacts, seed)` at START leaves, on a second emulator."""
    if (contacts, seed) not in _REFERENCE:
        with SalesforceEmulator() as emu:
            org = scenario(emu, directory, contacts, seed)
            report = org.sync(START)
            assert report.status == "ok" and report.errors == [], report.errors[:3]
            _REFERENCE[(contacts, seed)] = task_summary(org)
    return _REFERENCE[(contacts, seed)]
