"""Two `cadence sync` processes at once: one runs, the other exits 1 with a clear message; never a duplicate task."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from support.launch import command as cadence_command
from support.local import CONTACTS, ROOT, make_workspace, read_csv

MONDAY = "2026-03-02T14:00:00Z"


def start(config: Path, pause: str = "") -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADENCE_TEST_")}
    return subprocess.Popen([*cadence_command(pause_at=pause), "sync", str(config), "--now", MONDAY],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock(directory: Path, timeout: float = 20.0) -> None:
    lock = directory / "cadence-state.sqlite.local.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.exists() and "pid" in lock.read_text():
            return
        time.sleep(0.05)
    raise AssertionError("the first sync never took the lock")


def test_second_sync_exits_1_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    """A sync started while another holds the account lock exits 1 at once, naming the holder; the first finishes."""
    config = make_workspace(tmp_path / "ws")
    first = start(config, pause="after_intents:3")
    wait_for_lock(config.parent)
    second = start(config)
    _out, err = second.communicate(timeout=30)
    assert second.returncode == 1
    assert "another sync for account 'local' is running (pid" in err
    assert "Traceback" not in err
    assert first.wait(timeout=30) == 0
    keys = [r["key"] for r in read_csv(config.parent / "tasks.csv")]
    assert len(keys) == len(set(keys)) == len(CONTACTS)


def test_racing_syncs_never_duplicate(tmp_path: Path) -> None:
    """Two syncs launched together: each exits 0 (ran) or 1 (lock held), at least one ran, and no key appears twice."""
    config = make_workspace(tmp_path / "ws")
    procs = [start(config), start(config)]
    codes = sorted(p.wait(timeout=60) for p in procs)
    assert codes in ([0, 0], [0, 1])
    keys = [r["key"] for r in read_csv(config.parent / "tasks.csv")]
    assert len(keys) == len(set(keys)) == len(CONTACTS)
