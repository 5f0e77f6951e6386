"""`cadence sync` against Salesforce, SIGKILLed at each kill point, then rerun: exactly one task per
key, none missing. Mirrors tests/test_hubspot_crash.py."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from support.launch import command as cadence_command
from support.salesforce import START, UPSERT, assert_converged, env_for, reference_tasks, scenario, task_summary

from connector.crm.salesforce.emulator import SalesforceEmulator
from connector.sync import KILL_POINTS

ROOT = Path(__file__).resolve().parent.parent
CONTACTS, SEED = 450, 7  # 3 upserts: 200, 200, 50
# Salesforce tasks right after the kill: none sent yet, the first batch, the first batch, all of them
AT_KILL = {"after_intents": 0, "between_batches": 200, "after_crm_write": 200, "before_cursor": None}


def cadence_sync(config: Path, now: str, emu: SalesforceEmulator, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CADENCE_TEST_", "SALESFORCE_"))} | env_for(emu)
    return subprocess.run([*cadence_command(kill_at=kill_at), "sync", str(config), "--now", now, "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_kill_points_are_the_syncs() -> None:
    assert tuple(AT_KILL) == KILL_POINTS


@pytest.mark.parametrize("point", list(AT_KILL))
def test_killed_salesforce_sync_converges(salesforce_emulator: SalesforceEmulator, tmp_path: Path, point: str) -> None:
    """A first sync SIGKILLed at `point`, rerun at the same `now` and a day later, leaves exactly the tasks an
    uninterrupted run leaves: one per key, each on its contact, enrollments pointing at them."""
    expected = reference_tasks(tmp_path / "reference", CONTACTS, SEED)
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    org.at(START)
    now = START.isoformat()

    killed = cadence_sync(org.path, now, emu, kill_at=point)

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    at_kill = len(emu.tasks())
    assert at_kill == (len(expected) if AT_KILL[point] is None else AT_KILL[point])

    rerun = cadence_sync(org.path, now, emu)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert len(emu.tasks()) == len(expected)  # nothing created twice

    org.at(START + timedelta(days=1))
    later = cadence_sync(org.path, (START + timedelta(days=1)).isoformat(), emu)
    assert later.returncode == 0, later.stdout[-2000:] + later.stderr[-2000:]
    assert '"created": []' in later.stdout

    assert task_summary(org) == expected
    assert_converged(org)
    # the kill after the first write left its batch unknown: the rerun found it by key and sent only the rest
    assert emu.counts().get(UPSERT) == -(-len(expected) // 200)
    print(f"{point}: {at_kill} tasks in Salesforce at the kill, {len(expected)} after the reruns")


@pytest.mark.parametrize("point", ["after_intents", "after_crm_write"])
def test_killed_run_after_completions_converges(salesforce_emulator: SalesforceEmulator, tmp_path: Path,
                                                point: str) -> None:
    """A run SIGKILLed while creating next steps after recruiters' completions still ends, after reruns, with
    exactly one next-step task per completed call."""
    emu = salesforce_emulator
    org = scenario(emu, tmp_path / "ws", 250, SEED)
    org.at(START)
    assert cadence_sync(org.path, START.isoformat(), emu).returncode == 0
    first = org.tasks()
    done = START + timedelta(hours=3)
    org.at(done)
    calls = [t for t in first.values() if t["Type"] == "Call"][:220]
    for task in calls:
        emu.complete_task(task["Id"], disposition="Left voicemail", at=done)

    killed = cadence_sync(org.path, (done + timedelta(hours=1)).isoformat(), emu, kill_at=point)
    assert killed.returncode == -signal.SIGKILL
    assert cadence_sync(org.path, (done + timedelta(hours=1)).isoformat(), emu).returncode == 0
    org.at(START + timedelta(days=1))
    assert cadence_sync(org.path, (START + timedelta(days=1)).isoformat(), emu).returncode == 0

    tasks = assert_converged(org)
    new = [t for key, t in tasks.items() if key not in first]
    assert sorted(t["WhoId"] for t in new) == sorted({t["WhoId"] for t in calls})
    assert {t["Type"] for t in new} == {"Email"}
