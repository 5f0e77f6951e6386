"""The HubSpot account is the portal, not the URL: two spellings of the API's address are one
account (one set of tasks, one run lock); a state of another portal is refused; a state created
before portal ids keeps its account string (its task keys do not change).

Real client, real HTTP to the emulator; the CLI in a subprocess where the exit code or the lock matters.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from pathlib import Path

import pytest
from support.hubspot import CANARY_TOKEN, START, Portal, bulk_config, live_task_keys, prepare
from support.launch import command as cadence_command

from connector.configfile import load_config
from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.store_factory import open_store, state_location
from connector.sync import LockHeld, run_sync

ROOT = Path(__file__).resolve().parents[1]
CONFIG = bulk_config().replace("account: test-portal\n", "")


def env_at(url: str) -> dict[str, str]:
    return {"HUBSPOT_ACCESS_TOKEN": CANARY_TOKEN, "HUBSPOT_BASE_URL": url}


def spellings(emu: HubSpotEmulator) -> tuple[str, str]:
    return emu.base_url, emu.base_url.replace("127.0.0.1", "localhost")


def portal_with_contacts(emu: HubSpotEmulator, directory: Path, contacts: int = 30) -> Portal:
    portal = Portal(emu, directory, CONFIG)
    emu.seed_contacts(contacts, seed=3)
    return portal


def cli(config: Path, url: str, *args: str, pause: str = "") -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CADENCE_TEST_", "HUBSPOT_"))}
    env.update(env_at(url))
    return subprocess.Popen([*cadence_command(pause_at=pause), *args, str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_spellings_of_the_url_are_one_account(tmp_path: Path) -> None:
    """127.0.0.1 then localhost: the second run creates nothing (same keys, same ledger), and the
    state's account is the portal's id."""
    with HubSpotEmulator(hub_id=5550001) as emu:
        portal = portal_with_contacts(emu, tmp_path / "ws")
        first_url, second_url = spellings(emu)
        first = run_sync(portal.loaded, now=START, env=env_at(first_url))
        assert first.status == "ok" and first.account == "hubspot:5550001"
        created = sorted(live_task_keys(emu))
        assert created and first.counts["created"] == len(created)
        second = run_sync(portal.loaded, now=START, env=env_at(second_url))
        assert second.status == "ok" and second.account == "hubspot:5550001"
        assert second.counts["created"] == 0 and second.counts["intended_creates"] == 0
        assert sorted(live_task_keys(emu)) == created
        # `status` has no token and makes no request: the state knows which account either spelling reached
        for url in (first_url, second_url):
            status = cli(portal.path, url, "status", "--json")
            out, err = status.communicate(timeout=60)
            assert status.returncode == 0 and '"hubspot:5550001"' in out, err


def test_the_second_spelling_is_locked_out_while_the_first_runs(tmp_path: Path) -> None:
    """One run lock per portal: a sync through `localhost` while one through `127.0.0.1` holds it gives up at once."""
    with HubSpotEmulator(hub_id=5550002) as emu:
        portal = portal_with_contacts(emu, tmp_path / "ws")
        first_url, second_url = spellings(emu)
        first = cli(portal.path, first_url, "sync", "--now", START.isoformat(), pause="after_intents:4")
        lock = portal.path.parent / "cadence-state.sqlite.hubspot_5550002.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and "pid" in lock.read_text()):
            assert time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        with pytest.raises(LockHeld, match="hubspot:5550002"):
            run_sync(portal.loaded, now=START, env=env_at(second_url))
        _out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        keys = live_task_keys(emu)
        assert keys and len(keys) == len(set(keys))


def test_a_state_of_another_portal_is_refused(tmp_path: Path) -> None:
    """The state file of portal A, then a config reaching portal B: exit 2, saying whose state it is; nothing written."""
    directory = tmp_path / "ws"
    with HubSpotEmulator(hub_id=5550003) as emu_a:
        portal = portal_with_contacts(emu_a, directory)
        assert run_sync(portal.loaded, now=START, env=env_at(emu_a.base_url)).status == "ok"
    with HubSpotEmulator(hub_id=5550004) as emu_b:
        prepare(emu_b)
        emu_b.seed_contacts(10, seed=4)
        run = cli(portal.path, emu_b.base_url, "sync", "--now", START.isoformat())
        _out, err = run.communicate(timeout=60)
        assert run.returncode == 2, err
        assert "belongs to account 'hubspot:5550003'" in err and "'hubspot:5550004'" in err
        assert "Traceback" not in err
        assert live_task_keys(emu_b) == []


def test_a_state_from_before_portal_ids_keeps_its_account(tmp_path: Path) -> None:
    """A state whose account is `hubspot:<host>` (created before portal ids) keeps it: its task keys do
    not change, so the upgraded run creates nothing; `status` (no token) still finds it."""
    with HubSpotEmulator(hub_id=5550005) as emu:
        portal = portal_with_contacts(emu, tmp_path / "ws")
        legacy = "hubspot:" + emu.base_url.split("//")[-1]
        # the run of an older version: the account string came from the URL
        loaded = load_config(portal.path)
        old = dataclasses.replace(loaded, config=loaded.config.model_copy(update={"account": legacy}))
        assert run_sync(old, now=START, env=env_at(emu.base_url)).status == "ok"
        created = sorted(live_task_keys(emu))
        report = run_sync(portal.loaded, now=START, env=env_at(emu.base_url))
        assert report.account == legacy and report.counts["created"] == 0
        # then another spelling: the state knows the portal now
        report = run_sync(portal.loaded, now=START, env=env_at(spellings(emu)[1]))
        assert report.account == legacy and report.counts["created"] == 0
        assert sorted(live_task_keys(emu)) == created
        status = cli(portal.path, spellings(emu)[1], "status", "--json")
        out, err = status.communicate(timeout=60)
        assert status.returncode == 0, err
        assert f'"{legacy}"' in out
        store = open_store(state_location(portal.loaded), legacy, read_only=True)
        try:
            assert len(store.ledger(["created"])) == len(created)
        finally:
            store.close()
