"""One sync run: idempotence, unknown writes reconciled (never blindly resent), plan writes nothing, stops and failures."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.conformance import SEED_CONTACTS
from support.local import LocalRecruiter, read_csv, seed_local

from connector.commands.sync import plan_command, status_command, sync_command
from connector.configfile import load_config
from connector.crm.base import CRMError, WriteResult
from connector.crm.local import LocalCRM
from connector.cursors import LAG_BOUND
from connector.logs import JsonFormatter, KeyValueFormatter, RedactSecrets, fields, setup_logging
from connector.runlock import RunLock
from connector.service import Schedule, parse_every, serve
from connector.store_sqlite import SQLiteStore
from connector.sync import LockHeld, run_sync

ROOT = Path(__file__).resolve().parent.parent
MONDAY = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)  # 09:00 in New York

CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv, unique_keys: false, max_batch: %(batch)d}
calendar: {timezone: America/New_York, country: US}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}", skip_if: [no_phone]}
      - {id: email, channel: email, wait: 2 business days, subject: "Email {{contact.first_name}}"}
"""


def setup(tmp_path: Path, batch: int = 500, contacts: list[dict[str, str]] | None = None) -> Any:
    seed_local(tmp_path, contacts)
    (tmp_path / "cadence.yaml").write_text(CONFIG % {"batch": batch}, encoding="utf-8")
    return load_config(tmp_path / "cadence.yaml")


class FlakyCRM:
    """The local CRM behind a network that can drop responses, lose requests, or fail."""

    name = "flaky"

    def __init__(self, inner: LocalCRM, *, lag: float = 0.0, mode: str = ""):
        self.inner = inner
        self.capabilities = replace(inner.capabilities, search_lag_seconds=lag)
        self.mode = mode
        self.create_calls: list[list[str]] = []
        self.find_calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_tasks(self, tasks: Sequence[Any]) -> list[WriteResult]:
        self.create_calls.append([t.key for t in tasks])
        if self.mode == "drop_response":  # the CRM acted; the answer never arrived
            self.inner.create_tasks(tasks)
            return [WriteResult(t.key, False, error="read timed out", unknown=True) for t in tasks]
        if self.mode == "lose_request":  # the request never arrived
            return [WriteResult(t.key, False, error="connection reset", unknown=True) for t in tasks]
        if self.mode == "retryable":
            return [WriteResult(t.key, False, error="503 service unavailable", retryable=True) for t in tasks]
        if self.mode == "raise":
            raise CRMError("connection refused by crm.example.com")
        return self.inner.create_tasks(tasks)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        self.find_calls.append(list(keys))
        return self.inner.find_tasks(keys)


def local(loaded: Any) -> LocalCRM:
    return LocalCRM(loaded.config.crm.model_dump(exclude={"type"}), base_dir=loaded.directory)


