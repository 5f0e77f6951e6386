"""Reliability: the sync's invariants under a multi-day fault storm, SIGKILLs, late opt-outs and any clock.

The figures these tests print (faults injected by kind, kill points survived) are quoted in
docs/reliability.md.
"""

from __future__ import annotations

import random
import signal
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import holidays
import pytest
import test_crash as local_crash  # modules, not names, so that their tests are not collected here again: only their
import test_hubspot_crash as hubspot_crash  # kill-point parametrizations are read (COVERED)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.hubspot import START, Portal, assert_converged, cadence_sync, scenario, task_ids_by_key
from support.hubspot import run as hubspot_run
from support.local import CONTACT_HEADER, CONTACTS, LocalRecruiter, cadence, make_workspace, read_csv, seed_local, write_csv

from connector.configfile import load_config
from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.store import CREATED, LEDGER_STATUSES, PENDING, UNKNOWN
from connector.store_sqlite import SQLiteStore, state_path
from connector.sync import KILL_POINTS, run_sync
from connector.sync_report import SyncReport
from sequences.config import WEEKDAYS
from sequences.durations import parse_window
from sequences.records import EnrollmentStatus

UTC = timezone.utc
SUPPORTED_COUNTRIES = holidays.list_supported_countries()

# ------------------------------------------------------------------------------------------------
# 1. a fault storm over simulated business days (HubSpot emulator)
# ------------------------------------------------------------------------------------------------

# A due time depends on the run's `now` when a window is already open, and a rerun after a failure plans a few
# minutes later than the fault-free run did. So every window is one hour (09:00-10:00 contact-local) and the
# scheduler runs at 05:00 and 05:30 UTC, when every seeded zone (Los Angeles to Sydney, Tokyo, Kathmandu) is
# outside it: the faulty and the fault-free run plan the same due times and can be compared exactly. The
# 05:30 run also re-engages, on the same day as the fault-free run, a snooze planned by a late rerun.
STORM_CONFIG = """
account: test-portal
crm: {type: hubspot, tier: pro}
calendar: {timezone: America/New_York, country: US, working_hours: "09:00-10:00"}
guards: {daily_capacity: 5000, min_gap: 1 day, touch_budget: {touches: 6, per: 14 days}}
outcomes:
  lead_status: {BAD_TIMING: not_now, UNQUALIFIED: do_not_contact, CONNECTED: connected}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: email, exists: true}]}
    on: {replied: finish, connected: finish, meeting_booked: finish, not_now: snooze}
    not_now: {snooze: 3 days, reengage_into: nurture}
    steps:
      - {id: intro-call, channel: call, priority: high, subject: "Call {{contact.first_name}}", skip_if: [no_phone]}
      - {id: intro-email, channel: email, wait: 1 business day, subject: "{{contact.first_name}}, a role for you", skip_if: [no_email]}
      - {id: linkedin, channel: linkedin, wait: 2 business days, subject: "Connect with {{contact.full_name}}", skip_if: [no_linkedin]}
      - {id: follow-up-call, channel: call, wait: 3 days, subject: "Follow up with {{contact.first_name}}", skip_if: [no_phone]}
  - id: nurture
    name: Not now, later
    steps:
      - {id: checkin-email, channel: email, priority: low, subject: "It's been a while, {{contact.first_name}}"}
      - {id: checkin-call, channel: call, wait: 2 business days, subject: "Check-in call: {{contact.first_name}}"}
"""
STORM_START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; the US switches to summer time on 8 March
SCHEDULE = (timedelta(hours=5), timedelta(hours=5, minutes=30))  # the scheduler's runs each day (UTC)
ATTEMPTS, RETRY_EVERY = 5, timedelta(minutes=3)  # reruns of a run that did not finish its job
ACTIONS_AT = timedelta(hours=20)  # recruiters act after every window of the day has closed (UTC)
FAULT_RATES = dict(rate_429=0.20, rate_5xx=0.05, rate_reset=0.02, rate_drop_after_write=0.02)
SEARCH_LAG = 30
CREATE, CLOSE = "*/tasks/batch/create", "*/tasks/batch/update"
# On top of the dice, scripted faults on set days (day index -> [(fault, path glob)]): one write fault of each kind,
# so that each kind hits a write whatever the seed, and on day 7 a burst of 429s longer than one call's retries, so
# that the day's first run gives up (cleanly) before planning and a rerun minutes later plans instead.
SCRIPTED = {2: [("drop", CREATE), ("drop", CLOSE)], 3: [(503, CREATE), ("reset", CLOSE)], 4: [("reset", CREATE), (502, CLOSE)],
            7: [(429, None)] * 8}
