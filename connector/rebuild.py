"""A lost state rebuilt from the CRM before anything is planned.

When a sync finds a state with no enrollment and no task (a new file: the old one deleted,
lost with a disk, or never copied to a new machine) and the CRM lists the tasks crm-cadence
wrote (`ListsAllTasks`), it first puts back what the lost state knew: the ledger (every task:
key, CRM id, open/completed/deleted, outcome, completion time) and the enrollments (step
reached, open task, snoozes and exits from the outcomes, at the time they happened:
`sequences.rebuild`). Then it plans as usual, and does what the lost state would have done:
no task for anyone who replied, snoozed or opted out, no second copy of an open task.

The CRM's tasks are listed before the contacts are read (a new state with none of them may be
planned as the contacts arrive: connector/sync_stream.py); the rebuild runs after the contacts
are read (the outcomes are the contacts' data) and before the task changes are applied. Tasks
written before enrollments were kept on them are counted and reported, never duplicated: the
same key is never created twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sequences.config import Config
from sequences.rebuild import TaskRecord, rebuild_enrollments
from sequences.records import CreateTask

from .crm import taskmeta
from .crm.base import HasAccountAliases, ListsAllTasks
from .logs import fields
from .store import LEDGER_STATUSES, Store
from .sync_report import SyncReport

log = logging.getLogger(__name__)


def state_is_new(store: Store) -> bool:
    return not store.ledger(list(LEDGER_STATUSES), limit=1) and next(iter(store.all_enrollments()), None) is None


def lost_state_records(crm: object, store: Store, report: SyncReport) -> list[TaskRecord] | None:
    """This account's tasks as the CRM lists them, when the state is new (None when it is not, or
    the CRM cannot list its tasks); tasks of other accounts and tasks without an enrollment are
    counted in the report."""
    if not isinstance(crm, ListsAllTasks) or not state_is_new(store):
        return None
    # this account's tasks only: another config may share the CRM under another account string
    # (its tasks are its own); a state from before portal ids wrote under an alias of this one
    mine = {report.account} | (set(crm.account_aliases()) if isinstance(crm, HasAccountAliases) else set())
    records: list[TaskRecord] = []
    without = others = 0
    for stored in crm.all_tasks():
        record = taskmeta.parse(stored.enrollment, stored.state)
        if record is None:
            without += 1
        elif record.account not in mine:
            others += 1
        else:
            records.append(record)
    if others:
        report.counts["rebuild_tasks_of_other_accounts"] += others
    if without:
        report.counts["rebuild_tasks_without_enrollment"] += without
        log.warning("tasks in the CRM carry a key but no enrollment (written before it was kept, or edited): "
                    "they are left as they are, and their keys are never created again", extra=fields(tasks=without))
    return records


def rebuild_lost_state(crm: object, store: Store, config: Config, report: SyncReport, now: datetime,
                       records: list[TaskRecord] | None = None) -> None:
    """Rebuild the ledger and the enrollments from the CRM's tasks when the state is new (`records`:
    what `lost_state_records` found, when the run asked before reading the contacts)."""
    if records is None:
        records = lost_state_records(crm, store, report)
    if not records:
        return
    contacts = store.contacts({r.task.contact_id for r in records})
    enrollments = rebuild_enrollments(config, report.account, records, contacts, now)
    with store.transaction():
        store.add_intents((_payload(r, now) for r in records), now)
        store.apply_task_states([r.task for r in records], now)
        store.put_enrollments_many(enrollments, now)
        store.mark_needs_plan(enrollments)
    report.counts["rebuilt_tasks"] += len(records)
    report.counts["rebuilt_enrollments"] += sum(len(e) for e in enrollments.values())
    log.warning("the state was new and the CRM holds this account's tasks: state rebuilt from them before planning",
                extra=fields(tasks=len(records), enrollments=report.counts["rebuilt_enrollments"], contacts=len(enrollments)))


def _payload(r: TaskRecord, now: datetime) -> CreateTask:
    """The ledger's copy of a task found in the CRM (what it needs to count, show or write it back)."""
    due = r.task.due_at or r.enrolled_at or now
    return CreateTask(
        key=r.task.key, contact_id=r.task.contact_id, owner_id=r.task.owner_id, cadence_id=r.cadence_id,
        version=r.version, seq=r.seq, step_index=r.step_index, step_id=r.step_id, channel=r.channel,
        task_type=r.channel.value, priority="medium", due_at=due, due_local=due.isoformat(), timezone="UTC",
        subject="", body="", reason="rebuilt from the CRM", enrolled_at=r.enrolled_at,
        baseline_lead_status=r.baseline_lead_status, referrer_id=r.referrer_id, account=r.account,
    )
