"""`cadence plan`, `cadence sync`, `cadence serve`, `cadence status`."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from connector.clikit import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    Command,
    echo_json,
    exit_code_for,
    fail,
    load_config_or_exit,
    parse_now,
    run_hook,
)
from connector.store import Store

_FORMATS = click.Choice(["auto", "text", "json"])


def _run(config: Path, now: str | None, plan_only: bool, as_json: bool, log_format: str, allow_mass_exit: bool = False) -> None:
    from connector.logs import progress_bar, setup_logging
    from connector.service import stop_on_signals
    from connector.sync import LockHeld, run_sync

    # on a terminal (auto): a progress bar, then a summary; only warnings interrupt it
    setup_logging(log_format, level=logging.WARNING if plan_only else logging.INFO, terminal_level=logging.WARNING)
    moment = parse_now(now)
    loaded = load_config_or_exit(config)
    stop = threading.Event()
    try:
        with stop_on_signals(stop), progress_bar(None if not as_json else False) as progress:
            report = run_sync(loaded, now=moment, plan_only=plan_only, stop=stop, progress=progress,
                              allow_mass_exit=allow_mass_exit, hook=run_hook())
    except LockHeld as exc:
        fail(str(exc), EXIT_RUN_FAILED)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(_summary(loaded, report, config), nl=False)
    code = exit_code_for(report.status)
    if code != EXIT_OK:
        click.echo(f"error: {report.errors[0] if report.errors else 'the run ' + report.status}", err=True)
        raise SystemExit(code)


def _summary(loaded: Any, report: Any, config: Path) -> str:
    """The run as a person reads it (connector/views/runtext.py): owners named from the state's cache."""
    from connector.views.runtext import reader_for, render, terminal_width
    from connector.views.state import cached_owners

    owners = cached_owners(loaded, report.account)
    return render(report, reader_for(loaded, owners, str(config)), terminal_width())


_ALLOW = click.option("--allow-mass-exit", is_flag=True,
                      help="Confirm a run that ends or moves many enrollments because their records vanished "
                           "(the config's mass_exit limits).")


@click.command("plan", cls=Command)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--now", help="Plan as of this ISO 8601 time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_ALLOW
def plan_command(config: Path, now: str | None, as_json: bool, allow_mass_exit: bool) -> None:
    """Dry run: the tasks a sync would create and close now, with reasons. Writes nothing.

    Exit codes as for `sync`.
    """
    _run(config, now, True, as_json, "auto", allow_mass_exit)


@click.command("sync", cls=Command)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--now", help="Run as of this ISO 8601 time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.option("--log-format", type=_FORMATS, default="auto", show_default=True,
              help="Log lines on stderr: key=value text, JSON lines, or auto (progress bar on a terminal).")
@_ALLOW
def sync_command(config: Path, now: str | None, as_json: bool, log_format: str, allow_mass_exit: bool) -> None:
    """One sync: read contacts and tasks, plan, write follow-up tasks to the CRM.

    \b
    Exit 0: the run did its job (rows it had to skip are in the report), or it was
            stopped by SIGTERM/Ctrl-C after recording its work (the next run resumes).
    Exit 1: the run failed (CRM unreachable or refusing), or another sync holds the lock.
    Exit 2: bad input (config, flags, missing token, a CRM file that cannot be read
            whole), or a mass change held for --allow-mass-exit. Nothing was written.
    """
    _run(config, now, False, as_json, log_format, allow_mass_exit)


