"""Logging for runs and the service: `key=value` lines, JSON lines, or a progress bar.

    log.info("run finished", extra=fields(created=3, status="ok"))

prints, when not on a terminal (or with --log-format text):

    ts=2026-03-02T09:00:01Z level=info logger=connector.sync msg="run finished" created=3 status=ok

and with --log-format json one JSON object per line. Every handler carries a filter that
redacts the values of environment variables whose name contains TOKEN, SECRET, PASSWORD
or KEY (and anything that looks like a HubSpot private-app token), in messages, fields
and tracebacks alike.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import IO, Any

from .jsonable import loose

FIELDS = "fields"
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_?KEY|PRIVATE_?KEY", re.I)
_TOKEN_SHAPES = re.compile(r"\bpat-[a-z]{2,4}\d?-[0-9a-f-]{8,}\b|\bBearer\s+[A-Za-z0-9._~+/-]{8,}=*", re.I)
REDACTED = "[redacted]"


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a structured log line."""
    return {FIELDS: values}


def secret_values(env: Mapping[str, str] = os.environ) -> list[str]:
    """Values of env vars that look secret (long enough to be worth hiding), longest first."""
    found = {v for k, v in env.items() if _SECRET_NAME.search(k) and v and len(v) >= 6}
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every secret value and token-shaped string replaced."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, REDACTED)
    return _TOKEN_SHAPES.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """Scrubs secrets out of the message, the structured fields and the traceback of a record."""

    def __init__(self, env: Mapping[str, str] = os.environ):
        super().__init__()
        self.secrets = secret_values(env)

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage(), self.secrets)
        record.msg, record.args = message, None
        values = getattr(record, FIELDS, None)
        if isinstance(values, dict):
            setattr(record, FIELDS, {k: redact(v, self.secrets) if isinstance(v, str) else v for k, v in values.items()})
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        return True


def _stamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kv(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=loose, ensure_ascii=False)
    if text == "" or re.search(r'[\s="]', text):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = {"ts": _stamp(record), "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        parts.update(getattr(record, FIELDS, {}) or {})
        line = " ".join(f"{k}={_kv(v)}" for k, v in parts.items())
        if record.exc_text:
            line += " error=" + _kv(record.exc_text.strip().splitlines()[-1]) + "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"ts": _stamp(record), "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        data.update(getattr(record, FIELDS, {}) or {})
        if record.exc_text:
            data["traceback"] = record.exc_text
        return json.dumps(data, default=loose, ensure_ascii=False, sort_keys=False)


def setup_logging(fmt: str = "auto", *, level: int | str = logging.INFO, stream: IO[str] | None = None,
                  terminal_level: int | str | None = None) -> logging.Handler:
    """Install one handler on the root logger ("text", "json", or "auto": rich on a terminal, else text).

    `terminal_level`: with "auto" on a terminal, only records from this level up are shown
    (a person reads the run's summary there, not its log lines)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "rich" if _is_terminal(stream) else "text"
        if fmt == "rich" and terminal_level is not None:
            level = terminal_level
    handler: logging.Handler
    if fmt == "rich":
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(file=stream), show_path=False, rich_tracebacks=False)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_cadence", False)]:
        root.removeHandler(old)
    handler._cadence = True  # type: ignore[union-attr]  # a mark for the next call (and the tests)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


Progress = Callable[[str, int, int | None], None]


@contextlib.contextmanager
def progress_bar(enabled: bool | None = None, stream: IO[str] | None = None) -> Iterator[Progress | None]:
    """A `progress(phase, done, total)` callback drawing a rich bar on a terminal; None elsewhere."""
    stream = stream or sys.stderr
    if enabled is None:
        enabled = _is_terminal(stream)
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    bars = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(file=stream), transient=True)
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int | None) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(phase, total=total)
        bars.update(tasks[phase], completed=done, total=total)

    with bars:
        yield update
