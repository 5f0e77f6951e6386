"""A sync killed with SIGKILL at any point leaves state from which the next run finishes: one task per key, none lost."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from support.local import MONDAY, LocalRecruiter, cadence, make_workspace, read_csv


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
