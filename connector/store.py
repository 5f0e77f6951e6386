"""The sync's memory: enrollments, the task ledger (outbox), a contacts cache, cursors, runs.

`Store` is the Protocol the sync talks to; it never sees SQL. `SQLiteStore`
(connector/store_sqlite.py) is the embedded default; a PostgreSQL store implements the
same methods. A store is opened for one CRM account and every row it reads or writes is
scoped to that account.

The ledger holds one row per task key. Its `status` follows the create:

    pending  --(batch about to be sent)-->  unknown  --(CRM said ok)-->  created
       ^                                      |   \\--(CRM said failed, retryable)--> pending
       |                                      |    \\-(CRM said failed)------------> failed
       +----(reconcile: not in the CRM)-------+
                                              +--(reconcile: found)--> created
    created --(close sent and confirmed)--> closed

`close_reason` set on a row means "close this task" is intended and not yet confirmed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Protocol, TypeVar

from sequences.records import (
    Channel,
    CloseTask,
    Contact,
    CreateTask,
    Enrollment,
    EnrollmentStatus,
    Outcome,
    Owner,
    TaskState,
    TaskStatus,
)

from .jsonable import jsonable

PENDING, CREATED, UNKNOWN, CLOSED, FAILED = "pending", "created", "unknown", "closed", "failed"
LEDGER_STATUSES = (PENDING, CREATED, UNKNOWN, CLOSED, FAILED)

_R = TypeVar("_R")


# ------------------------------------------------------------------------- time codec


class StateFileError(RuntimeError):
    """The state file cannot be used by this version (e.g. written by a newer crm-cadence)."""


class BadStateFile(StateFileError):
    """A state file a person must deal with before any run (exit 2): empty, not a state file,
    cut short, damaged, written by a newer crm-cadence, or in a folder a sync cannot write.
    The message names the file and says what to do."""


_UTC = timezone.utc
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_fromisoformat = datetime.fromisoformat
_TS_SEEN: dict[datetime, str] = {}  # ts() of recent UTC datetimes


def ts(value: datetime | None) -> str | None:
    """A UTC timestamp as fixed-width text (sorts and compares correctly as text)."""
    if value is None:
        return None
    if type(value) is datetime and value.tzinfo is _UTC and value.year >= 1000:
        # the common case, an aware UTC datetime: strftime's text without its format parsing (%Y
        # pads no year before 1000, so those go the long way), remembered: a sync writes the same
        # few times (its `now`, the day's due slots) again and again. Only UTC datetimes are keys,
        # so equal keys are the same instant and have the same text.
        text = _TS_SEEN.get(value)
        if text is None:
            if len(_TS_SEEN) >= 4096:
                _TS_SEEN.clear()
            text = _TS_SEEN[value] = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - faster than the f-string
                value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)
        return text
    return value.astimezone(_UTC).strftime(_TS_FORMAT)


def from_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    if len(text) == 27 and text[26] == "Z":  # ts()'s own form: fromisoformat reads its Z as UTC (3.11)
        return _fromisoformat(text)
    parsed = _fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_UTC)


def stamp(text: str) -> datetime:
    """A timestamp from a column that always holds one (NOT NULL, or filtered on)."""
    parsed = from_ts(text)
    if parsed is None:
        raise ValueError(f"a timestamp was expected, found {text!r}")
    return parsed


# ---------------------------------------------------------------------- record codecs


# The state's JSON text must not change from one version to the next (upsert_contacts compares
# it to find changed contacts): sorted keys, no spaces, non-ASCII as it is. Each record type's
# field names are read once, in that sorted order; a value of a type `jsonable` returns as it is
# skips the call, the types the records hold are converted by a table, anything else by `jsonable`.

_PLAIN = frozenset({str, int, float, bool, list, dict, type(None)})  # jsonable(v) is v
_CONVERT: dict[type, Callable[[Any], Any]] = {  # type(v) -> jsonable(v, when=ts), for these exact types
    datetime: ts, frozenset: sorted, set: sorted, tuple: list,
    **{enum: attrgetter("value") for enum in (Channel, EnrollmentStatus, Outcome, TaskStatus)},
}
_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode
_ENCODERS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _encoder(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """A records.py dataclass's field names (sorted) and a getter of their values in that order."""
    names = tuple(sorted(f.name for f in fields(cls)))
    if len(names) > 1:
        get: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    else:  # attrgetter of one name returns the value itself
        def get(record: Any) -> tuple[Any, ...]:
            return tuple(getattr(record, name) for name in names)
    _ENCODERS[cls] = names, get
    return names, get


