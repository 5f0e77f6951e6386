"""New task rows appended to tasks.csv: a create costs what it adds, not what the file holds.

`LocalCRM.create_tasks` appends a batch's rows when tasks.csv is still exactly the file this
process last read or wrote (same inode, modification time and size: `KnownFile.identity`), is
UTF-8 with a byte-order mark and has every column. Anything else (a person saved it since, it
was saved as cp1252, a column is missing, a done row waits for its completion time) takes the
read-merge-rewrite path, which then leaves a file that can be appended to again.

An append never leaves half a row, even if the process is killed or the machine stops in the
middle of it:

1. `.tasks.csv.append` (the marker) records the file's inode, its size before and after, and
   a hash of the bytes to add; it is fsynced (and its folder) before tasks.csv is touched.
2. The bytes are added with one write and fsynced; a failed write (a full disk) is cut back.
3. The marker is removed.

A marker found later means an append did not finish: when the file is still that inode and
not both complete and as hashed, whatever is past the old size is a partial append. A writer
cuts it off under the file lock (`recover`) before it writes; a reader reads only the part
before it (`cut_partial`), so nothing is planned from half a row and a dry run changes nothing.
A batch whose append did not finish was never reported created (the sync left it `unknown`
and reconciles it against the file: connector/reconcile.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import csvio, csvtable
from .taskfile import TASK_COLUMNS


class AppendUncertain(OSError):
    """The file grew by more than our append while we wrote (someone wrote into it in place):
    whether our rows are whole in it is not known, so the batch's outcome is unknown."""


@dataclass
class KnownFile:
    """tasks.csv as this process last read or wrote it: enough to append to it without reading it."""

    identity: tuple[int, int, int]  # (inode, mtime_ns, size)
    header: list[str]
    delimiter: str
    line_end: str
    appendable: bool  # UTF-8 with a BOM and every column: rows can be added as they are
    tasks: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (first row's task id, rows with the key)

    @classmethod
    def of(cls, identity: tuple[int, int, int], header: Sequence[str], dialect: csvtable.Dialect,
           tasks: Iterable[tuple[str, str]]) -> KnownFile:
        """From a file's header, how it is written, and its rows' (key, task_id) in file order."""
        names = list(header)
        appendable = (dialect.encoding == "utf-8" and dialect.bom and set(TASK_COLUMNS) <= set(names)
                      and len(set(names)) == len(names))
        known = cls(identity, names, dialect.delimiter, dialect.line_end, appendable)
        for key, task_id in tasks:
            known.add(key, task_id)
        return known

    def add(self, key: str, task_id: str) -> None:
        if not key:
            return
        first, count = self.tasks.get(key, (task_id, 0))
        self.tasks[key] = (first, count + 1)

    def encode(self, rows: Sequence[Mapping[str, str]]) -> bytes:
        """Rows as the bytes to append: the file's columns, separator and line ends, UTF-8."""
        return csvio.csv_lines(self.header, rows, delimiter=self.delimiter, line_end=self.line_end).encode("utf-8")


def marker_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.append")


def append(path: Path, data: bytes, known: KnownFile) -> tuple[int, int, int]:
    """Add `data` to `path` if it is still the file `known` describes; returns its new identity.

    ChangedWhileWriting: the file is not (or, by the end, no longer) that file; our bytes are
    not in the file at `path` (redo the merge on what is there now). AppendUncertain: see
    there. Another OSError: nothing was added (a partial write is cut back)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        raise csvio.ChangedWhileWriting(str(path)) from None
    marker = marker_path(path)
    try:
        before = os.fstat(fd)
        if csvtable.identity_of(before) != known.identity:
            raise csvio.ChangedWhileWriting(str(path))
        if before.st_size and os.pread(fd, 1, before.st_size - 1) not in (b"\n", b"\r"):
            data = known.line_end.encode() + data  # the last row had no line end: start a new line
        _write_marker(marker, before.st_ino, before.st_size, before.st_size + len(data), data)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, before.st_size)  # if this fails too, the marker stays: the next writer cuts it
            os.fsync(fd)
            marker.unlink()
            raise
        after = os.fstat(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        marker.unlink()
    if after.st_size != before.st_size + len(data):
        raise AppendUncertain(0, f"{path.name} was written by something else while rows were added to it")
    try:
        now = os.stat(path)
    except FileNotFoundError:
        raise csvio.ChangedWhileWriting(str(path)) from None
    if now.st_ino != after.st_ino:  # replaced (a spreadsheet's save) while we wrote: our rows left with the old file
        raise csvio.ChangedWhileWriting(str(path))
    return csvtable.identity_of(after)


def _write_marker(marker: Path, inode: int, before: int, after: int, data: bytes) -> None:
    text = json.dumps({"inode": inode, "before": before, "after": after, "sha256": hashlib.sha256(data).hexdigest()})
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    except BaseException:
        marker.unlink()
        raise
    finally:
        os.close(fd)
    csvio._fsync_dir(marker.parent)


def _marker(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(marker_path(path).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # cut short while written: no append had begun
    return data if isinstance(data, dict) else {}


def _partial_at(marker: Mapping[str, object], st: os.stat_result, tail: bytes | None) -> int | None:
    """The size to cut the file back to, or None when the marker's append is not partial in it:
    the file is another one (replaced since), unchanged, whole (and as hashed), or changed otherwise."""
    before, after = marker.get("before"), marker.get("after")
    if marker.get("inode") != st.st_ino or not isinstance(before, int) or not isinstance(after, int):
        return None
    if not before < st.st_size <= after:
        return None
    if st.st_size == after and tail is not None and hashlib.sha256(tail).hexdigest() == marker.get("sha256"):
        return None
    return before


def recover(path: Path) -> bool:
    """Under the file lock, before writing: cut off an append a killed writer left partial and
    remove its marker. True when the file was cut."""
    marker = _marker(path)
    if marker is None:
        return False
    cut = False
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and marker:
        tail = None
        if st.st_size == marker.get("after") and isinstance(marker.get("before"), int):
            with open(path, "rb") as f:
                f.seek(int(marker["before"]))  # type: ignore[call-overload]
                tail = f.read()
        size = _partial_at(marker, st, tail)
        if size is not None:
            fd = os.open(path, os.O_RDWR)
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)
            cut = True
    with contextlib.suppress(FileNotFoundError):
        marker_path(path).unlink()
    return cut


def cut_partial(path: Path) -> Callable[[bytes, os.stat_result], bytes]:
    """For a reader (csvtable.read_table_whole's `cut`): the bytes of tasks.csv without an append a killed writer left partial."""

    def cut(data: bytes, st: os.stat_result) -> bytes:
        marker = _marker(path)
        if not marker:
            return data
        before, after = marker.get("before"), marker.get("after")
        tail = data[before:after] if isinstance(before, int) and isinstance(after, int) else None
        size = _partial_at(marker, st, tail)
        return data if size is None else data[:size]

    return cut
