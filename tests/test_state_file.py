"""Every problem with the SQLite state file is one clear line and exit 2, never a traceback
(issue 17): garbage, cut short, empty (0 bytes: refused, not taken as a new state), written by
a newer crm-cadence, in a folder a sync cannot write; and `cadence plan` (which writes nothing)
works in a read-only folder. The file is never changed by a refused run."""

from __future__ import annotations

import ctypes
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.examples import copy_examples

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-02T14:00:00Z"
LATER = "2026-03-02T15:00:00Z"


def cadence(*args: str | Path, read_only_root: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, preexec_fn=_without_root_overrides if read_only_root else None)


def _without_root_overrides() -> None:
    """Root ignores file modes; drop the capabilities that let it (from the bounding set: the
    exec'd CLI then gets 'permission denied' like any user). Nothing to drop for other users."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop a capability")


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return lines[0] if lines else result.stderr


@pytest.fixture(scope="module")
def good_state(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a state file after one sync of the examples (checkpointed: no WAL beside it)."""
    folder = copy_examples(tmp_path_factory.mktemp("good") / "examples")
    assert cadence("sync", folder / "recruiting.yaml", "--now", NOW).returncode == 0
    db = sqlite3.connect(folder / "cadence-state.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return (folder / "cadence-state.sqlite").read_bytes()


def _newer(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO schema_version (version) VALUES (999)")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


CASES = {
    "garbage": (lambda good, path: path.write_bytes(os.urandom(5000)), "not a crm-cadence state file"),
    "cut short": (lambda good, path: path.write_bytes(good[:20_000]), "the state file is cut short (20,000 of"),
    "empty": (lambda good, path: (path.write_bytes(b""), os.utime(path, (time.time() - 3600,) * 2)),
              "the state file is empty (0 bytes)"),
    "newer schema": (_newer, "the state file has schema version 999, newer than this crm-cadence"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_state_file_is_one_line_and_exit_2_for_every_command(tmp_path: Path, good_state: bytes,
                                                                   case: str) -> None:
    folder = copy_examples(tmp_path / "examples")
    state = folder / "cadence-state.sqlite"
    make, expected = CASES[case]
    make(good_state, state)
    before = state.read_bytes()
    for command in ("sync", "plan", "status"):
        result = cadence(command, folder / "recruiting.yaml", *(("--now", LATER) if command != "status" else ()))
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        assert result.returncode == 2, (command, result.returncode, result.stderr)
        assert error_line(result).startswith(f"error: {state}: {expected}"), (command, result.stderr)
    assert state.read_bytes() == before  # refused runs leave the file as it was
    assert not (folder / "tasks.csv").exists()  # and write nothing to the CRM


def test_an_empty_state_file_says_what_to_do(tmp_path: Path) -> None:
    folder = copy_examples(tmp_path / "examples")
    state = folder / "cadence-state.sqlite"
    state.write_bytes(b"")
    os.utime(state, (time.time() - 3600,) * 2)
    result = cadence("sync", folder / "recruiting.yaml", "--now", NOW)
    assert result.returncode == 2
    assert "what a copy cut short or a failed write leaves" in result.stderr
    assert "restore it from a backup, or move it away and sync again" in result.stderr
    state.unlink()  # as the message says: the next sync starts (or rebuilds) the state
    assert cadence("sync", folder / "recruiting.yaml", "--now", NOW).returncode == 0


def test_a_state_file_being_created_right_now_is_not_refused(tmp_path: Path) -> None:
    """A zero-byte file modified seconds ago is a run creating it (SQLite writes the header on the
    first transaction), not a damaged copy: taken as a new state."""
    folder = copy_examples(tmp_path / "examples")
    (folder / "cadence-state.sqlite").write_bytes(b"")
    result = cadence("sync", folder / "recruiting.yaml", "--now", NOW)
    assert result.returncode == 0, result.stderr


def test_plan_and_status_work_in_a_read_only_folder_and_sync_says_why_it_cannot(tmp_path: Path,
                                                                                 good_state: bytes) -> None:
    """`cadence plan` writes nothing, so it runs on a folder nobody may write (it failed on SQLite's
    WAL index); `status` too; `sync` exits 2 naming the folder."""
    folder = copy_examples(tmp_path / "examples")
    (folder / "cadence-state.sqlite").write_bytes(good_state)
    modes = {}
    for path in [folder, *folder.rglob("*")]:
        modes[path] = path.stat().st_mode
        path.chmod(modes[path] & ~0o222)
    try:
        plan = cadence("plan", folder / "recruiting.yaml", "--now", LATER, read_only_root=True)
        assert plan.returncode == 0 and "Traceback" not in plan.stderr, plan.stderr
        status = cadence("status", folder / "recruiting.yaml", read_only_root=True)
        assert status.returncode == 0, status.stderr
        assert re.search(r"#1 .* ok +created \d+", status.stdout), status.stdout  # the sync's run, read back
        sync = cadence("sync", folder / "recruiting.yaml", "--now", LATER, read_only_root=True)
        assert sync.returncode == 2 and "Traceback" not in sync.stderr, sync.stderr
        assert error_line(sync).startswith(f"error: {folder}: a sync cannot write its state in this folder")
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert sorted(p.name for p in folder.iterdir() if "sqlite" in p.name) == ["cadence-state.sqlite"]
