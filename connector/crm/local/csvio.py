"""CSV files people edit by hand: tolerant reading with line numbers, atomic writes, a lock.

Reading never gives up on the whole file because of one row: a row with broken quoting
is reported at its first line and parsing resumes on the next line. Writing goes through
a temp file in the same directory, fsync, and a rename, so a reader (or a crash) only
ever sees the old file or the new one.

Every cell written is safe to open in a spreadsheet (`spreadsheet_safe`: a value that would
begin a formula gets a leading `'`), and every cell read is given back as it was before it
was made safe (`from_spreadsheet`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from filelock import lock_descriptor, unlock_descriptor


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: the first physical line it starts on and its values."""

    line: int
    values: list[str]


@dataclass(frozen=True, slots=True)
class RecordError:
    line: int
    message: str


# a NUL is never part of what a person typed: the row was damaged (a crash mid-save, a binary
# export, a disk error), so it is reported and skipped like broken quoting, never read as a value
NUL_PROBLEM = "a NUL byte in a value: the row is damaged"


def _numbered(f: IO[str]) -> Iterator[tuple[int, str]]:
    yield from enumerate(f, start=1)


def read_records(f: IO[str], *, max_record_lines: int = 200, delimiter: str = ",") -> Iterator[Record | RecordError]:
    """Records of an open CSV file (opened with newline=''), header included.

    A record may span lines (a quoted field with newlines). When quotes don't balance
    within `max_record_lines`, or the record is malformed, a RecordError names its first
    line and reading resumes at the following line.
    """
    source = _numbered(f)
    ahead: deque[tuple[int, str]] = deque()
    width: int | None = None
    limit = csv.field_size_limit()  # a longer value is an error of the csv reader's
    fast = len(delimiter) == 1 and delimiter not in '"\r\n\0'

    def fill(n: int) -> bool:
        while len(ahead) < n:
            nxt = next(source, None)
            if nxt is None:
                return False
            ahead.append(nxt)
        return True

    while fill(1):
        first_line, line = ahead[0]
        if fast and '"' not in line and len(line) <= limit:
            # A line without quotes is one record whose values are what lies between the separators
            # (what the csv reader makes of it), unless it holds a line break or NUL before its end.
            body = line[:-2] if line[-2:] == "\r\n" else line[:-1] if line[-1:] in ("\n", "\r") else line
            if "\n" not in body and "\r" not in body and "\0" not in body:
                ahead.popleft()
                if not body:
                    continue  # blank line
                values = body.split(delimiter)
                width = width or len(values)
                yield _record(first_line, values)
                continue
        taken = 1
        quotes = line.count('"')
        while quotes % 2 and taken < max_record_lines and fill(taken + 1):
            quotes += ahead[taken][1].count('"')
            taken += 1
        text = "".join(ahead[i][1] for i in range(taken))
        problem = None
        values = []
        if quotes % 2:
            problem = "broken quoting: a quote is opened and never closed"
        else:
            try:
                values = next(csv.reader([text], strict=True, delimiter=delimiter), [])
            except csv.Error as exc:
                problem = f"broken quoting: {exc}"
            else:
                if taken > 1 and width is not None and len(values) != width:
                    problem = "broken quoting: a quoted value runs over several lines"
                elif any("\0" in v for v in values):
                    problem = NUL_PROBLEM
        if problem:
            ahead.popleft()
            yield RecordError(first_line, problem)
            continue
        for _ in range(taken):
            ahead.popleft()
        if not values or values == [""]:
            continue  # blank line
        width = width or len(values)
        yield _record(first_line, values)


def _record(line: int, values: list[str]) -> Record:
    """A record's values as they were before the tool made them safe for a spreadsheet."""
    return Record(line, [from_spreadsheet(v) if v[:1] == "'" else v for v in values])


def read_table(path: Path) -> tuple[list[str], list[Record], list[RecordError]]:
    """Header, records and errors of a whole small CSV file (an empty list when missing)."""
    if not path.exists():
        return [], [], []
    with open(path, newline="", encoding="utf-8-sig") as f:
        items = list(read_records(f, max_record_lines=100_000))
    records = [r for r in items if isinstance(r, Record)]
    errors = [r for r in items if isinstance(r, RecordError)]
    if not records:
        return [], [], errors
    header = [h.strip() for h in records[0].values]
    return header, records[1:], errors


def as_dict(header: Sequence[str], values: Sequence[str]) -> dict[str, str]:
    """A record as a column -> value dict; missing trailing values are empty."""
    padded = list(values) + [""] * (len(header) - len(values))
    return {name: padded[i] for i, name in enumerate(header) if name}


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ChangedWhileWriting(OSError):
    """The file changed between our read and our rename: merge again."""


