"""A sync killed with SIGKILL at any point leaves state from which the next run finishes: one task per key, none lost."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from support.conformance import SEED_CONTACTS
from support.launch import command as cadence_command
from test_crm_local_conformance import LocalRecruiter, read_csv, seed_local

ROOT = Path(__file__).resolve().parent.parent
MONDAY = "2026-03-02T14:00:00Z"

CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv, unique_keys: false, max_batch: 2}
calendar: {timezone: America/New_York, country: US}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
      - {id: email, channel: email, wait: 2 business days, subject: "Email {{contact.first_name}}"}
"""
CONTACTS = SEED_CONTACTS + [
    {"id": f"c{n}", "first_name": f"Person{n}", "email": f"p{n}@example.com", "owner_id": "o1", "lifecycle_stage": "lead"}
    for n in range(4, 8)
]


def cadence(directory: Path, *args: str, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADENCE_TEST_")}
    state = directory / "state-url"  # a PostgreSQL workspace: its state URL, passed as the config says
    if state.exists():
        env["CADENCE_STATE"] = state.read_text(encoding="utf-8")
    return subprocess.run([*cadence_command(kill_at=kill_at), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def make_workspace(directory: Path, state_url: str = "") -> Path:
    """A local-CRM workspace; with `state_url`, its state is on PostgreSQL (`state: {env: CADENCE_STATE}`)."""
    directory.mkdir()
    seed_local(directory, CONTACTS)
    config = CONFIG
    if state_url:
        config += "state: {env: CADENCE_STATE}\n"
        (directory / "state-url").write_text(state_url, encoding="utf-8")
    (directory / "cadence.yaml").write_text(config, encoding="utf-8")
    return directory / "cadence.yaml"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest) -> str:
    """'' (the SQLite file beside the config) or a fresh PostgreSQL schema's URL."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else ""


def keys(directory: Path) -> list[str]:
    return [r["key"] for r in read_csv(directory / "tasks.csv")] if (directory / "tasks.csv").exists() else []


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The task keys an uninterrupted run creates."""
    config = make_workspace(tmp_path_factory.mktemp("clean") / "ws")
    assert cadence(config.parent, "sync", str(config), "--now", MONDAY).returncode == 0
    return sorted(keys(config.parent))


@pytest.mark.parametrize("point", ["after_intents", "between_batches", "after_crm_write", "before_cursor"])
def test_killed_first_run_converges(tmp_path: Path, point: str, expected: list[str], state_url: str) -> None:
    """SIGKILL at each point of a first run, then a normal run: every expected task exists exactly once."""
    config = make_workspace(tmp_path / "ws", state_url)
    killed = cadence(config.parent, "sync", str(config), "--now", MONDAY, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = cadence(config.parent, "sync", str(config), "--now", "2026-03-02T14:01:00Z")
    assert rerun.returncode == 0, rerun.stderr
    found = keys(config.parent)
    assert sorted(found) == expected  # one per key, none lost
    assert (config.parent / "cadence-state.sqlite").exists() != bool(state_url)  # the state went where the config says
    again = cadence(config.parent, "sync", str(config), "--now", "2026-03-02T14:02:00Z", "--json")
    assert '"created": []' in again.stdout


@pytest.mark.parametrize("point", ["after_intents", "after_crm_write"])
def test_killed_run_after_a_completion_converges(tmp_path: Path, point: str, state_url: str) -> None:
    """A run killed while creating the next step after a completion still ends with exactly one next-step task."""
    config = make_workspace(tmp_path / "ws", state_url)
    assert cadence(config.parent, "sync", str(config), "--now", MONDAY).returncode == 0
    first = keys(config.parent)
    call = next(r for r in read_csv(config.parent / "tasks.csv") if r["contact_id"] == "c1")
    LocalRecruiter(config.parent).complete_task(call["key"], completed_at=None)
    killed = cadence(config.parent, "sync", str(config), "--now", "2026-03-02T16:00:00Z", kill_at=point)
    assert killed.returncode == -signal.SIGKILL
    assert cadence(config.parent, "sync", str(config), "--now", "2026-03-02T16:05:00Z").returncode == 0
    found = keys(config.parent)
    assert len(found) == len(set(found)) == len(first) + 1
    new = next(r for r in read_csv(config.parent / "tasks.csv") if r["key"] not in first)
    assert (new["contact_id"], new["channel"]) == ("c1", "email")
