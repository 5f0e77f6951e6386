"""The push side of a sync run: closes, then creates, in batches of the CRM's size.

Every write was recorded as an intent before this runs (connector/sync.py). Each create
batch is marked `unknown` just before it is sent and its results are recorded right after:
a run killed in between leaves rows the next run reconciles (connector/reconcile.py)
before anything is re-sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from .crm.base import CRM, WriteResult
from .store import CREATED, FAILED, PENDING, LedgerRow, Store
from .sync_report import CloseItem, SyncReport, task_item

FIRST_RETRY = timedelta(minutes=1)  # after a create failed retryably; doubled at each failure
LAST_RETRY = timedelta(hours=1)  # the longest wait between two tries of a retryable failure
REFUSED_RETRY = timedelta(hours=24)  # a create the CRM refused (a person must fix something) is tried again daily
UNWRITTEN_SHOWN = 5  # unwritten tasks named in the report (all are counted)


def retry_at(row: LedgerRow) -> datetime | None:
    """When a create that failed may be sent again (None: it never failed)."""
    if not row.attempts or row.updated_at is None:
        return None
    if row.status == FAILED:
        return row.updated_at + REFUSED_RETRY
    return row.updated_at + min(FIRST_RETRY * 2 ** min(row.attempts - 1, 12), LAST_RETRY)


def call_batch(method: Callable[[Sequence[Any]], list[WriteResult]], items: Sequence[Any]) -> list[WriteResult]:
    """One batch call; results missing or out of order become `unknown` (never assumed failed)."""
    results = list(method(items))
    by_key = {r.key: r for r in results}
    if len(results) == len(items) and all(r.key == i.key for r, i in zip(results, items, strict=True)):
        return results
    return [by_key.get(i.key) or WriteResult(i.key, False, error="no result for this item", unknown=True) for i in items]


class Pusher:
    """Sends a run's recorded closes and creates; remembers what it sent so that a write that
    failed (retryably) waits for the next run instead of being re-sent within this one.

    With `overlap` on (a streamed first sync: connector/sync_stream.py), a create batch is sent on
    a thread of its own while the run goes on planning, one batch in flight at a time. The order
    of the safety steps does not change: the batch's rows are marked `unknown` before it leaves,
    and its results are recorded (on the run's thread, which owns the state) before the next
    batch is sent and before the run ends; a run that fails or is stopped meanwhile waits for the
    batch to land and records it (`stop_overlap`), or, if that cannot be done, leaves its rows
    `unknown`, which the next run reconciles."""

    def __init__(self, crm: CRM, store: Store, report: SyncReport, now: datetime, *,
                 check_stop: Callable[[], None], progress: Callable[..., None], hook: Callable[[str], None]):
        self.crm, self.store, self.report, self.now = crm, store, report, now
        self.check_stop, self.progress, self.hook = check_stop, progress, hook
        self.size = crm.capabilities.max_batch
        self.sent: set[str] = set()  # keys sent this run
        self.closing: set[str] = set()  # closes sent this run
        self.batches_sent = 0
        self.created_sent = 0  # creates sent and recorded this run (the progress figure)
        self.overlap = False
        self._pool: ThreadPoolExecutor | None = None
        self._flight: tuple[list[Any], Future[list[WriteResult]]] | None = None

    def push_closes(self) -> None:
        after = ""
        while rows := self.store.closes_due(limit=self.size, after=after):
            after = rows[-1].key
            unsent = [r for r in rows if r.status in (PENDING, FAILED)]
            if unsent:
                self.store.close_unsent([r.key for r in unsent], self.now)
                for r in unsent:
                    self.report.add("closed", CloseItem(r.key, r.contact_id, "", f"{r.close_reason} (never sent)"))
            sendable = [r for r in rows if r.status == CREATED and r.key not in self.closing]
            self.closing.update(r.key for r in sendable)  # a failed close waits for the next run
            if sendable:
                self.check_stop()
                results = call_batch(self.crm.close_tasks, [r.close_request() for r in sendable])
                self.store.record_closes(results, self.now)
                for row, res in zip(sendable, results, strict=True):
                    if res.ok:
                        self.report.add("closed", CloseItem(row.key, row.contact_id, "", row.close_reason))
                    else:
                        self.report.error(f"close {row.key} (contact {row.contact_id}): {res.error}")

    def push_creates(self, final: bool = True) -> None:
        """Send pending creates in batches; until `final`, only full batches (no half-empty requests).
        When `final`, the batch in flight (overlap) has landed and is recorded on return."""
        size = self.size
        after = ""
        while rows := self.store.ledger([PENDING, FAILED], limit=size, after=after):
            after = rows[-1].key
            # a failure waits for the next run (and for its back-off) before it is sent again
            rows = [r for r in rows if r.key not in self.sent and ((due := retry_at(r)) is None or due <= self.now)]
            if not rows:
                continue
            if not final and len(rows) < size:
                break
            if self.batches_sent:
                self.collect()  # the batch out (overlap) lands and is recorded first: one out at a time
                self.hook("between_batches")
            self.check_stop()
            tasks = [r.task for r in rows]
            self.sent.update(t.key for t in tasks)
            self.batches_sent += 1
            self.store.mark_sending([t.key for t in tasks], self.now)
            # if this raises, the rows stay `unknown`: the next run reconciles them before resending
            if not self.overlap:
                self._landed(tasks, call_batch(self.crm.create_tasks, tasks))
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cadence-write")
            self._flight = (tasks, self._pool.submit(call_batch, self.crm.create_tasks, tasks))
        if final:
            self.collect()

    def collect(self) -> None:
        """The batch in flight, if any, waited for and recorded (its failure raised here, as the
        call's own would have been)."""
        if self._flight is None:
            return
        tasks, future = self._flight
        self._flight = None
        self._landed(tasks, future.result())

    def stop_overlap(self) -> None:
        """The end of the overlapped pass, however it ends. A pass that failed or was stopped with
        a batch in flight waits for it to land and records what the CRM answered; if the batch
        failed too, or cannot be recorded, its rows stay `unknown` (the next run reconciles them)
        and the failure that ended the pass is the one raised."""
        flight, self._flight = self._flight, None
        if flight is not None:
            tasks, future = flight
            wait([future])
            if future.exception() is None:
                with contextlib.suppress(Exception):
                    self._landed(tasks, future.result())
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.overlap = False

    def _landed(self, tasks: list[Any], results: list[WriteResult]) -> None:
        """A create batch's results: recorded in the state, then reported."""
        self.hook("after_crm_write")
        self.store.record_creates(results, self.now)
        self.created_sent += len(tasks)
        self.progress("creating tasks", self.created_sent, None)
        for task, res in zip(tasks, results, strict=True):
            if res.ok:
                self.report.add("created", task_item(task, res.crm_id))
            elif res.unknown:
                self.report.counts["unknown"] += 1
                self.report.error(f"create {task.key} (contact {task.contact_id}): outcome unknown, will reconcile: {res.error}")
            else:
                self.report.error(f"create {task.key} (contact {task.contact_id}): {res.error}"
                                  + (" (will retry)" if res.retryable else ""))

    def report_unwritten(self) -> None:
        """Every run names the creates that could not be written (refused by the CRM, or waiting
        for their next try; those this run sent were named as they failed): a run that leaves any
        of them is not `ok`."""
        rows = [r for r in self.store.ledger([FAILED]) if r.close_reason == ""]
        rows += [r for r in self.store.ledger([PENDING]) if r.attempts]
        if not rows:
            return
        self.report.counts["unwritten"] = len(rows)
        refused = sum(1 for r in rows if r.status == FAILED)
        self.report.error(f"{len(rows)} task(s) could not be written to the CRM yet ({refused} refused by it: "
                          f"fix what it says and they are sent again within a day; the others are retried)")
        for row in sorted((r for r in rows if r.key not in self.sent), key=lambda r: r.key)[:UNWRITTEN_SHOWN]:
            when = retry_at(row)
            self.report.error(f"not written: task {row.key} (contact {row.contact_id}), {row.attempts} attempt(s): "
                              f"{row.last_error}" + (f"; next try after {when:%Y-%m-%d %H:%M} UTC" if when else ""))


def report_pending(store: Store, report: SyncReport) -> None:
    """A dry run: list what a sync would send now (new intents and leftovers)."""
    after = ""
    while rows := store.ledger([PENDING], limit=1000, after=after):
        after = rows[-1].key
        for r in rows:
            report.add("created", task_item(r.task, ""))
    after = ""
    while rows := store.closes_due(limit=1000, after=after):
        after = rows[-1].key
        for r in rows:
            report.add("closed", CloseItem(r.key, r.contact_id, "", r.close_reason))
