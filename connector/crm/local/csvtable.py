"""A CSV file a person edits, read whole or not at all.

What a spreadsheet writes is accepted: UTF-8 with or without a byte-order mark, UTF-16
with one (Excel's "Unicode text"), cp1252 (Excel's plain "CSV" on Windows; set
`encoding:` in the crm block, or it is detected with a warning), CRLF or LF line ends,
and `,`, `;` or tab separators (sniffed from the header line, or set with `delimiter:`).

What cannot be read as a table of records is an `UnreadableFile`, located at
`file:line: field: message` with a hint: an empty file, bytes that are not text in the
encoding, a header without the key column (often: the wrong separator), a file that
changes while it is read or ends in the middle of a record. Nothing may be planned from such a file and it
must not be rewritten. A single malformed row in an otherwise readable file is returned
as a `RecordError` (e.g. a quote opened and never closed) for the caller to report and
skip, or, for a file it rewrites, to refuse the whole file.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.crm.base import ConfigError, UnreadableInput

from .csvio import Record, RecordError, read_records

DELIMITERS = (",", ";", "\t")
_NAMES = {",": "','", ";": "';'", "\t": "tab"}
SAVE_HINT = 'save it from the spreadsheet as "CSV UTF-8 (comma delimited)"'
READ_ATTEMPTS = 5
SETTLE_SECONDS = 0.2


class UnreadableFile(UnreadableInput):
    """A CRM file that cannot be read whole: `file:line: field: message` and what to do."""

    def __init__(self, label: str, line: int, field: str, message: str, hint: str = ""):
        self.label, self.line, self.field, self.message, self.hint = label, line, field, message, hint
        text = f"{label}:{line}: {field}: {message}"
        super().__init__(f"{text}; {hint}" if hint else text)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a file was written, so a rewrite or an append keeps it that way."""

    encoding: str = "utf-8"
    delimiter: str = ","
    bom: bool = False
    line_end: str = "\n"  # of the header line: "\r\n" when a spreadsheet saved it


@dataclass
class Table:
    """A whole CSV file: header, records (header excluded), malformed rows, how it was written."""

    header: list[str]
    records: list[Record]
    errors: list[RecordError]
    dialect: Dialect
    warnings: list[str] = field(default_factory=list)
    signature: tuple[int, int] | None = None  # (mtime_ns, size) of the bytes read
    identity: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) of the file read
    line_starts: list[int] | None = None  # byte offset of each physical line (when asked for, see read_table_whole)
    size: int = 0  # bytes parsed


def check_encoding(name: str) -> str:
    """The codec's canonical name; ValueError when Python does not know it."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r} (e.g. utf-8, cp1252, latin-1)") from None


def check_delimiter(value: str) -> str:
    """`,`, `;`, a tab (also written `tab` or `\\t`) or `|`; ValueError otherwise."""
    text = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(value.strip().lower(), value)
    if text not in (*DELIMITERS, "|"):
        raise ValueError(f"delimiter {value!r}: use ',', ';', 'tab' or '|'")
    return text


def file_format(settings: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The crm block's `encoding:` and `delimiter:` (None: detect), checked."""
    encoding, delimiter = settings.get("encoding"), settings.get("delimiter")
    try:
        return (check_encoding(str(encoding)) if encoding else None,
                check_delimiter(str(delimiter)) if delimiter else None)
    except ValueError as exc:
        key = "encoding" if "encoding" in str(exc) else "delimiter"
        raise ConfigError(f"crm.{key}: {exc}") from None


def identity_of(st: os.stat_result) -> tuple[int, int, int]:
    """(inode, mtime_ns, size): a file as this process last saw it (a save by a spreadsheet
    replaces the inode; an edit in place changes the time or size)."""
    return st.st_ino, st.st_mtime_ns, st.st_size


def read_table_whole(path: Path, label: str, key: str, *, encoding: str | None = None,
                     delimiter: str | None = None, missing_ok: bool = False,
                     trusted: tuple[int, int, int] | None = None,
                     cut: Callable[[bytes, os.stat_result], bytes] | None = None, line_starts: bool = False) -> Table:
    """The whole file as a Table, or UnreadableFile. A missing file is an empty table when `missing_ok`.

    `trusted`: the identity of a file this process wrote itself (no save of a person's in
    progress: read it at once). `cut`: what of the bytes read is the file (the tasks file
    leaves out an append a killed run left half-written, connector/crm/local/taskappend.py).
    `line_starts`: also note where each line starts in the bytes (a record's bytes are then from
    its line's start to the next record's), for UTF-8 text whose line ends are all LF or CRLF."""
    data, st = read_stable(path, label, missing_ok=missing_ok, trusted=trusted)
    if data is None or st is None:
        return Table([], [], [], Dialect(encoding or "utf-8", delimiter or ",", bom=True), signature=None)
    if cut:
        data = cut(data, st)
    table = parse_table(data, label, key, encoding=encoding, delimiter=delimiter)
    table.signature = (st.st_mtime_ns, st.st_size)
    table.identity = identity_of(st)
    table.size = len(data)
    if line_starts and table.dialect.encoding == "utf-8" and data.count(b"\r") == data.count(b"\r\n"):
        table.line_starts = [0, *(m.end() for m in re.finditer(b"\n", data))]
    return table


