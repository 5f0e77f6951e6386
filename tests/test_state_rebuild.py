"""The CRM is the source of truth: a state lost after days of outcomes is rebuilt from the CRM's
tasks before anything is planned, and the sync then does what the lost state would have done.

Each test runs the same days twice from the same point: once with the state, once with the state
file deleted. Both must leave the same tasks; and, with the state gone, no task for anyone who
replied, said "not now" (until the cool-off ends) or asked not to be contacted, and no duplicate.
Real files, the real local CRM; HubSpot through the real client and real HTTP to the emulator.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from support.hubspot import CANARY_TOKEN, Portal, prepare
from support.local import LocalRecruiter, read_csv, seed_local

from connector.configfile import load_config
from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.sync import run_sync

UTC = timezone.utc
MONDAY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
DAY = timedelta(days=1)

CADENCES = """
outcomes:
  lead_status: {BAD_TIMING: not_now, UNQUALIFIED: do_not_contact, CONNECTED: connected}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    on: {replied: finish, connected: finish, not_now: snooze}
    not_now: {snooze: 10 days, reengage_into: nurture}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
      - {id: email, channel: email, wait: 1 business days, subject: "Email {{contact.first_name}}"}
      - {id: call-again, channel: call, wait: 2 business days, subject: "Call {{contact.first_name}} again"}
  - id: nurture
    name: Later
    steps:
      - {id: checkin, channel: email, subject: "Checking in, {{contact.first_name}}"}
"""
LOCAL_CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv}
calendar: {timezone: America/New_York, country: US}
guards: {daily_capacity: 500, min_gap: 1 day}
""" + CADENCES
OWNERS = [{"id": "o1", "first_name": "Rita", "last_name": "Recruiter", "email": "rita@example.com",
           "timezone": "America/New_York", "days_off": ""}]
PEOPLE = [{"id": f"c{n:02d}", "first_name": f"P{n:02d}", "email": f"p{n}@example.com", "phone": f"+1 212 555 01{n:02d}",
           "owner_id": "o1", "lifecycle_stage": "lead", "country": "US", "timezone": "America/New_York"}
          for n in range(40)]
REPLIED = [f"c{n:02d}" for n in range(0, 10)]  # outcome 'replied' on their first task
NOT_NOW = [f"c{n:02d}" for n in range(10, 20)]  # outcome 'not_now' on their first task
STOP = [f"c{n:02d}" for n in range(20, 25)]  # outcome 'do_not_contact'
BAD_TIMING = [f"c{n:02d}" for n in range(25, 30)]  # lead status BAD_TIMING while the task is open
LATE_REPLY = [f"c{n:02d}" for n in range(30, 33)]  # first task done, then a reply on the contact


def local_rows(directory: Path) -> list[dict[str, str]]:
    path = directory / "tasks.csv"
    return read_csv(path) if path.exists() else []


def open_keys(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["key"]: r["contact_id"] for r in rows if r["status"] == "open"}


def sync_local(directory: Path, now: datetime) -> None:
    report = run_sync(load_config(directory / "cadence.yaml"), now=now)
    assert report.status == "ok", report.errors[:3]


def three_days_of_outcomes_local(directory: Path) -> None:
    directory.mkdir()
    seed_local(directory, PEOPLE, OWNERS)
    (directory / "cadence.yaml").write_text(LOCAL_CONFIG, encoding="utf-8")
    recruiter = LocalRecruiter(directory)
    sync_local(directory, MONDAY)
    first = open_keys(local_rows(directory))
    by_contact = {c: k for k, c in first.items()}
    assert len(by_contact) == 40
    done_at = MONDAY + timedelta(hours=3)
    for cid in REPLIED:
        recruiter.complete_task(by_contact[cid], outcome="replied", completed_at=done_at)
    for cid in NOT_NOW:
        recruiter.complete_task(by_contact[cid], outcome="not_now", completed_at=done_at)
    for cid in STOP:
        recruiter.complete_task(by_contact[cid], outcome="do_not_contact", completed_at=done_at)
    for cid in BAD_TIMING:
        recruiter.update_contact(cid, lead_status="BAD_TIMING")
    for cid in [f"c{n:02d}" for n in range(30, 40)]:
        recruiter.complete_task(by_contact[cid], completed_at=done_at)
    sync_local(directory, MONDAY + DAY)
    for cid in LATE_REPLY:
        recruiter.update_contact(cid, last_reply_at=(MONDAY + DAY + timedelta(hours=2)).isoformat())
    second = {c: k for k, c in open_keys(local_rows(directory)).items()}
    for cid in [f"c{n:02d}" for n in range(33, 37)]:
        recruiter.complete_task(second[cid], completed_at=MONDAY + DAY + timedelta(hours=3))
    sync_local(directory, MONDAY + 2 * DAY)