TIMESTAMP_SLACK = timedelta(minutes=45)  # a rerun plans a few minutes later: enrollment times may trail


@dataclass
class Storm:
    """Tallies of one faulty simulated run."""

    attempts: Counter = field(default_factory=Counter)  # run status -> attempts
    reruns: int = 0
    waits: list[float] = field(default_factory=list)  # back-offs the adapter asked for (not slept)
    actions: Counter = field(default_factory=Counter)
    requests: int = 0
    outcomes: Counter = field(default_factory=Counter)  # "cadence status" -> enrollments, at the end


def unfinished(report: SyncReport) -> bool:
    """A run a scheduler would repeat soon: it failed, was deferred, or left writes unknown or failed."""
    return (report.status != "ok" or bool(report.errors) or report.counts.get("unknown", 0) > 0
            or report.counts.get("unknown_waiting", 0) > 0)


def scheduled_runs(portal: Portal, day: datetime, storm: Storm | None) -> bool:
    """The day's scheduled runs; under faults each is repeated (minutes apart) until it finishes its job.
    Returns whether the day's last run finished its job."""
    finished = True
    for at in SCHEDULE:
        for attempt in range(ATTEMPTS):
            now = day + at + attempt * RETRY_EVERY
            report = hubspot_run(portal, now, storm.waits if storm is not None else None)
            finished = not unfinished(report)
            if storm is None:
                assert finished, (now, report.status, report.errors[:3])
                break
            storm.attempts[report.status] += 1
            if finished:
                break
            storm.reruns += 1
    return finished


def open_tasks(portal: Portal, before: datetime) -> list[tuple[str, str]]:
    """(contact id, task key) of every open crm-cadence task due by `before`, in key order."""
    out = []
    for key, (task_id, props) in sorted(portal.tasks().items()):
        if props.get("hs_task_status") != "COMPLETED" and props["hs_timestamp"] <= before.strftime("%Y-%m-%dT%H:%M:%S.000Z"):
            out.append((portal.emu.contacts_for_task(task_id)[0], key))
    return out


