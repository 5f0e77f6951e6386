"""Helpers for tests of the HubSpot path: seeding the emulator, a recruiter, a config; an emulated
portal with its clock frozen (`Portal`), the sync tests' configs and scenarios, a sync run in
process with its waits recorded, and the CLI's sync in a subprocess (with a kill hook when asked)."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.configfile import load_config
from connector.crm.hubspot.adapter import HubSpotCRM
from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.crm.hubspot.mapping import parse_time
from connector.store import CREATED, LEDGER_STATUSES, Store
from connector.store_factory import open_store, state_location
from connector.sync import run_sync
from connector.sync_report import SyncReport
from sequences.records import Enrollment, EnrollmentStatus
from support.launch import command as cadence_command

# Used as the token in every HubSpot test: a canary the secret scans look for.
CANARY_TOKEN = "pat-na1-CANARY-7f3c9a51-do-not-log"

FIELD_TO_PROPERTY = {
    "first_name": "firstname", "last_name": "lastname", "email": "email", "phone": "phone",
    "company": "company", "title": "jobtitle", "owner_id": "hubspot_owner_id", "timezone": "hs_timezone",
    "country": "country", "lead_status": "hs_lead_status", "lifecycle_stage": "lifecyclestage",
    "referred_by": "referred_by",
}


def prepare(emu: Any) -> None:
    """Accept the canary token, and add the custom contact property our configs use."""
    emu.add_token(CANARY_TOKEN)


def env_for(emu: Any) -> dict[str, str]:
    return {"HUBSPOT_ACCESS_TOKEN": CANARY_TOKEN, "HUBSPOT_BASE_URL": emu.base_url}


def make_crm(emu: Any, **settings: Any) -> HubSpotCRM:
    prepare(emu)
    crm = HubSpotCRM.from_config(settings, env=env_for(emu), sleep=lambda s: None, backoff=0.0)
    crm.setup()
    return crm


def to_properties(fields: dict[str, str]) -> dict[str, str]:
    """Engine field names -> HubSpot properties (time zones in HubSpot's option format)."""
    from connector.crm.hubspot.emulator import iana_to_hubspot_tz

    props = {FIELD_TO_PROPERTY[k]: v for k, v in fields.items() if k in FIELD_TO_PROPERTY and v}
    if "hs_timezone" in props:
        props["hs_timezone"] = iana_to_hubspot_tz(props["hs_timezone"])
    return props


def task_ids_by_key(emu: Any, key_property: str = "crm_cadence_key") -> dict[str, str]:
    out = {}
    for task_id in sorted(emu.state.stores["tasks"].records):
        props = emu.get_task(task_id) or {}
        if props.get(key_property):
            out[props[key_property]] = str(task_id)
    return out


def live_task_keys(emu: Any, key_property: str = "crm_cadence_key") -> list[str]:
    """Every task key in the portal, one entry per live task (duplicates would repeat)."""
    keys = []
    for task_id in sorted(emu.state.stores["tasks"].records):
        props = emu.get_task(task_id) or {}
        if props.get(key_property):
            keys.append(props[key_property])
    return keys


class HubSpotRecruiter:
    """A recruiter working in HubSpot, through the emulator's actions."""

    def __init__(self, emu: Any, ids: dict[str, str] | None = None) -> None:
        self.emu = emu
        self.ids = ids or {}

    def complete_task(self, key: str, *, outcome: str = "", completed_at: datetime | None = None, note: str = "") -> None:
        self.emu.complete_task(task_ids_by_key(self.emu)[key], at=completed_at)

    def update_contact(self, contact_id: str, **changes: str) -> None:
        self.emu.set_properties("contacts", self.ids.get(contact_id, contact_id), to_properties(changes))

    def set_property(self, contact_id: str, name: str, value: str) -> None:
        self.emu.set_property("contacts", self.ids.get(contact_id, contact_id), name, value)

    def delete_task(self, key: str) -> None:
        self.emu.delete_object("tasks", task_ids_by_key(self.emu)[key])

    def delete_contact(self, contact_id: str) -> None:
        self.emu.delete_contact(self.ids.get(contact_id, contact_id))


def write_config(directory: Path, body: str) -> Path:
    path = directory / "cadence.yaml"
    path.write_text(body, encoding="utf-8")
    return path


# ------------------------------------------------------------- portals, configs, scenarios (sync tests)

UTC = timezone.utc
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday, 08:00 in New York
ACCOUNT = "test-portal"  # fixed, so two emulators (different ports) produce the same task keys
NY = ZoneInfo("America/New_York")
BATCH_CREATE = "POST /crm/v3/objects/tasks/batch/create"

# ---------------------------------------------------------------------------- configs

BULK_CONFIG = """
account: test-portal
crm: {type: hubspot, tier: TIER}
calendar: {timezone: America/New_York, country: US}
guards: {daily_capacity: 5000, min_gap: 1 day}
scripts:
  intro:
    subject: "Call {{contact.first_name}} at {{contact.company}}"
    body: "Introduce yourself and the role. Offer to do the legwork."
    objections:
      - {objection: "I don't know of any jobs.", answer: "No problem. Who should I speak to?"}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: email, exists: true}]}
    steps:
      - {id: intro-call, channel: call, script: intro, priority: high, skip_if: [no_phone]}
      - {id: follow-up-email, channel: email, wait: 2 business days, subject: "{{contact.first_name}}, following up"}
"""

OUTCOMES_CONFIG = """
account: test-portal
crm: {type: hubspot, tier: pro}
calendar: {timezone: America/New_York, country: US, working_hours: "09:00-17:00"}
guards: {daily_capacity: 100, min_gap: 1 day, touch_budget: {touches: 6, per: 14 days}}
outcomes:
  lead_status: {BAD_TIMING: not_now, UNQUALIFIED: do_not_contact, CONNECTED: connected}
referral_thanks: true
scripts:
  intro:
    subject: "Call {{contact.first_name}} at {{contact.company}}"
    body: "Introduce yourself and the role."
    objections:
      - {objection: "I don't know of any jobs.", answer: "Who should I speak to?"}
  referral:
    subject: "Call {{contact.first_name}}: referred by {{referrer.full_name}}"
    body: "Mention {{referrer.first_name}} sent you."
cadences:
  - id: outreach
    name: Outreach
    enroll_when:
      all:
        - {property: lifecycle_stage, equals: lead}
        - {property: referred_by, exists: false}
    on: {replied: finish, connected: finish, meeting_booked: finish, not_now: snooze, referral: continue}
    not_now: {snooze: 30 days, reengage_into: nurture}
    referral_cadence: referral
    steps:
      - {id: intro-call, channel: call, script: intro, priority: high, skip_if: [no_phone]}
      - {id: intro-email, channel: email, wait: 2 business days, subject: "{{contact.first_name}}, a role for you", skip_if: [no_email]}
      - {id: linkedin, channel: linkedin, wait: 3 business days, subject: "Connect with {{contact.full_name}}", skip_if: [no_linkedin]}
      - {id: follow-up-call, channel: call, wait: 1 week, subject: "Follow up with {{contact.first_name}}", skip_if: [no_phone]}
  - id: referral
    name: Warm referral
    steps:
      - {id: referral-call, channel: call, script: referral, priority: high, skip_if: [no_phone]}
      - {id: referral-email, channel: email, wait: 2 business days, subject: "{{referrer.first_name}} suggested I get in touch"}
  - id: nurture
    name: Not now, later
    steps:
      - {id: checkin-email, channel: email, priority: low, subject: "It's been a while, {{contact.first_name}}"}
      - {id: checkin-call, channel: call, wait: 2 weeks, subject: "Check-in call: {{contact.first_name}}"}
"""


def bulk_config(tier: str = "pro") -> str:
    return BULK_CONFIG.replace("TIER", tier)


# ----------------------------------------------------------------------------- helpers


def fast_crm(emu: Any, loaded: Any, *, retry_sleep: Any = None, backoff: float = 0.0) -> HubSpotCRM:
    """The adapter the sync would build, except that retry back-offs are not slept (handed to `retry_sleep`).
    The client-side throttle still sleeps for real."""
    prepare(emu)
    crm = HubSpotCRM.from_config(loaded.config.crm.model_dump(exclude={"type"}), env=env_for(emu), backoff=backoff)
    crm.call.sleep = retry_sleep or (lambda seconds: None)
    return crm


class Portal:
    """One emulated HubSpot portal with its clock frozen to the simulated `now`, a config on disk, and sync runs."""

    def __init__(self, emu: HubSpotEmulator, directory: Path, config: str, *, start: datetime = START,
                 owners: int = 3, seed: int = 1, unique_key: bool = True) -> None:
        self.emu = emu
        self.clock = emu.freeze_clock(start - timedelta(days=1))
        emu.seed_owners(owners, seed=seed)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = write_config(directory, config)
        self.loaded = load_config(self.path)
        prepare(emu)
        if not unique_key:
            # Whether HubSpot enforces hasUniqueValue on a task property is UNCONFIRMED: without it a
            # resent create is a visible duplicate instead of a rejected one, so the sync alone must prevent it.
            create_property(emu, "tasks", "crm_cadence_key", "crm-cadence task key", group="task")
        make_crm(emu)  # create the task-key property if missing (`cadence setup hubspot`)

    def at(self, when: datetime) -> None:
        """Move the emulator's clock (forward) to `when`."""
        if when.timestamp() > self.clock.time():
            self.clock.set_wall(when)

    def sync(self, now: datetime, *, fast: bool = False, **kw: Any) -> SyncReport:
        """One run as of `now`; `fast` builds an adapter whose retries do not sleep."""
        self.at(now)
        if fast:
            kw["crm"] = fast_crm(self.emu, self.loaded)
        return run_sync(self.loaded, now=now, env=env_for(self.emu), **kw)

    def store(self) -> Store:
        return open_store(state_location(self.loaded), ACCOUNT)

    def use_state(self, url: str) -> None:
        """Keep this portal's state at `url` (a PostgreSQL schema) instead of the SQLite file beside the config."""
        with self.path.open("a", encoding="utf-8") as f:
            f.write(f'\nstate: "{url}"\n')
        self.loaded = load_config(self.path)

    def tasks(self) -> dict[str, tuple[str, dict]]:
        """Task key -> (HubSpot id, properties) for every live crm-cadence task (duplicates fail)."""
        keys = live_task_keys(self.emu)
        assert len(keys) == len(set(keys)), f"duplicate tasks in HubSpot: {[k for k, n in Counter(keys).items() if n > 1][:5]}"
        out = {}
        for task_id in sorted(self.emu.state.stores["tasks"].records):
            props = self.emu.get_task(task_id) or {}
            if props.get("crm_cadence_key"):
                out[props["crm_cadence_key"]] = (str(task_id), props)
        return out

    def tasks_of(self, contact_id: str) -> list[dict]:
        """The contact's crm-cadence tasks in HubSpot, oldest first."""
        found = []
        for task_id in self.emu.tasks_for_contact(contact_id):
            props = self.emu.get_task(task_id) or {}
            if props.get("crm_cadence_key"):
                found.append(props | {"id": task_id})
        return sorted(found, key=lambda p: int(p["id"]))

    def open_tasks_of(self, contact_id: str) -> list[dict]:
        return [t for t in self.tasks_of(contact_id) if t.get("hs_task_status") != "COMPLETED"]

    def enrollments(self, contact_id: str) -> tuple[Enrollment, ...]:
        store = self.store()
        try:
            return store.enrollments([contact_id]).get(contact_id, ())
        finally:
            store.close()


def assert_converged(portal: Portal, expected_keys: Iterable[str] | None = None) -> dict[str, tuple[str, dict]]:
    """HubSpot holds exactly one task per key, the ledger agrees (no unknown/pending rows), and every
    live enrollment's open task exists in HubSpot on the enrollment's contact."""
    tasks = portal.tasks()
    if expected_keys is not None:
        expected = set(expected_keys)
        assert set(tasks) == expected, (f"missing {len(expected - set(tasks))}, "
                                        f"unexpected {len(set(tasks) - expected)}")
    store = portal.store()
    try:
        rows = store.ledger(list(LEDGER_STATUSES))
        by_status = Counter(r.status for r in rows)
        assert by_status.get("unknown", 0) == 0 and by_status.get("pending", 0) == 0, by_status
        for row in rows:
            if row.status == CREATED:
                assert row.key in tasks, row.key
                assert tasks[row.key][0] == row.crm_id, (row.key, row.crm_id, tasks[row.key][0])
        ledger_keys = {r.key for r in rows}
        assert set(tasks) <= ledger_keys, "HubSpot holds tasks the ledger does not know"
        contact_ids = {r.contact_id for r in rows}
        for cid, enrollments in store.enrollments(contact_ids).items():
            live = [e for e in enrollments if e.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.SNOOZED)]
            assert len(live) <= 1, (cid, live)
            for e in live:
                if e.status is EnrollmentStatus.ACTIVE:
                    assert e.open_task_key in tasks, (cid, e)
                    assert portal.emu.contacts_for_task(tasks[e.open_task_key][0]) == [cid]
    finally:
        store.close()
    return tasks


