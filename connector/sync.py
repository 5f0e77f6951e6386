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

`plan_only=True` runs steps 2-4 against a private in-memory copy of the state and tells
the CRM it is a dry run: nothing is written anywhere.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import IO, Any

from sequences.capacity import day_counts
from sequences.config import Condition, Config, Rule
from sequences.pacing import queue_reach
from sequences.records import Contact, ContactPlan, ContactState, Owner, Snapshot, TaskStatus

from .crm.base import (
    CRM,
    ChecksTasks,
    CRMError,
    FatalCRMError,
    FindsTasksByContact,
    ReadContext,
    RestoresMissingTasks,
    RetryLaterError,
    UnreadableInput,
    VerifiesContacts,
    WriteResult,
)
from .logs import fields, redact
from .massexit import MassExitHeld, MassExitLimit, Vanished
from .massexit import check as check_mass_exit
from .store import CLOSED, CREATED, FAILED, PENDING, UNKNOWN, Store
from .store_factory import StateLocation, open_store, state_location
from .sync_report import CloseItem, NoteItem, SyncReport, fill_names, task_item

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
SWEEP_EVERY = timedelta(hours=24)  # how often to look for deleted/merged contacts and deleted tasks
PLAN_PAGE = 500
OWNERS_MAX_AGE = timedelta(hours=1)  # owners change rarely: re-read them at most hourly
PLAN_CHUNK = 2000  # contacts planned and recorded before their writes are sent
RECONCILE_PAGE = 100
KILL_ENV = "CADENCE_TEST_KILL_AT"
PAUSE_ENV = "CADENCE_TEST_PAUSE_AT"
KILL_POINTS = ("after_intents", "between_batches", "after_crm_write", "before_cursor")

# notes counted in the report: pacing and the horizon at a glance
_NOTE_COUNTS = {"queue": "queued", "plan": "planned_in_state", "unreachable": "unreachable", "unassignable": "unassignable"}

Planner = Callable[[Config, Snapshot, datetime], Iterable[ContactPlan]]


class LockHeld(Exception):
    """Another sync for this account is running."""


class SyncStopped(Exception):
    """Raised inside a run when the stop event is set (SIGTERM/SIGINT)."""


# ------------------------------------------------------------------------- run lock


class RunLock:
    """An OS file lock beside the state file, held for the whole run (released if the process dies)."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: IO[str] | None = None

    @classmethod
    def for_state(cls, state: Path, account: str) -> RunLock:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", account)[:80] or "default"
        return cls(state.with_name(f"{state.name}.{safe}.lock"))

    def acquire(self, account: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            handle.close()
            raise LockHeld(
                f"another sync for account {account!r} is running ({holder}); lock file {self.path}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


# -------------------------------------------------------------------------- helpers


def _test_hook(point: str) -> None:
    """Test hooks: CADENCE_TEST_KILL_AT=<point> kills the process right here (SIGKILL);
    CADENCE_TEST_PAUSE_AT=<point>:<seconds> sleeps here (to hold the lock in concurrency tests)."""
    if os.environ.get(KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.partition(":")[0] == point:
        time.sleep(float(pause.partition(":")[2] or 1))


def _chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def needed_properties(config: Config) -> list[str]:
    """Raw CRM properties the config's rules mention (beyond the standard contact fields)."""
    names: set[str] = set()

    def visit(rule: Rule | None) -> None:
        if rule is not None:
            for cond in (*rule.all, *rule.any):
                names.add(cond.property)

    for cadence in config.cadences:
        visit(cadence.enroll_when)
        visit(cadence.exit_when)
        for step in cadence.steps:
            for cond in step.skip_if:
                if isinstance(cond, Condition):
                    names.add(cond.property)
    standard = set(Contact.__slots__) | {"full_name"}
    return sorted(n for n in names if n not in standard)


def exit_properties(config: Config) -> list[str]:
    """Custom properties the cadences' exit rules test (a missing one could make them match everyone)."""
    names = {cond.property for c in config.cadences if c.exit_when is not None for cond in (*c.exit_when.all, *c.exit_when.any)}
    standard = set(Contact.__slots__) | {"full_name"}
    return sorted(n for n in names if n not in standard)


def _default_planner() -> Planner:
    from sequences.engine import plan_iter

    return plan_iter


# ------------------------------------------------------------------------------ run