@click.command("serve", cls=Command)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--every", help="Interval between runs: 30s, 15m, 1h, 1h30m.")
@click.option("--cron", "cron", help='Cron expression, e.g. "*/15 * * * *" (UTC).')
@click.option("--jitter", default="0s", show_default=True, help="Random delay added to each run, e.g. 30s.")
@click.option("--log-format", type=_FORMATS, default="auto", show_default=True)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on /metrics and a health check on /healthz on this port.")
def serve_command(config: Path, every: str | None, cron: str | None, jitter: str, log_format: str,
                  metrics_port: int | None) -> None:
    """Sync on a schedule until SIGTERM/SIGINT; a failed run is logged and the next one runs as planned."""
    from connector.logs import setup_logging
    from connector.service import Schedule, parse_every, serve, stop_on_signals

    try:
        schedule = Schedule(
            every=parse_every(every) if every else None,
            cron=cron,
            jitter=parse_every(jitter) if jitter.strip() not in ("0", "0s", "") else timedelta(0),
        )
    except ValueError as exc:
        fail(str(exc))
    load_config_or_exit(config)  # a bad config at start-up is exit 2, not a service logging errors forever
    setup_logging("text" if log_format == "auto" else log_format)
    stop = threading.Event()
    run_once = None
    if metrics_port is not None:
        from connector.metrics import Metrics, serve_metrics
        from connector.service import metered_run_once

        metrics = Metrics()
        # healthy while the loop runs: it beats at every run, and may wait up to a period between runs
        period = schedule.every.total_seconds() if schedule.every else 86400.0
        serve_metrics(metrics, metrics_port, stale_after=2 * period + 600)
        run_once = metered_run_once(metrics)
    with stop_on_signals(stop):
        serve(config, schedule, stop=stop, run_once=run_once)


@click.command("status", cls=Command)
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--now", help="Count overdue tasks as of this ISO 8601 time (default: now).")
def status_command(config: Path, as_json: bool, now: str | None) -> None:
    """Enrollments by cadence, step and state; exits by reason; open and overdue tasks per owner; last runs."""
    from connector.crm.registry import account_of
    from connector.store_factory import open_store, state_location

    moment = parse_now(now)
    loaded = load_config_or_exit(config)
    account = account_of(loaded)  # from the config alone: no token, no request
    from connector.views import status as status_view
    from connector.views.runtext import terminal_width
    from connector.views.state import StateView

    where = state_location(loaded)
    store = open_store(where, account, read_only=True)
    try:
        view = StateView(loaded.config, store, where.describe())
        data = status_view.build(view, moment, _status(loaded.config, store, moment, where.describe()))
        text = "" if as_json else status_view.render(data, view, terminal_width())
    finally:
        store.close()
    if as_json:
        echo_json(data)
    else:
        click.echo(text, nl=False)


def _step_name(config: Any, cadence_id: str, version: int, index: int) -> str:
    cadence = config.cadence(cadence_id)
    if index < 0:
        return "(not started)"
    if cadence is not None and cadence.version == version and index < len(cadence.steps):
        return cadence.steps[index].id
    return f"step {index + 1}"


def _status(config: Any, store: Store, now: datetime, path: str) -> dict[str, Any]:
    rows = store.enrollment_summary()
    enrollments = [
        {"cadence": r["cadence_id"], "version": r["version"], "step": _step_name(config, r["cadence_id"], r["version"], r["step_index"]),
         "status": r["status"], "count": r["n"]}
        for r in rows if r["status"] in ("active", "snoozed")
    ]
    ended: dict[tuple[str, str, str], int] = {}
    for r in rows:
        if r["status"] in ("finished", "exited"):
            key = (r["cadence_id"], r["status"], r["reason"])
            ended[key] = ended.get(key, 0) + r["n"]
    runs = store.runs(10)
    return {
        "state_file": str(path),
        "account": store.account,
        "now": now,
        "enrollments": _merge_counts(enrollments),
        "ended": [{"cadence": c, "status": s, "reason": why, "count": n} for (c, s, why), n in sorted(ended.items())],
        "owners": store.task_summary(now),
        "pacing": store.pacing_summary(),
        "runs": [
            {"id": r.id, "started_at": r.started_at, "ended_at": r.ended_at, "status": r.status, "counts": r.counts, "error": r.error}
            for r in runs
        ],
    }


def _merge_counts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple, dict[str, Any]] = {}
    for item in items:
        key = (item["cadence"], item["version"], item["step"], item["status"])
        if key in merged:
            merged[key]["count"] += item["count"]
        else:
            merged[key] = dict(item)
    return list(merged.values())