def create_property(emu: HubSpotEmulator, object_type: str, name: str, label: str, group: str) -> None:
    """A custom (not unique) string property, created the way an admin's integration would: the properties API."""
    from hubspot import HubSpot
    from hubspot.crm.properties import PropertyCreate

    prepare(emu)
    client = HubSpot(access_token=CANARY_TOKEN, host=emu.base_url, base_url=emu.base_url)
    client.crm.properties.core_api.create(object_type=object_type, property_create=PropertyCreate(
        name=name, label=label, type="string", field_type="text", group_name=group))


def scenario(emu: HubSpotEmulator, directory: Path, contacts: int, seed: int, tier: str = "pro",
             unique_key: bool = False) -> Portal:
    """The bulk config on `contacts` seeded contacts: the same ids, data and task keys on any fresh emulator.
    The task-key property is not unique by default, so a task sent twice shows up as a duplicate."""
    portal = Portal(emu, directory, bulk_config(tier), owners=3, seed=seed, unique_key=unique_key)
    emu.seed_contacts(contacts, seed=seed)
    return portal


def task_summary(portal: Portal) -> dict[str, tuple[str, str, str, str]]:
    """Task key -> (contact id, type, due, subject): what a run should leave in HubSpot, comparable across emulators."""
    return {key: (portal.emu.contacts_for_task(task_id)[0], props["hs_task_type"], props["hs_timestamp"],
                  props["hs_task_subject"])
            for key, (task_id, props) in portal.tasks().items()}


