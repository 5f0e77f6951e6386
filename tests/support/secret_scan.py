"""A pytest plugin: the HubSpot canary token must never reach a log record or any test output.

Loaded for every session by ``-p support.secret_scan`` (pyproject.toml).
For the whole session it

- keeps a handler on the root logger at DEBUG that formats every record (message with its
  args, structured fields, exc_info/exc_text) and looks for the canary in it, as the
  record is emitted: before any redacting handler could hide a leak, so the check is
  that no code puts the token into a log record at all;
- reads every test report (`pytest_runtest_logreport`): captured stdout, stderr, log and
  the failure text (exception messages and tracebacks);
- offers ``scan_text(text, where)`` for tests to scan CLI output, files, reprs;

and at the end fails the session (exit status 1) with a message naming where each
occurrence was, the token itself masked, and prints one summary line:

    secret scan: N log lines, M test outputs scanned, 0 canary occurrences

Each occurrence is recorded, never printed with the token in it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

MASK = "<CANARY>"


def _canary() -> str:
    from support.hubspot import CANARY_TOKEN

    return CANARY_TOKEN


@dataclass(frozen=True)
class Finding:
    """One occurrence of a needle: where it was, and an excerpt with the needle masked."""

    where: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.excerpt}"


@dataclass
class SecretScan:
    """Counts what was scanned and keeps every occurrence of the needles (the canary by default)."""

    needles: tuple[str, ...] = ()
    log_lines: int = 0
    outputs: int = 0
    findings: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.needles:
            self.needles = (_canary(),)

    def find(self, text: str, where: str) -> list[Finding]:
        """Occurrences of any needle in `text` (not recorded); excerpts have the needle masked."""
        found = []
        for needle in self.needles:
            start = text.find(needle)
            while start != -1:
                excerpt = text[max(0, start - 60): start + len(needle) + 60]
                for other in self.needles:
                    excerpt = excerpt.replace(other, MASK)
                found.append(Finding(where, " ".join(excerpt.split())))
                start = text.find(needle, start + len(needle))
        return found

    def scan_log_line(self, line: str, where: str) -> list[Finding]:
        self.log_lines += 1
        found = self.find(line, where)
        self.findings += found
        return found

    def scan_output(self, text: str, where: str) -> list[Finding]:
        self.outputs += 1
        found = self.find(text, where)
        self.findings += found
        return found

    def scan_report(self, report: pytest.TestReport) -> list[Finding]:
        """A test report's captured stdout, stderr, log and failure text: one output."""
        parts = [("stdout", report.capstdout), ("stderr", report.capstderr), ("log", report.caplog),
                 ("failure", report.longreprtext if report.longrepr is not None else "")]
        standard = ("Captured stdout", "Captured stderr", "Captured log")  # already in the three above
        parts += [(title, content) for title, content in getattr(report, "sections", ()) if not title.startswith(standard)]
        self.outputs += 1
        found = []
        for name, text in parts:
            if text:
                found += self.find(text, f"{report.nodeid} ({report.when}, {name})")
        self.findings += found
        return found

    @property
    def occurrences(self) -> int:
        return len(self.findings)

    def summary(self) -> str:
        return (f"secret scan: {self.log_lines} log lines, {self.outputs} test outputs scanned, "
                f"{self.occurrences} canary occurrences")

    def failure_message(self, limit: int = 20) -> str:
        lines = [f"SECRET SCAN FAILED: the canary token appeared {self.occurrences} time(s) "
                 f"(masked as {MASK} below); tokens must never reach logs, errors or output:"]
        lines += [f"  {f}" for f in self.findings[:limit]]
        if self.occurrences > limit:
            lines.append(f"  ... and {self.occurrences - limit} more")
        return "\n".join(lines)


class RecordingHandler(logging.Handler):
    """Formats every record it sees (args, fields, traceback) and hands the line to the scan."""

    def __init__(self, scan: SecretScan) -> None:
        super().__init__(logging.DEBUG)
        self.scan = scan

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.scan.scan_log_line(_format_record(record), f"log record {record.name}:{record.levelname}")
        except Exception:  # never break the code under test; a broken record is scanned as best we can
            self.scan.scan_log_line(repr(record.__dict__), f"log record {record.name}:{record.levelname}")


def _format_record(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    values = getattr(record, "fields", None)
    if values:
        parts.append(json.dumps(values, default=repr, ensure_ascii=False))
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


# ------------------------------------------------------------------------- the session's scan

_current: SecretScan | None = None
_fallback: SecretScan | None = None


def current() -> SecretScan:
    """The running session's scan (a standalone one when the plugin is not registered)."""
    global _fallback
    if _current is not None:
        return _current
    if _fallback is None:
        _fallback = SecretScan()
    return _fallback


def scan_text(text: str | bytes, where: str = "test output") -> list[Finding]:
    """Scan CLI output (or any text) for the canary; occurrences fail the session. Returns them.

    Typical use: ``assert not scan_text(result.stdout + result.stderr, "cadence sync --json")``.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return current().scan_output(text, where)


def scan_all(items: Iterable[tuple[str, str | bytes]]) -> list[Finding]:
    found = []
    for where, text in items:
        found += scan_text(text, where)
    return found


_KEY = pytest.StashKey[tuple[SecretScan, RecordingHandler, int, "SecretScan | None"]]()


def pytest_configure(config: pytest.Config) -> None:
    global _current
    scan = SecretScan()
    handler = RecordingHandler(scan)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    config.stash[_KEY] = (scan, handler, previous_level, _current)
    _current = scan


def pytest_unconfigure(config: pytest.Config) -> None:
    global _current
    stashed = config.stash.get(_KEY, None)
    if stashed is None:
        return
    _scan, handler, previous_level, outer = stashed
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(previous_level)
    _current = outer


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Back to DEBUG before each test (a CLI run in process may have raised the root level)."""
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger().setLevel(logging.DEBUG)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _current is not None:
        _current.scan_report(report)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stashed = session.config.stash.get(_KEY, None)
    if stashed is not None and stashed[0].occurrences:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    stashed = config.stash.get(_KEY, None)
    if stashed is None:
        return
    scan = stashed[0]
    if scan.occurrences:
        terminalreporter.write_sep("=", "secret scan", red=True, bold=True)
        terminalreporter.write_line(scan.failure_message(), red=True)
    terminalreporter.write_line(scan.summary(), red=bool(scan.occurrences))