def task_rows(tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "tasks.csv"
    return read_csv(path) if path.exists() else []


def ledger(tmp_path: Path, *statuses: str) -> list[Any]:
    store = SQLiteStore.snapshot(tmp_path / "cadence-state.sqlite", "local")
    try:
        return store.ledger(list(statuses or ("pending", "created", "unknown", "closed", "failed")))
    finally:
        store.close()


# ---------------------------------------------------------------------------- idempotence


def test_a_second_sync_with_no_change_creates_nothing(tmp_path: Path) -> None:
    """Sync twice with nothing changed: the first run creates one task per contact, the second none."""
    loaded = setup(tmp_path)
    first = run_sync(loaded, now=MONDAY)
    assert first.status == "ok" and first.counts["created"] == len(SEED_CONTACTS)
    second = run_sync(loaded, now=MONDAY + timedelta(hours=1))
    assert second.status == "ok" and second.counts["created"] == 0
    assert second.counts["contacts_planned"] == 0  # an idle run plans nobody
    rows = task_rows(tmp_path)
    assert len(rows) == len({r["key"] for r in rows}) == len(SEED_CONTACTS)


def test_the_next_step_follows_the_completion_of_the_previous_one(tmp_path: Path) -> None:
    """When the recruiter marks the call done, the next run creates the email 2 business days later, and only that."""
    loaded = setup(tmp_path)
    run_sync(loaded, now=MONDAY)
    call = next(r for r in task_rows(tmp_path) if r["contact_id"] == "c1")
    LocalRecruiter(tmp_path).complete_task(call["key"], completed_at=MONDAY + timedelta(hours=1))
    report = run_sync(loaded, now=MONDAY + timedelta(hours=2))
    assert [(i.contact_id, i.channel) for i in report.created] == [("c1", "email")]
    assert report.created[0].due_text.startswith("Wed 2026-03-04")
    assert run_sync(loaded, now=MONDAY + timedelta(hours=3)).counts["created"] == 0


def test_a_reply_closes_the_open_task(tmp_path: Path) -> None:
    """A contact who replies finishes the enrollment and the open task is cancelled in the CRM, once."""
    loaded = setup(tmp_path)
    run_sync(loaded, now=MONDAY)
    LocalRecruiter(tmp_path).update_contact("c2", last_reply_at="2026-03-02T16:00:00Z")
    report = run_sync(loaded, now=MONDAY + timedelta(hours=3))
    assert [i.contact_id for i in report.closed] == ["c2"]
    row = next(r for r in task_rows(tmp_path) if r["contact_id"] == "c2")
    assert row["status"] == "cancelled" and "enrollment ended" in row["closed_reason"]
    assert run_sync(loaded, now=MONDAY + timedelta(hours=4)).counts["closed"] == 0


def test_creates_go_out_in_batches_of_max_batch(tmp_path: Path) -> None:
    """Creates are sent in batches no larger than the CRM's max_batch."""
    loaded = setup(tmp_path, batch=2)
    crm = FlakyCRM(local(loaded))
    report = run_sync(loaded, now=MONDAY, crm=crm)
    assert [len(c) for c in crm.create_calls] == [2, 1]
    assert report.counts["created"] == 3


# -------------------------------------------------------------------------- unknown writes


def test_an_unknown_write_is_reconciled_not_resent(tmp_path: Path) -> None:
    """A create whose response was lost stays `unknown`; the next run finds it in the CRM and does not send it again."""
    loaded = setup(tmp_path)
    crm = FlakyCRM(local(loaded), mode="drop_response")
    report = run_sync(loaded, now=MONDAY, crm=crm)
    assert report.counts["created"] == 0 and report.counts["unknown"] == 3
    assert {r.status for r in ledger(tmp_path)} == {"unknown"}
    crm.mode = ""
    crm.create_calls.clear()
    again = run_sync(loaded, now=MONDAY + timedelta(minutes=20), crm=crm)
    assert again.counts["reconciled_found"] == 3 and crm.create_calls == []
    assert {r.status for r in ledger(tmp_path)} == {"created"}
    rows = task_rows(tmp_path)
    assert len(rows) == len({r["key"] for r in rows}) == 3  # unique_keys is off: a resend would show


def test_an_unknown_write_the_crm_never_got_is_sent_again(tmp_path: Path) -> None:
    """A create that never reached the CRM is not found on reconciliation and is sent again, once."""
    loaded = setup(tmp_path)
    crm = FlakyCRM(local(loaded), mode="lose_request")
    run_sync(loaded, now=MONDAY, crm=crm)
    assert task_rows(tmp_path) == []
    crm.mode = ""
    report = run_sync(loaded, now=MONDAY + timedelta(minutes=20), crm=crm)
    assert report.counts["reconciled_missing"] == 3 and report.counts["created"] == 3
    assert len(task_rows(tmp_path)) == 3


def test_an_unknown_write_younger_than_the_search_lag_waits(tmp_path: Path) -> None:
    """With search lag, an unknown write is neither searched for nor resent until the lag has passed."""
    loaded = setup(tmp_path)
    crm = FlakyCRM(local(loaded), lag=600, mode="lose_request")
    run_sync(loaded, now=MONDAY, crm=crm)
    crm.mode = ""
    crm.create_calls.clear()
    early = run_sync(loaded, now=MONDAY + timedelta(minutes=5), crm=crm)
    assert crm.find_calls == [] and crm.create_calls == [] and early.counts["unknown_waiting"] == 3
    late = run_sync(loaded, now=MONDAY + timedelta(minutes=11), crm=crm)
    assert late.counts["created"] == 3 and len(crm.find_calls) == 1


def test_a_retryable_failure_is_retried_next_run(tmp_path: Path) -> None:
    """A retryable failure goes back to pending with one more attempt, and the next run sends it."""
    loaded = setup(tmp_path)
    crm = FlakyCRM(local(loaded), mode="retryable")
    report = run_sync(loaded, now=MONDAY, crm=crm)
    assert len([e for e in report.errors if "(will retry)" in e]) == 3 and report.status == "incomplete"
    assert {(r.status, r.attempts) for r in ledger(tmp_path)} == {("pending", 1)}
    crm.mode = ""
    assert run_sync(loaded, now=MONDAY + timedelta(minutes=1), crm=crm).counts["created"] == 3


def test_a_crm_failure_mid_push_fails_the_run_and_the_next_run_finishes(tmp_path: Path) -> None:
    """A CRM error during a batch fails the run (rows stay `unknown`); the next run reconciles and completes it."""
    loaded = setup(tmp_path)
    crm = FlakyCRM(local(loaded), mode="raise")
    report = run_sync(loaded, now=MONDAY, crm=crm)
    assert report.status == "failed" and not report.ok
    assert "connection refused" in report.errors[0]
    crm.mode = ""
    again = run_sync(loaded, now=MONDAY + timedelta(minutes=1), crm=crm)
    assert again.status == "ok" and again.counts["reconciled_missing"] == 3 and again.counts["created"] == 3
    assert len(task_rows(tmp_path)) == 3


def test_secrets_never_reach_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error message carrying a token from the environment is redacted in the report and its JSON."""
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-na1-0000-super-secret-value")
    loaded = setup(tmp_path)
    crm = FlakyCRM(local(loaded), mode="raise")
    crm.create_tasks = lambda tasks: (_ for _ in ()).throw(CRMError("auth failed for pat-na1-0000-super-secret-value"))
    report = run_sync(loaded, now=MONDAY, crm=crm)
    text = report.to_text() + json.dumps(report.to_dict(), default=str)
    assert "super-secret" not in text and "[redacted]" in text


# ---------------------------------------------------------------------- plan, stop, lock


def test_plan_writes_nothing(tmp_path: Path) -> None:
    """plan_only reports the creates a sync would make but creates no state file, no tasks file, no contact."""
    loaded = setup(tmp_path)
    contacts_before = (tmp_path / "contacts.csv").read_bytes()
    report = run_sync(loaded, now=MONDAY, plan_only=True)
    assert report.plan_only and report.counts["created"] == 3
    assert not (tmp_path / "cadence-state.sqlite").exists() and not (tmp_path / "tasks.csv").exists()
    assert (tmp_path / "contacts.csv").read_bytes() == contacts_before
    synced = run_sync(loaded, now=MONDAY)
    assert sorted(i.key for i in synced.created) == sorted(i.key for i in report.created)


def test_plan_after_sync_leaves_state_untouched(tmp_path: Path) -> None:
    """A plan run on existing state changes neither the state file nor tasks.csv nor contacts.csv."""
    loaded = setup(tmp_path)
    run_sync(loaded, now=MONDAY)
    call = next(r for r in task_rows(tmp_path) if r["contact_id"] == "c1")
    LocalRecruiter(tmp_path).complete_task(call["key"], outcome="referral", referred_first_name="Kay")
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".csv", ".sqlite")}
    report = run_sync(loaded, now=MONDAY + timedelta(hours=2), plan_only=True)
    assert report.counts["created"] >= 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".csv", ".sqlite")} == files


def test_a_stop_request_releases_unsent_work(tmp_path: Path) -> None:
    """With stop set before pushing, intents are kept pending (not unknown) and the next run sends them."""
    loaded = setup(tmp_path)
    stop = threading.Event()

    class StopAfterPlanning(FlakyCRM):
        def close_tasks(self, tasks: Sequence[Any]) -> list[WriteResult]:
            return self.inner.close_tasks(tasks)

    crm = StopAfterPlanning(local(loaded))
    original = crm.inner.list_owners

    def owners_then_stop() -> list[Any]:
        stop.set()  # SIGTERM arrives while planning
        return original()

    crm.inner.list_owners = owners_then_stop  # type: ignore[method-assign]
    report = run_sync(loaded, now=MONDAY, crm=crm, stop=stop)
    assert report.status == "stopped" and not report.ok and crm.create_calls == []
    assert {r.status for r in ledger(tmp_path)} == {"pending"}
    assert run_sync(loaded, now=MONDAY + timedelta(minutes=1)).counts["created"] == 3


def test_a_held_lock_stops_a_second_run_touching_nothing(tmp_path: Path) -> None:
    """While another run holds the account lock, run_sync raises LockHeld and writes nothing."""
    loaded = setup(tmp_path)
    holder = RunLock.for_state(tmp_path / "cadence-state.sqlite", "local")
    holder.acquire("local")
    try:
        with pytest.raises(LockHeld, match=r"another sync for account 'local' is running \(pid \d+"):
            run_sync(loaded, now=MONDAY)
    finally:
        holder.release()
    assert not (tmp_path / "cadence-state.sqlite").exists() and not (tmp_path / "tasks.csv").exists()


def test_cursors_never_pass_the_run_start(tmp_path: Path) -> None:
    """After a run the read cursors stand at most LAG_BOUND before the run's start (what a lagging search
    index may not have shown yet is read again), never later (connector/cursors.py)."""
    loaded = setup(tmp_path)
    run_sync(loaded, now=MONDAY)
    store = SQLiteStore.snapshot(tmp_path / "cadence-state.sqlite", "local")
    for name in ("contacts", "tasks"):
        cursor = store.cursor(name)
        assert cursor is not None and MONDAY - LAG_BOUND <= cursor <= MONDAY, (name, cursor)
    runs = store.runs()
    assert runs[0].status == "ok" and runs[0].counts["created"] == 3
    store.close()


def test_bad_contact_rows_are_reported_and_the_rest_synced(tmp_path: Path) -> None:
    """A contact row without an id shows up in the report's bad records; the others get their tasks."""
    contacts = SEED_CONTACTS + [{"id": "", "first_name": "Nobody", "lifecycle_stage": "lead"}]
    loaded = setup(tmp_path, contacts=contacts)
    report = run_sync(loaded, now=MONDAY)
    assert [(b.source, b.field) for b in report.bad_records] == [("contacts.csv:5", "id")]
    assert report.counts["created"] == 3
    assert "contacts.csv:5: id: no id: row skipped" in report.to_text()