_REFERENCE: dict[tuple[int, int], dict[str, tuple[str, str, str, str]]] = {}


def reference_tasks(directory: Path, contacts: int, seed: int) -> dict[str, tuple[str, str, str, str]]:
    """The tasks a fault-free first sync of `scenario(contacts, seed)` at START leaves, on a second emulator."""
    if (contacts, seed) not in _REFERENCE:
        with HubSpotEmulator() as emu:
            portal = scenario(emu, directory, contacts, seed)
            report = portal.sync(START)
            assert report.status == "ok" and report.errors == [], report.errors[:3]
            assert emu.counts().get(BATCH_CREATE) == -(-len(portal.tasks()) // 100)
            _REFERENCE[(contacts, seed)] = task_summary(portal)
    return _REFERENCE[(contacts, seed)]


def assert_same_tasks(actual: dict[str, tuple[str, str, str, str]], expected: dict[str, tuple[str, str, str, str]],
                      slack: timedelta = timedelta(0)) -> None:
    """The same keys, contacts, types and subjects; each due time no earlier than the reference's and at most
    `slack` later (a run that failed before planning plans later: a window already open starts later)."""
    assert set(actual) == set(expected), (f"missing {len(set(expected) - set(actual))}, "
                                          f"unexpected {len(set(actual) - set(expected))}")
    for key, (contact, kind, due, subject) in expected.items():
        got = actual[key]
        assert (got[0], got[1], got[3]) == (contact, kind, subject), (key, got, expected[key])
        delay = parse_time(got[2]) - parse_time(due)
        assert timedelta(0) <= delay <= slack, (key, got[2], due)


def hs_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def run(portal: Portal, now: datetime, sleeps: list[float] | None = None) -> SyncReport:
    """One in-process run with an adapter whose waits are recorded instead of slept."""
    portal.at(now)
    crm = fast_crm(portal.emu, portal.loaded, retry_sleep=sleeps.append if sleeps is not None else None, backoff=1.0)
    return run_sync(portal.loaded, now=now, env=env_for(portal.emu), crm=crm)


ROOT = Path(__file__).resolve().parents[2]


def cadence_sync(config: Path, now: str, emu: HubSpotEmulator, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CADENCE_TEST_", "HUBSPOT_"))} | env_for(emu)
    return subprocess.run([*cadence_command(kill_at=kill_at), "sync", str(config), "--now", now, "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# ----------------------------------------------------------------------------- outcomes


def outcome_portal(emu: HubSpotEmulator, directory: Path) -> dict[str, Any]:
    """A portal with one contact per outcome path, synced once on Monday morning (the `outcomes` fixtures)."""
    from connector.crm.hubspot.emulator import iana_to_hubspot_tz

    portal = Portal(emu, directory, OUTCOMES_CONFIG)
    # `cadence setup hubspot` (run by Portal) creates the referred_by contact property
    owner = emu.state.owners[0]["id"]

    def person(name: str, zone: str = "America/New_York", country: str = "United States", **extra: str) -> str:
        props = {"firstname": name, "lastname": "Test", "email": f"{name.lower()}@example.com",
                 "phone": "+1 212 555 0100", "company": "Initech", "hs_timezone": iana_to_hubspot_tz(zone),
                 "country": country, "hubspot_owner_id": owner, "lifecyclestage": "lead", "hs_lead_status": "OPEN"}
        return emu.create_contact(props | extra)

    ids = {name: person(name) for name in ("Reply", "Meet", "Later", "Unq", "Conn", "Optout", "Referrer")}
    ids["Berlin"] = person("Berlin", "Europe/Berlin", "Germany", phone="+49 30 5550100")
    first = portal.sync(START)
    assert first.status == "ok" and first.counts["created"] == len(ids), first.errors
    return {"emu": emu, "portal": portal, "ids": ids, "owner": owner}


def ends_with(portal: Portal, cid: str, status: EnrollmentStatus) -> Enrollment:
    """The contact's latest enrollment, asserted to be in `status`."""
    enrollments = portal.enrollments(cid)
    assert enrollments, cid
    last = max(enrollments, key=lambda e: e.seq)
    assert last.status is status, last
    return last
