"""The CRM contract: the one Protocol every CRM implements, the optional behaviours a CRM
may declare, and the records that cross it.

A CRM plugin is one package that provides a class satisfying `CRM`, registered under the
`crm_cadence.crms` entry-point group, and passing the conformance suite shipped in
`connector.crm.testing` (subclass `CRMConformance` in the plugin's tests).

Optional behaviour is declared by satisfying a small Protocol, checked by the sync with
`isinstance` (never looked up by name):

- `FindsTasksByContact`: settles unknown writes through each task's contact (no search lag);
- `VerifiesContacts` and `ChecksTasks`: the sweep, for what an incremental read cannot see
  (deleted or merged contacts, deleted tasks), every `Capabilities.sweep_every`;
- `ListsDeletions`: the sweep reads what was deleted instead of checking everything known;
- `RestoresMissingTasks`: a CRM where a task can go missing without being deleted (a file
  saved over): the sync writes those tasks back.
- `HasAccountAliases`: the ids earlier versions knew the account by (a state created then
  keeps its id, so its task keys do not change);
- `ListsAllTasks`: every task crm-cadence wrote in the account, with what each carries of its
  enrollment: a sync with a new state rebuilds enrollments and the ledger from it.

A task key whose task is gone from the CRM: a CRM that can tell a deletion reports it
DELETED (from `read_task_changes` or `check_tasks`); a CRM that cannot (a file) lists it in
`missing_tasks()` instead and never reports it DELETED. The conformance suite pins both.

Vocabulary: `CreateTask.channel` and `CreateTask.priority` (low/medium/high) are the
engine's; each adapter maps them to its own task types and priorities.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sequences.config import Rule
from sequences.records import CloseTask, Contact, CreateTask, Owner, TaskState

# ------------------------------------------------------------------- errors (what to do)


class CRMError(Exception):
    """Base class. The message must never contain a secret."""


class FatalCRMError(CRMError):
    """The run cannot go on (bad credentials, missing scope, misconfiguration)."""


class RetryLaterError(CRMError):
    """Stop this run cleanly and let the next one resume (e.g. the daily request budget is spent)."""


class ConfigError(CRMError):
    """The CRM settings in the config are wrong; the message names the key."""


class UnreadableInput(CRMError):
    """Input a person must fix before anything can be planned from it (a CRM file that cannot
    be read whole): the run stops before writing anything, exit 2. The message locates it."""


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What differs between CRMs, stated rather than discovered by accident.

    Read by the sync: `max_batch` (batch sizes), `search_lag_seconds` (how long an unknown
    write waits before it is looked up by key), `sweep_every`, `reads_while_writing`. Read by the conformance suite:
    `task_outcomes`. The rest describe the CRM for its users and its tests."""

    incremental_contacts: bool  # read_contacts(since=...) returns only changes
    incremental_tasks: bool  # read_task_changes(since=...) returns only changes
    max_batch: int  # largest create/close batch the CRM accepts
    search_lag_seconds: float = 0.0  # how long a write can take to show up in find_tasks
    task_outcomes: bool = False  # tasks can carry a recruiter-recorded outcome
    lead_status: bool = True  # contacts carry a lead status usable for outcomes
    sweep_every: timedelta | None = None  # how often the sweep runs (VerifiesContacts/ChecksTasks); None: daily
    # read_contacts may run on its own thread while the run writes (a thread-safe client under a shared
    # rate limit): a first sync then plans and writes as the contacts arrive (connector/sync_stream.py)
    reads_while_writing: bool = False


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record the CRM returned that could not be used as is; reported, never fatal."""

    source: str  # file:line, or "hubspot contact 123"
    field: str
    message: str
    record_id: str = ""


@dataclass(frozen=True, slots=True)
class ContactBatch:
    """One page of contacts read, plus any records that were skipped and why."""

    contacts: Sequence[Contact]
    bad: Sequence[BadRecord] = ()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one item of a batch write."""

    key: str
    ok: bool
    crm_id: str = ""
    error: str = ""
    retryable: bool = False  # worth sending again in a later batch or run
    unknown: bool = False  # the CRM may or may not have acted: reconcile before resending


@dataclass(frozen=True, slots=True)
class ReadContext:
    """What the sync tells the CRM about the read it wants."""

    since: datetime | None  # None: a first, full read
    properties: Sequence[str] = ()  # extra raw properties the config needs
    started_at: datetime | None = None  # the run's start (cursors never pass it)
    dry_run: bool = False  # a plan: the CRM must write nothing anywhere (not even its own files)
    # who a first read needs: contacts some cadence would enroll by these rules (a CRM that can
    # filter on its side may push them down, and then must still return referred contacts
    # when `referrals`); a CRM may always return more
    enroll_rules: Sequence[Rule] = ()
    referrals: bool = False
    # custom properties the cadences' exit rules test: a CRM whose fields can vanish (a file's
    # columns) must refuse a read without them (a missing one could make a rule match everyone)
    exit_properties: Sequence[str] = ()
    # the `since` the sync passes to `read_task_changes` right after this read (a CRM that can
    # fetch both in one request may do so); contacts and tasks each have their own cursor
    tasks_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SetupReport:
    """What `setup()` did or confirmed, and what an admin must still do (each a full instruction)."""

    done: Sequence[str] = ()
    missing: Sequence[str] = ()
    warnings: Sequence[str] = ()

    @property
    def ok(self) -> bool:
        return not self.missing


