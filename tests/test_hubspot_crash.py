"""`cadence sync` against HubSpot, SIGKILLed at each kill point, then rerun: exactly one task per key, none missing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.hubspot import BATCH_CREATE, START, assert_converged, cadence_sync, reference_tasks, scenario, task_summary

from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.sync import KILL_POINTS

ROOT = Path(__file__).resolve().parent.parent
CONTACTS, SEED = 350, 7  # 4 batch creates
# HubSpot tasks right after the kill: none sent yet, the first batch, the first batch, all of them
AT_KILL = {"after_intents": 0, "between_batches": 100, "after_crm_write": 100, "before_cursor": None}
EXERCISED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _count_kill_points() -> Iterator[None]:
    yield
    points = sorted({run.split()[0] for run in EXERCISED}, key=KILL_POINTS.index)
    print(f"\nHubSpot kill points exercised: {len(points)} of {len(KILL_POINTS)} ({', '.join(points)}), "
          f"in {len(EXERCISED)} killed runs")


def test_kill_points_are_the_syncs(tmp_path: Path) -> None:
    """The kill points tested here are exactly the ones the sync offers."""
    assert tuple(AT_KILL) == KILL_POINTS


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest) -> str:
    """'' (the SQLite file beside the config) or a fresh PostgreSQL schema's URL."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else ""


@pytest.mark.parametrize("point", list(AT_KILL))
def test_killed_hubspot_sync_converges(hubspot_emulator: HubSpotEmulator, tmp_path: Path, point: str, state_url: str) -> None:
    """A first HubSpot sync SIGKILLed at `point`, rerun at the same `now` and again a day later, leaves exactly the
    tasks an uninterrupted run leaves: one per key, each on its contact, enrollments pointing at them."""
    expected = reference_tasks(tmp_path / "reference", CONTACTS, SEED)
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", CONTACTS, SEED)
    if state_url:
        portal.use_state(state_url)
    portal.at(START)
    now = START.isoformat()

    killed = cadence_sync(portal.path, now, emu, kill_at=point)

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    in_hubspot = emu.count("tasks")
    assert in_hubspot == (len(expected) if AT_KILL[point] is None else AT_KILL[point])
    EXERCISED.append(point)

    rerun = cadence_sync(portal.path, now, emu)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert emu.count("tasks") == len(expected) and len(portal.tasks()) == len(expected)  # nothing sent twice

    portal.at(START + timedelta(days=1))
    later = cadence_sync(portal.path, (START + timedelta(days=1)).isoformat(), emu)
    assert later.returncode == 0, later.stdout[-2000:] + later.stderr[-2000:]
    assert '"created": []' in later.stdout

    assert task_summary(portal) == expected
    assert_converged(portal, expected)
    assert (portal.path.parent / "cadence-state.sqlite").exists() != bool(state_url)  # the state went where the config says
    assert emu.counts().get(BATCH_CREATE) == -(-len(expected) // 100)  # every task sent once, over all runs
    print(f"{point}: {in_hubspot} tasks in HubSpot at the kill, {len(expected)} after the reruns")


@pytest.mark.parametrize("point", ["after_intents", "after_crm_write"])
def test_killed_run_after_a_completion_converges(hubspot_emulator: HubSpotEmulator, tmp_path: Path, point: str,
                                                 state_url: str) -> None:
    """A run SIGKILLed while creating the next steps after recruiters' completions still ends, after reruns, with
    exactly one next-step task per completed task."""
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", 150, SEED)
    if state_url:
        portal.use_state(state_url)
    portal.at(START)
    assert cadence_sync(portal.path, START.isoformat(), emu).returncode == 0
    first = portal.tasks()
    done = START + timedelta(hours=3)
    portal.at(done)
    calls = [task_id for task_id, props in first.values() if props["hs_task_type"] == "CALL"][:120]
    for task_id in calls:
        emu.complete_task(task_id, at=done)

    killed = cadence_sync(portal.path, (done + timedelta(hours=1)).isoformat(), emu, kill_at=point)
    assert killed.returncode == -signal.SIGKILL
    EXERCISED.append(f"{point} (after completions)")
    assert cadence_sync(portal.path, (done + timedelta(hours=1)).isoformat(), emu).returncode == 0
    portal.at(START + timedelta(days=1))
    assert cadence_sync(portal.path, (START + timedelta(days=1)).isoformat(), emu).returncode == 0

    tasks = assert_converged(portal)
    new = {key: props for key, (_, props) in tasks.items() if key not in first}
    completed_contacts = {emu.contacts_for_task(t)[0] for t in calls}
    new_contacts = [emu.contacts_for_task(task_id)[0] for task_id, _ in (tasks[k] for k in new)]
    assert sorted(new_contacts) == sorted(set(new_contacts))  # one next step per contact
    assert set(new_contacts) <= completed_contacts and len(new_contacts) > 60
    assert {p["hs_task_type"] for p in new.values()} <= {"EMAIL"}
