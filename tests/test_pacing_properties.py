"""Property tests for pacing and the horizon: whatever the contacts, queue, load and `now`,
no task due beyond the horizon is pushed, no owner-local day goes over its cap (done tasks
included), queued contacts start in the documented order, and the plan is deterministic."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequences.config import WEEKDAYS, Config
from sequences.engine import plan
from sequences.pacing import queue_key
from sequences.records import Contact, ContactState, Enrollment, EnrollmentStatus, Owner, Snapshot

UTC = timezone.utc
SETTINGS: dict[str, Any] = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", "Australia/Adelaide", "Asia/Tokyo"]
OWNER_IDS = ["o1", "o2"]
HORIZONS = ["1 business day", "3 business days", "5 business days", "4 days", "1 week", "2 weeks"]
WAITS = ["0 days", "1 business day", "3 business days", "1 week", "3 weeks", "4 hours"]


def _config(draw: Any) -> Config:
    steps = [{"id": f"s{i}", "channel": draw(st.sampled_from(["call", "email", "todo"])), "subject": "Hi",
              "wait": draw(st.sampled_from(WAITS)), "priority": draw(st.sampled_from(["low", "medium", "high"]))}
             for i in range(draw(st.integers(1, 3)))]
    return Config.model_validate({
        "calendar": {"timezone": draw(st.sampled_from(ZONES)), "country": draw(st.sampled_from(["US", "DE", "IN", "AU"])),
                     "work_days": draw(st.sampled_from([["mon", "tue", "wed", "thu", "fri"], ["sun", "mon", "tue", "wed", "thu"],
                                                        ["mon", "tue", "wed", "thu", "fri", "sat"]]))},
        "guards": {"daily_capacity": draw(st.integers(1, 3)), "min_gap": "0 days",
                   "unowned": draw(st.sampled_from(["round_robin", "o1"]))},
        "pacing": {"horizon": draw(st.sampled_from(HORIZONS)),
                   "enroll_order": draw(st.sampled_from(["oldest_first", "newest_first"]))},
        "cadences": [{"id": "main", "name": "Main", "steps": steps, "referral_cadence": "main",
                      "enroll_when": {"all": [{"property": "lifecycle_stage", "equals": "lead"}]}}],
    })


@st.composite
def scenarios(draw: Any) -> tuple[Config, Snapshot, datetime]:
    now = draw(st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)))
    cfg = _config(draw)
    owners = {o: Owner(o, timezone=draw(st.sampled_from(ZONES))) for o in OWNER_IDS}
    states = []
    for i in range(draw(st.integers(1, 25))):
        cid = f"c{i:02d}"
        contact = Contact(id=cid, first_name="A", last_name=f"B{i}", email=f"{cid}@x.io", phone="+12125550100",
                          owner_id=draw(st.sampled_from(OWNER_IDS + [""])), timezone=draw(st.sampled_from(ZONES)),
                          lifecycle_stage="lead")
        kind = draw(st.sampled_from(["new", "new", "queued", "queued", "referral", "reengage"]))
        enrollments: tuple[Enrollment, ...] = ()
        referrer = None
        if kind == "queued":
            at = now - draw(st.timedeltas(timedelta(0), timedelta(days=60)))
            enrollments = (Enrollment(cid, "main", 1, 1, EnrollmentStatus.QUEUED, at, reason="queued: x",
                                      queue_key=queue_key(False, at, cid, cfg.pacing.enroll_order),
                                      owner_id=contact.owner_id),)
        elif kind == "referral":
            referrer = Contact(id=f"r{i}", first_name="Ref")
            contact = Contact(**{**{f: getattr(contact, f) for f in contact.__slots__}, "referred_by": referrer.id})
        elif kind == "reengage":
            enrollments = (Enrollment(cid, "main", 1, 1, EnrollmentStatus.SNOOZED, now - timedelta(days=120),
                                      snoozed_until=now - timedelta(hours=1), reengage_into="main",
                                      ended_at=now - timedelta(days=90)),)
        states.append(ContactState(contact, enrollments, referrer=referrer))
    load = {(o, (now + timedelta(days=d)).date().isoformat()): draw(st.integers(0, 3))
            for o in OWNER_IDS for d in draw(st.lists(st.integers(-1, 8), max_size=4))}
    return cfg, Snapshot("acct", states, owners, load), now


# ------------------------------------------------------------------------- oracles


def _within_horizon(cfg: Config, now: datetime, due: datetime) -> bool:
    """An independent reading of "due within the horizon" on the config's default calendar: the
    moment N business days (or N days) before the due time, at the same local time, has come."""
    horizon = cfg.pacing.horizon
    assert horizon is not None
    zone = ZoneInfo(cfg.calendar.timezone)
    local_due = due.astimezone(zone)
    if horizon.unit in ("days", "weeks"):
        return local_due.replace(tzinfo=None) - horizon.fixed <= now.astimezone(zone).replace(tzinfo=None)
    table = holidays.country_holidays(cfg.calendar.country)
    day, left = local_due.date(), horizon.amount
    while left:
        day -= timedelta(days=1)
        if WEEKDAYS[day.weekday()] in cfg.calendar.work_days and day not in table:
            left -= 1
    start = datetime.combine(day, local_due.time(), tzinfo=zone)
    return start <= now


def _owner_zone(snap: Snapshot, cfg: Config, owner_id: str) -> ZoneInfo:
    owner = snap.owners.get(owner_id)
    return ZoneInfo(owner.timezone if owner and owner.timezone else cfg.calendar.timezone)


def _order(cfg: Config, state: ContactState, now: datetime) -> str:
    """The documented queue position of a contact, computed from its data alone."""
    queued = next((e for e in state.enrollments if e.status is EnrollmentStatus.QUEUED), None)
    if queued is not None:
        return queued.queue_key
    first = bool(state.contact.referred_by) or any(e.status is EnrollmentStatus.SNOOZED for e in state.enrollments)
    return queue_key(first, now, state.contact.id, cfg.pacing.enroll_order)


# -------------------------------------------------------------------------- tests


@settings(max_examples=150, **SETTINGS)
@given(scenarios())
def test_no_task_due_beyond_the_horizon_is_pushed(s: tuple[Config, Snapshot, datetime]) -> None:
    """Every create is due within the horizon; every enrollment waiting in state wakes before its task is due."""
    cfg, snap, now = s
    result = plan(cfg, snap, now)
    for task in result.creates:
        assert _within_horizon(cfg, now, task.due_at), f"{task.key} due {task.due_at} beyond {cfg.pacing.horizon}"
    for cp in result.contacts:
        for e in cp.enrollments or ():
            if e.next_due_at is not None:
                assert e.wake_at is not None and now < e.wake_at <= e.next_due_at


@settings(max_examples=150, **SETTINGS)
@given(scenarios())
def test_no_owner_local_day_exceeds_its_cap(s: tuple[Config, Snapshot, datetime]) -> None:
    """Per owner (and the unassigned queue) and owner-local day, creates plus the load handed in stay under the cap."""
    cfg, snap, now = s
    result = plan(cfg, snap, now)
    counts = Counter((t.owner_id, t.due_at.astimezone(_owner_zone(snap, cfg, t.owner_id)).date().isoformat())
                     for t in result.creates)
    for (owner, day), n in counts.items():
        assert n + snap.owner_load.get((owner, day), 0) <= cfg.guards.daily_capacity or n == 0


@settings(max_examples=150, **SETTINGS)
@given(scenarios())
def test_queued_contacts_start_in_the_documented_order(s: tuple[Config, Snapshot, datetime]) -> None:
    """Per owner, the contacts that start are the head of the queue: none starts while one before it waits."""
    cfg, snap, now = s
    result = plan(cfg, snap, now)
    states = {st_.contact.id: st_ for st_ in snap.contacts}
    started: dict[str, list[str]] = {}
    waiting: dict[str, list[str]] = {}
    for cp in result.contacts:
        for e in cp.enrollments or ():
            if e.status is EnrollmentStatus.ACTIVE and e.enrolled_at == now:
                task_owner = next((t.owner_id for t in cp.creates), None)
                started.setdefault(task_owner or "?", []).append(_order(cfg, states[cp.contact_id], now))
            elif e.status is EnrollmentStatus.QUEUED:
                waiting.setdefault(e.owner_id, []).append(_order(cfg, states[cp.contact_id], now))
    for owner, keys in waiting.items():
        if owner in started:
            assert max(started[owner]) < min(keys), f"{owner}: a contact started ahead of its place in the queue"


@settings(max_examples=60, **SETTINGS)
@given(scenarios())
def test_the_paced_plan_is_deterministic(s: tuple[Config, Snapshot, datetime]) -> None:
    """Same inputs, same plan, byte for byte (queue, horizon and capacity included)."""
    cfg, snap, now = s
    contacts = list(snap.contacts)
    first = plan(cfg, Snapshot(snap.account, contacts, snap.owners, snap.owner_load), now)
    again = plan(cfg, Snapshot(snap.account, list(contacts), snap.owners, snap.owner_load), now)
    assert first == again and repr(first) == repr(again)


# ------------------------------------------------------- through the sync: done tasks count


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


@settings(max_examples=12, **SETTINGS)
@given(cap=st.integers(1, 2), contacts=st.integers(3, 9), done_each_run=st.integers(0, 3), seed=st.integers(0, 10_000))
def test_syncs_never_put_more_than_the_cap_on_an_owner_day_counting_done_tasks(tmp_path_factory: Any, cap: int, contacts: int,
                                                                               done_each_run: int, seed: int) -> None:
    """Over several syncs with recruiters completing tasks, every owner-local day holds at most `cap` tasks, done or open."""
    from connector.configfile import load_config
    from connector.sync import run_sync

    tmp = tmp_path_factory.mktemp("paced")
    _write(tmp / "contacts.csv", ["id", "first_name", "email", "phone", "owner_id", "timezone", "lifecycle_stage"],
           [{"id": f"c{i}", "first_name": f"N{i}", "email": f"c{i}@x.io", "phone": "+12125550100", "owner_id": "o1",
             "timezone": "America/New_York", "lifecycle_stage": "lead"} for i in range(contacts)])
    _write(tmp / "owners.csv", ["id", "first_name", "timezone"], [{"id": "o1", "first_name": "Rita", "timezone": "Asia/Kolkata"}])
    (tmp / "cadence.yaml").write_text(f"""
