"""The Salesforce sync under a hostile network and Salesforce's limits: 5xx, resets, lost answers,
UNABLE_TO_LOCK_ROW, the daily allocation, and secrets that must never show. Mirrors
tests/test_hubspot_faults.py."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from support.hubspot import CANARY_TOKEN
from support.salesforce import (
    START,
    UPSERT,
    Org,
    assert_converged,
    crm_settings,
    env_for,
    prepare,
    reference_tasks,
    scenario,
    task_summary,
)

from connector.crm.base import FatalCRMError
from connector.crm.salesforce import SalesforceCRM
from connector.crm.salesforce.emulator import SalesforceEmulator
from connector.sync import run_sync
from connector.sync_report import SyncReport

ROOT = Path(__file__).resolve().parent.parent
CONTACTS, SEED = 450, 7  # 3 upserts of 200, 200, 50


def run(org: Org, now: datetime, sleeps: list[float] | None = None, **settings) -> SyncReport:
    """One in-process run whose backoff waits are recorded instead of slept."""
    org.at(now)
    crm = SalesforceCRM.from_config(org.loaded.config.crm.model_dump(exclude={"type"}) | settings, env=env_for(org.emu),
                                    sleep=sleeps.append if sleeps is not None else (lambda s: None), backoff=1.0)
    return run_sync(org.loaded, now=now, env=env_for(org.emu), crm=crm)


def test_5xx_resets_lost_answers_and_locks_converge(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """Under 5xx, resets, dropped answers and lock errors every run completes or ends cleanly, and reruns leave
    exactly the tasks a fault-free run leaves (one per key, none missing)."""
    expected = reference_tasks(tmp_path / "reference", CONTACTS, SEED)
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    emu.faults.fail_next(8, status=503, path_glob="*/composite")  # more than the retries of the opening read: the run gives up
    emu.faults.set_random(rate_5xx=0.15, rate_reset=0.1, rate_drop_after_write=0.3, seed=5)
    emu.lock_records = 30
    sleeps: list[float] = []
    statuses = []
    for minute in range(0, 30, 2):
        report = run(org, START + timedelta(minutes=minute), sleeps)
        assert report.status in ("ok", "failed"), (report.status, report.errors[:3])
        statuses.append(report.status)
        if report.status == "ok" and not report.counts["unknown"]:
            break
    emu.faults.clear()
    final = run(org, START + timedelta(minutes=40))
    print(f"runs under faults: {statuses}, then {final.status}; faults injected: {emu.faults.injected}, "
          f"backoff waits: {len(sleeps)}")
    assert statuses[0] == "failed" and "ok" in statuses
    assert final.status == "ok" and final.counts["created"] == 0
    assert sleeps and all(0 <= s <= 30 for s in sleeps)
    assert_converged(org)
    assert_same_tasks(task_summary(org), expected, slack=timedelta(minutes=40))


def assert_same_tasks(actual: dict, expected: dict, slack: timedelta) -> None:
    """The same keys, contacts, types and subjects; each due time no earlier than the reference's and at most
    `slack` later (a run that failed before planning plans later: a window already open starts later)."""
    from connector.crm.salesforce.mapping import parse_time

    assert set(actual) == set(expected), (len(set(expected) - set(actual)), len(set(actual) - set(expected)))
    for key, (contact, kind, due, subject) in expected.items():
        got = actual[key]
        assert (got[0], got[1], got[3]) == (contact, kind, subject), (key, got, expected[key])
        assert timedelta(0) <= parse_time(got[2]) - parse_time(due) <= slack, (key, got[2], due)


def test_lost_upsert_answer_is_resent_without_duplicating(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """An upsert applied but answered by a dropped connection is simply sent again: the External ID makes the
    second send an update, so one task per key and every ledger row created, in the same run."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    emu.faults.fail_next(1, status="drop", path_glob="PATCH /composite/*")
    report = run(org, START)
    assert report.status == "ok" and report.counts["created"] == CONTACTS and report.counts["unknown"] == 0
    assert emu.counts()[UPSERT] == 3 + 1
    assert len(assert_converged(org)) == CONTACTS


def test_unconfirmed_upsert_is_reconciled_by_key_next_run(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """When every retry of an upsert loses its answer, the batch is left unknown; the next run finds the tasks by
    key with one SOQL query (no search lag in Salesforce) and sends nothing again."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", 150, SEED)
    emu.faults.fail_next(10, status="drop", path_glob="PATCH /composite/*")
    first = run(org, START)
    assert first.counts["unknown"] == 150 and len(emu.tasks()) == 150  # applied, never confirmed
    emu.faults.clear()
    emu.reset_log()
    second = run(org, START + timedelta(minutes=5))
    assert second.status == "ok" and second.counts["reconciled_found"] == 150, second.counts
    assert emu.counts().get(UPSERT, 0) == 0
    assert len(assert_converged(org)) == 150


def test_lock_errors_are_retried_with_backoff(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """UNABLE_TO_LOCK_ROW on some records is retried for those records only, after a backoff; a whole request
    refused with it is retried too; the run ends with every task created."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", 250, SEED)
    emu.lock_records = 7
    emu.lock_requests = 1
    sleeps: list[float] = []
    report = run(org, START, sleeps)
    assert report.status == "ok" and report.counts["created"] == 250, report.errors[:3]
    assert emu.counts()[UPSERT] == 2 + 1 + 1  # two batches, the whole-request lock, one resend of the locked rows
    assert len(sleeps) == 2
    assert len(assert_converged(org)) == 250


def test_request_limit_exceeded_defers_and_the_next_run_resumes(salesforce_emulator: SalesforceEmulator,
                                                               tmp_path: Path) -> None:
    """403 REQUEST_LIMIT_EXCEEDED mid-push ends the run cleanly (deferred); once the rolling 24 hours free up
    requests the next run reconciles and finishes: one task per key."""
    expected = reference_tasks(tmp_path / "reference", CONTACTS, SEED)
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    emu.exhaust_after = 3  # the opening composite read (contacts, tasks, users), 2 upserts; then other integrations use up the rest
    first = run(org, START, daily_share=1.0)
    assert first.status == "deferred" and "REQUEST_LIMIT_EXCEEDED" in first.errors[-1]
    assert len(emu.tasks()) == 400
    emu.api_used = 0  # a day later the rolling 24 hours have freed up
    second = run(org, START + timedelta(days=1), daily_share=1.0)
    assert second.status == "ok", second.errors
    assert_converged(org)
    assert_same_tasks(task_summary(org), expected, slack=timedelta(0))


def test_daily_share_keeps_the_run_within_its_budget(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> None:
    """With 6 requests left in the org and daily_share 0.5, the run stops itself after 3, before Salesforce
    refuses anything; the next run (more allocation) finishes."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    emu.api_max, emu.api_used = 100, 94
    first = run(org, START, daily_share=0.5)
    assert first.status == "deferred" and "daily_share" in first.errors[-1]
    assert emu.api_used == 97 and not emu.counts(status=403)
    emu.api_used = 0
    assert run(org, START + timedelta(days=1), daily_share=0.5).status == "ok"
    assert len(assert_converged(org)) == CONTACTS


def test_secrets_never_appear_in_logs_reports_errors_or_output(salesforce_emulator: SalesforceEmulator, tmp_path: Path,
                                                               caplog) -> None:
    """The client secret and a session id (the canary) stay out of reprs, logs, reports, errors and CLI output,
    including when sign-in fails."""
    from support.secret_scan import scan_text

    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", 20, SEED)
    caplog.set_level(logging.DEBUG)
    crm = SalesforceCRM.from_config(crm_settings(), env=env_for(emu))
    scan_text(repr(crm) + repr(crm._credentials) + repr(crm.settings), "repr")
    report = run(org, START)
    scan_text(json.dumps(report.to_dict(), default=str) + report.to_text(), "report")
    emu.consumer_secret = "rotated"
    failed = run(org, START + timedelta(hours=1))
    assert failed.status == "failed" and "sign-in failed" in failed.errors[-1]
    scan_text(json.dumps(failed.to_dict(), default=str), "failed report")
    env = dict(env_for(emu), PATH="/usr/bin:/bin")
    proc = subprocess.run([sys.executable, "-m", "connector.cli", "sync", str(org.path), "--json",
                           "--now", (START + timedelta(hours=2)).isoformat()], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    scan_text(proc.stdout + proc.stderr, "cadence sync output")
    assert proc.returncode == 1 and "invalid client credentials" in proc.stdout + proc.stderr, proc.stdout[-600:]
    assert CANARY_TOKEN not in caplog.text


def test_missing_setting_or_secret_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(FatalCRMError, match="SALESFORCE_CONSUMER_SECRET"):
        SalesforceCRM.from_config(crm_settings(), env={"SALESFORCE_CONSUMER_KEY": "k"})
    from connector.crm.base import ConfigError

    with pytest.raises(ConfigError, match=r"crm\.domain"):
        SalesforceCRM.from_config({"auth": "client_credentials"}, env={})
    with pytest.raises(ConfigError, match=r"crm\.username"):
        SalesforceCRM.from_config({"auth": "jwt"}, env={})
    with pytest.raises(ConfigError, match=r"crm\.channel_types\.fax"):
        SalesforceCRM.from_config({"auth": "session", "channel_types": {"fax": "Other"}}, env={})
    prepare  # noqa: B018  (imported for symmetry with the sync tests)
