"""One sync run: pull changes -> plan -> record intents -> push -> record.

The order is what makes the sync safe to kill at any instant:

1. Take the account's single-runner lock (non-blocking; a second run gives up at once).
2. Reconcile ledger rows left `unknown` by an earlier run (found in the CRM -> created;
   not found -> pending again, but only once the CRM's search lag has passed).
3. Read contacts changed since the cursor (minus a safety overlap) page by page into the
   contacts cache, then the task changes, marking the contacts that need a plan.
4. Plan those contacts with the engine and record every intended create and close AND
   the enrollment changes in ONE transaction, before any write to the CRM.
5. Push closes, then creates, in batches of `capabilities.max_batch`: each batch is marked
   `unknown` just before it is sent and its results recorded right after.
6. Move the cursors (never past the run's start) and log the run.

Where each step lives: 1 in connector/runlock.py (or the store's own lock), 2 and the sweep
(3b) in connector/reconcile.py, 5 in connector/sync_push.py; 3, 4 and 6 here.

`plan_only=True` runs steps 2-4 against a private in-memory copy of the state and tells
the CRM it is a dry run: nothing is written anywhere.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

from sequences.capacity import day_counts
from sequences.config import Config
from sequences.pacing import queue_reach
from sequences.records import Contact, ContactPlan, ContactState, Owner, Snapshot

from .crm.base import CRM, ContactBatch, CRMError, FatalCRMError, ReadContext, RetryLaterError, UnreadableInput
from .crm.stop import StopRequested, StopsOnRequest
from .cursors import RunCursors, read_from
from .logs import fields, redact
from .massexit import MassExitHeld, MassExitLimit
from .rebuild import lost_state_records, rebuild_lost_state, state_is_new
from .reconcile import known_if_merged, reconcile_unknown, restore_missing_tasks, sweep
from .runlock import LockHeld
from .store import CLOSED, Store
from .store_factory import StateLocation, open_store, state_location
from .sync_push import Pusher, report_pending
from .sync_read import read_context
from .sync_report import NoteItem, SyncReport, fill_names
from .sync_stream import plan_as_read, streams

log = logging.getLogger(__name__)

PLAN_PAGE = 500
OWNERS_MAX_AGE = timedelta(hours=1)  # owners change rarely: re-read them at most hourly
PLAN_CHUNK = 2000  # contacts planned and recorded before their writes are sent
# the points of a run where `run_sync(hook=...)` is called with the point's name: tests kill or pause the
# process there (tests/support/launch.py); production runs pass no hook
KILL_POINTS = ("after_intents", "between_batches", "after_crm_write", "before_cursor")

# notes counted in the report: pacing and the horizon at a glance
_STARTS = ("enroll", "reengage")  # the notes of a contact whose enrollment starts
_NOTE_COUNTS = {"queue": "queued", "plan": "planned_in_state", "unreachable": "unreachable", "unassignable": "unassignable"}

Planner = Callable[[Config, Snapshot, datetime], Iterable[ContactPlan]]
RunHook = Callable[[str], None]  # called with a KILL_POINTS name

__all__ = ["KILL_POINTS", "LockHeld", "SyncStopped", "run_sync"]  # LockHeld: what run_sync raises (connector/runlock.py)


class SyncStopped(Exception):
    """Raised inside a run when the stop event is set (SIGTERM/SIGINT)."""


# -------------------------------------------------------------------------- helpers


def _no_hook(point: str) -> None:
    """The run hook of a production run: nothing happens at the kill points."""


def _default_planner() -> Planner:
    from sequences.engine import plan_iter

    return plan_iter


# ------------------------------------------------------------------------------ run


class SyncRun:
    """The steps of one sync run, in the order that makes it safe to kill (see the module's docstring)."""

    def __init__(self, config: Config, crm: CRM, store: Store, report: SyncReport, now: datetime,
                 planner: Planner, stop: threading.Event, plan_only: bool, progress: Callable[..., None] | None,
                 mass_exit: MassExitLimit | None = None, hook: RunHook = _no_hook, wall: datetime | None = None):
        self.config, self.crm, self.store, self.report = config, crm, store, report
        self.hook = hook
        self.mass_exit = mass_exit or MassExitLimit()
        self.now, self.planner, self.stop, self.plan_only = now, planner, stop, plan_only
        self.progress = progress or (lambda *a: None)
        self.swept = False
        self.pusher = Pusher(crm, store, report, now, check_stop=self.check_stop, progress=self.progress, hook=hook)
        self.push_closes = self.pusher.push_closes
        self.push_creates = self.pusher.push_creates
        # the real time of the run (`wall`): no cursor passes it
        self.cursors = RunCursors(store, report, now, wall or datetime.now(timezone.utc))
        self.cursor = self.cursors.get

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise SyncStopped()

    # -- 3. read
    def read_context(self) -> ReadContext:
        return read_context(self.config, read_from(self.cursor("contacts")), read_from(self.cursor("tasks")),
                            self.now, self.plan_only)

    def read_contacts(self) -> None:
        for batch in self.crm.read_contacts(self.read_context()):
            self.ingest(batch)

    def ingest(self, batch: ContactBatch) -> dict[str, Contact]:
        """One page of contacts into the state: those that changed (they need a plan), in page order."""
        for bad in batch.bad:
            self.report.add("bad_records", bad)
        self.cursors.marks["contacts"].see(c.modified_at for c in batch.contacts)
        stored = known_if_merged(self.store, batch.contacts)
        changed = self.store.upsert_contacts(stored, self.now)
        new = set(changed)
        referrers = {c.referred_by for c in batch.contacts if c.id in new and c.referred_by}
        if referrers:
            self.store.mark_needs_plan(referrers)
        self.report.counts["contacts_read"] += len(batch.contacts)
        self.report.counts["contacts_changed"] += len(new)
        self.report.counts["contacts_gone"] += sum(1 for c in batch.contacts if c.merged_into and c.id in new)
        self.progress("reading contacts", self.report.counts["contacts_read"], None)
        self.check_stop()
        by_id = {c.id: c for c in stored}
        return {cid: by_id[cid] for cid in changed}

    def read_tasks(self) -> None:
        states = list(self.crm.read_task_changes(read_from(self.cursor("tasks")), self.store.open_task_ids()))
        self.cursors.marks["tasks"].see(s.modified_at for s in states)
        changed = self.store.apply_task_states(states, self.now)
        self.store.mark_needs_plan(changed)
        due = self.store.mark_due(self.now)
        self.report.counts["contacts_with_task_changes"] += len(changed)
        self.report.counts["enrollments_due"] += due

    def read_tasks_and_sweep(self) -> None:
        self.read_tasks()
        self.check_stop()
        self.swept = sweep(self.crm, self.store, self.report, self.now, self.mass_exit, self.cursor("sweep"))  # 3b.
        self.check_stop()
        restore_missing_tasks(self.crm, self.store, self.report, plan_only=self.plan_only)
        self.check_stop()

    # -- 4. plan and record intents
    def owner_load(self, owners: dict[str, Owner]) -> dict[tuple[str, str], int]:
        """Tasks per (owner, owner-local day) from yesterday on, done or open: the capacity guard's input."""
        tasks = self.store.task_load(self.now - timedelta(days=1))
        return day_counts(tasks, owners, self.config.calendar.timezone)

    def states(self, only: Sequence[str] | None = None, known: Mapping[str, Contact] | None = None) -> Iterator[ContactState]:
        """Contacts needing a plan, in id order; or the contacts `only` names, in that order; or
        the contacts `known` holds (just stored: not read back), in its order."""
        if known is not None:
            only = list(known)
        after = ""
        pages = (list(only[i:i + PLAN_PAGE]) for i in range(0, len(only), PLAN_PAGE)) if only is not None else None
        while ids := (next(pages, []) if pages is not None else self.store.needs_plan(after=after, limit=PLAN_PAGE)):
            after = ids[-1]
            contacts = {i: known[i] for i in ids if i in known} if known is not None else self.store.contacts(ids)
            enrollments = self.store.enrollments(ids)
            tasks = self.store.tasks_of(ids)
            referrals = self.store.referrals_of(ids)
            referrers = self.store.contacts({c.referred_by for c in contacts.values() if c.referred_by})
            for cid in ids:
                contact = contacts.get(cid)
                if contact is None:
                    continue
                rows = tasks.get(cid, [])
                yield ContactState(
                    contact=contact,
                    enrollments=enrollments.get(cid, ()),
                    tasks=tuple(r.state() for r in rows),
                    touches=tuple(sorted(r.completed_at for r in rows
                                        if r.completed_at and r.crm_status == "completed" and r.status != CLOSED)),
                    referrer=referrers.get(contact.referred_by),
                    referrals=tuple(referrals.get(cid, ())),
                )

    def plan(self) -> None:
        """Plan in chunks; each chunk's intents and enrollment changes are recorded in one
        transaction before any of its writes is sent, then (unless a dry run) sent while
        the next chunk waits. Planning thus overlaps the CRM's rate limit instead of adding
        to it, and a crash at any point leaves recorded intents for the next run."""
        owners = {o.id: o for o in self.owners()}
        paced = self.config.pacing.enroll_at_capacity
        if paced and state_is_new(self.store) and not self.store.has_referrals():
            # a first planning with no referrals: every new enrollment would join an empty queue at
            # the same moment, so the queue's order is contact-id order (the order of this pass) and
            # nobody already enrolled competes for capacity; one pass starts contacts in that order
            # while their owners have room and queues the rest, as the second pass would, and plans
            # each contact once instead of twice
            self._plan_pass(Snapshot(self.report.account, self.states(), owners, self.owner_load(owners)))
            return
        # pass 1: everyone who needs a plan; new enrollments join the queue (when paced)
        queued: set[str] = set()  # contacts pass 1 queued (and said so)
        self._plan_pass(Snapshot(self.report.account, self.states(), owners, self.owner_load(owners),
                                 admit=False if paced else None), queued=queued if paced else None)
        if paced:
            # pass 2: the head of the queue, in queue order, starts as far as capacity allows
            head = self.store.queued_contacts(queue_reach(self.config, self.now))
            if head:
                self.report.counts["queue_considered"] += len(head)
                self._plan_pass(Snapshot(self.report.account, self.states(only=head), owners, self.owner_load(owners)),
                                superseded=queued)

    def _plan_pass(self, snapshot: Snapshot, *, queued: set[str] | None = None,
                   superseded: set[str] | None = None, planner: Planner | None = None) -> None:
        """One planning pass (by `planner`, else the run's). `queued` collects the contacts this pass
        queued; a contact in `superseded` that this pass starts is reported as started only (its
        queue note from the first pass is taken back before the start is added)."""
        plans = iter((planner or self.planner)(self.config, snapshot, self.now))
        planned, first = 0, True
        while True:
            with self.store.transaction():
                chunk = list(islice(plans, PLAN_CHUNK))
                if superseded:
                    self.report.withdraw_notes("queue", {cp.contact_id for cp in chunk if cp.contact_id in superseded
                                                         and any(n.kind in _STARTS for n in cp.notes)}, "queued")
                if queued is not None:
                    queued.update(cp.contact_id for cp in chunk if any(n.kind == "queue" for n in cp.notes))
                self.record_chunk(chunk)
            planned += len(chunk)
            self.progress("planning", planned, None)
            if chunk:
                log.info("intents recorded", extra=fields(contacts=planned, creates=self.report.counts["intended_creates"],
                                                          closes=self.report.counts["intended_closes"]))
            if self.plan_only:
                if not chunk:
                    break
                continue
            if first and not self.report.counts["contacts_planned"]:
                self.hook("after_intents")
                first = False
            self.push_closes()
            self.push_creates(final=not chunk)
            if not chunk:
                break
        self.report.counts["contacts_planned"] += planned

    def owners(self) -> list[Owner]:
        """The CRM's owners, read at most once an hour (cached in the state)."""
        cached = self.store.cached_owners(OWNERS_MAX_AGE, self.now)
        if cached is not None:
            return cached
        owners = self.crm.list_owners()
        if not self.plan_only:
            self.store.cache_owners(owners, self.now)
        return owners

    def record_chunk(self, chunk: Sequence[ContactPlan]) -> None:
        """Record a chunk's plans (inside its transaction): one batched write per kind, in the order
        a single contact's were made (intents, closes, enrollments, needs-plan cleared)."""
        self.report.counts["intended_creates"] += self.store.add_intents((t for cp in chunk for t in cp.creates), self.now)
        self.report.counts["intended_closes"] += self.store.request_closes((c for cp in chunk for c in cp.closes), self.now)
        self.store.put_enrollments_many({cp.contact_id: cp.enrollments for cp in chunk if cp.enrollments is not None}, self.now)
        for cp in chunk:
            for note in cp.notes:
                counted = _NOTE_COUNTS.get(note.kind)
                if counted:
                    self.report.counts[counted] += 1
                item = NoteItem(note.contact_id, "", note.kind, note.cadence_id, note.step_id, note.reason)
                self.report.add("skipped" if note.kind == "skip" else "notes", item)
        self.store.clear_needs_plan([cp.contact_id for cp in chunk])

    # -- 6. cursors
    def move_cursors(self) -> None:
        self.hook("before_cursor")
        self.cursors.move(self.swept)

    def execute(self) -> None:
        reconcile_unknown(self.crm, self.store, self.report, self.now)  # 2.
        self.check_stop()
        lost = lost_state_records(self.crm, self.store, self.report)  # a new state: the CRM's tasks, if any
        if not lost and streams(self):
            plan_as_read(self)  # a first sync: planned and written as the contacts arrive
        else:
            self.read_contacts()
            self.check_stop()
            rebuild_lost_state(self.crm, self.store, self.config, self.report, self.now, lost)  # from the CRM first
            self.read_tasks_and_sweep()
            self.plan()  # records intents and, unless a dry run, pushes them chunk by chunk
        if self.plan_only:
            report_pending(self.store, self.report)
            return
        self.pusher.report_unwritten()
        self.move_cursors()


def _failure(account: str, exc: BaseException) -> str:
    """A failed run's error in words: which CRM said what, or which file could not be used."""
    if isinstance(exc, CRMError):
        return f"{account}: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _mass_exit_limit(config: Config, allowed: bool) -> MassExitLimit:
    limits = getattr(config, "mass_exit", None)
    if limits is None:
        return MassExitLimit(allowed=allowed)
    return MassExitLimit(max_share=limits.max_share, max_count=limits.max_count, allowed=allowed)


# ------------------------------------------------------------------------- entry point


def run_sync(
    loaded: Any,
    *,
    now: datetime | None = None,
    plan_only: bool = False,
    crm: CRM | None = None,
    planner: Planner | None = None,
    stop: threading.Event | None = None,
    env: Any = None,
    progress: Callable[..., None] | None = None,
    allow_mass_exit: bool = False,
    state: StateLocation | None = None,
    hook: RunHook | None = None,
    wall: datetime | None = None,
) -> SyncReport:
    """One sync run for a loaded config (`.config`, `.directory`); returns its report.

    Raises LockHeld when another run holds the account's lock, and ConfigError when the
    CRM settings are wrong. CRM failures during the run end it with status "failed"
    (state stays consistent: the next run finishes the job). `hook` is called with the
    name of each of KILL_POINTS the run passes (tests kill or pause the process there).

    `now` is the time the plan is made for; `wall` the real time of the run (default: the
    system clock), which no read cursor may pass (tests whose CRM runs on a frozen clock pass it).
    """
    clock = time.monotonic()
    now = now or datetime.now(timezone.utc)
    stop = stop or threading.Event()
    owns_crm = crm is None
    if crm is None:
        from .crm.registry import load_crm

        crm = load_crm(loaded, env=env if env is not None else os.environ)
    config: Config = loaded.config
    where = state or state_location(loaded, env if env is not None else os.environ)  # a fleet passes its shared state
    if isinstance(crm, StopsOnRequest):  # back-offs and calls in flight end on SIGTERM too, from the first call
        crm.watch_stop(stop)
    try:
        from .accounts import for_run

        try:
            account, keep_account = for_run(config.account, crm, where)  # ForeignStateError: another account's state
        except StopRequested:  # while the CRM told who the account is: nothing was read or written
            log.warning("run stopped on request before it started; the next run starts over")
            return SyncReport(account=config.account or "", started_at=now, plan_only=plan_only, status="stopped")
        store = open_store(where, account, read_only=plan_only, exclusive=not plan_only)  # LockHeld: another run has it
        if not plan_only:
            keep_account()
        report = SyncReport(account=account, started_at=now, plan_only=plan_only)
        try:
            report.run_id = store.start_run(now, plan_only=plan_only)
            log.info("run started", extra=fields(account=account, run=report.run_id, plan_only=plan_only, now=now.isoformat()))
            run = SyncRun(config, crm, store, report, now, planner or _default_planner(), stop, plan_only, progress,
                       _mass_exit_limit(config, allow_mass_exit), hook or _no_hook, wall=wall)
            error = ""
            try:
                run.execute()
                if report.counts["unwritten"]:
                    report.status = "incomplete"  # planned writes the CRM has not taken yet: not ok
            except (SyncStopped, StopRequested):
                report.status = "stopped"
                log.warning("run stopped on request; the next run resumes", extra=fields(run=report.run_id))
            except UnreadableInput as exc:
                report.status = "refused"
                error = str(exc)
                report.error(error)
                log.error("run refused: bad input, nothing planned or written", extra=fields(run=report.run_id, error=error))
            except MassExitHeld as exc:
                report.status = "held"
                error = str(exc)
                report.error(error)
                log.error("run held: mass change", extra=fields(run=report.run_id, error=error))
            except RetryLaterError as exc:
                report.status = "deferred"
                error = redact(str(exc))
                report.error(f"the CRM asks to retry later: {error}")
            except (FatalCRMError, CRMError, OSError) as exc:
                report.status = "failed"
                error = redact(_failure(account, exc))
                report.error(error)
                log.error("run failed", extra=fields(run=report.run_id, error=error))
            except Exception as exc:  # a bug: keep the traceback in the log, fail the run, keep state consistent
                report.status = "failed"
                error = redact(f"{type(exc).__name__}: {exc}")
                report.error(error)
                log.exception("run failed with an unexpected error", extra=fields(run=report.run_id))
            fill_names(report, store)
            for name, attribute in (("requests", "requests_made"), ("rate_limit_waits", "rate_limit_waits")):
                if isinstance(getattr(crm, attribute, None), int):  # CRMs that count them (HubSpot)
                    report.counts[name] = getattr(crm, attribute)
            report.duration = time.monotonic() - clock
            store.finish_run(report.run_id, now + timedelta(seconds=report.duration), report.status,
                             dict(report.counts) | {"duration_seconds": round(report.duration, 3)}, error)
            log.info("run finished", extra=fields(run=report.run_id, status=report.status, created=report.counts["created"],
                                                  closed=report.counts["closed"], errors=report.counts["errors"],
                                                  bad_records=report.counts["bad_records"], seconds=round(report.duration, 2)))
            return report
        finally:
            store.close()
    finally:
        if owns_crm:
            crm.close()
