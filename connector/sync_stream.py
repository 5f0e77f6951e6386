"""A first sync that plans and writes as the contacts arrive, instead of reading them all first.

A first sync of a big account spends most of its time reading: on HubSpot's free tier the
contact search allows 5 requests a second while the account allows 10, so a sync that reads
everything, then writes everything, leaves half of the budget idle for as long as the read
lasts (100,000 contacts: 500 searches, then 700 batch creates). Here the read runs on its own
thread (`ReadAhead`, a bounded number of pages ahead), and the run plans each page's contacts
as it arrives and sends the creates while the next pages are read, under the one throttle that
knows both limits (connector/crm/hubspot/http.py).

When: the CRM says its read may run beside its writes (`Capabilities.reads_while_writing`),
the run is not a dry run, the state is new (no ledger row, no enrollment: nobody already
enrolled competes for capacity), no contact waits for a plan from an earlier run, the CRM holds
none of this account's tasks (else the state is rebuilt from them first: connector/rebuild.py),
and no cadence takes referrals (a referral goes first in the queue, so the whole read must be
known before anyone starts). Then every new enrollment would join an empty queue at the same
moment, and contacts start in the order they are read, which is contact-id order (the CRM's
search is sorted by id), while their owners have room; the rest are queued, as a paced first
sync always did.

The run's safety is unchanged: the task changes, the sweep and the restore run first (on a new
state they find nothing to do), each chunk's intents are recorded in one transaction with its
contacts before any of its writes is sent, and the cursors move only at the end, so a run killed
anywhere reads the same contacts again and reconciles what it sent.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from sequences.records import ContactState, Snapshot

from .crm.base import ContactBatch
from .rebuild import state_is_new

if TYPE_CHECKING:  # pragma: no cover
    from .sync import SyncRun

AHEAD = 64  # pages read ahead of the planning (64 x 200 contacts: memory stays small)
CHUNK = 1000  # contacts the engine plans at a time here (its default, 5,000, would wait for 25 pages)
JOIN_SECONDS = 2.0  # how long a finished run waits for the read thread to notice


def streams(run: SyncRun) -> bool:
    """Whether this run plans its contacts as they are read (see the module's docstring)."""
    return (run.crm.capabilities.reads_while_writing and not run.plan_only and state_is_new(run.store)
            and not any(c.referral_cadence for c in run.config.cadences) and not run.store.needs_plan(limit=1))


def plan_as_read(run: SyncRun) -> None:
    """The first sync's steps 3 and 4 with the read beside them: task changes and the sweep first
    (nothing to find on a new state), then one planning pass over the contacts as they arrive,
    then a usual planning of anything still waiting (a referrer a page marked)."""
    from sequences.engine import plan_iter  # as the sync imports it: when a run plans

    run.read_tasks_and_sweep()
    owners = {o.id: o for o in run.owners()}
    # the engine's chunks smaller: the first writes go out after 5 pages, not 25
    planner = partial(plan_iter, chunk=CHUNK) if run.planner is plan_iter else run.planner
    reader = ReadAhead(run.crm.read_contacts(run.read_context()))
    run.pusher.overlap = True  # each create batch leaves on the write thread while the next chunk is planned
    try:
        run._plan_pass(Snapshot(run.report.account, _arriving(run, reader), owners, run.owner_load(owners)),
                       planner=planner)
    finally:
        run.pusher.stop_overlap()
        reader.close()
    if run.store.needs_plan(limit=1):
        run.plan()


def _arriving(run: SyncRun, reader: ReadAhead) -> Iterator[ContactState]:
    """Each page's new or changed contacts, stored and then handed to the planner in page order."""
    for batch in reader:
        changed = run.ingest(batch)
        if changed:
            yield from run.states(known=changed)


class ReadAhead:
    """Iterates `pages` on a thread of its own, at most AHEAD pages ahead of the consumer; a
    failure of the read is raised to the consumer where the page would have been. `close()`
    stops the thread after the page it is reading (the run's stop event ends a wait at once)."""

    def __init__(self, pages: Iterator[ContactBatch]) -> None:
        self._pages = pages
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=AHEAD)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._read, name="cadence-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._put("page", page):
                    return
        except BaseException as exc:  # handed to the consumer, which decides what it means
            self._put("error", exc)
        else:
            self._put("end", None)
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()

    def _put(self, kind: str, value: object) -> bool:
        while not self._halt.is_set():
            try:
                self._queue.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[ContactBatch]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            assert isinstance(value, ContactBatch)
            yield value

    def close(self) -> None:
        self._halt.set()
        self._thread.join(JOIN_SECONDS)