def read_stable_bytes(path: Path, label: str, *, missing_ok: bool = False,
                      attempts: int = READ_ATTEMPTS) -> tuple[bytes | None, tuple[int, int] | None]:
    """The file's bytes, read when they hold still: the same size and time before and after the
    read, and (when just modified) still the same a moment later. A save in progress is waited
    out a few times, then refused."""
    data, st = read_stable(path, label, missing_ok=missing_ok, attempts=attempts)
    return data, None if st is None else (st.st_mtime_ns, st.st_size)


def read_stable(path: Path, label: str, *, missing_ok: bool = False, attempts: int = READ_ATTEMPTS,
                trusted: tuple[int, int, int] | None = None) -> tuple[bytes | None, os.stat_result | None]:
    """`read_stable_bytes` with the file's stat (None when missing and `missing_ok`)."""
    for attempt in range(attempts):
        try:
            before = os.stat(path)
            with open(path, "rb") as f:
                data = f.read()
            after = os.stat(path)
        except FileNotFoundError:
            if missing_ok:
                return None, None
            raise UnreadableFile(label, 1, "file", "file not found", "restore it, or fix the path in the config") from None
        except IsADirectoryError:
            raise UnreadableFile(label, 1, "file", "is a folder, not a file") from None
        except PermissionError:
            raise UnreadableFile(label, 1, "file", "permission denied", "make it readable for this user") from None
        except OSError as exc:
            raise UnreadableFile(label, 1, "file", f"cannot be read: {exc.strerror or exc}") from None
        same = identity_of(before) == identity_of(after)
        fresh = time.time() - after.st_mtime < SETTLE_SECONDS and identity_of(after) != trusted
        if same and len(data) == after.st_size and not fresh:
            return data, after
        time.sleep(SETTLE_SECONDS * (attempt + 1))
    raise UnreadableFile(label, 1, "file", f"kept changing while being read ({attempts} tries)",
                         "a save in progress? nothing was planned from it; the next run reads it again")


def parse_table(data: bytes, label: str, key: str, *, encoding: str | None = None,
                delimiter: str | None = None) -> Table:
    """Bytes -> Table, or UnreadableFile."""
    text, used, bom, warnings = decode(data, label, encoding)
    if not text.strip():
        raise UnreadableFile(label, 1, "file", "the file is empty",
                             "restore it from a backup or an earlier copy; nothing was changed")
    header_line, header_text = _first_line(text)
    sep = delimiter or sniff_delimiter(header_text, key)
    items = list(read_records(io.StringIO(text, newline=""), max_record_lines=100_000, delimiter=sep))
    records = [r for r in items if isinstance(r, Record)]
    errors = [r for r in items if isinstance(r, RecordError)]
    if not records or records[0].line != header_line:
        line = errors[0].line if errors else header_line
        raise UnreadableFile(label, line, "header", "the column names cannot be read", SAVE_HINT)
    header = [h.strip().lstrip("\ufeff") for h in records[0].values]
    damaged = next((h for h in header if _DAMAGED_NAME.search(h)), None)
    if damaged is not None:  # e.g. a stray quote: a column such as do_not_contact would silently vanish
        raise UnreadableFile(label, header_line, "header", f"the column name {damaged!r} is damaged (a stray quote, "
                             "a control character or an unreadable byte)", SAVE_HINT)
    if key not in header:
        raise UnreadableFile(label, header_line, "header", f"no {key!r} column (columns: {_shown(header)})",
                             _header_hint(header_text, key, sep, delimiter is not None))
    _check_truncated(text, records, errors, header, label)
    rows, short = _check_widths(records[1:], header, label)
    errors = sorted(errors + short, key=lambda e: e.line)
    end = text.find("\n")
    line_end = "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"
    return Table(header, rows, errors, Dialect(used, sep, bom, line_end), warnings)


