"""A SQLite state file checked before it is used, and read from a folder nobody may write.

Every problem is a `BadStateFile` (exit 2) naming the file and what to do, never a traceback:

- **empty (0 bytes)**: what a copy cut short, a full disk or a failed sync leaves. Refused,
  not taken as a new state (the state it replaced may be in a backup), unless it was
  created in the last few seconds (a run creating it right now);
- **not an SQLite file** (garbage, another file saved over it) or **cut short** (fewer
  bytes than its header says it holds), checked from its first 100 bytes;
- **damaged** (SQLite says so on opening) or **written by a newer crm-cadence**;
- **in a folder a sync cannot write**: a sync writes its state and its run lock there.

`cadence plan` and `cadence status` write nothing: they read a copy of the state
(`SQLiteStore.snapshot`), which works in a read-only folder too: when SQLite cannot open the
file in place (a WAL file needs its `-shm` beside it), the file and its WAL are copied to a
private temporary folder and read there.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .store import BadStateFile

HEADER = b"SQLite format 3\x00"
JUST_CREATED_SECONDS = 10.0
_RESTORE = ("restore it from a backup, or move it away and sync again (a sync with no state rebuilds it from "
            "the CRM before planning)")


def check_state_file(path: Path) -> None:
    """BadStateFile when the file at `path` cannot be a state file; nothing when it is absent."""
    try:
        stat = path.stat()
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise BadStateFile(f"{path}: is a folder, not a state file; point `state:` at a file") from None
    except OSError as exc:
        raise BadStateFile(f"{path}: the state file cannot be read ({exc.strerror or exc}); "
                           "make it readable for this user") from None
    if stat.st_size == 0:
        if time.time() - stat.st_mtime < JUST_CREATED_SECONDS:
            return  # a run is creating it right now
        raise BadStateFile(f"{path}: the state file is empty (0 bytes), which is what a copy cut short or a failed "
                           f"write leaves, so it is not taken as a new state; {_RESTORE}")
    if not head.startswith(HEADER):
        raise BadStateFile(f"{path}: not a crm-cadence state file (not an SQLite database); point `state:` at the "
                           f"right file, or {_RESTORE}")
    expected = _size_in_header(head)
    if expected and stat.st_size < expected:
        raise BadStateFile(f"{path}: the state file is cut short ({stat.st_size:,} of {expected:,} bytes; a copy "
                           f"that did not finish?); {_RESTORE}")


def _size_in_header(head: bytes) -> int:
    """The file size the header promises (0 when the header does not say, or cannot be trusted)."""
    if len(head) < 100 or head[92:96] != head[24:28]:  # the size field is only valid when these agree
        return 0
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    return page_size * int.from_bytes(head[28:32], "big")


def damaged(path: Path, exc: sqlite3.DatabaseError) -> BadStateFile:
    """SQLite's own verdict on a file that passed the header check, in a person's words."""
    return BadStateFile(f"{path}: the state file is damaged ({exc}); {_RESTORE}")


def unwritable_folder(path: Path, exc: OSError) -> BadStateFile:
    return BadStateFile(f"{path.parent}: a sync cannot write its state in this folder ({exc.strerror or exc}); "
                        "make the folder writable for this user, or point `state:` at a writable place "
                        "(`cadence plan` and `cadence status` only read it, and work here)")


@contextlib.contextmanager
def readable_copy(path: Path) -> Iterator[Path]:
    """The state file and its WAL copied to a private temporary folder (deleted afterwards)."""
    with tempfile.TemporaryDirectory(prefix="cadence-state-") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        yield copy