def atomic_write_text(
    path: Path, write: Callable[[IO[str]], None], *, unchanged_since: tuple[int, int] | bool | None = False,
    encoding: str = "utf-8",
) -> os.stat_result:
    """Write a file through a temp file + fsync + rename; the callable fills it. Returns the
    written file's stat (its inode, time and size: how a later write knows the file is still ours).

    With `unchanged_since` (a `stat_signature`), the rename only happens if the file
    still has that signature; otherwise ChangedWhileWriting is raised and nothing changes.
    `encoding="utf-8-sig"` starts the file with a byte-order mark (how Excel recognises UTF-8).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding=encoding) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            written = os.fstat(f.fileno())
        _keep_mode(path, tmp)
        if unchanged_since is not False and stat_signature(path) != unchanged_since:
            raise ChangedWhileWriting(str(path))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)
    return written


def _keep_mode(path: Path, tmp: Path) -> None:
    """The rewritten file keeps the permissions of the one it replaces."""
    with contextlib.suppress(OSError):
        os.chmod(tmp, path.stat().st_mode & 0o7777)


def _one_line_end(value: object) -> object:
    """A lone carriage return is not quoted by the csv writer (its line end is "\\n") and
    would split the row when read back: store line breaks as "\\n" only."""
    if isinstance(value, str) and "\r" in value:
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


# A spreadsheet evaluates a cell that begins with one of these as a formula (OWASP, "CSV
# Injection"): `=HYPERLINK(...)` in a contact's name would run when a recruiter opens tasks.csv.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A cell as written to every CSV file: one that would begin a formula is prefixed with a
    single quote (`'=SUM(A1)`, `'+1 555 0100`, `'-5`), as OWASP advises, so a spreadsheet shows it
    as text. A value that already begins with quotes before such a character gets one more,
    so `from_spreadsheet` gives back exactly the value written, whatever it was."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def from_spreadsheet(value: str) -> str:
    """A cell as read from a CSV file: the inverse of `spreadsheet_safe`. A person who typed
    `'+1 555 0100` to keep a spreadsheet from reading a phone number as a sum gets `+1 555 0100`."""
    if value.startswith("'") and value.lstrip("'").startswith(FORMULA_STARTS):
        return value[1:]
    return value


_CHANGED_FIRST = frozenset("'=+-@\t\r")  # a cell starting with one of these may need a quote


def _cell(value: object) -> object:
    """A value as written: one line end style, safe in a spreadsheet (most values pass unchanged)."""
    if isinstance(value, str) and (not value or value[0] not in _CHANGED_FIRST) and "\r" not in value:
        return value
    return spreadsheet_safe(_one_line_end(value))


def _cells(values: list[Any]) -> list[Any]:
    """`_cell` of each value (the common case, text that needs nothing, without a call per cell)."""
    try:
        return [_cell(v) if v[:1] in _CHANGED_FIRST or "\r" in v else v for v in values]
    except TypeError:  # a value that is not text
        return [_cell(v) for v in values]


def row_cells(rows: Iterable[Mapping[str, Any]], names: Sequence[str]) -> Iterator[list[Any]]:
    """Each row's cells in the order of `names` (missing: empty), made safe for a spreadsheet."""
    for row in rows:
        yield _cells([row.get(name, "") for name in names])


def csv_lines(header: Sequence[str], rows: Iterable[Mapping[str, str]], *, delimiter: str = ",",
              line_end: str = "\n") -> str:
    """Rows (dicts keyed by `header`; missing keys are empty) as CSV text, every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end, delimiter=delimiter)
    writer.writerows(row_cells(rows, list(header)))
    return buffer.getvalue()


def atomic_write_rows(
    path: Path,
    header: Sequence[str],
    rows: Iterable[dict[str, str]],
    *,
    unchanged_since: tuple[int, int] | bool | None = False,
    delimiter: str = ",",
    bom: bool = False,
) -> os.stat_result:
    """Replace `path` with a CSV of `rows` (dicts keyed by `header`; missing keys are empty),
    atomically; UTF-8, with a byte-order mark when `bom` (so Excel shows accents right).
    Returns the written file's stat (see `atomic_write_text`)."""

    names = list(header)

    def write(f: IO[str]) -> None:
        writer = csv.writer(f, lineterminator="\n", delimiter=delimiter)
        writer.writerow([_cell(name) for name in names])
        writer.writerows(row_cells(rows, names))

    return atomic_write_text(path, write, unchanged_since=unchanged_since, encoding="utf-8-sig" if bom else "utf-8")


def atomic_write_bytes(path: Path, data: bytes, *, unchanged_since: tuple[int, int] | bool | None = False) -> os.stat_result:
    """`atomic_write_text` of bytes as they are."""

    def write(f: IO[str]) -> None:
        f.buffer.write(data)  # type: ignore[attr-defined]

    return atomic_write_text(path, write, unchanged_since=unchanged_since)


def atomic_append_rows(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], *,
                       encoding: str = "utf-8", delimiter: str = ",") -> None:
    """Append rows to a CSV, keeping the existing bytes as they are (and their encoding and
    separator), atomically. UnicodeEncodeError when a value cannot be written in `encoding`.

    If someone saves the file while we write, the append is redone on their version.
    """
    for _ in range(5):
        signature = stat_signature(path)
        try:
            _append_once(path, header, rows, signature, encoding, delimiter)
            return
        except ChangedWhileWriting:
            continue
    raise ChangedWhileWriting(str(path))


def _csv_bytes(rows: Sequence[Sequence[Any]], encoding: str, delimiter: str, line_end: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end, delimiter=delimiter)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-16-le" if encoding == "utf-16" else encoding)


def _append_once(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], signature: tuple[int, int] | None,
                 encoding: str, delimiter: str) -> None:
    original = path.read_bytes() if path.exists() else b""
    line_end = "\r\n" if b"\r\n" in original[:65536] else "\n"
    added = b"" if original else _csv_bytes([header], encoding, delimiter, line_end)
    if original and not original.endswith((b"\n", b"\r")):
        added += line_end.encode("utf-16-le" if encoding == "utf-16" else encoding)
    added += _csv_bytes(rows, encoding, delimiter, line_end)

    def write(f: IO[str]) -> None:
        f.buffer.write(original + added)  # type: ignore[attr-defined]

    atomic_write_text(path, write, unchanged_since=signature)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive OS lock on `<path>.lock` for a short read-merge-write (blocking; filelock:
    flock on POSIX, LockFileEx on Windows)."""
    lock_path = path.with_name(f".{path.name}.lock")
    with open(lock_path, "a+") as handle:
        lock_descriptor(handle.fileno())
        try:
            yield
        finally:
            unlock_descriptor(handle.fileno())


def stat_signature(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of a file, or None when missing: detects edits during a merge."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size