def _json_value(value: Any) -> Any:
    convert = _CONVERT.get(type(value))
    return convert(value) if convert is not None else jsonable(value, when=ts)


def record_json(record: Any) -> str:
    """A records.py dataclass as stable JSON (sorted keys)."""
    names, get = _ENCODERS.get(type(record)) or _encoder(type(record))
    data = {name: value if type(value) in _PLAIN else _json_value(value) for name, value in zip(names, get(record), strict=True)}
    return _encode(data)


_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # json.loads's own scanner


def _loads(text: str) -> Any:
    """json.loads(text): its scanner alone for text that is one value with nothing around it (as
    record_json writes it), json.loads itself for anything else (and for its error)."""
    try:
        value, end = _scan(text, 0)
    except Exception:  # json.loads raises its own error for the same text
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


_new = object.__new__
_BUILDERS: dict[type, tuple[frozenset[str], tuple[tuple[str, Callable[[Any, Any], None]], ...]] | None] = {}


def _builder(cls: type) -> tuple[frozenset[str], tuple[tuple[str, Callable[[Any, Any], None]], ...]] | None:
    """The field names of a slots dataclass and the setters of their slots; None when its __init__
    does more than set each field (a __post_init__, a field outside __init__, no slot)."""
    slots = {f.name: cls.__dict__.get(f.name) for f in fields(cls)}
    if hasattr(cls, "__post_init__") or not all(f.init for f in fields(cls)) or any(type(s) is not _MEMBER for s in slots.values()):
        built = None
    else:
        built = frozenset(slots), tuple((name, slot.__set__) for name, slot in slots.items() if slot is not None)
    _BUILDERS[cls] = built
    return built


class _Slotted:
    __slots__ = ("x",)


_MEMBER = type(_Slotted.__dict__["x"])  # a slot's descriptor


def _record(cls: type[_R], d: dict[str, Any]) -> _R:
    """cls(**d): when `d` names every field (as stored JSON does) each slot is set directly,
    without the keyword parsing of a 20-field __init__; else the __init__ itself."""
    built = _BUILDERS[cls] if cls in _BUILDERS else _builder(cls)
    if built is None or d.keys() != built[0]:
        return cls(**d)
    record = _new(cls)
    for name, set_slot in built[1]:
        set_slot(record, d[name])
    return record


_CONTACT_TIMES = ("last_reply_at", "last_meeting_at", "modified_at")


def contact_from_json(text: str) -> Contact:
    d = _loads(text)
    for name in _CONTACT_TIMES:
        d[name] = from_ts(d.get(name))
    d["opted_out"] = frozenset(d.get("opted_out", ()))
    d["properties"] = dict(d.get("properties", {}))
    return _record(Contact, d)


_ENROLLMENT_TIMES = ("enrolled_at", "anchor_at", "snoozed_until", "ended_at", "next_due_at", "wake_at")


def enrollment_from_json(text: str) -> Enrollment:
    d = _loads(text)
    d["status"] = EnrollmentStatus(d["status"])
    for name in _ENROLLMENT_TIMES:
        d[name] = from_ts(d.get(name))
    return _record(Enrollment, d)


def create_task_from_json(text: str) -> CreateTask:
    d = _loads(text)
    d["channel"] = Channel(d["channel"])
    d["due_at"] = from_ts(d["due_at"])
    d["enrolled_at"] = from_ts(d.get("enrolled_at"))
    d["adjustments"] = tuple(d.get("adjustments", ()))
    return _record(CreateTask, d)


# ------------------------------------------------------------------------ ledger rows


