"""The account's single-runner lock for the SQLite state: a file lock beside the state file.

An OS lock (filelock: flock on POSIX, LockFileEx on Windows), held for the whole run and
released by the OS if the process dies; a second run for the same
account gives up at once with LockHeld (the PostgreSQL store raises the same error from its
advisory lock, connector/store_pg.py).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from filelock import lock_descriptor, unlock_descriptor


class LockHeld(Exception):
    """Another sync for this account is running."""


class RunLock:
    """An OS file lock beside the state file, held for the whole run (released if the process dies)."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: IO[str] | None = None

    @classmethod
    def for_state(cls, state: Path, account: str) -> RunLock:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", account)[:80] or "default"
        return cls(state.with_name(f"{state.name}.{safe}.lock"))

    def acquire(self, account: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock
        try:
            locked = lock_descriptor(handle.fileno(), blocking=False)
        except BaseException:
            handle.close()
            raise
        if not locked:
            holder = _holder(handle)
            handle.close()
            raise LockHeld(
                f"another sync for account {account!r} is running ({holder}); lock file {self.path}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            unlock_descriptor(self._handle.fileno())
            self._handle.close()
            self._handle = None


def _holder(handle: IO[str]) -> str:
    """Who holds the lock, as its holder wrote it (Windows may refuse to read the locked byte)."""
    try:
        handle.seek(0)
        return handle.read().strip() or "unknown process"
    except OSError:
        return "unknown process"
