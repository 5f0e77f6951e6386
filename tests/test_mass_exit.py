"""The safety valve on HubSpot, through the real CLI and the emulator: an emptied portal and a
token for another portal stop the run before anything is written; --allow-mass-exit proceeds.

(The local CRM's valve: tests/test_human_edge.py, a contacts file with only its header.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from support.hubspot import START, env_for, scenario

from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.massexit import MassExitHeld, MassExitLimit, Vanished, check

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = 40
NEXT_DAY = START + timedelta(days=1, hours=1)  # past the daily sweep
WRITES = ("POST /crm/v3/objects/tasks/batch/create", "POST /crm/v3/objects/tasks/batch/update")


def cadence_sync(config: Path, when, emu: HubSpotEmulator, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CADENCE_TEST_", "HUBSPOT_"))} | env_for(emu)
    return subprocess.run([sys.executable, "-m", "connector.cli", "sync", str(config), "--now", when.isoformat(), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def first_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("ts=")]
    return lines[0] if lines else ""


def writes(emu: HubSpotEmulator) -> int:
    counts = emu.counts()
    return sum(counts.get(w, 0) for w in WRITES)


def open_tasks(emu: HubSpotEmulator) -> int:
    return sum(1 for t in emu.state.stores["tasks"].records if (emu.get_task(t) or {}).get("hs_task_status") != "COMPLETED")


def test_an_emptied_portal_is_held_then_confirmed(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """Every contact deleted in HubSpot: the sweep's run stops (exit 2, nothing written, tasks still open);
    with --allow-mass-exit the contacts exit and their tasks are closed."""
    emu = hubspot_emulator
    portal = scenario(emu, tmp_path / "ws", CONTACTS, seed=3)
    portal.at(START)
    first = cadence_sync(portal.path, START, emu)
    assert first.returncode == 0, first.stderr[-2000:]
    tasks = open_tasks(emu)
    assert tasks > 10
    for contact_id in list(emu.state.stores["contacts"].records):
        emu.delete_object("contacts", contact_id)
    portal.at(NEXT_DAY)
    emu.reset_log()

    held = cadence_sync(portal.path, NEXT_DAY, emu)

    assert held.returncode == 2, held.stdout[-2000:] + held.stderr[-2000:]
    held_count = re.match(r"error: mass change held: (\d+) enrolled contacts are gone from the CRM", first_error(held))
    # every contact with an open task, and those whose cadence waits (lead status BAD_TIMING set before enrollment)
    assert held_count and int(held_count.group(1)) >= tasks, first_error(held)
    assert "--allow-mass-exit" in first_error(held) and "Traceback" not in held.stderr
    assert writes(emu) == 0 and open_tasks(emu) == tasks

    confirmed = cadence_sync(portal.path, NEXT_DAY, emu, "--allow-mass-exit", "--json")
    assert confirmed.returncode == 0, confirmed.stderr[-2000:]
    assert json.loads(confirmed.stdout)["counts"]["contacts_gone"] == int(held_count.group(1))
    assert open_tasks(emu) == 0


def test_a_token_for_another_portal_is_held(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """The same config and state, but the token (and host) of another portal where none of our contacts or tasks
    exist: exit 2 before anything is written there or here; back on the right portal the next run is normal."""
    ours = hubspot_emulator
    portal = scenario(ours, tmp_path / "ours", CONTACTS, seed=3)
    portal.at(START)
    assert cadence_sync(portal.path, START, ours).returncode == 0
    tasks_before = open_tasks(ours)
    with HubSpotEmulator() as other:
        elsewhere = scenario(other, tmp_path / "other", CONTACTS + 5, seed=9)
        for contact_id in sorted(other.state.stores["contacts"].records, key=int)[:CONTACTS]:
            other.delete_object("contacts", contact_id)  # the other portal's people have other ids
        elsewhere.at(NEXT_DAY)
        other.reset_log()

        held = cadence_sync(portal.path, NEXT_DAY, other)

        assert held.returncode == 2, held.stdout[-2000:] + held.stderr[-2000:]
        assert first_error(held).startswith("error: mass change held:")
        assert "enrolled contacts are gone" in first_error(held) and "open tasks are gone" in first_error(held)
        assert writes(other) == 0 and other.count("tasks") == 0
    portal.at(NEXT_DAY)
    back = cadence_sync(portal.path, NEXT_DAY, ours, "--json")
    assert back.returncode == 0, back.stderr[-2000:]
    assert json.loads(back.stdout)["counts"].get("contacts_gone", 0) == 0
    assert open_tasks(ours) >= tasks_before - len(json.loads(back.stdout)["closed"])


def test_the_valve_counts_share_and_number() -> None:
    """Held only when over the number AND over the share; --allow-mass-exit always passes; nothing vanished passes."""
    limit = MassExitLimit(max_share=0.2, max_count=10)
    check(Vanished(active=1000, contacts=[str(i) for i in range(50)]), limit)  # 50 > 10 but 5% <= 20%
    check(Vanished(active=20, contacts=[str(i) for i in range(10)]), limit)  # 50% but only 10
    check(Vanished(active=0), limit)
    try:
        check(Vanished(active=40, contacts=[str(i) for i in range(11)]), limit)
    except MassExitHeld as held:
        assert "11 enrolled contacts are gone" in str(held) and "(28%)" in str(held)
    else:
        raise AssertionError("11 of 40 must be held")
    check(Vanished(active=40, contacts=[str(i) for i in range(40)]), MassExitLimit(allowed=True))