def test_local_state_lost_after_three_days_of_outcomes(tmp_path: Path) -> None:
    kept, lost = tmp_path / "kept", tmp_path / "lost"
    three_days_of_outcomes_local(kept)
    shutil.copytree(kept, lost)
    for leftover in lost.glob("cadence-state.sqlite*"):
        leftover.unlink()
    before = {r["key"] for r in local_rows(lost)}
    for day in (3, 4, 8, 12, 20):
        now = MONDAY + day * DAY
        sync_local(kept, now)
        sync_local(lost, now)
        kept_rows, lost_rows = local_rows(kept), local_rows(lost)
        keys = [r["key"] for r in lost_rows]
        assert len(keys) == len(set(keys)), f"day {day}: duplicate tasks {Counter(keys).most_common(2)}"
        assert sorted((r["key"], r["status"]) for r in lost_rows) == sorted((r["key"], r["status"]) for r in kept_rows), \
            f"day {day}: the rebuilt state did something else than the lost one"
        new = [r for r in lost_rows if r["key"] not in before]
        assert not [r for r in new if r["contact_id"] in REPLIED + STOP + LATE_REPLY], f"day {day}: re-contacted"
        early = [r for r in new if r["contact_id"] in NOT_NOW + BAD_TIMING and day < 10]
        assert not early, f"day {day}: a 'not now' contacted again before the cool-off"
    # the cool-off is over by day 20: the 'not now' contacts are back, in the gentler cadence, once each
    nurture = [r for r in local_rows(lost) if r["cadence"].startswith("nurture")]
    assert sorted(r["contact_id"] for r in nurture) == sorted(NOT_NOW + BAD_TIMING)


def test_local_state_rebuilt_from_tasks_written_before_enrollments_were_kept_creates_no_duplicate(tmp_path: Path) -> None:
    """Tasks without their enrollment (an older version wrote them) are reported and left alone:
    the key-based idempotency still holds, so the open task is not created twice."""
    directory = tmp_path / "ws"
    directory.mkdir()
    seed_local(directory, PEOPLE[:5], OWNERS)
    (directory / "cadence.yaml").write_text(LOCAL_CONFIG, encoding="utf-8")
    sync_local(directory, MONDAY)
    recruiter = LocalRecruiter(directory)
    for row in local_rows(directory):
        recruiter.edit_task(row["key"], enrollment="")
    for leftover in directory.glob("cadence-state.sqlite*"):
        leftover.unlink()
    report = run_sync(load_config(directory / "cadence.yaml"), now=MONDAY + DAY)
    assert report.status == "ok" and report.counts["rebuild_tasks_without_enrollment"] == 5
    keys = [r["key"] for r in local_rows(directory)]
    assert len(keys) == len(set(keys)) == 5


# --------------------------------------------------------------------------- HubSpot

HUBSPOT_CONFIG = """
crm: {type: hubspot, tier: pro}
calendar: {timezone: America/New_York, country: US}
guards: {daily_capacity: 500, min_gap: 1 day}
""" + CADENCES


def env_for(emu: HubSpotEmulator) -> dict[str, str]:
    return {"HUBSPOT_ACCESS_TOKEN": CANARY_TOKEN, "HUBSPOT_BASE_URL": emu.base_url}


def hubspot_people(emu: HubSpotEmulator) -> dict[str, str]:
    """Our 40 people as HubSpot contacts: name -> HubSpot id."""
    ids = {}
    for p in PEOPLE:
        ids[p["id"]] = str(emu.create_contact({
            "firstname": p["first_name"], "email": p["email"], "phone": p["phone"], "hubspot_owner_id": str(emu.state.owners[0]["id"]),
            "lifecyclestage": "lead", "country": "United States", "hs_timezone": "america_slash_new_york"}))
    return ids


def hubspot_tasks(emu: HubSpotEmulator) -> dict[str, tuple[str, str]]:
    """key -> (contact id, status) of every live crm-cadence task; duplicates fail."""
    out: dict[str, tuple[str, str]] = {}
    for task_id in sorted(emu.state.stores["tasks"].records):
        props = emu.get_task(task_id) or {}
        key = props.get("crm_cadence_key")
        if key:
            assert key not in out, f"duplicate task {key}"
            out[key] = (emu.contacts_for_task(task_id)[0], props.get("hs_task_status", ""))
    return out


