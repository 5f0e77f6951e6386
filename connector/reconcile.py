"""What an incremental sync cannot see by reading changes: steps 2 and 3b of a run.

- writes an earlier run left `unknown` (sent, outcome never recorded): looked up in the CRM
  and resolved before anything is re-sent;
- the sweep, at most once per interval: contacts deleted or merged, tasks deleted, behind the
  mass-change valve (connector/massexit.py); change-driven where the CRM lists its deletions;
- task rows missing from a file a person edits: written back, never taken as deletions.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sequences.records import Contact, TaskStatus

from .crm.base import CRM, ChecksTasks, FindsTasksByContact, ListsDeletions, RestoresMissingTasks, VerifiesContacts, WriteResult
from .logs import fields
from .massexit import MassExitLimit, Vanished
from .massexit import check as check_mass_exit
from .store import CREATED, UNKNOWN, Store
from .sync_push import call_batch
from .sync_report import NoteItem, SyncReport

log = logging.getLogger("connector.sync")  # one run's log lines under one name

SWEEP_EVERY = timedelta(hours=24)  # how often to look for deleted/merged contacts and deleted tasks
STALE_AFTER = timedelta(days=3)  # an open task this long overdue is checked by id, once
STALE_CHECKS = 1000  # at most this many such tasks a sweep (10 batch reads on HubSpot)
SAMPLE_CHECKS = 100  # open tasks checked by id at each sweep as a sample (one HubSpot request)
RECONCILE_PAGE = 100


def reconcile_unknown(crm: CRM, store: Store, report: SyncReport, now: datetime) -> None:
    """Resolve ledger rows left `unknown`: found in the CRM -> created; not found -> pending again,
    but only once the CRM's search lag has passed since they were sent."""
    # a CRM that can look tasks up through their contacts answers without search lag
    by_contact = crm if isinstance(crm, FindsTasksByContact) else None
    lag = timedelta(seconds=0 if by_contact is not None else crm.capabilities.search_lag_seconds)
    after = ""
    while rows := store.ledger([UNKNOWN], limit=RECONCILE_PAGE, after=after):
        after = rows[-1].key
        ready = {r.key for r in rows if r.sent_at is None or now - r.sent_at >= lag}
        waiting = len(rows) - len(ready)
        if waiting:
            report.counts["unknown_waiting"] += waiting
        if not ready:
            continue
        if by_contact is not None:
            answer = by_contact.find_tasks_for_contacts({r.key: r.contact_id for r in rows if r.key in ready})
        else:
            answer = crm.find_tasks(sorted(ready))
        found = {k: v for k, v in answer.items() if k in ready}
        missing = sorted(ready - set(found))
        store.resolve(found, missing, now)
        report.counts["reconciled_found"] += len(found)
        report.counts["reconciled_missing"] += len(missing)
        log.info("reconciled unknown writes", extra=fields(found=len(found), missing=len(missing), waiting=waiting))


def sweep(crm: CRM, store: Store, report: SyncReport, now: datetime, mass_exit: MassExitLimit,
          last: datetime | None) -> bool:
    """Look for deleted or merged contacts and deleted tasks, when the sweep is due (`last`: the
    last sweep, None when never or not trusted) and the CRM can tell; True when it ran (the run
    then moves the sweep cursor).

    A CRM that lists its deletions (`ListsDeletions`) is asked what was deleted, and about the
    open tasks long overdue, each once and a bounded number a day (`stale_tasks`): the sweep costs what
    changed, not the size of the account. Merges are seen by the incremental read (the survivor
    changes). Everything known is verified only when no earlier sweep is trusted, or when the CRM
    cannot list its deletions."""
    verify = crm if isinstance(crm, VerifiesContacts) else None
    check = crm if isinstance(crm, ChecksTasks) else None
    deletions = crm if isinstance(crm, ListsDeletions) else None
    every = crm.capabilities.sweep_every if crm.capabilities.sweep_every is not None else SWEEP_EVERY
    if (verify is None and check is None and deletions is None) or (last is not None and now - last < every):
        return False
    # change-driven: the overdue check's place moves with what it found, in one transaction
    # (a run the valve holds checks the same tasks again next time)
    with store.transaction() if deletions is not None and last is not None else contextlib.nullcontext():
        return _sweep(store, report, now, mass_exit, last, verify, check, deletions)


