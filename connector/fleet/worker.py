"""`cadence worker FLEET`: procrastinate workers syncing a fleet of accounts from a shared PostgreSQL.

Scheduling is procrastinate's, not ours:

- each account's schedule is a procrastinate periodic task (periodic id = the account's
  name): every worker runs the deferrer, and the database's unique constraint on (task,
  periodic id, period) defers each period once, however many workers run;
- each job carries `lock=cadence:<account>`: procrastinate runs one job per lock at a time,
  across all workers (and the sync itself holds the account's advisory lock);
- workers send a heartbeat; a job whose worker stopped beating (SIGKILL, power cut, lost
  network) for `stalled_after` seconds is put back in the queue by any live worker and
  runs again (the sync is safe to rerun: see connector/sync.py);
- SIGTERM (or Ctrl-C): the worker stops taking jobs, asks the syncs in flight to stop at
  their next safe point (what they sent is recorded, the next period resumes), waits for
  them, and exits 0. A second SIGTERM cancels them.

A job's `now` is its period's scheduled time, so a rerun of a stalled job plans as the
first attempt did. Each attempt is logged in the `fleet_runs` table (account, period, job,
worker, wall-clock start and end, status): `cadence fleet status` reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any

import procrastinate
import psycopg
from sqlalchemy import Column, Integer, MetaData, Table, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from ..logs import fields, redact
from ..store_pg import connect as pg_connect
from .fleetfile import Fleet, FleetAccount

log = logging.getLogger(__name__)

TASK_NAME = "crm_cadence.sync_account"
_LOCK_SPACE = 0x43414443
_FLEET_SCHEMA_LOCK = 2

fleet_metadata = MetaData()
fleet_runs = Table(
    "fleet_runs", fleet_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", Text, nullable=False), Column("period", Integer, nullable=False),
    Column("job_id", Integer, nullable=False), Column("worker", Text, nullable=False),
    Column("started_at", Text, nullable=False), Column("ended_at", Text),
    Column("status", Text, nullable=False), Column("error", Text, nullable=False, server_default=""),
    Column("created", Integer, nullable=False, server_default="0"), Column("closed", Integer, nullable=False, server_default="0"),
)


def _wall() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def prepare_database(url: str) -> None:
    """Create procrastinate's tables and `fleet_runs` once, under an advisory lock (workers that
    start together wait for the first; the rest find everything there)."""
    db = pg_connect(url)
    try:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _FLEET_SCHEMA_LOCK))
            found = db.execute("SELECT to_regclass('procrastinate_jobs') AS t").fetchone()
            if not (found and found["t"]):
                from procrastinate.schema import SchemaManager

                db.execute(SchemaManager.get_schema())
            found = db.execute("SELECT to_regclass('fleet_runs') AS t").fetchone()
            if not (found and found["t"]):
                for table in fleet_metadata.sorted_tables:
                    db.execute(str(CreateTable(table).compile(dialect=postgresql.dialect())))
                    for index in table.indexes:
                        db.execute(str(CreateIndex(index).compile(dialect=postgresql.dialect())))
    finally:
        db.close()


class FleetWorker:
    """One worker process: a procrastinate app whose jobs sync the fleet's accounts."""

    def __init__(self, fleet: Fleet, *, concurrency: int = 1, heartbeat: float = 10.0, stalled_after: float = 30.0,
                 metrics: Any = None, hook: Any = None):
        self.fleet = fleet
        self.concurrency = concurrency
        self.heartbeat = heartbeat
        self.stalled_after = stalled_after
        self.metrics = metrics
        self.hook = hook  # tests: called at the sync's kill points (connector.sync.KILL_POINTS)
        self.stop = threading.Event()  # asks the syncs in flight to stop at their next safe point
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=fleet.state.url))
        self._register()

    def _register(self) -> None:
        worker = self

        @self.app.task(name=TASK_NAME, pass_context=True)
        def sync_account(context: Any, timestamp: int, account: str) -> str:
            return worker.run_account(account, timestamp, job_id=int(context.job.id or 0))

        for account in self.fleet.accounts:
            self.app.periodic(cron=account.cron, periodic_id=account.name,
                              task_kwargs={"account": account.name}, lock=f"cadence:{account.name}")(sync_account)

    # -- one job
    def run_account(self, name: str, timestamp: int, *, job_id: int = 0) -> str:
        """Sync one account for the period starting at `timestamp`; return the run's status."""
        from ..configfile import ConfigFileError, load_config
        from ..crm.base import ConfigError
        from ..sync import LockHeld, run_sync

        account: FleetAccount = self.fleet.account(name)
        record = self._record_start(name, timestamp, job_id)
        status, error, created, closed = "failed", "", 0, 0
        clock = time.monotonic()
        try:
            loaded = load_config(account.config)
            extra: dict[str, Any] = {"hook": self.hook} if self.hook is not None else {}
            report = run_sync(loaded, now=datetime.fromtimestamp(timestamp, tz=timezone.utc), stop=self.stop,
                              state=self.fleet.state, **extra)
            status = report.status
            created, closed = int(report.counts["created"]), int(report.counts["closed"])
            error = "; ".join(str(e) for e in getattr(report, "errors", [])[:3])
            if self.metrics is not None:
                self.metrics.observe_run(name, report, time.monotonic() - clock, crm=loaded.config.crm.type)
        except ConfigFileError as exc:
            status, error = "bad-config", "; ".join(str(p) for p in exc.problems)
        except ConfigError as exc:
            status, error = "bad-config", str(exc)
        except LockHeld as exc:
            status, error = "skipped", str(exc)
        except Exception as exc:  # a bug or a lost database: recorded, and the worker carries on
            status, error = "failed", redact(f"{type(exc).__name__}: {exc}")
            log.exception("account sync failed", extra=fields(account=name, period=timestamp))
        finally:
            if self.metrics is not None and status != "ok":
                self.metrics.count_status(name, status)
            self._record_end(record, status, error, created, closed)
        log.info("account synced", extra=fields(account=name, period=timestamp, status=status, created=created, closed=closed))
        return status

    def _record_start(self, account: str, period: int, job_id: int) -> int:
        db = pg_connect(self.fleet.state.url)
        try:
            row = db.execute(
                "INSERT INTO fleet_runs (account, period, job_id, worker, started_at, status) "
                "VALUES (%s, %s, %s, %s, %s, 'running') RETURNING id",
                (account, period, job_id, self.name, _wall()),
            ).fetchone()
            return int(row["id"]) if row else 0
        finally:
            db.close()

    def _record_end(self, record: int, status: str, error: str, created: int, closed: int) -> None:
        with contextlib.suppress(psycopg.Error):
            db = pg_connect(self.fleet.state.url)
            try:
                db.execute("UPDATE fleet_runs SET ended_at=%s, status=%s, error=%s, created=%s, closed=%s WHERE id=%s",
                           (_wall(), status, error[:2000], created, closed, record))
            finally:
                db.close()

    # -- the worker loop
    async def _retry_stalled(self) -> None:
        """Put back in the queue the jobs of workers whose heartbeat lapsed."""
        while True:
            await asyncio.sleep(max(self.heartbeat, 0.5))
            if self.metrics is not None:
                self.metrics.alive()
            try:
                stalled = await self.app.job_manager.get_stalled_jobs(
                    task_name=TASK_NAME, seconds_since_heartbeat=self.stalled_after)
                for job in stalled:
                    with contextlib.suppress(Exception):  # another worker may have retried it first
                        await self.app.job_manager.retry_job(job)
                        log.warning("stalled job handed back to the queue",
                                    extra=fields(job=job.id, account=(job.task_kwargs or {}).get("account", "")))
            except Exception:
                log.exception("looking for stalled jobs failed; trying again")

    async def run_async(self) -> None:
        prepare_database(self.fleet.state.url)
        loop = asyncio.get_running_loop()
        async with self.app.open_async():
            worker = asyncio.create_task(self.app.run_worker_async(
                name=self.name, concurrency=self.concurrency, install_signal_handlers=False,
                update_heartbeat_interval=self.heartbeat, stalled_worker_timeout=self.stalled_after,
                fetch_job_polling_interval=1.0, wait=True))
            retry = asyncio.create_task(self._retry_stalled())
            signals = 0

            def on_signal() -> None:
                nonlocal signals
                signals += 1
                self.stop.set()  # the syncs in flight stop at their next safe point
                if signals == 1:
                    log.info("worker stopping: finishing the jobs in flight")
                    worker.cancel()  # procrastinate stops fetching and waits for the running jobs
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal)
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            finally:
                retry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retry
        log.info("worker stopped", extra=fields(worker=self.name))

    def run(self) -> None:
        asyncio.run(self.run_async())
