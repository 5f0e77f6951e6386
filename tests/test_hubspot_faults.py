"""The HubSpot sync under a hostile network and HubSpot's limits: 429s, 5xx, resets, dropped responses,
the daily budget, the client-side throttle, and secrets that must never show."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import traceback
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from support.hubspot import (
    CANARY_TOKEN,
    START,
    Portal,
    assert_converged,
    assert_same_tasks,
    env_for,
    fast_crm,
    reference_tasks,
    run,
    scenario,
    task_summary,
)

from connector.crm.base import FatalCRMError, ReadContext
from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.sync import run_sync
from sequences.records import EnrollmentStatus

ROOT = Path(__file__).resolve().parent.parent
CONTACTS, SEED = 300, 7  # 3 batch creates


def test_429_storm_5xx_and_resets_converge(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """Under 429 storms, 5xx and connection resets every run completes or ends cleanly, and reruns leave exactly
    the tasks a fault-free run leaves (one per key, none missing)."""
    expected = reference_tasks(tmp_path / "reference", CONTACTS, SEED)
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    emu.faults.fail_next(12, status=429)  # more than the retries of one call: the first run gives up cleanly
    emu.faults.fail_next(1, status="reset", path_glob="*/tasks/batch/create")  # not applied: found missing, resent
    emu.faults.fail_next(1, status=503, path_glob="*/tasks/batch/create")  # a write's 5xx: outcome unknown
    emu.faults.set_random(rate_429=0.2, rate_5xx=0.1, rate_reset=0.05, rate_drop_after_write=0.2, seed=11)
    sleeps: list[float] = []
    statuses, missing = [], 0
    for minute in range(0, 30, 2):  # reruns a couple of minutes apart, as a scheduler would
        report = run(portal, START + timedelta(minutes=minute), sleeps)
        assert report.status in ("ok", "failed"), report.status
        statuses.append(report.status)
        missing += report.counts.get("reconciled_missing", 0)
        if report.status == "ok" and not report.counts["unknown"] and not report.counts["unknown_waiting"]:
            break  # a clean run: nothing left to reconcile
    emu.faults.clear()
    final = run(portal, START + timedelta(minutes=40))
    missing += final.counts["reconciled_missing"]
    print(f"runs under faults: {statuses}, then {final.status}; faults injected: {emu.faults.injected}, "
          f"429s: {sum(emu.counts(status=429).values())}, waits: {len(sleeps)}")

    assert statuses[0] == "failed" and "ok" in statuses  # gave up once, cleanly; later runs got through
    assert final.status == "ok" and final.errors == []
    assert emu.faults.injected >= 15 and sum(emu.counts(status=429).values()) >= 12
    assert missing >= 2 * 99  # the reset and the 503 batches were reconciled (not found) before being sent again
    assert any(s > 0 for s in sleeps)  # 429s were waited out, not hammered
    assert_same_tasks(task_summary(portal), expected, slack=timedelta(minutes=30))
    assert_converged(portal, expected)


def test_dropped_batch_create_is_reconciled_without_waiting_for_search(hubspot_emulator: HubSpotEmulator,
                                                                        tmp_path: Path) -> None:
    """A batch create applied by HubSpot whose response was lost is settled on the next run through the contacts'
    associations (which do not lag like search): found, never resent, exactly one task per key."""
    expected = reference_tasks(tmp_path / "reference", CONTACTS, SEED)
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    emu.faults.search_lag_seconds = 30
    emu.faults.fail_next(1, status="drop", path_glob="*/tasks/batch/create")

    first = run(portal, START)

    assert first.counts["unknown"] == 100 and first.counts["created"] == len(expected) - 100
    assert emu.count("tasks") == len(expected)  # HubSpot applied the dropped batch
    emu.reset_log()
    soon = run(portal, START + timedelta(seconds=10))  # search would not show the tasks yet

    assert soon.status == "ok" and soon.counts["reconciled_found"] == 100, dict(soon.counts)
    assert soon.counts.get("reconciled_missing", 0) == 0
    assert "POST /crm/v4/associations/contacts/tasks/batch/read" in emu.counts()
    assert "POST /crm/v3/objects/tasks/batch/create" not in emu.counts()  # nothing resent
    assert task_summary(portal) == expected
    assert_converged(portal, expected)


def test_daily_limit_defers_and_the_next_day_resumes(hubspot_emulator: HubSpotEmulator, tmp_path: Path,
                                                   caplog: Any) -> None:
    """A DAILY 429 ends the run as "deferred" with a clear message and no traceback; the next day's run resumes and completes."""
    expected = reference_tasks(tmp_path / "reference", CONTACTS, SEED)
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    emu.set_rate_limit("pro")
    emu.rate_limits.daily_limit = 9  # the first run's reads (account, pages, tasks, owners, property), 2 creates: the 3rd is refused
    caplog.set_level(logging.DEBUG)

    deferred = run(portal, START)

    assert deferred.status == "deferred", (deferred.status, deferred.errors)
    assert any("daily request limit" in e for e in deferred.errors), deferred.errors
    assert "Traceback" not in deferred.to_text() and not any(r.exc_info for r in caplog.records)
    assert sum(emu.counts(status=429).values()) == 1  # a daily 429 is not retried within the run
    assert 0 < emu.count("tasks") < len(expected)

    emu.rate_limits.daily_limit = 650_000  # the portal's real budget; the day also rolls over
    resumed = run(portal, START + timedelta(days=1))

    assert resumed.status == "ok" and resumed.errors == [], resumed.errors
    assert resumed.counts["reconciled_missing"] == len(expected) - 200  # the refused third batch: found missing, sent
    assert task_summary(portal) == expected
    assert_converged(portal, expected)


