"""`cadence serve`: run the sync on a schedule until told to stop.

Every run re-reads the config (so a change merged into git applies on the next run),
takes the account's single-runner lock, and is logged. A failed run is logged and the
loop carries on; a run that finds the lock held is skipped. SIGTERM or SIGINT sets a stop
event: the run in flight finishes its current batch, records it, and the loop exits
within seconds.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from croniter import croniter

from sequences.durations import parse_interval

from .logs import fields

log = logging.getLogger(__name__)

def parse_every(text: str) -> timedelta:
    """`--every` / `--jitter`: '15m', '30s', '1h30m', '2h', '1d' (or plain seconds), read by
    `sequences.durations.parse_interval`, the one home of duration parsing."""
    try:
        return parse_interval(text)
    except ValueError as exc:
        raise ValueError(f"--every: {exc}") from None


@dataclass(frozen=True)
class Schedule:
    """Either a fixed interval (first run at once) or a cron expression (first run at its next time)."""

    every: timedelta | None = None
    cron: str | None = None
    jitter: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of --every and --cron")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"--cron: {self.cron!r} is not a cron expression (e.g. '*/15 * * * *')")

    def first(self, now: datetime) -> datetime:
        return now if self.every is not None else self.next_after(now)

    def next_after(self, started: datetime) -> datetime:
        if self.every is not None:
            base = started + self.every
        else:
            assert self.cron is not None  # exactly one of the two is set (checked at construction)
            base = croniter(self.cron, started).get_next(datetime)
        spread = self.jitter.total_seconds()
        return base + timedelta(seconds=random.uniform(0, spread)) if spread else base


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGTERM/SIGINT set `stop` (a second SIGINT interrupts at once). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {}

    def handler(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("stop requested: finishing the batch in flight", extra=fields(signal=signal.Signals(signum).name))
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(
    config_path: Path,
    schedule: Schedule,
    *,
    stop: threading.Event,
    run_once: Callable[[Path, threading.Event], str] | None = None,
    max_runs: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> int:
    """Loop until `stop` is set (or `max_runs` runs); return the number of runs attempted."""
    run_once = run_once or _run_once
    runs = 0
    due = schedule.first(clock())
    log.info("service started", extra=fields(config=str(config_path), every=str(schedule.every or ""), cron=schedule.cron or ""))
    while not stop.is_set():
        wait = (due - clock()).total_seconds()
        if wait > 0 and stop.wait(wait):
            break
        started = clock()
        runs += 1
        try:
            status = run_once(config_path, stop)
        except Exception:  # survive anything: log it, try again next time
            log.exception("run crashed; the service carries on", extra=fields(run=runs))
            status = "crashed"
        log.info("run done", extra=fields(run=runs, status=status, next=schedule.next_after(started).isoformat()))
        if max_runs is not None and runs >= max_runs:
            break
        due = schedule.next_after(started)
    log.info("service stopped", extra=fields(runs=runs))
    return runs


def metered_run_once(metrics: Any) -> Callable[[Path, threading.Event], str]:
    """`_run_once` that also feeds Prometheus metrics (connector.metrics.Metrics)."""

    def run_once(config_path: Path, stop: threading.Event) -> str:
        metrics.alive()
        return _run_once(config_path, stop, metrics=metrics)

    return run_once


def _run_once(config_path: Path, stop: threading.Event, metrics: Any = None) -> str:
    """One sync with a freshly read config; returns the run's status (never raises for expected failures)."""
    from .configfile import ConfigFileError, load_config
    from .crm.base import ConfigError
    from .sync import LockHeld, run_sync

    try:
        loaded = load_config(config_path)
    except ConfigFileError as exc:
        for problem in exc.problems:
            log.error("config problem", extra=fields(problem=str(problem)))
        return "bad-config"
    name = loaded.config.account or str(config_path)
    started = time.monotonic()
    try:
        report = run_sync(loaded, stop=stop)
    except LockHeld as exc:
        log.warning("run skipped", extra=fields(reason=str(exc)))
        if metrics is not None:
            metrics.count_status(name, "skipped")
        return "skipped"
    except ConfigError as exc:
        log.error("CRM settings problem", extra=fields(error=str(exc)))
        if metrics is not None:
            metrics.count_status(name, "bad-config")
        return "bad-config"
    if metrics is not None:
        metrics.observe_run(report.account or name, report, time.monotonic() - started, crm=loaded.config.crm.type)
    return report.status