def _channel(payload: str) -> str:
    try:
        return str(_loads(payload).get("channel", ""))
    except (ValueError, AttributeError):
        return ""


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One task crm-cadence intends to have, or has, in the CRM."""

    key: str
    contact_id: str
    owner_id: str
    status: str  # pending / created / unknown / closed / failed
    crm_id: str
    attempts: int
    last_error: str
    payload: str  # the CreateTask as JSON
    due_at: datetime | None
    sent_at: datetime | None  # when the create was last sent (marked unknown)
    crm_status: str  # open / completed / deleted, as the CRM last said
    completed_at: datetime | None
    outcome: str
    note: str
    close_reason: str  # non-empty: a close is intended and not yet confirmed
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def task(self) -> CreateTask:
        return create_task_from_json(self.payload)

    def close_request(self) -> CloseTask:
        return CloseTask(self.key, self.contact_id, self.crm_id, self.close_reason)

    def state(self) -> TaskState:
        """The task as the engine sees it. Not yet confirmed by the CRM still counts as open."""
        if self.status == CLOSED:
            status = TaskStatus.DELETED if self.crm_status != "completed" else TaskStatus.COMPLETED
        elif self.status in (PENDING, UNKNOWN, FAILED):
            status = TaskStatus.OPEN
        else:
            status = TaskStatus(self.crm_status or "open")
        outcome = None
        if self.outcome:
            try:
                outcome = Outcome(self.outcome)
            except ValueError:
                outcome = None
        return TaskState(
            key=self.key,
            contact_id=self.contact_id,
            status=status,
            crm_id=self.crm_id,
            owner_id=self.owner_id,
            due_at=self.due_at,
            completed_at=self.completed_at if status is TaskStatus.COMPLETED else None,
            outcome=outcome,
            note=self.note,
            channel=_channel(self.payload),
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_at: datetime
    ended_at: datetime | None
    status: str  # running / ok / failed / stopped / planned
    counts: dict[str, Any]
    error: str


# --------------------------------------------------------------------------- Protocol


class Store(Protocol):
    """State of one CRM account. Every mutating method is atomic on its own; wrap several
    in `transaction()` to make them one unit (nested calls join the outer transaction)."""

    account: str
    read_only: bool  # opened for `plan` or `status`: every write is discarded at close

    def close(self) -> None: ...

    def exclusive_run(self) -> AbstractContextManager[None]:
        """Hold the account's single-runner lock for the block, across every process that shares this
        state (SQLite: a file lock beside the file; PostgreSQL: an advisory lock, released when the
        session dies). Raises LockHeld at once when another run holds it."""
        ...

    def transaction(self) -> AbstractContextManager[None]: ...

    # contacts cache: the last seen version of every contact, and who needs planning
    def upsert_contacts(self, contacts: Sequence[Contact], now: datetime) -> list[str]:
        """Cache contacts (in one batch); return (and mark as needing a plan) the ids that are new or changed."""
        ...

    def contacts(self, ids: Iterable[str]) -> dict[str, Contact]: ...

    def referrals_of(self, ids: Iterable[str]) -> dict[str, list[Contact]]:
        """Contacts whose `referred_by` is one of `ids`, per referrer id."""
        ...

    def has_referrals(self) -> bool:
        """Whether any contact of the account names a referrer."""
        ...

    def mark_needs_plan(self, ids: Iterable[str]) -> None: ...

    def needs_plan(self, after: str = "", limit: int = 500) -> list[str]:
        """Contact ids needing a plan, in id order, after `after` (paging)."""
        ...

    def clear_needs_plan(self, ids: Iterable[str]) -> None: ...

    # enrollments
    def enrollments(self, ids: Iterable[str]) -> dict[str, tuple[Enrollment, ...]]: ...

    def all_enrollments(self) -> Iterator[Enrollment]:
        """Every enrollment of the account (reports read these; the sync never does)."""
        ...

    def put_enrollments(self, contact_id: str, enrollments: Sequence[Enrollment], now: datetime) -> None:
        """Replace a contact's enrollments with this complete list."""
        ...

    def put_enrollments_many(self, by_contact: Mapping[str, Sequence[Enrollment]], now: datetime) -> None:
        """Replace each named contact's enrollments with its complete list, in one batch."""
        ...

    def mark_due(self, now: datetime) -> int:
        """Mark contacts whose snooze is over, or whose active enrollment waits on no task; return how many."""
        ...

    def enrollment_summary(self) -> list[dict[str, Any]]:
        """Counts by cadence, version, step, status and reason."""
        ...

    # the task ledger
    def add_intent(self, task: CreateTask, now: datetime) -> bool:
        """Record a create as `pending`; False (and no change) when the key is already known."""
        ...

    def add_intents(self, tasks: Iterable[CreateTask], now: datetime) -> int:
        """`add_intent` for many tasks in one batch; return how many were newly recorded."""
        ...

    def request_close(self, close: CloseTask, now: datetime) -> bool:
        """Record the intent to close a task; False when the key is unknown or closed."""
        ...

    def request_closes(self, closes: Iterable[CloseTask], now: datetime) -> int:
        """`request_close` for many closes in one batch; return how many were recorded."""
        ...

    def tasks_of(self, contact_ids: Iterable[str]) -> dict[str, list[LedgerRow]]: ...

    def ledger(self, statuses: Sequence[str], *, limit: int | None = None, after: str = "") -> list[LedgerRow]:
        """Ledger rows in these statuses, in key order, after `after` (paging)."""
        ...

    def get(self, key: str) -> LedgerRow | None: ...

    def closes_due(self, *, limit: int, after: str = "") -> list[LedgerRow]:
        """Rows with a close intended (any status but closed), in key order."""
        ...

    def mark_sending(self, keys: Sequence[str], now: datetime) -> None:
        """Just before a create batch is sent: its rows become `unknown` (sent_at = now)."""
        ...

    def record_creates(self, results: Sequence[Any], now: datetime) -> None:
        """WriteResults of a create batch: created / pending (+1 attempt) / failed / unknown."""
        ...

    def record_closes(self, results: Sequence[Any], now: datetime) -> None:
        """WriteResults of a close batch: closed on ok; a non-retryable failure drops the intent."""
        ...

    def resolve(self, found: Mapping[str, str], missing: Iterable[str], now: datetime) -> None:
        """Reconciliation: found keys -> created with the CRM id; missing -> pending again."""
        ...

    def close_unsent(self, keys: Iterable[str], now: datetime) -> None:
        """A close intended for a create that never reached the CRM: nothing to close."""
        ...

    def live_contact_ids(self) -> list[str]:
        """Contacts with an active or snoozed enrollment."""
        ...

    def open_task_ids(self) -> dict[str, str]:
        """Key -> CRM id of created tasks the CRM last said were open."""
        ...

    def next_stale_tasks(self, before: datetime, limit: int, now: datetime) -> list[tuple[str, str]]:
        """(key, CRM id) of the next `limit` open tasks due before `before`, in (due, key) order
        after the last ones returned (the position is kept in the state)."""
        ...

    def apply_task_states(self, states: Iterable[TaskState], now: datetime) -> set[str]:
        """Record what the CRM says about tasks; return the contact ids whose tasks changed."""
        ...

    def task_load(self, since: datetime) -> Iterator[tuple[str, datetime]]:
        """(owner id, due time) of every task due from `since` on that counts against its owner's
        day: done, open, or about to be sent (not the withdrawn ones). The capacity guard's input."""
        ...

    def queued_contacts(self, per_owner: int) -> list[str]:
        """Contacts waiting in the enrollment queue, the first `per_owner` of each owner, in queue order."""
        ...

    def pacing_summary(self) -> dict[str, Any]:
        """Queued enrollments (in all and per owner), enrollments whose next task waits in state
        beyond the horizon (and the first wake time), unreachable contacts."""
        ...

    def task_summary(self, now: datetime) -> list[dict[str, Any]]:
        """Open and overdue tasks per owner, and ledger counts by status."""
        ...

    # cached CRM records
    def cached_owners(self, max_age: timedelta, now: datetime) -> list[Owner] | None:
        """The owners cached by a run less than `max_age` ago, else None."""
        ...

    def cache_owners(self, owners: Sequence[Owner], now: datetime) -> None: ...

    # cursors and runs
    def cursor(self, name: str) -> datetime | None: ...

    def set_cursor(self, name: str, value: datetime, now: datetime) -> None: ...

    def start_run(self, now: datetime, *, plan_only: bool = False) -> int:
        """Log a run's start; runs left 'running' are marked 'crashed' only inside `exclusive_run()`."""
        ...

    def finish_run(self, run_id: int, ended: datetime, status: str, counts: Mapping[str, Any], error: str = "") -> None: ...

    def runs(self, limit: int = 10) -> list[RunRecord]: ...