def recruiter_actions(reference: Portal, now: datetime, rng: random.Random) -> list[tuple[str, str]]:
    """The day's recruiter actions, chosen from the fault-free portal: (action, task key or contact id)."""
    due = open_tasks(reference, now)
    actions: list[tuple[str, str]] = []
    picked = rng.sample(due, k=min(len(due), max(1, len(due) * 6 // 10)))
    for _contact, key in picked:
        actions.append(("complete_task", key))
    others = sorted({c for c, _ in due} - {c for c, _ in picked})
    rng.shuffle(others)
    for name in ("record_reply", "set_lead_status", "opt_out"):
        for contact in others[:2]:
            actions.append((name, contact))
        others = others[2:]
    return actions


def apply_actions(portal: Portal, actions: list[tuple[str, str]], now: datetime) -> None:
    """Apply the same actions to a portal, by task key and contact id (never by the portal's own task ids)."""
    portal.at(now)
    emu = portal.emu
    ids = task_ids_by_key(emu)
    for name, target in actions:
        if name == "complete_task":
            assert target in ids, f"{target} is missing from this portal: the runs diverged before {now}"
            emu.complete_task(ids[target], at=now)
        elif name == "record_reply":
            emu.record_reply(target, at=now)
        elif name == "set_lead_status":
            emu.set_lead_status(target, "BAD_TIMING")
        else:
            emu.opt_out(target)


def crm_state(portal: Portal) -> set[tuple[str, str, str, str, str]]:
    """(task key, contact, type, due, status) of every crm-cadence task in the portal (one per key, checked)."""
    return {(key, portal.emu.contacts_for_task(task_id)[0], props["hs_task_type"], props["hs_timestamp"],
             props["hs_task_status"]) for key, (task_id, props) in portal.tasks().items()}


TIMESTAMPS = ("enrolled_at", "anchor_at", "snoozed_until", "ended_at")


def enrollments(portal: Portal, contact_ids: list[str]) -> dict[tuple[str, int], Any]:
    store = portal.store()
    try:
        return {(e.contact_id, e.seq): e for es in store.enrollments(contact_ids).values() for e in es}
    finally:
        store.close()


def assert_same_enrollments(actual: dict, expected: dict) -> None:
    """The same enrollments, states, steps, open tasks and reasons; each timestamp no earlier than the
    reference's and at most TIMESTAMP_SLACK later (a rerun after a failure plans a few minutes later)."""
    assert set(actual) == set(expected), (sorted(set(expected) - set(actual))[:5], sorted(set(actual) - set(expected))[:5])
    for ident, want in expected.items():
        got = actual[ident]
        for name in want.__slots__:
            a, b = getattr(got, name), getattr(want, name)
            if name in TIMESTAMPS and a is not None and b is not None:
                assert timedelta(0) <= a - b <= TIMESTAMP_SLACK, (ident, name, a, b)
            else:
                assert a == b, (ident, name, a, b)
        assert got.status is want.status


def fault_counts(emu: HubSpotEmulator) -> Counter:
    """Injected faults by kind, from the emulator's request log."""
    kinds: Counter = Counter()
    for entry in emu.requests():
        if entry.fault is None or entry.fault == "slow":
            continue
        kinds["5xx" if entry.fault.isdigit() and entry.fault.startswith("5") else entry.fault] += 1
    return kinds


def simulate_storm(directory: Path, contacts: int, days: int, seed: int) -> tuple[Storm, Counter, int]:
    """Run the scenario on two emulators in lockstep, one fault-free and one under the storm; compare."""
    storm = Storm()
    with HubSpotEmulator() as clean_emu, HubSpotEmulator() as faulty_emu:
        # the task-key property is not unique: a task sent twice would show up as a duplicate, not be refused
        clean = Portal(clean_emu, directory / "clean", STORM_CONFIG, start=STORM_START, seed=seed, unique_key=False)
        faulty = Portal(faulty_emu, directory / "faulty", STORM_CONFIG, start=STORM_START, seed=seed, unique_key=False)
        ids = clean_emu.seed_contacts(contacts, seed=seed)
        assert faulty_emu.seed_contacts(contacts, seed=seed) == ids
        faulty_emu.faults.search_lag_seconds = SEARCH_LAG
        faulty_emu.faults.set_random(**FAULT_RATES, seed=seed)
        rng = random.Random(seed)
        for n in range(days + 1):  # the last day: the scheduled runs only, still under the storm
            day = STORM_START + timedelta(days=n)
            for kind, glob in SCRIPTED.get(n, ()):
                faulty_emu.faults.fail_next(1, status=kind, path_glob=glob)
            scheduled_runs(clean, day, None)
            finished = scheduled_runs(faulty, day, storm)
            if n < days and day.weekday() < 5:
                when = day + ACTIONS_AT
                actions = recruiter_actions(clean, when, rng)
                storm.actions.update(name for name, _ in actions)
                apply_actions(clean, actions, when)
                apply_actions(faulty, actions, when)
        assert finished, "the last day's runs under the storm did not finish their job"
        assert not faulty_emu.faults._scripts, "a scripted fault never fired"  # so the printed count is right

        faults = fault_counts(faulty_emu)
        storm.requests = faulty_emu.total_requests()
        expected = crm_state(clean)
        assert crm_state(faulty) == expected
        assert_same_enrollments(enrollments(faulty, ids), enrollments(clean, ids))
        assert_converged(faulty)
        assert_converged(clean)
        storm.outcomes = Counter(f"{e.cadence_id} {e.status.value}" for e in enrollments(clean, ids).values())
        return storm, faults, len(expected)


def _report_storm(label: str, storm: Storm, faults: Counter, tasks: int, contacts: int, days: int) -> None:
    print(f"\n{label}: {contacts} contacts, {days} simulated days, {tasks} tasks; faults injected: "
          f"{sum(faults.values())} in {storm.requests} requests, {sum(map(len, SCRIPTED.values()))} of them scripted "
          f"({faults.get('429', 0)} 429s, {faults.get('5xx', 0)} 5xx, "
          f"{faults.get('reset', 0)} resets, {faults.get('drop', 0)} drops after write); "
          f"runs: {dict(storm.attempts)}, reruns: {storm.reruns}, back-offs asked: {len(storm.waits)}; "
          f"recruiter actions: {dict(storm.actions)}; enrollments at the end: {dict(sorted(storm.outcomes.items()))}")


def test_fault_storm_over_business_days_matches_a_fault_free_run(tmp_path: Path) -> None:
    """Two weeks of daily syncs of 300 contacts under 429s, 5xx, resets, dropped writes and search lag, with the same
    recruiter actions each day, end with exactly the tasks and enrollments of a fault-free run of the same scenario."""
    storm, faults, tasks = simulate_storm(tmp_path, contacts=300, days=14, seed=7)
    _report_storm("fault storm", storm, faults, tasks, 300, 14)
    assert faults["429"] > 0 and faults["5xx"] > 0 and faults["reset"] > 0 and faults["drop"] > 0, faults
    assert storm.attempts["failed"] >= 1 and storm.reruns >= 1 and any(w > 0 for w in storm.waits)
    assert storm.outcomes["nurture active"] + storm.outcomes["nurture finished"] > 0  # BAD_TIMING snoozed, re-engaged
    assert storm.outcomes["outreach finished"] > 0 and storm.outcomes["outreach active"] > 0


@pytest.mark.slow
def test_long_fault_storm_matches_a_fault_free_run(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Five weeks (across the US and EU clock changes) of daily syncs of 1,500 contacts under the same storm end with
    exactly the tasks and enrollments of a fault-free run."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("long variant: run with -m slow")
    storm, faults, tasks = simulate_storm(tmp_path, contacts=1500, days=35, seed=11)
    _report_storm("long fault storm", storm, faults, tasks, 1500, 35)
    assert faults["429"] > 0 and faults["5xx"] > 0 and faults["reset"] > 0 and faults["drop"] > 0, faults


# ------------------------------------------------------------------------------------------------
# 2. the crash matrix: SIGKILL at each kill point, on a first run and on a run after completions
# ------------------------------------------------------------------------------------------------

def _points(test: Any) -> list[str]:
    """The kill points an existing test is parametrized over."""
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0] == "point":
            return list(mark.args[1])
    return []


# (CRM, run) -> kill points the existing crash tests already cover
COVERED = {
    ("local", "first run"): _points(local_crash.test_killed_first_run_converges),
    ("local", "after completions"): _points(local_crash.test_killed_run_after_a_completion_converges),
    ("HubSpot", "first run"): _points(hubspot_crash.test_killed_hubspot_sync_converges),
    ("HubSpot", "after completions"): _points(hubspot_crash.test_killed_run_after_a_completion_converges),
}
MATRIX = [(crm, point) for crm in ("local", "HubSpot") for point in KILL_POINTS
          if point not in COVERED[(crm, "after completions")]]
SURVIVED: list[tuple[str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def _print_kill_points() -> Any:
    yield
    if not SURVIVED:
        return
    total = Counter(crm for (crm, _), points in COVERED.items() for _ in points) + Counter(crm for crm, _ in SURVIVED)
    print(f"\nkill points exercised: {sum(total.values())} (local {total['local']}, HubSpot {total['HubSpot']}): "
          f"{len(SURVIVED)} here ({', '.join(f'{c} {p} after completions' for c, p in SURVIVED)}), "
          f"{sum(len(p) for p in COVERED.values())} in test_crash.py and test_hubspot_crash.py")


def local_tasks(directory: Path) -> set[tuple[str, str, str, str, str]]:
    """(key, contact, channel, due, status) of every row in tasks.csv; a key twice fails."""
    rows = read_csv(directory / "tasks.csv")
    keys = Counter(r["key"] for r in rows)
    assert max(keys.values(), default=1) == 1, [k for k, n in keys.items() if n > 1]
    return {(r["key"], r["contact_id"], r["channel"], r["due_utc"], r["status"]) for r in rows}


def assert_local_consistent(config: Path) -> None:
    """Every ledger row created is in tasks.csv, nothing pending or unknown; no contact has two live enrollments;
    every active enrollment's open task is in tasks.csv exactly once, on its contact."""
    rows = {r["key"]: r for r in read_csv(config.parent / "tasks.csv")}
    loaded = load_config(config)
    store = SQLiteStore.open(state_path(loaded), "local")
    try:
        ledger = store.ledger(list(LEDGER_STATUSES))
        assert not [r for r in ledger if r.status in (PENDING, UNKNOWN)], "writes left unfinished"
        assert all(r.key in rows for r in ledger if r.status == CREATED)
        assert set(rows) <= {r.key for r in ledger}, "tasks.csv holds tasks the ledger does not know"
        for cid, es in store.enrollments({r["contact_id"] for r in rows.values()}).items():
            live = [e for e in es if e.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.SNOOZED)]
            assert len(live) <= 1, (cid, live)
            for e in live:
                if e.status is EnrollmentStatus.ACTIVE:
                    assert rows[e.open_task_key]["contact_id"] == cid, (cid, e)
    finally:
        store.close()


def _local_after_completions(directory: Path, kill_at: str) -> tuple[Path, str, int]:
    """test_crash's workspace (7 leads, batches of 2): a first run, every call completed, then the next-steps run
    (killed at `kill_at`); returns the config, that run's `now` and its exit code."""
    config = make_workspace(directory)
    first = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    assert cadence(directory, "sync", str(config), "--now", first.isoformat()).returncode == 0
    recruiter = LocalRecruiter(directory)
    for row in read_csv(directory / "tasks.csv"):
        recruiter.complete_task(row["key"], completed_at=first + timedelta(hours=1))
    then = (first + timedelta(hours=2)).isoformat()
    return config, then, cadence(directory, "sync", str(config), "--now", then, kill_at=kill_at).returncode


def _crash_local(tmp_path: Path, point: str) -> tuple[set, set]:
    assert _local_after_completions(tmp_path / "clean", "")[2] == 0
    config, then, code = _local_after_completions(tmp_path / "ws", point)
    assert code == -signal.SIGKILL
    rerun = cadence(config.parent, "sync", str(config), "--now", then)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_local_consistent(config)
    assert sum(1 for r in read_csv(config.parent / "tasks.csv") if r["channel"] == "email") == len(CONTACTS)
    return local_tasks(config.parent), local_tasks(tmp_path / "clean")


def _hubspot_after_completions(emu: HubSpotEmulator, directory: Path, kill_at: str) -> tuple[Portal, int]:
    """test_hubspot_crash's scenario with 250 contacts (some are not enrolled: their lead status was already set),
    a first run, 120 calls completed (by key), then the next-steps run (killed at `kill_at`; more than 100 creates,
    so two batches); returns the portal and that run's exit code."""
    portal = scenario(emu, directory, 250, hubspot_crash.SEED)
    portal.at(START)
    assert cadence_sync(portal.path, START.isoformat(), emu).returncode == 0
    done = START + timedelta(hours=3)
    portal.at(done)
    calls = sorted(key for key, (_, props) in portal.tasks().items() if props["hs_task_type"] == "CALL")[:120]
    ids = task_ids_by_key(emu)
    for key in calls:
        emu.complete_task(ids[key], at=done)
    portal.at(done + timedelta(hours=1))
    run = cadence_sync(portal.path, (done + timedelta(hours=1)).isoformat(), emu, kill_at=kill_at)
    return portal, run.returncode


def _crash_hubspot(tmp_path: Path, point: str) -> tuple[set, set]:
    then = START + timedelta(hours=4)
    with HubSpotEmulator() as clean_emu:
        clean, code = _hubspot_after_completions(clean_emu, tmp_path / "clean", "")
        assert code == 0
        expected = crm_state(clean)
    with HubSpotEmulator() as emu:
        portal, code = _hubspot_after_completions(emu, tmp_path / "ws", point)
        assert code == -signal.SIGKILL
        assert cadence_sync(portal.path, then.isoformat(), emu).returncode == 0
        portal.at(START + timedelta(days=1))
        later = cadence_sync(portal.path, (START + timedelta(days=1)).isoformat(), emu)
        assert later.returncode == 0 and '"created": []' in later.stdout
        assert_converged(portal)
        return crm_state(portal), expected


@pytest.mark.parametrize("crm, point", MATRIX)
def test_killed_next_steps_run_converges(tmp_path: Path, crm: str, point: str) -> None:
    """A run creating next steps after completions, SIGKILLed at a kill point the existing crash tests leave out, then
    rerun, leaves exactly the tasks of an uninterrupted run (one per key, none missing) and consistent enrollments."""
    actual, expected = (_crash_local if crm == "local" else _crash_hubspot)(tmp_path, point)
    assert actual == expected, (f"missing {sorted(expected - actual)[:3]}, unexpected {sorted(actual - expected)[:3]}")
    SURVIVED.append((crm, point))


# ------------------------------------------------------------------------------------------------
# 3. opt-outs honoured at push time, at sync level (local CRM)
# ------------------------------------------------------------------------------------------------

OPT_CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv}
calendar: {timezone: America/New_York, country: US}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
      - {id: email, channel: email, wait: 2 business days, subject: "Email {{contact.first_name}}"}
      - {id: call-2, channel: call, wait: 1 week, subject: "Call {{contact.first_name}} again"}
"""


@pytest.mark.parametrize("change", [{"opted_out": "email"}, {"do_not_contact": "true"}], ids=["opted_out=email", "do_not_contact"])
def test_opt_out_between_intent_and_push_is_honoured(tmp_path: Path, change: dict[str, str]) -> None:
    """An email intent recorded by a run killed before pushing is never written once the contact opts out of email (the
    cadence moves on to the next call) or becomes do-not-contact (no task at all, the enrollment exits)."""
    directory = tmp_path / "ws"
    directory.mkdir()
    seed_local(directory)  # c1, c2, c3: leads with phones
    config = directory / "cadence.yaml"
    config.write_text(OPT_CONFIG, encoding="utf-8")
    monday = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    done = monday + timedelta(hours=1)
    assert cadence(directory, "sync", str(config), "--now", monday.isoformat()).returncode == 0
    recruiter = LocalRecruiter(directory)
    calls = {r["contact_id"]: r["key"] for r in read_csv(directory / "tasks.csv")}
    for key in calls.values():
        recruiter.complete_task(key, completed_at=done)
    before = local_tasks(directory)

    killed = cadence(directory, "sync", str(config), "--now", (done + timedelta(hours=1)).isoformat(),
                                 kill_at="after_intents")

    assert killed.returncode == -signal.SIGKILL
    assert local_tasks(directory) == before  # intents recorded, nothing pushed
    store = SQLiteStore.open(state_path(load_config(config)), "local")
    try:
        pending = {r.contact_id: r for r in store.ledger([PENDING])}
    finally:
        store.close()
    assert sorted(pending) == ["c1", "c2", "c3"] and all(r.task.step_id == "email" for r in pending.values())
    recruiter.update_contact("c1", **change)

    rerun = cadence(directory, "sync", str(config), "--now", (done + timedelta(hours=1, minutes=5)).isoformat(),
                                "--json")

    assert rerun.returncode == 0, rerun.stderr[-2000:]
    rows = read_csv(directory / "tasks.csv")
    assert pending["c1"].key not in {r["key"] for r in rows}, "the withdrawn email was written"
    assert {(r["contact_id"], r["step"]) for r in rows if r["status"] == "open"} >= {("c2", "email"), ("c3", "email")}
    c1_open = [r for r in rows if r["contact_id"] == "c1" and r["status"] == "open"]
    store = SQLiteStore.open(state_path(load_config(config)), "local")
    try:
        (enrollment,) = store.enrollments(["c1"])["c1"]
        assert store.get(pending["c1"].key).status == "closed"  # withdrawn before it was ever sent
    finally:
        store.close()
    if "opted_out" in change:
        (nxt,) = c1_open
        assert (nxt["channel"], nxt["step"]) == ("call", "call-2")
        assert nxt["due_utc"] == "2026-03-09T13:00:00Z"  # a week after the call's completion, 09:00 New York (EDT)
        assert enrollment.status is EnrollmentStatus.ACTIVE and enrollment.open_task_key == nxt["key"]
    else:
        assert c1_open == []
        assert enrollment.status is EnrollmentStatus.EXITED, enrollment
    assert_local_consistent(config)
    again = cadence(directory, "sync", str(config), "--now", (done + timedelta(days=1)).isoformat(), "--json")
    assert again.returncode == 0 and '"created": []' in again.stdout


# ------------------------------------------------------------------------------------------------
# 4. calling hours end to end: any zone, any `now`, through run_sync and tasks.csv
# ------------------------------------------------------------------------------------------------

# zones with DST (both hemispheres, half-hour and 45-minute shifts) and without, each with its country
ZONES = [
    ("America/New_York", "US"), ("America/Los_Angeles", "US"), ("America/Phoenix", "US"), ("Europe/Berlin", "DE"),
    ("Europe/London", "GB"), ("Asia/Kolkata", "IN"), ("Asia/Kathmandu", "NP"), ("Australia/Adelaide", "AU"),
    ("Australia/Lord_Howe", "AU"), ("Pacific/Chatham", "NZ"), ("Pacific/Auckland", "NZ"), ("America/Santiago", "CL"),
    ("America/Havana", "CU"), ("America/St_Johns", "CA"), ("Asia/Tehran", "IR"), ("Africa/Casablanca", "MA"),
    ("Asia/Jerusalem", "IL"), ("America/Asuncion", "PY"), ("Africa/Cairo", "EG"), ("America/Sao_Paulo", "BR"),
]
OTHER_ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
CALL_WINDOWS = ["00:00-24:00", "06:00-23:00", "08:00-21:00", "09:00-17:00", "07:00-08:30", "20:00-23:30", "12:15-12:45"]
WAITS = ["4 hours", "1 business day", "2 days", "1 week"]
HOURS_CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv}
calendar: {timezone: %(default)s, country: US, work_days: [%(days)s]}
channels: {call: "%(window)s"}
guards: {daily_capacity: 1000, min_gap: 1 hour}
pacing: {horizon: null}  # every follow-up is pushed at once: this property is about calling hours
cadences:
  - id: calls
    name: Calls
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
      - {id: call-2, channel: call, wait: %(wait)s, subject: "Call {{contact.first_name}} again"}
"""


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """The UTC hours in 2025-2028 at which `zone`'s offset changes (DST and other clock changes)."""
    tz = ZoneInfo(zone)
    found, moment = [], datetime(2025, 1, 1, tzinfo=UTC)
    previous = moment.astimezone(tz).utcoffset()
    while moment.year < 2029:
        moment += timedelta(hours=1)
        offset = moment.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(moment)
            previous = offset
    return tuple(found)


@st.composite
def calling_scenarios(draw: Any) -> dict[str, Any]:
    people = draw(st.lists(st.one_of(st.sampled_from(ZONES), st.sampled_from(OTHER_ZONES).map(lambda z: (z, ""))),
                           min_size=1, max_size=5))
    anchor = draw(st.sampled_from(people))[0]
    edges = transitions(anchor) or transitions("America/New_York")
    now = draw(st.one_of(
        st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
        st.builds(lambda edge, delta: edge + delta, st.sampled_from(edges),
                  st.timedeltas(timedelta(hours=-30), timedelta(hours=30))),
    ))
    return {
        "people": people, "now": now.replace(microsecond=0),
        "days": draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True)),
        "window": draw(st.sampled_from(CALL_WINDOWS)), "wait": draw(st.sampled_from(WAITS)),
        "default": draw(st.sampled_from(ZONES))[0], "done_after": draw(st.timedeltas(timedelta(0), timedelta(hours=30))),
    }


def _check_calls(rows: list[dict[str, str]], people: dict[str, tuple[str, str]], days: list[str], window: str,
                 not_before: dict[str, datetime]) -> None:
    allowed = parse_window(window).intersect(parse_window("08:00-21:00"))
    for row in rows:
        assert row["channel"] == "call"
        zone, country = people[row["contact_id"]]
        due = datetime.fromisoformat(row["due_utc"].replace("Z", "+00:00"))
        local = due.astimezone(ZoneInfo(zone))
        stated = datetime.fromisoformat(row["due_local"])
        assert stated == due and stated.utcoffset() == local.utcoffset(), (row["due_local"], zone, local)
        clock = local.time().replace(tzinfo=None)
        assert time(8) <= clock < time(21), f"call at {local} in {zone}"
        assert allowed.contains(clock), f"call at {local} outside {allowed}"
        assert WEEKDAYS[local.weekday()] in days, f"call on a {local:%A} in {zone}"
        table = holidays.country_holidays(country or "US") if (country or "US") in SUPPORTED_COUNTRIES else {}
        assert local.date() not in table, f"call on {local.date()}, a holiday in {country or 'US'}"
        assert due >= not_before[row["key"]], (row["key"], due)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(calling_scenarios())
def test_calls_fall_within_calling_hours_on_work_days_in_any_zone(s: dict[str, Any]) -> None:
    """Synced through run_sync and the local CRM, every call task lands 08:00-21:00 contact-local (inside the configured
    call window), on a configured work day that is no public holiday, in any zone and around any clock change."""
    people = {f"c{i}": person for i, person in enumerate(s["people"])}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_csv(directory / "contacts.csv", CONTACT_HEADER, [
            {"id": cid, "first_name": f"P{cid}", "email": f"{cid}@example.com", "phone": "+12125550100",
             "timezone": zone, "country": country, "lifecycle_stage": "lead"} for cid, (zone, country) in people.items()])
        config = directory / "cadence.yaml"
        config.write_text(HOURS_CONFIG % {"default": s["default"], "days": ", ".join(s["days"]), "window": s["window"],
                                          "wait": s["wait"]}, encoding="utf-8")
        loaded = load_config(config)

        first = run_sync(loaded, now=s["now"])
        assert first.status == "ok" and not first.errors, first.errors
        rows = read_csv(directory / "tasks.csv")
        assert sorted(r["contact_id"] for r in rows) == sorted(people)  # one first call each
        not_before = {r["key"]: s["now"] for r in rows}
        recruiter = LocalRecruiter(directory)
        done = {}
        for row in rows:  # each call made some time after it fell due
            done[row["contact_id"]] = datetime.fromisoformat(row["due_utc"].replace("Z", "+00:00")) + s["done_after"]
            recruiter.complete_task(row["key"], completed_at=done[row["contact_id"]])
        later = max(done.values()) + timedelta(minutes=1)
        second = run_sync(loaded, now=later)
        assert second.status == "ok" and not second.errors, second.errors

        rows = read_csv(directory / "tasks.csv")
        assert len(rows) == 2 * len(people)  # and one follow-up call each
        not_before |= {r["key"]: later for r in rows if r["step"] == "call-2"}
        _check_calls(rows, people, s["days"], s["window"], not_before)
