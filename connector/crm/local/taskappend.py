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
import csv
import hashlib
import io
import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import csvio, csvtable
from .taskfile import TASK_COLUMNS, sort_key


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
    # where each row's bytes are, in file order: (sort key, start, end); the header is bytes [0, header_end).
    # None when not known (after a rewrite): the end-of-run sort then reads the file whole
    layout: list[tuple[tuple[str, str, str, str], int, int]] | None = None
    header_end: int = 0

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

    def with_layout(self, table: csvtable.Table) -> KnownFile:
        """Where the rows of `table` (read with line_starts) are in its bytes, if it can be appended to."""
        starts = table.line_starts
        if not self.appendable or starts is None:
            return self
        records = table.records
        positions = [self.header.index(c) for c in ("owner", "owner_id", "due_utc", "contact_name", "key")]
        layout: list[tuple[tuple[str, str, str, str], int, int]] = []
        for i, record in enumerate(records):
            end = starts[records[i + 1].line - 1] if i + 1 < len(records) else table.size
            layout.append((_sort_key(record.values, positions), starts[record.line - 1], end))
        self.layout = layout
        self.header_end = starts[records[0].line - 1] if records else table.size
        return self

    def encode(self, rows: Sequence[Mapping[str, str]]) -> tuple[bytes, list[int]]:
        """Rows as the bytes to append (the file's columns, separator and line ends, UTF-8), and
        each row's length in them."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=self.line_end, delimiter=self.delimiter)
        ends = [0]
        for cells in csvio.row_cells(rows, self.header):
            writer.writerow(cells)
            ends.append(buffer.tell())
        text = buffer.getvalue()
        data = text.encode("utf-8")
        if len(data) == len(text):  # ASCII: a character is a byte
            return data, [b - a for a, b in itertools.pairwise(ends)]
        return data, [len(text[a:b].encode("utf-8")) for a, b in itertools.pairwise(ends)]

    def appended(self, rows: Sequence[Mapping[str, str]], lengths: Sequence[int], at: int, gap: int,
                 identity: tuple[int, int, int]) -> None:
        """Rows were appended at byte `at` (after `gap` bytes of line end the file lacked)."""
        self.identity = identity
        for row in rows:
            self.add(row["key"], row["task_id"])
        if self.layout is None:
            return
        if gap:  # the line end belongs to the row before it
            if self.layout:
                key, start, end = self.layout[-1]
                self.layout[-1] = (key, start, end + gap)
            else:
                self.header_end += gap
        start = at + gap
        for row, length in zip(rows, lengths, strict=True):
            self.layout.append((sort_key(row), start, start + length))
            start += length

    def sorted_bytes(self, data: bytes) -> tuple[bytes, list[tuple[tuple[str, str, str, str], int, int]]] | None:
        """The file's bytes with its rows by recruiter and due time (`taskfile.sort_key`, stable,
        as a read-merge-rewrite sorts them) and the layout of those bytes; None when the layout
        does not describe `data`."""
        if self.layout is None or len(data) != (self.layout[-1][2] if self.layout else self.header_end):
            return None
        order = sorted(self.layout, key=lambda item: item[0])
        out = [data[: self.header_end]]
        layout: list[tuple[tuple[str, str, str, str], int, int]] = []
        at = self.header_end
        for key, start, end in order:
            out.append(data[start:end])
            layout.append((key, at, at + end - start))
            at += end - start
        return b"".join(out), layout


def _sort_key(values: Sequence[str], positions: Sequence[int]) -> tuple[str, str, str, str]:
    """`taskfile.sort_key` of a row given as values (positions: owner, owner_id, due_utc, contact_name, key)."""
    owner, owner_id, due, name, key = (values[p] if 0 <= p < len(values) else "" for p in positions)
    return owner or owner_id, due, name, key


def marker_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.append")


def append(path: Path, data: bytes, known: KnownFile) -> tuple[tuple[int, int, int], int, int]:
    """Add `data` to `path` if it is still the file `known` describes; returns its new identity,
    the size it had before, and how many bytes of line end were added before `data`.

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
        gap = b""
        if before.st_size and os.pread(fd, 1, before.st_size - 1) not in (b"\n", b"\r"):
            gap = known.line_end.encode()  # the last row had no line end: start a new line
            data = gap + data
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
    return csvtable.identity_of(after), before.st_size, len(gap)


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