def test_hubspot_state_lost_after_three_days_of_outcomes(tmp_path: Path) -> None:
    """Two identical portals (same people, same outcomes on the same days): one keeps its state, the
    other loses it after day 3. From then on both leave the same tasks."""
    portals, ids = [], []
    emus = [HubSpotEmulator(hub_id=7100001), HubSpotEmulator(hub_id=7100001)]
    try:
        for n, emu in enumerate(emus):
            emu.start()
            prepare(emu)
            portal = Portal(emu, tmp_path / f"ws{n}", HUBSPOT_CONFIG, start=MONDAY)
            portals.append(portal)
            ids.append(hubspot_people(emu))
        for portal, people in zip(portals, ids, strict=True):
            hubspot_days(portal, people)
        lost = portals[1]
        for leftover in lost.path.parent.glob("cadence-state.sqlite*"):
            leftover.unlink()
        before = set(hubspot_tasks(lost.emu))
        names = {v: k for k, v in ids[1].items()}
        for day in (3, 4, 8, 12, 20):
            now = MONDAY + day * DAY
            for portal in portals:
                report = portal.sync(now)
                assert report.status == "ok", report.errors[:3]
            if day == 3:
                assert report.counts["rebuilt_tasks"] == len(before), report.counts
            kept_tasks, lost_tasks = hubspot_tasks(portals[0].emu), hubspot_tasks(lost.emu)
            assert sorted((k, names[c], s) for k, (c, s) in lost_tasks.items()) == \
                sorted((k, {v: k2 for k2, v in ids[0].items()}[c], s) for k, (c, s) in kept_tasks.items()), \
                f"day {day}: the rebuilt state did something else than the lost one"
            new = {k: names[c] for k, (c, _s) in lost_tasks.items() if k not in before}
            assert not [c for c in new.values() if c in REPLIED + STOP + LATE_REPLY], f"day {day}: re-contacted"
            if day < 10:
                assert not [c for c in new.values() if c in NOT_NOW + BAD_TIMING], f"day {day}: 'not now' re-contacted"
    finally:
        for emu in emus:
            emu.stop()


def hubspot_days(portal: Portal, people: dict[str, str]) -> None:
    """Three days: syncs, and a recruiter's outcomes in HubSpot (lead statuses, completions, replies)."""
    emu = portal.emu
    report = portal.sync(MONDAY)
    assert report.status == "ok", report.errors[:3]
    first = {c: tid for tid in sorted(emu.state.stores["tasks"].records) for c in emu.contacts_for_task(tid)}
    portal.at(MONDAY + timedelta(hours=3))
    for cid in REPLIED:
        emu.set_property("contacts", people[cid], "hs_lead_status", "CONNECTED")
        emu.complete_task(first[people[cid]])
    for cid in NOT_NOW + BAD_TIMING:
        emu.set_property("contacts", people[cid], "hs_lead_status", "BAD_TIMING")
    for cid in STOP:
        emu.set_property("contacts", people[cid], "hs_lead_status", "UNQUALIFIED")
    for cid in [f"c{n:02d}" for n in range(30, 40)]:
        emu.complete_task(first[people[cid]])
    assert portal.sync(MONDAY + DAY).status == "ok"
    portal.at(MONDAY + DAY + timedelta(hours=2))
    for cid in LATE_REPLY:
        emu.set_property("contacts", people[cid], "hs_sales_email_last_replied",
                         str(int((MONDAY + DAY + timedelta(hours=2)).timestamp() * 1000)))
    second = {c: tid for tid in sorted(emu.state.stores["tasks"].records) for c in emu.contacts_for_task(tid)
              if emu.get_task(tid).get("hs_task_status") != "COMPLETED"}
    for cid in [f"c{n:02d}" for n in range(33, 37)]:
        emu.complete_task(second[people[cid]])
    assert portal.sync(MONDAY + 2 * DAY).status == "ok"


def test_tasks_of_another_account_string_are_not_adopted(tmp_path: Path) -> None:
    """Another config sharing the CRM under another account string: its tasks are its own, never rebuilt
    into this state (its cadences would look unknown here, and its open tasks would be closed)."""
    directory = tmp_path / "ws"
    directory.mkdir()
    seed_local(directory, PEOPLE[:5], OWNERS)
    (directory / "cadence.yaml").write_text("account: team-a\n" + LOCAL_CONFIG, encoding="utf-8")
    sync_local(directory, MONDAY)
    for leftover in directory.glob("cadence-state.sqlite*"):
        leftover.unlink()
    (directory / "cadence.yaml").write_text("account: team-b\n" + LOCAL_CONFIG, encoding="utf-8")
    report = run_sync(load_config(directory / "cadence.yaml"), now=MONDAY + DAY)
    assert report.status == "ok"
    assert report.counts["rebuild_tasks_of_other_accounts"] == 5 and report.counts["rebuilt_tasks"] == 0
    assert report.counts["closed"] == 0