class _Run:
    def __init__(self, config: Config, crm: CRM, store: Store, report: SyncReport, now: datetime,
                 planner: Planner, stop: threading.Event, plan_only: bool, progress: Callable[..., None] | None,
                 mass_exit: MassExitLimit | None = None):
        self.config, self.crm, self.store, self.report = config, crm, store, report
        self.mass_exit = mass_exit or MassExitLimit()
        self.now, self.planner, self.stop, self.plan_only = now, planner, stop, plan_only
        self.progress = progress or (lambda *a: None)
        self.caps = crm.capabilities
        self.swept = False
        self.sent: set[str] = set()  # keys sent this run
        self.closing: set[str] = set()  # closes sent this run
        self.batches_sent = 0

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise SyncStopped()

    # -- 2. reconcile
    def reconcile(self) -> None:
        # a CRM that can look tasks up through their contacts answers without search lag
        by_contact = self.crm if isinstance(self.crm, FindsTasksByContact) else None
        lag = timedelta(seconds=0 if by_contact is not None else self.caps.search_lag_seconds)
        after = ""
        while rows := self.store.ledger([UNKNOWN], limit=RECONCILE_PAGE, after=after):
            after = rows[-1].key
            ready = {r.key for r in rows if r.sent_at is None or self.now - r.sent_at >= lag}
            waiting = len(rows) - len(ready)
            if waiting:
                self.report.counts["unknown_waiting"] += waiting
            if not ready:
                continue
            if by_contact is not None:
                answer = by_contact.find_tasks_for_contacts({r.key: r.contact_id for r in rows if r.key in ready})
            else:
                answer = self.crm.find_tasks(sorted(ready))
            found = {k: v for k, v in answer.items() if k in ready}
            missing = sorted(ready - set(found))
            self.store.resolve(found, missing, self.now)
            self.report.counts["reconciled_found"] += len(found)
            self.report.counts["reconciled_missing"] += len(missing)
            log.info("reconciled unknown writes", extra=fields(found=len(found), missing=len(missing), waiting=waiting))

    # -- 3. read
    def read_contacts(self) -> None:
        cursor = self.store.cursor("contacts")
        ctx = ReadContext(
            since=cursor - OVERLAP if cursor else None,
            properties=needed_properties(self.config),
            started_at=self.now,
            dry_run=self.plan_only,
            enroll_rules=tuple(c.enroll_when for c in self.config.cadences if c.enroll_when is not None),
            referrals=any(c.referral_cadence for c in self.config.cadences),
            exit_properties=tuple(exit_properties(self.config)),
        )
        read = 0
        for batch in self.crm.read_contacts(ctx):
            for bad in batch.bad:
                self.report.add("bad_records", bad)
            changed = set(self.store.upsert_contacts(batch.contacts, self.now))
            referrers = {c.referred_by for c in batch.contacts if c.id in changed and c.referred_by}
            if referrers:
                self.store.mark_needs_plan(referrers)
            read += len(batch.contacts)
            self.report.counts["contacts_read"] += len(batch.contacts)
            self.report.counts["contacts_changed"] += len(changed)
            self.progress("reading contacts", read, None)
            self.check_stop()

    def read_tasks(self) -> None:
        cursor = self.store.cursor("tasks")
        since = cursor - OVERLAP if cursor else None
        states = self.crm.read_task_changes(since, self.store.open_task_ids())
        changed = self.store.apply_task_states(states, self.now)
        self.store.mark_needs_plan(changed)
        due = self.store.mark_due(self.now)
        self.report.counts["contacts_with_task_changes"] += len(changed)
        self.report.counts["enrollments_due"] += due

    # -- 4. plan and record intents
    def owner_load(self, owners: dict[str, Owner]) -> dict[tuple[str, str], int]:
        """Tasks per (owner, owner-local day) from yesterday on, done or open: the capacity guard's input."""
        tasks = self.store.task_load(self.now - timedelta(days=1))
        return day_counts(tasks, owners, self.config.calendar.timezone)

    def states(self, only: Sequence[str] | None = None) -> Iterator[ContactState]:
        """Contacts needing a plan, in id order; or the contacts `only` names, in that order."""
        after = ""
        pages = (list(only[i:i + PLAN_PAGE]) for i in range(0, len(only), PLAN_PAGE)) if only is not None else None
        while ids := (next(pages, []) if pages is not None else self.store.needs_plan(after=after, limit=PLAN_PAGE)):
            after = ids[-1]
            contacts = self.store.contacts(ids)
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
        # pass 1: everyone who needs a plan; new enrollments join the queue (when paced)
        self._plan_pass(Snapshot(self.report.account, self.states(), owners, self.owner_load(owners),
                                 admit=False if paced else None))
        if paced:
            # pass 2: the head of the queue, in queue order, starts as far as capacity allows
            head = self.store.queued_contacts(queue_reach(self.config, self.now))
            if head:
                self.report.counts["queue_considered"] += len(head)
                self._plan_pass(Snapshot(self.report.account, self.states(only=head), owners, self.owner_load(owners)))

    def _plan_pass(self, snapshot: Snapshot) -> None:
        plans = iter(self.planner(self.config, snapshot, self.now))
        planned, first = 0, True
        while True:
            with self.store.transaction():
                chunk = list(islice(plans, PLAN_CHUNK))
                for cp in chunk:
                    self.record(cp)
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
                _test_hook("after_intents")
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

    def record(self, cp: ContactPlan) -> None:
        for task in cp.creates:
            if self.store.add_intent(task, self.now):
                self.report.counts["intended_creates"] += 1
        for close in cp.closes:
            if self.store.request_close(close, self.now):
                self.report.counts["intended_closes"] += 1
        if cp.enrollments is not None:
            self.store.put_enrollments(cp.contact_id, cp.enrollments, self.now)
        for note in cp.notes:
            counted = _NOTE_COUNTS.get(note.kind)
            if counted:
                self.report.counts[counted] += 1
            item = NoteItem(note.contact_id, "", note.kind, note.cadence_id, note.step_id, note.reason)
            self.report.add("skipped" if note.kind == "skip" else "notes", item)
        self.store.clear_needs_plan([cp.contact_id])

    # -- 5. push
    def push_closes(self) -> None:
        size = self.caps.max_batch
        after = ""
        while rows := self.store.closes_due(limit=size, after=after):
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
                results = self._call(self.crm.close_tasks, [r.close_request() for r in sendable])
                self.store.record_closes(results, self.now)
                for row, res in zip(sendable, results, strict=True):
                    if res.ok:
                        self.report.add("closed", CloseItem(row.key, row.contact_id, "", row.close_reason))
                    else:
                        self.report.error(f"close {row.key} (contact {row.contact_id}): {res.error}")

    def push_creates(self, final: bool = True) -> None:
        """Send pending creates in batches; until `final`, only full batches (no half-empty requests)."""
        size = self.caps.max_batch
        after = ""
        batches = 0
        sent = 0
        while rows := self.store.ledger([PENDING], limit=size, after=after):
            after = rows[-1].key
            rows = [r for r in rows if r.key not in self.sent]  # a retryable failure waits for the next run
            if not rows:
                continue
            if not final and len(rows) < size:
                break
            if self.batches_sent:
                _test_hook("between_batches")
            self.check_stop()
            tasks = [r.task for r in rows]
            self.sent.update(t.key for t in tasks)
            self.batches_sent += 1
            self.store.mark_sending([t.key for t in tasks], self.now)
            # if this raises, the rows stay `unknown`: the next run reconciles them before resending
            results = self._call(self.crm.create_tasks, tasks)
            _test_hook("after_crm_write")
            self.store.record_creates(results, self.now)
            batches += 1
            sent += len(tasks)
            self.progress("creating tasks", sent, None)
            for task, res in zip(tasks, results, strict=True):
                if res.ok:
                    self.report.add("created", task_item(task, res.crm_id))
                elif res.unknown:
                    self.report.counts["unknown"] += 1
                    self.report.error(f"create {task.key} (contact {task.contact_id}): outcome unknown, will reconcile: {res.error}")
                else:
                    self.report.error(f"create {task.key} (contact {task.contact_id}): {res.error}"
                                      + (" (will retry)" if res.retryable else ""))

    @staticmethod
    def _call(method: Callable[[Sequence[Any]], list[WriteResult]], items: Sequence[Any]) -> list[WriteResult]:
        """One batch call; results missing or out of order become `unknown` (never assumed failed)."""
        results = list(method(items))
        by_key = {r.key: r for r in results}
        if len(results) == len(items) and all(r.key == i.key for r, i in zip(results, items, strict=True)):
            return results
        return [by_key.get(i.key) or WriteResult(i.key, False, error="no result for this item", unknown=True) for i in items]

    def report_pending(self) -> None:
        """plan_only: list what a sync would send now (new intents and leftovers)."""
        after = ""
        while rows := self.store.ledger([PENDING], limit=1000, after=after):
            after = rows[-1].key
            for r in rows:
                self.report.add("created", task_item(r.task, ""))
        after = ""
        while rows := self.store.closes_due(limit=1000, after=after):
            after = rows[-1].key
            for r in rows:
                self.report.add("closed", CloseItem(r.key, r.contact_id, "", r.close_reason))

    # -- 6. cursors
    def move_cursors(self) -> None:
        _test_hook("before_cursor")
        with self.store.transaction():
            for name in ("contacts", "tasks") + (("sweep",) if self.swept else ()):
                previous = self.store.cursor(name)
                value = max(previous, self.now) if previous else self.now
                self.store.set_cursor(name, value, self.now)

    # -- 3b. sweep: what an incremental read cannot see (deleted or merged contacts, deleted tasks)
    def sweep(self) -> None:
        verify = self.crm if isinstance(self.crm, VerifiesContacts) else None
        check = self.crm if isinstance(self.crm, ChecksTasks) else None
        last = self.store.cursor("sweep")
        every = self.caps.sweep_every if self.caps.sweep_every is not None else SWEEP_EVERY
        if (verify is None and check is None) or (last is not None and self.now - last < every):
            return
        live = self.store.live_contact_ids()
        gone = list(verify.verify_contacts(live)) if verify is not None and live else []
        open_tasks = self.store.open_task_ids() if check is not None else {}
        states = list(check.check_tasks(open_tasks)) if check is not None and open_tasks else []
        self.hold_mass_exit(len(live), gone, states)
        if gone:
            self.store.upsert_contacts(gone, self.now)
            self.store.mark_needs_plan([c.id for c in gone])
        self.report.counts["contacts_gone"] += len(gone)
        if states:
            self.store.mark_needs_plan(self.store.apply_task_states(states, self.now))
        self.swept = True

    def hold_mass_exit(self, active: int, gone: Sequence[Contact], states: Sequence[Any]) -> None:
        """The safety valve (connector.massexit): raises MassExitHeld before anything is applied."""
        deleted = [s.key for s in states if s.status is TaskStatus.DELETED]
        owners = {r.key: r.contact_id for r in map(self.store.get, deleted) if r is not None}
        seen = Vanished(active=active, contacts=[c.id for c in gone], tasks=sorted(set(owners.values())))
        check_mass_exit(seen, self.mass_exit)

    def restore_missing_tasks(self) -> None:
        """Open tasks whose row vanished from the CRM's file (a stale copy saved over it) are
        written back from the state: a missing row is never a deletion."""
        missing = self.crm.missing_tasks() if isinstance(self.crm, RestoresMissingTasks) else []
        rows = [r for r in map(self.store.get, missing) if r is not None and r.status == CREATED]
        for batch in _chunked(rows, self.caps.max_batch):
            results = [WriteResult(r.key, True, crm_id=r.crm_id) for r in batch]
            if not self.plan_only:
                results = self._call(self.crm.create_tasks, [r.task for r in batch])
            for row, res in zip(batch, results, strict=True):
                if res.ok:
                    self.report.counts["tasks_restored"] += 1
                    self.report.add("notes", NoteItem(row.contact_id, "", "restore", row.task.cadence_id, row.task.step_id,
                                                      "its task row was missing from the tasks file: written back, still open"))
                else:
                    self.report.error(f"restore {row.key} (contact {row.contact_id}): {res.error}")

    def execute(self) -> None:
        self.reconcile()
        self.check_stop()
        self.read_contacts()
        self.check_stop()
        self.read_tasks()
        self.check_stop()
        self.sweep()
        self.check_stop()
        self.restore_missing_tasks()
        self.check_stop()
        self.plan()  # records intents and, unless a dry run, pushes them chunk by chunk
        if self.plan_only:
            self.report_pending()
            return
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
) -> SyncReport:
    """One sync run for a loaded config (`.config`, `.directory`); returns its report.

    Raises LockHeld when another run holds the account's lock, and ConfigError when the
    CRM settings are wrong. CRM failures during the run end it with status "failed"
    (state stays consistent: the next run finishes the job).
    """
    clock = time.monotonic()
    now = now or datetime.now(timezone.utc)
    stop = stop or threading.Event()
    owns_crm = crm is None
    if crm is None:
        from .crm.registry import load_crm

        crm = load_crm(loaded, env=env if env is not None else os.environ)
    config: Config = loaded.config
    account = config.account or crm.account_id()
    where = state or state_location(loaded, env if env is not None else os.environ)  # a fleet passes its shared state
    try:
        store = open_store(where, account, read_only=plan_only, exclusive=not plan_only)  # LockHeld: another run has it
        report = SyncReport(account=account, started_at=now, plan_only=plan_only)
        try:
            report.run_id = store.start_run(now, plan_only=plan_only)
            log.info("run started", extra=fields(account=account, run=report.run_id, plan_only=plan_only, now=now.isoformat()))
            run = _Run(config, crm, store, report, now, planner or _default_planner(), stop, plan_only, progress,
                       _mass_exit_limit(config, allow_mass_exit))
            error = ""
            try:
                run.execute()
            except SyncStopped:
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