def decode(data: bytes, label: str, encoding: str | None) -> tuple[str, str, bool, list[str]]:
    """(text, encoding used, had a BOM, warnings). UTF-8 and UTF-16 with a BOM are recognised;
    without one UTF-8 is tried, then cp1252 with a warning, unless `encoding` is given."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data[3:], "utf-8", label), "utf-8", True, []
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data, "utf-16", label), "utf-16", True, []
    if encoding:
        return _decode(data, encoding, label), encoding, False, []
    try:
        return data.decode("utf-8"), "utf-8", False, []
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise _undecodable(data, utf8_error, label, "UTF-8 (nor cp1252)") from None
    return text, "cp1252", False, [
        f"not UTF-8: read as cp1252 (Windows Latin-1); set `encoding: cp1252` in the crm block to confirm, "
        f"or {SAVE_HINT}"
    ]


def _decode(data: bytes, encoding: str, label: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _undecodable(data, exc, label, encoding) from None


def _undecodable(data: bytes, exc: UnicodeDecodeError, label: str, what: str) -> UnreadableFile:
    line = data[: exc.start].count(b"\n") + 1
    byte = data[exc.start : exc.start + 1].hex()
    return UnreadableFile(label, line, "encoding", f"byte 0x{byte} is not {what}",
                          f"set `encoding:` in the crm block (e.g. cp1252), or {SAVE_HINT}")


def _first_line(text: str) -> tuple[int, str]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return number, line
    return 1, ""


_DAMAGED_NAME = re.compile('["\x00-\x1f\x7f\ufffd]')  # never in a column name a person gave


def sniff_delimiter(header: str, key: str) -> str:
    """The separator of a header line: the one that yields the key column, else the most used one."""
    counts = {d: _outside_quotes(header).count(d) for d in DELIMITERS}
    for d in sorted(DELIMITERS, key=lambda d: -counts[d]):
        if counts[d] and key in (c.strip().strip('"').lstrip("\ufeff") for c in header.split(d)):
            return d
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _outside_quotes(text: str) -> str:
    return "".join(part for i, part in enumerate(text.split('"')) if i % 2 == 0)


def _header_hint(header_text: str, key: str, sep: str, configured: bool) -> str:
    others = [d for d in DELIMITERS if d != sep and d in _outside_quotes(header_text)]
    if others:
        d = others[0]
        how = "the crm block's `delimiter:` says" if configured else "the header was read with"
        return f"saved with {_NAMES[d]} separators? {how} {_NAMES[sep]}; set `delimiter:` or {SAVE_HINT}"
    return f"the first line must hold the column names, one of them {key!r}"


def _check_truncated(text: str, records: list[Record], errors: list[RecordError], header: list[str], label: str) -> None:
    """A file that ends inside its last record (a save cut short: no final line break, fewer
    values than columns) is not read: the cut record would read as a row of empty values."""
    if len(records) < 2 or text.endswith(("\n", "\r")):
        return
    last = records[-1]
    if len(last.values) < len(header) and (not errors or errors[-1].line < last.line):
        raise UnreadableFile(label, last.line, "file", f"ends in the middle of a record ({len(last.values)} of "
                             f"{len(header)} values)", "a save cut short? nothing was read from this file")
    if errors and errors[-1].line > last.line:
        raise UnreadableFile(label, errors[-1].line, "file", "ends inside a quoted value",
                             "a save cut short? nothing was read from this file")


def _check_widths(rows: list[Record], header: list[str], label: str) -> tuple[list[Record], list[RecordError]]:
    """Rows as wide as the header. When most rows agree on another width, the header and the
    data disagree (a column added or removed in the header): every value would land in the
    wrong column, so the file is not read. When most rows are as wide as the header, a row
    with fewer values was cut short (or split by a line break) and is a malformed row."""
    widths = Counter(len(r.values) for r in rows)
    if not widths:
        return rows, []
    common, count = widths.most_common(1)[0]
    if common != len(header) and len(rows) >= 3 and count >= 0.8 * len(rows):
        line = next(r.line for r in rows if len(r.values) == common)
        raise UnreadableFile(label, line, "header", f"the header names {len(header)} columns but most rows have "
                             f"{common} values", "a column added or removed in the header only? nothing was read from this file")
    if common != len(header):
        return rows, []
    short = [r for r in rows if len(r.values) < len(header)]
    problems = [RecordError(r.line, f"{len(r.values)} of {len(header)} values (cut short, or a line break inside "
                                    "a value that is not in quotes?)") for r in short]
    return [r for r in rows if len(r.values) >= len(header)], problems


def _shown(header: list[str]) -> str:
    text = ", ".join(header)
    return text if len(text) <= 120 else text[:117] + "..."
