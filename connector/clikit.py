"""Small shared pieces of the command line: exit codes, JSON output, user errors."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, NoReturn

import click

from connector.jsonable import jsonable

# A sync allocates millions of short-lived records; with CPython's default first-generation
# threshold (700) the collector took a third of the engine's time. Runs set this instead
# (most records are freed by reference counting; the collector only hunts cycles).
GC_THRESHOLD = (200_000, 50, 100)

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2

# One table for every command (README "Exit codes"). A run's report status -> exit code:
# a run stopped on request (SIGTERM, Ctrl-C) recorded what it sent and the next run resumes,
# so it is not a failure; a run refused for bad input or held for a mass change is exit 2.
# A run that could not write every task it planned ("incomplete") is exit 1 until they are written.
STATUS_EXIT = {"ok": EXIT_OK, "stopped": EXIT_OK, "deferred": EXIT_RUN_FAILED, "failed": EXIT_RUN_FAILED,
               "incomplete": EXIT_RUN_FAILED,
               "refused": EXIT_BAD_INPUT, "held": EXIT_BAD_INPUT}


class UserError(click.ClickException):
    """A mistake the user can fix: printed without a traceback, exit code 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class RunFailed(click.ClickException):
    """The run could not do its job (CRM down, lock held...): exit code 1."""

    exit_code = EXIT_RUN_FAILED

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def run_hook() -> Any:
    """The run hook a test launcher injected as the click context's `obj.run_hook` (tests/support/launch.py),
    or None: the command line reads no test settings of its own."""
    context = click.get_current_context(silent=True)
    return getattr(context.obj, "run_hook", None) if context is not None else None


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    raise (UserError if code == EXIT_BAD_INPUT else RunFailed)(message)


def dumps(data: Any) -> str:
    """Stable JSON for machine output (sorted keys, ISO dates)."""
    return json.dumps(data, default=jsonable, sort_keys=True, indent=2, ensure_ascii=False)


def echo_json(data: Any) -> None:
    sys.stdout.write(dumps(data) + "\n")


def parse_now(value: str | None) -> datetime:
    """`--now` as an aware UTC datetime; default: the real clock (the shell's only clock)."""
    from datetime import timezone

    if not value:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--now: {value!r} is not an ISO 8601 date-time (e.g. 2026-03-02T09:00:00Z)")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def load_config_or_exit(path: Any) -> Any:
    """The loaded config, or every problem on stderr (one per line) and exit 2."""
    from connector.configfile import ConfigFileError, load_config

    try:
        return load_config(path)
    except ConfigFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None


def exit_code_for(status: str) -> int:
    """The exit code of a run that ended with this report status."""
    return STATUS_EXIT.get(status, EXIT_RUN_FAILED)


def user_facing(exc: BaseException) -> click.ClickException | None:
    """What a person can cause, as a one-line error and its exit code (None: a bug, keep the traceback).

    Bad input (2): config and CRM settings, a missing token, CRM files that cannot be read,
    a state file a person must deal with (`BadStateFile`: empty, not a state file, cut short,
    damaged, newer schema, a folder a sync cannot write; connector/statefile.py).
    The run failed (1): the CRM refused or could not be reached, the state's database could
    not be reached or written mid-run.
    """
    import sqlite3

    from connector.crm.base import ConfigError, CRMError, UnreadableInput
    from connector.store import BadStateFile, StateFileError

    if isinstance(exc, (ConfigError, UnreadableInput, BadStateFile)):
        return UserError(str(exc))
    if isinstance(exc, (CRMError, StateFileError)):
        return RunFailed(str(exc))
    if isinstance(exc, sqlite3.Error):
        return RunFailed(f"the state file cannot be used: {exc} (is its folder writable? is it a crm-cadence state file?)")
    if isinstance(exc, OSError):
        if exc.filename:
            return RunFailed(f"{exc.filename}: {exc.strerror or exc} (a folder that cannot be written? a file that cannot be read?)")
        return RunFailed(str(exc.strerror or exc))
    return None


def _friendly(invoke: Any, ctx: click.Context) -> Any:
    try:
        return invoke(ctx)
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        friendly = user_facing(exc)
        if friendly is None:
            raise
        raise friendly from None


class Command(click.Command):
    """A command whose user-caused errors end in one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        return _friendly(super().invoke, ctx)


class CommandGroup(click.Group):
    """The `cadence` group: anything a user can cause ends in one line on stderr and the
    documented exit code, never a traceback, whichever command raised it."""

    def invoke(self, ctx: click.Context) -> Any:
        return _friendly(super().invoke, ctx)
