"""`cadence worker FLEET` and `cadence fleet status FLEET`."""

from __future__ import annotations

from pathlib import Path

import click

from connector.clikit import EXIT_BAD_INPUT, Command, CommandGroup, echo_json, parse_now, run_hook


def _load_fleet_or_exit(path: Path) -> object:
    from .fleetfile import FleetFileError, load_fleet

    try:
        return load_fleet(path)
    except FleetFileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None


@click.command("worker", cls=Command)
@click.argument("fleet_file", metavar="FLEET", type=click.Path(path_type=Path))
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Accounts this worker syncs at the same time.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on /metrics and a health check on /healthz on this port.")
@click.option("--heartbeat", type=click.FloatRange(0.2, 600), default=10.0, show_default=True,
              help="Seconds between this worker's heartbeats.")
@click.option("--stalled-after", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
              help="A job whose worker has not beaten for this long is handed to another worker.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def worker_command(fleet_file: Path, concurrency: int, metrics_port: int | None, heartbeat: float,
                   stalled_after: float, log_format: str) -> None:
    """Sync a fleet's accounts on their schedules, with any number of workers on any number of machines.

    Every worker needs the fleet file (the same one) and reaches the PostgreSQL named by its
    `state:`. Each period of each account is synced once, one run per account at a time; a job of
    a worker that dies is handed to another. SIGTERM: the syncs in flight stop at a safe point, exit 0.
    """
    from connector.logs import setup_logging

    from .fleetfile import Fleet
    from .worker import FleetWorker, prepare_database

    fleet = _load_fleet_or_exit(fleet_file)
    assert isinstance(fleet, Fleet)
    setup_logging(log_format)
    prepare_database(fleet.state.url)  # an unreachable server: one line, exit 1
    metrics = None
    if metrics_port is not None:
        from connector.metrics import Metrics, serve_metrics

        metrics = Metrics()
        serve_metrics(metrics, metrics_port)
    hook = run_hook()  # a test's run hook (tests/support/launch.py); None in production
    FleetWorker(fleet, concurrency=concurrency, heartbeat=heartbeat, stalled_after=stalled_after, metrics=metrics,
                hook=hook).run()


@click.group("fleet", cls=CommandGroup)
def fleet_group() -> None:
    """A fleet of accounts synced by `cadence worker`."""


@fleet_group.command("status", cls=Command)
@click.argument("fleet_file", metavar="FLEET", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--now", help="Compute lag and next runs as of this ISO 8601 time (default: now).")
def fleet_status_command(fleet_file: Path, as_json: bool, now: str | None) -> None:
    """Each account's last run, next run, lag behind its schedule, and errors since its last good run."""
    from .fleetfile import Fleet
    from .status import fleet_status, status_text

    fleet = _load_fleet_or_exit(fleet_file)
    assert isinstance(fleet, Fleet)
    rows = fleet_status(fleet, parse_now(now))
    if as_json:
        echo_json(rows)
    else:
        click.echo(status_text(rows))
