"""The one Protocol every CRM implements, and the records that cross it.

A CRM plugin is one package that provides a class satisfying `CRM`, registered under the
`crm_cadence.crms` entry-point group, and passing `tests/crm_conformance.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

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
    """What differs between CRMs, stated rather than discovered by accident."""

    incremental_contacts: bool  # read_contacts(since=...) returns only changes
    incremental_tasks: bool  # read_task_changes(since=...) returns only changes
    max_batch: int  # largest create/close batch the CRM accepts
    search_lag_seconds: float = 0.0  # how long a write can take to show up in find_tasks
    task_outcomes: bool = False  # tasks can carry a recruiter-recorded outcome
    lead_status: bool = True  # contacts carry a lead status usable for outcomes


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
    hints: Mapping[str, Any] = field(default_factory=dict)


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

    def close(self) -> None:
        ...