def test_report_text_and_json(tmp_path: Path) -> None:
    """The report prints created tasks with contact, channel, local due time with weekday, and subject; JSON has the same."""
    loaded = setup(tmp_path)
    report = run_sync(loaded, now=MONDAY)
    text = report.to_text()
    assert "created (3):" in text
    assert "Ada Lovelace (c1)  call      Mon 2026-03-02 09:00 America/New_York  Call Ada" in text
    data = json.loads(json.dumps(report.to_dict(), default=str))
    assert data["counts"]["created"] == 3 and data["status"] == "ok"
    assert {c["due"] for c in data["created"]} >= {"Mon 2026-03-02 09:00 America/New_York"}


# ------------------------------------------------------------------- commands and service



def test_sync_command_prints_the_report_and_exits_0(tmp_path: Path) -> None:
    """`cadence sync CONFIG --now` prints created tasks with local due times and exits 0; --json gives the report."""
    setup(tmp_path)
    runner = CliRunner()
    result = runner.invoke(sync_command, [str(tmp_path / "cadence.yaml"), "--now", "2026-03-02T14:00:00Z", "--log-format", "json"])
    assert result.exit_code == 0, result.stderr
    assert "Created 3 tasks" in result.stdout and "Mon 02 Mar 09:00 EST" in result.stdout
    assert json.loads(result.stderr.splitlines()[0])["msg"] == "run started"
    again = runner.invoke(sync_command, [str(tmp_path / "cadence.yaml"), "--now", "2026-03-02T15:00:00Z", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["created"] == []


def test_plan_command_lists_what_would_happen(tmp_path: Path) -> None:
    """`cadence plan --json` lists the would-be creates with reasons and leaves no state behind."""
    setup(tmp_path)
    result = CliRunner().invoke(plan_command, [str(tmp_path / "cadence.yaml"), "--now", "2026-03-02T14:00:00Z", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["plan_only"] and len(data["created"]) == 3 and all(c["reason"] for c in data["created"])
    assert not (tmp_path / "cadence-state.sqlite").exists()


def test_config_errors_exit_2_one_problem_per_line(tmp_path: Path) -> None:
    """A bad config prints each FILE:LINE:COL problem on its own line, exit 2, no traceback."""
    seed_local(tmp_path)
    (tmp_path / "bad.yaml").write_text("cadences:\n  - id: a\n    name: A\n    steps:\n      - {id: s, channel: fax, subject: x}\n", encoding="utf-8")
    for command in (sync_command, plan_command, status_command):
        result = CliRunner().invoke(command, [str(tmp_path / "bad.yaml")])
        assert result.exit_code == 2
        assert "bad.yaml:5:" in result.stderr and "Traceback" not in result.stderr


def test_bad_crm_settings_and_flags_exit_2(tmp_path: Path) -> None:
    """A missing contacts file or an unreadable --now is bad input: exit 2 with a message."""
    setup(tmp_path)
    (tmp_path / "contacts.csv").unlink()
    result = CliRunner().invoke(sync_command, [str(tmp_path / "cadence.yaml")])
    assert result.exit_code == 2 and "crm.contacts: file not found" in result.stderr
    result = CliRunner().invoke(sync_command, [str(tmp_path / "cadence.yaml"), "--now", "yesterday"])
    assert result.exit_code == 2 and "--now" in result.stderr


def test_status_command_summarises_state(tmp_path: Path) -> None:
    """`cadence status` shows enrollments by cadence and step, tasks per owner and the last runs."""
    loaded = setup(tmp_path)
    run_sync(loaded, now=MONDAY)
    result = CliRunner().invoke(status_command, [str(tmp_path / "cadence.yaml"), "--now", "2026-03-05T00:00:00Z"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split() == ["outreach", "v1", "call", "active", "3"] for line in lines), result.stdout
    assert any(line.split()[:3] == ["Dana", "Whitfield", "America/New_York"] for line in lines)  # o1, by name
    assert any(line.split() == ["#1", "Mon", "02", "Mar", "09:00", "EST", "ok", "created", "3"] for line in lines)
    data = json.loads(CliRunner().invoke(status_command, [str(tmp_path / "cadence.yaml"), "--json"]).stdout)
    assert data["runs"][0]["counts"]["created"] == 3


def test_parse_every_and_schedules() -> None:
    """Intervals read as people write them; cron expressions are validated; exactly one of the two is given."""
    assert parse_every("15m") == timedelta(minutes=15) and parse_every("1h30m") == timedelta(minutes=90)
    assert parse_every("45") == timedelta(seconds=45)
    for bad in ("soon", "15x", "0s"):
        with pytest.raises(ValueError):
            parse_every(bad)
    cron = Schedule(cron="*/15 * * * *")
    assert cron.next_after(MONDAY + timedelta(minutes=1)) == MONDAY + timedelta(minutes=15)
    with pytest.raises(ValueError):
        Schedule(cron="every day")
    with pytest.raises(ValueError):
        Schedule(every=timedelta(minutes=1), cron="* * * * *")


def test_serve_survives_a_failed_run_and_stops_on_request() -> None:
    """The service loop logs a crashing run, keeps going, and stops as soon as the stop event is set."""
    stop = threading.Event()
    calls: list[int] = []

    def run_once(path: Path, event: threading.Event) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CRM exploded")
        if len(calls) == 3:
            event.set()
        return "ok"

    runs = serve(Path("x.yaml"), Schedule(every=timedelta(milliseconds=10)), stop=stop, run_once=run_once)
    assert runs == 3 and len(calls) == 3


def test_serve_exits_quickly_on_sigterm(tmp_path: Path) -> None:
    """`cadence serve --every 1s` runs syncs, and on SIGTERM exits 0 within a few seconds."""
    setup(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "serve", str(tmp_path / "cadence.yaml"), "--every", "1s"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (tmp_path / "tasks.csv").exists():
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0 and time.monotonic() - started < 5
    assert 'msg="run done"' in err and 'msg="service stopped"' in err
    keys = [r["key"] for r in task_rows(tmp_path)]
    assert len(keys) == len(set(keys)) == 3


def test_logs_are_key_value_or_json_and_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Log lines come out as key=value or JSON, and a secret env value never appears, even in a traceback."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-eu1-abcdef12-3456")
    for formatter, check in ((KeyValueFormatter(), 'msg=sent token=[redacted] n=2'), (JsonFormatter(), '"token": "[redacted]"')):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(RedactSecrets())
        logger = logging.getLogger(f"test.logs.{type(formatter).__name__}")
        logger.addHandler(handler)
        logger.propagate = False
        logger.warning("sent", extra=fields(token="pat-eu1-abcdef12-3456", n=2))
        try:
            raise ValueError("bad token pat-eu1-abcdef12-3456")
        except ValueError:
            logger.exception("failed")
        out = stream.getvalue()
        assert check in out and "abcdef12" not in out and "[redacted]" in out


def test_setup_logging_installs_one_handler() -> None:
    """Calling setup_logging twice leaves a single crm-cadence handler on the root logger."""
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging("json", stream=io.StringIO())
        setup_logging("text", stream=io.StringIO())
        assert len([h for h in root.handlers if getattr(h, "_cadence", False)]) == 1
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)


def test_contact_removed_from_the_csv_exits_and_its_task_is_closed(tmp_path):
    """A contact whose row is deleted from contacts.csv exits its cadence and its open task is closed (daily sweep)."""
    from datetime import datetime, timedelta, timezone

    from support.conformance import SEED_CONTACTS
    from support.local import CONTACT_HEADER, read_csv, seed_local, write_csv

    from connector.configfile import load_config
    from connector.sync import run_sync

    seed_local(tmp_path)
    (tmp_path / "cadence.yaml").write_text(
        "crm: {type: local, contacts: contacts.csv, tasks: tasks.csv}\n"
        "cadences:\n  - id: c\n    name: C\n    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}\n"
        "    steps: [{id: call, channel: call, subject: Call}]\n", encoding="utf-8")
    loaded = load_config(tmp_path / "cadence.yaml")
    now = datetime(2026, 3, 2, 14, tzinfo=timezone.utc)
    assert run_sync(loaded, now=now).counts["created"] == len(SEED_CONTACTS)
    write_csv(tmp_path / "contacts.csv", CONTACT_HEADER, SEED_CONTACTS[1:])
    report = run_sync(loaded, now=now + timedelta(days=1, minutes=1))
    assert report.counts["contacts_gone"] == 1
    tasks = {r["contact_id"]: r for r in read_csv(tmp_path / "tasks.csv")}
    assert tasks[SEED_CONTACTS[0]["id"]]["status"] == "cancelled"
    assert all(tasks[c["id"]]["status"] == "open" for c in SEED_CONTACTS[1:])