crm: {{type: local, contacts: contacts.csv, tasks: tasks.csv}}
calendar: {{timezone: America/New_York, country: US}}
guards: {{daily_capacity: {cap}, min_gap: 0 days}}
cadences:
  - id: main
    name: Main
    enroll_when: {{all: [{{property: lifecycle_stage, equals: lead}}]}}
    steps:
      - {{id: a, channel: call, subject: A}}
      - {{id: b, channel: email, subject: B}}
      - {{id: c, channel: call, subject: C, wait: 1 business day}}
""", encoding="utf-8")
    loaded = load_config(tmp / "cadence.yaml")
    now = datetime(2026, 3, 2, 13, 0, tzinfo=UTC) + timedelta(minutes=seed % 600)
    kolkata = ZoneInfo("Asia/Kolkata")
    for _ in range(4):
        report = run_sync(loaded, now=now)
        assert report.ok, report.errors
        with open(tmp / "tasks.csv", newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        per_day = Counter(datetime.fromisoformat(r["due_utc"].replace("Z", "+00:00")).astimezone(kolkata).date()
                          for r in rows if r["status"] in ("open", "done"))
        assert all(n <= cap for n in per_day.values()), per_day
        # recruiters complete the earliest open tasks (a done task keeps counting against its day)
        open_rows = sorted((r for r in rows if r["status"] == "open"), key=lambda r: r["due_utc"])[:done_each_run]
        for r in open_rows:
            r["status"], r["completed_at"] = "done", now.isoformat()
        if open_rows:
            with open(tmp / "tasks.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
                writer.writeheader()
                writer.writerows(rows)
        now += timedelta(hours=3)
