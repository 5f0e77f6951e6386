"""A fleet on a real PostgreSQL: 6 accounts (each its own local CRM folder), 3 worker processes,
periods of a few seconds (procrastinate's periodic tasks), one worker SIGKILLed mid-push.

Checked from the state itself (`fleet_runs`: every attempt's account, period, worker and
wall-clock start and end): each period of each account ran exactly once to its end, no two
runs of one account overlapped, the killed worker's job was finished by another worker, and
each account ends with exactly the tasks of a clean single-worker run over the same periods.

The test waits for events (rows in the state, files on disk), never for fixed durations, so a
slow machine makes it slower, not flaky.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from support.local import CONFIG, CONTACTS, read_csv, seed_local

from connector.configfile import load_config
from connector.fleet.fleetfile import FleetFileError, every_to_cron, load_fleet
from connector.sync import run_sync

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = [f"acct{n}" for n in range(1, 7)]
PERIOD = 6  # seconds
PERIODS = 3


def make_fleet(directory: Path, url: str, every: str = f"{PERIOD}s") -> Path:
    for name in ACCOUNTS:
        folder = directory / name
        folder.mkdir(parents=True)
        seed_local(folder, CONTACTS)
        (folder / "cadence.yaml").write_text(f"account: {name}\n" + CONFIG, encoding="utf-8")
    lines = ["state: {env: CADENCE_STATE}", "accounts:"]
    lines += [f"  - {{name: {name}, config: {name}/cadence.yaml, every: {every}}}" for name in ACCOUNTS]
    (directory / "fleet.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory / "fleet.yaml"


def start_worker(fleet: Path, url: str, log: Path, pause_at: str = "") -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADENCE_TEST_")} | {"CADENCE_STATE": url}
    launcher = [sys.executable, str(ROOT / "tests" / "support" / "launch.py")]
    if pause_at:
        launcher += ["--pause-at", pause_at]
    return subprocess.Popen([*launcher, "--", "worker", str(fleet), "--heartbeat", "0.5", "--stalled-after", "3"],
                            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def runs(url: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as db:
        if not db.execute("SELECT to_regclass('fleet_runs') AS t").fetchone()["t"]:
            return []
        return list(db.execute("SELECT * FROM fleet_runs ORDER BY id"))


def wait_for(condition, what: str, timeout: float = 240.0, procs: list[subprocess.Popen[bytes]] = (), logs=()):  # type: ignore[assignment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def test_fleet_syncs_each_period_once_and_survives_a_killed_worker(tmp_path: Path, pg_url: str) -> None:
    fleet = make_fleet(tmp_path / "fleet", pg_url)
    logs = [tmp_path / f"worker{n}.log" for n in (1, 2, 3)]
    # worker 1 pauses mid-push (after its first batch of creates reached the CRM) in whatever job it takes
    first = start_worker(fleet, pg_url, logs[0], pause_at="between_batches:120")
    workers = [first]
    try:
        victim = wait_for(lambda: next((r for r in runs(pg_url) if r["status"] == "running" and
                                        (tmp_path / "fleet" / r["account"] / "tasks.csv").exists()), None),
                          "worker 1 to be in the middle of a push", logs=logs)
        workers += [start_worker(fleet, pg_url, logs[1]), start_worker(fleet, pg_url, logs[2])]
        time.sleep(0.5)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed_at = datetime.now(timezone.utc)
        pushed = len(read_csv(tmp_path / "fleet" / victim["account"] / "tasks.csv"))

        def enough() -> bool:
            done = Counter(r["account"] for r in runs(pg_url) if r["status"] == "ok")
            return all(done[a] >= PERIODS for a in ACCOUNTS)

        wait_for(enough, f"{PERIODS} periods of every account", logs=logs)
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        for w in workers[1:]:
            assert w.wait(timeout=120) == 0  # SIGTERM: the jobs in flight end, the worker exits 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()

    rows = runs(pg_url)
    cron = every_to_cron(f"{PERIOD}s")
    assert cron.endswith(f"*/{PERIOD}")
    for account in ACCOUNTS:
        mine = [r for r in rows if r["account"] == account]
        ok = sorted(r["period"] for r in mine if r["status"] == "ok")
        ran = sorted({r["period"] for r in mine if r["status"] in ("ok", "stopped")})  # stopped: by the final SIGTERM
        # every period ran to its end exactly once, and the periods follow each other
        assert len(ok) == len(set(ok)) >= PERIODS, (account, mine)
        assert all(b - a == PERIOD for a, b in itertools.pairwise(ran)), (account, ran)
        assert set(ran) - set(ok) <= {max(ran)}, (account, mine)  # only the last period may have been stopped
        # no two runs of one account overlap in time (the killed run ended when its worker died)
        spans = sorted((r["started_at"], r["ended_at"] or killed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) for r in mine)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, (account, spans)
        # only the killed job's period has a second attempt, by another worker
        attempts = Counter(r["period"] for r in mine)
        if account == victim["account"]:
            assert attempts[victim["period"]] == 2
            retried = [r for r in mine if r["period"] == victim["period"]]
            assert retried[0]["status"] == "running" and retried[1]["status"] == "ok"
            assert retried[1]["worker"] != retried[0]["worker"] and retried[1]["job_id"] == retried[0]["job_id"]
        assert all(n == 1 for p, n in attempts.items() if not (account == victim["account"] and p == victim["period"]))

    # each account holds exactly the tasks of a clean single-worker run over the same periods
    assert 0 < pushed < len(read_csv(tmp_path / "fleet" / victim["account"] / "tasks.csv"))
    fleet_file = load_fleet(fleet, env={"CADENCE_STATE": pg_url})
    for account in ACCOUNTS:
        periods = sorted({r["period"] for r in rows if r["account"] == account and r["status"] in ("ok", "stopped")})
        stopped = {r["period"] for r in rows if r["account"] == account and r["status"] == "stopped"} - {
            r["period"] for r in rows if r["account"] == account and r["status"] == "ok"}
        for period in stopped:  # a run stopped by SIGTERM hands its period back: finish it as a worker would
            report = run_sync(load_config(fleet_file.account(account).config), state=fleet_file.state,
                              now=datetime.fromtimestamp(period, tz=timezone.utc))
            assert report.status == "ok"
        clean = tmp_path / "clean" / account
        clean.mkdir(parents=True)
        seed_local(clean, CONTACTS)
        (clean / "cadence.yaml").write_text(f"account: {account}\n" + CONFIG, encoding="utf-8")
        for period in periods:
            report = run_sync(load_config(clean / "cadence.yaml"), now=datetime.fromtimestamp(period, tz=timezone.utc))
            assert report.status == "ok"
        fleet_tasks = read_csv(tmp_path / "fleet" / account / "tasks.csv")
        clean_tasks = read_csv(clean / "tasks.csv")
        assert len({t["key"] for t in fleet_tasks}) == len(fleet_tasks)  # none duplicated
        project = lambda tasks: sorted((t["key"], t["contact_id"], t["channel"], t["due_utc"], t["subject"]) for t in tasks)  # noqa: E731
        assert project(fleet_tasks) == project(clean_tasks), account

    status = subprocess.run([sys.executable, "-m", "connector.cli", "fleet", "status", str(fleet), "--json"], cwd=ROOT,
                            env=os.environ | {"CADENCE_STATE": pg_url}, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert sorted(row["account"] for row in __import__("json").loads(status.stdout)) == ACCOUNTS


def test_a_bad_fleet_file_is_located(tmp_path: Path) -> None:
    """Every problem of a fleet file is reported with its line; the worker exits 2 without a traceback."""
    (tmp_path / "a.yaml").write_text("crm: {type: local}\n", encoding="utf-8")
    bad = tmp_path / "fleet.yaml"
    bad.write_text("state: sqlite.db\naccounts:\n  - {name: a, config: a.yaml, every: 7m}\n"
                   "  - {name: a, config: missing.yaml, cron: 'not cron'}\n  - {name: b, config: a.yaml}\n", encoding="utf-8")
    with pytest.raises(FleetFileError) as caught:
        load_fleet(bad, env={})
    text = "\n".join(caught.value.problems)
    assert f"{bad}:1: state: a fleet shares its state on PostgreSQL" in text
    assert f"{bad}:3: accounts[0].every: '7m' does not divide" in text
    assert f"{bad}:4: accounts[1].name: 'a' is listed twice" in text
    assert "accounts[1].config: no file" in text and "accounts[1].cron: 'not cron' is not a cron expression" in text
    assert f"{bad}:5: accounts[2]: give exactly one of `every:` and `cron:`" in text
    result = subprocess.run([sys.executable, "-m", "connector.cli", "worker", str(bad)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr and f"{bad}:3:" in result.stderr


def test_an_unreachable_state_is_one_line_and_keeps_the_password(tmp_path: Path) -> None:
    """A worker whose PostgreSQL does not answer says so in one line, without the password, exit 1."""
    (tmp_path / "a.yaml").write_text("crm: {type: local}\n", encoding="utf-8")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("state: {env: CADENCE_STATE}\naccounts:\n  - {name: a, config: a.yaml, every: 1m}\n", encoding="utf-8")
    url = "postgresql://cadence:s3cret-pw@127.0.0.1:1/nowhere"
    result = subprocess.run([sys.executable, "-m", "connector.cli", "worker", str(fleet)], cwd=ROOT,
                            env=os.environ | {"CADENCE_STATE": url}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert "cannot open the PostgreSQL state at postgresql://cadence:***@127.0.0.1:1/nowhere" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_becomes_a_cron_all_workers_agree_on() -> None:
    assert every_to_cron("5s") == "* * * * * */5"
    assert every_to_cron("15m") == "*/15 * * * * 0"
    assert every_to_cron("6h") == "0 */6 * * * 0"
    assert every_to_cron("1d") == "0 0 * * * 0"
    with pytest.raises(ValueError, match="does not divide"):
        every_to_cron("7m")