@runtime_checkable
class FindsTasksByContact(Protocol):
    """Optional: find tasks through their contacts, with no search lag (reconciling unknown writes)."""

    def find_tasks_for_contacts(self, contact_of: Mapping[str, str]) -> dict[str, str]:
        """Task key -> CRM id for the keys (task key -> contact id) whose task exists."""
        ...


@runtime_checkable
class VerifiesContacts(Protocol):
    """Optional, part of the sweep: which contacts are gone."""

    def verify_contacts(self, ids: Sequence[str]) -> Iterator[Contact]:
        """For each gone id: `Contact(id, deleted=True)`, or `Contact(id, merged_into=<winner>)`.
        Live contacts yield nothing."""
        ...


@runtime_checkable
class ChecksTasks(Protocol):
    """Optional, part of the sweep: the state of known tasks, read by id."""

    def check_tasks(self, ids: Mapping[str, str]) -> Iterator[TaskState]:
        """One state per task key -> CRM id; a task gone from the CRM comes back DELETED."""
        ...


@runtime_checkable
class ListsDeletions(Protocol):
    """Optional, makes the sweep change-driven: what the CRM deleted, read from its recycle bin.

    The sweep then costs what was deleted, not what is known: a CRM that can list its deleted
    records answers from that list, and `ChecksTasks` is asked only about the open tasks
    coming due (each once); `VerifiesContacts` only when no earlier sweep is trusted."""

    def deleted_contacts(self, ids: Sequence[str]) -> Iterator[Contact]:
        """Of `ids`, those the CRM lists as deleted: `Contact(id, deleted=True)`."""
        ...

    def deleted_tasks(self, ids: Mapping[str, str]) -> Iterator[TaskState]:
        """Of the tasks key -> CRM id, those the CRM lists as deleted: DELETED states."""
        ...


@runtime_checkable
class RestoresMissingTasks(Protocol):
    """Optional: a CRM where a task can go missing without being deleted (a file saved over)."""

    def missing_tasks(self) -> list[str]:
        """Keys of known open tasks missing at the last read; the sync writes them back."""
        ...


@runtime_checkable
class HasAccountAliases(Protocol):
    """Optional: other ids this account was known by (e.g. HubSpot's `hubspot:<host>` before the portal id)."""

    def account_aliases(self) -> list[str]:
        ...


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task of crm-cadence's found in the CRM: its state, and the enrollment text written on it
    (`connector.crm.taskmeta`; empty for a task written before it was kept)."""

    state: TaskState
    enrollment: str = ""


@runtime_checkable
class ListsAllTasks(Protocol):
    """Optional: every task crm-cadence wrote in the account (done, open and deleted where the CRM
    keeps them), whatever its age: a sync whose state is new rebuilds the state from them first."""

    def all_tasks(self) -> Iterator[StoredTask]:
        ...


@runtime_checkable
class CRM(Protocol):
    """A CRM crm-cadence can sync with."""

    name: str
    capabilities: Capabilities

    def account_id(self) -> str:
        """A stable id of the CRM account (portal id, file path hash...)."""
        ...

    def read_contacts(self, ctx: ReadContext) -> Iterator[ContactBatch]:
        """Contacts changed since `ctx.since` (all of them when None), page by page."""
        ...

    def read_task_changes(self, since: datetime | None, keys: Mapping[str, str]) -> Iterator[TaskState]:
        """States of crm-cadence's tasks that changed since `since`.

        `keys` maps task key -> CRM task id for tasks the ledger knows are open; a CRM may
        use it to look them up directly instead of searching.
        """
        ...

    def create_tasks(self, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        """Create at most `capabilities.max_batch` tasks; one result per task, same order."""
        ...

    def close_tasks(self, tasks: Sequence[CloseTask]) -> list[WriteResult]:
        """Close (complete or cancel) open tasks; one result per task, same order."""
        ...

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """Task key -> CRM id for the keys that exist in the CRM (reconciling unknown writes)."""
        ...

    def list_owners(self) -> list[Owner]:
        ...

    def setup(self) -> SetupReport:
        """Prepare or check the account (idempotent): what was done or confirmed, and what a
        person must still do (`cadence setup <crm>` prints it; exit 1 while anything is missing)."""
        ...

    def close(self) -> None:
        ...