class RealTimeClock:
    """The emulator's wall clock pinned to the simulated start, but real seconds passing (rate windows roll)."""

    def __init__(self, wall: datetime) -> None:
        self._wall0, self._mono0 = wall.timestamp(), time.monotonic()

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return self._wall0 + time.monotonic() - self._mono0


def test_client_side_throttle_avoids_429s(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """With HubSpot's free-tier limit (100 per 10 s) enforced, a run of more than 100 requests receives no 429 at all."""
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", 6_500, SEED, tier="free")  # over 100 requests (~70% of them enroll)
    emu.clock = RealTimeClock(START)
    emu.set_rate_limit("free")
    emu.reset_log()
    began = time.monotonic()

    report = run_sync(portal.loaded, now=START, env=env_for(emu))  # the adapter as the CLI builds it: real sleeps

    took = time.monotonic() - began
    print(f"throttled run: {emu.total_requests()} requests in {took:.1f}s, 429s: {emu.counts(status=429)}")
    assert report.status == "ok" and report.errors == []
    assert emu.total_requests() > 100
    assert emu.counts(status=429) == {}


def test_token_never_appears_in_logs_reports_errors_or_output(hubspot_emulator: HubSpotEmulator, tmp_path: Path,
                                                              caplog: Any) -> None:
    """The access token never shows in DEBUG logs, reports (text and JSON), exception messages and tracebacks,
    reprs of the adapter and its settings, or the CLI's stdout and stderr."""
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", 150, SEED)
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    emu.faults.fail_next(2, status=503)
    emu.faults.fail_next(1, status="drop", path_glob="*/tasks/batch/create")
    emu.faults.fail_next(1, status=429)
    ok = run_sync(portal.loaded, now=START, env=env_for(emu), crm=fast_crm(emu, portal.loaded))
    seen += [ok.to_text(), json.dumps(ok.to_dict(), default=str)]

    crm = fast_crm(emu, portal.loaded)
    seen += [repr(crm), str(crm), repr(crm.settings), repr(vars(crm)), repr(crm._token), str(crm._token)]
    emu.revoke_token(CANARY_TOKEN)
    try:
        list(crm.read_contacts(ReadContext(since=None)))
    except FatalCRMError as err:
        seen += [str(err), repr(err), "".join(traceback.format_exception(err))]
    else:
        raise AssertionError("a revoked token must stop the read")
    failed = run_sync(portal.loaded, now=START + timedelta(hours=1), env=env_for(emu))
    assert failed.status == "failed" and any("401" in e for e in failed.errors), failed.errors
    seen += [failed.to_text(), json.dumps(failed.to_dict(), default=str)]
    for record in caplog.records:
        seen.append(record.getMessage())
        seen.append(repr(record.__dict__))
        if record.exc_info:
            seen.append("".join(traceback.format_exception(*record.exc_info)))
    seen.append(caplog.text)

    emu.add_token(CANARY_TOKEN)
    env = env_for(emu) | {"PATH": "/usr/bin:/bin"}
    for args, now in ((["--json"], "2026-03-02T15:00:00Z"), (["--log-format", "json"], "2026-03-02T16:00:00Z"),
                      (["--log-format", "text"], "2026-03-02T17:00:00Z")):
        portal.at(datetime.fromisoformat(now.replace("Z", "+00:00")))
        emu.faults.fail_next(1, status=502)
        done = subprocess.run([sys.executable, "-m", "connector.cli", "sync", str(portal.path), "--now", now, *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        seen += [done.stdout, done.stderr]
    emu.revoke_token(CANARY_TOKEN)
    refused = subprocess.run([sys.executable, "-m", "connector.cli", "sync", str(portal.path), "--now",
                              "2026-03-02T18:00:00Z"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "401" in refused.stdout + refused.stderr, (refused.stdout, refused.stderr)
    seen += [refused.stdout, refused.stderr]

    assert len(seen) > 20
    for text in seen:
        assert CANARY_TOKEN not in text and "7f3c9a51" not in text, text[:2000]


def _lagging_drop(portal: Portal) -> None:
    """A dropped batch create, then reruns while search lags 90 s: longer than the 60 s the adapter assumes."""
    emu = portal.emu
    emu.faults.search_lag_seconds = 90
    emu.faults.fail_next(1, status="drop", path_glob="*/tasks/batch/create")
    for seconds in (0, 70, 200):
        assert run(portal, START + timedelta(seconds=seconds)).status == "ok"


def test_long_search_lag_with_unique_key_adopts_the_existing_task(hubspot_emulator: HubSpotEmulator,
                                                                   tmp_path: Path) -> None:
    """When search lags past the reconcile wait and the resend hits the unique task-key property, the sync adopts
    the existing task (no failed ledger rows, no stuck enrollments) and completions still advance every contact."""
    expected = reference_tasks(tmp_path / "reference", 150, SEED)
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", 150, SEED, unique_key=True)  # as `cadence setup hubspot` creates it

    _lagging_drop(portal)

    assert task_summary(portal) == expected
    assert_converged(portal, expected)
    portal.at(START + timedelta(days=1, hours=2))
    for _, (task_id, _) in portal.tasks().items():
        emu.complete_task(task_id)
    after = run(portal, START + timedelta(days=1, hours=3))
    assert after.status == "ok" and after.counts["created"] > 60  # (~70% of the 150 enroll: lead statuses already set)
    tasks = assert_converged(portal)
    store = portal.store()
    try:
        for cid, enrollments in store.enrollments({c for c, *_ in expected.values()}).items():
            (last,) = [e for e in enrollments if e.seq == max(x.seq for x in enrollments)]
            if last.status is EnrollmentStatus.ACTIVE:  # moved on to a new, open step: nobody is stuck
                assert tasks[last.open_task_key][1]["hs_task_status"] == "NOT_STARTED", (cid, last)
            elif last.reason.startswith("unreachable: "):  # no way to reach them, even after the to-do
                assert last.status is EnrollmentStatus.EXITED, (cid, last)
            else:
                assert last.status is EnrollmentStatus.FINISHED, (cid, last)
    finally:
        store.close()


def test_long_search_lag_without_unique_key_does_not_duplicate(hubspot_emulator: HubSpotEmulator,
                                                                tmp_path: Path) -> None:
    """Even where HubSpot does not enforce a unique task key, a lost create is never sent twice, however long search lags."""
    expected = reference_tasks(tmp_path / "reference", 150, SEED)
    portal = scenario(hubspot_emulator, tmp_path / "ws", 150, SEED, unique_key=False)

    _lagging_drop(portal)

    assert_converged(portal, expected)
