"""The push side of a sync run: closes, then creates, in batches of the CRM's size.

Every write was recorded as an intent before this runs (connector/sync.py). Each create
batch is marked `unknown` just before it is sent and its results are recorded right after:
a run killed in between leaves rows the next run reconciles (connector/reconcile.py)
before anything is re-sent.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
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
OUT_AT_ONCE = 8  # create batches handed to the write thread and not yet recorded (overlap); sent one at a time


def retry_at(row: LedgerRow) -> datetime | None:
    """When a create that failed may be sent again (None: it never failed)."""
    if not row.attempts or row.updated_at is None:
        return None
    if row.status == FAILED:
        return row.updated_at + REFUSED_RETRY
    return row.updated_at + min(FIRST_RETRY * 2 ** min(row.attempts - 1, 12), LAST_RETRY)


class _NotSent(Exception):
    """A batch the write thread did not send because one before it failed (its rows stay `unknown`)."""


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

    With `overlap` on (a streamed first sync: connector/sync_stream.py), create batches are handed
    to a write thread that sends them one after another while the run goes on planning, up to
    OUT_AT_ONCE of them out and not yet recorded: the writes use every request the rate limit
    leaves the read, instead of waiting for the planner between chunks (the first batch of the pass
    goes alone: a refusal that would refuse them all is seen on one). The order of the safety
    steps does not change: a batch's rows are marked `unknown` before it is handed over, and its
    results are recorded on the run's thread (which owns the state), in the order the batches
    were sent, before the run ends. A run that fails or is stopped meanwhile takes back the
    batches not yet sent and records the ones that land (`stop_overlap`); rows it cannot record
    stay `unknown`, which the next run reconciles before anything is sent again."""

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
        self._flights: deque[tuple[list[Any], Future[list[WriteResult]]]] = deque()  # out, oldest first
        self._refused = threading.Event()  # a batch out raised: the write thread sends no more

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
        When `final`, the batches out (overlap) have landed and are recorded on return."""
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
                # what landed is recorded first; the first batch alone, so a refusal that would refuse
                # every batch (token, scopes, a property) ends the pass before more are handed over
                self.collect(keep=OUT_AT_ONCE - 1 if self.overlap and self.batches_sent > 1 else 0)
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
            self._flights.append((tasks, self._pool.submit(self._send, tasks)))
        if final:
            self.collect()

    def _send(self, tasks: list[Any]) -> list[WriteResult]:
        """A batch on the write thread; after one that raised, the ones behind it are not sent."""
        if self._refused.is_set():
            raise _NotSent()
        try:
            return call_batch(self.crm.create_tasks, tasks)
        except BaseException:
            self._refused.set()
            raise

    def collect(self, keep: int = 0) -> None:
        """The batches out that have landed recorded, oldest first, waiting for the oldest while more
        than `keep` are out (a failure is raised here, as the call's own would have been)."""
        while self._flights and (len(self._flights) > keep or self._flights[0][1].done()):
            tasks, future = self._flights.popleft()
            self._landed(tasks, future.result())

    def stop_overlap(self) -> None:
        """The end of the overlapped pass, however it ends. A pass that failed or was stopped with
        batches out takes back those not yet sent, waits for the one being sent and records what
        the CRM answered for each that landed; the rows of a batch taken back, failed, or that cannot
        be recorded stay `unknown` (the next run reconciles them) and the failure that ended the
        pass is the one raised."""
        flights, self._flights = list(self._flights), deque()
        self._refused.set()  # a batch the write thread has not started is not sent (_NotSent)
        wait([future for _, future in flights])
        self._refused.clear()
        for tasks, future in flights:
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