def _sweep(store: Store, report: SyncReport, now: datetime, mass_exit: MassExitLimit, last: datetime | None,
           verify: VerifiesContacts | None, check: ChecksTasks | None, deletions: ListsDeletions | None) -> bool:
    live = store.live_contact_ids()
    sampled = (0, 0)
    if deletions is not None and last is not None:
        gone = list(deletions.deleted_contacts(live)) if live else []
        open_tasks = store.open_task_ids()
        states = list(deletions.deleted_tasks(open_tasks)) if open_tasks else []
        if check is not None:
            listed = {s.key for s in states}
            coming = stale_tasks(store, now, listed)
            sample = sample_tasks(open_tasks, listed | set(coming), now)
            states += list(check.check_tasks(coming | sample)) if coming or sample else []
            report.counts["tasks_checked"] += len(coming) + len(sample)
            sampled = (len(sample), sum(1 for s in states if s.key in sample and s.status is TaskStatus.DELETED))
    else:
        gone = list(verify.verify_contacts(live)) if verify is not None and live else []
        open_tasks = store.open_task_ids() if check is not None else {}
        states = list(check.check_tasks(open_tasks)) if check is not None and open_tasks else []
        report.counts["tasks_checked"] += len(open_tasks)
    _hold_mass_exit(store, len(live), gone, states, mass_exit, sampled)
    if gone:
        store.upsert_contacts(gone, now)
        store.mark_needs_plan([c.id for c in gone])
    report.counts["contacts_gone"] += len(gone)
    if states:
        store.mark_needs_plan(store.apply_task_states(states, now))
    return True


def stale_tasks(store: Store, now: datetime, listed: set[str], limit: int = STALE_CHECKS) -> dict[str, str]:
    """The open tasks this sweep checks by id (key -> CRM id), and the cursor moved past them.

    Deletions are read from the recycle bin; this check is for a task deleted for good (the bin
    emptied), which no list shows. It matters where a task stays open long past its due time:
    the cadence waits on it. Each task still open `STALE_AFTER` past its due time is checked
    once, in due order, at most `STALE_CHECKS` a sweep (a backlog is worked through over days,
    at a bounded cost a day); tasks completed in time, most of them, cost nothing."""
    rows = store.next_stale_tasks(now - STALE_AFTER, limit, now)
    return {key: crm_id for key, crm_id in rows if key not in listed and crm_id}


def sample_tasks(open_tasks: Mapping[str, str], skip: set[str], now: datetime) -> dict[str, str]:
    """Up to `SAMPLE_CHECKS` open tasks, a different draw each sweep, checked by id: nothing else
    shows a token for another portal (whose recycle bin lists none of our records) before it
    writes there; over the weeks the draws also reach tasks deleted for good before they go stale."""
    pool = sorted(k for k, crm_id in open_tasks.items() if crm_id and k not in skip)
    keys = random.Random(now.date().toordinal()).sample(pool, min(SAMPLE_CHECKS, len(pool)))
    return {k: open_tasks[k] for k in keys}


def _hold_mass_exit(store: Store, active: int, gone: Sequence[Contact], states: Sequence[Any], limit: MassExitLimit,
                    sampled: tuple[int, int] = (0, 0)) -> None:
    """The safety valve (connector.massexit): raises MassExitHeld before anything is applied."""
    deleted = [s.key for s in states if s.status is TaskStatus.DELETED]
    owners = {r.key: r.contact_id for r in map(store.get, deleted) if r is not None}
    seen = Vanished(active=active, contacts=[c.id for c in gone], tasks=sorted(set(owners.values())),
                    sampled=sampled[0], sampled_gone=sampled[1])
    check_mass_exit(seen, limit)


def restore_missing_tasks(crm: CRM, store: Store, report: SyncReport, *, plan_only: bool) -> None:
    """Open tasks whose row vanished from the CRM's file (a stale copy saved over it) are
    written back from the state: a missing row is never a deletion."""
    missing = crm.missing_tasks() if isinstance(crm, RestoresMissingTasks) else []
    rows = [r for r in map(store.get, missing) if r is not None and r.status == CREATED]
    size = crm.capabilities.max_batch
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        results = [WriteResult(r.key, True, crm_id=r.crm_id) for r in batch]
        if not plan_only:
            results = call_batch(crm.create_tasks, [r.task for r in batch])
        for row, res in zip(batch, results, strict=True):
            if res.ok:
                report.counts["tasks_restored"] += 1
                report.add("notes", NoteItem(row.contact_id, "", "restore", row.task.cadence_id, row.task.step_id,
                                             "its task row was missing from the tasks file: written back, still open"))
            else:
                report.error(f"restore {row.key} (contact {row.contact_id}): {res.error}")


def known_if_merged(store: Store, contacts: Sequence[Contact]) -> Sequence[Contact]:
    """A read's merged-away contacts only where the state knows them (and not yet as merged)."""
    merged = [c.id for c in contacts if c.merged_into]
    if not merged:
        return contacts
    known = store.contacts(merged)
    keep = {cid for cid, c in known.items() if not c.merged_into}
    return [c for c in contacts if not c.merged_into or c.id in keep]
