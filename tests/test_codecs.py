"""The state's record codecs (connector/store.py): the faster encoders and decoders write and read
exactly what the first ones did. The first implementation is kept here as the reference: the
state's JSON text must not change (upsert_contacts compares it to find changed contacts, and
state files written by earlier versions must compare equal)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector import store
from connector.jsonable import jsonable
from sequences.records import Channel, Contact, CreateTask, Enrollment, EnrollmentStatus, Outcome, TaskState, TaskStatus

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 13, 0, 5, 123456, tzinfo=UTC)


# ------------------------------------------------------------------ the reference (first) codecs


def old_ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def old_from_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def old_record_json(record: Any) -> str:
    data = {f.name: jsonable(getattr(record, f.name), when=old_ts) for f in fields(record)}
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def old_contact_from_json(text: str) -> Contact:
    d = json.loads(text)
    for name in ("last_reply_at", "last_meeting_at", "modified_at"):
        d[name] = old_from_ts(d.get(name))
    d["opted_out"] = frozenset(d.get("opted_out", ()))
    d["properties"] = dict(d.get("properties", {}))
    return Contact(**d)


def old_enrollment_from_json(text: str) -> Enrollment:
    d = json.loads(text)
    d["status"] = EnrollmentStatus(d["status"])
    for name in ("enrolled_at", "anchor_at", "snoozed_until", "ended_at"):
        d[name] = old_from_ts(d.get(name))
    return Enrollment(**d)


def old_create_task_from_json(text: str) -> CreateTask:
    d = json.loads(text)
    d["channel"] = Channel(d["channel"])
    d["due_at"] = old_from_ts(d["due_at"])
    d["enrolled_at"] = old_from_ts(d.get("enrolled_at"))
    d["adjustments"] = tuple(d.get("adjustments", ()))
    return CreateTask(**d)


# ------------------------------------------------------------------------------------ records

TIMES = [
    NOW,
    NOW.replace(microsecond=0),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1999, 1, 1, tzinfo=UTC),
    datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("America/New_York")),  # not UTC: converted
    datetime(2026, 6, 1, 9, 15, 1, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 6, 1, 9, 15, tzinfo=timezone(timedelta(0))),  # the UTC singleton
    datetime(2026, 6, 1, 9, 15, tzinfo=ZoneInfo("UTC")),  # UTC, not the singleton
    datetime(999, 5, 6, 7, 8, 9, tzinfo=UTC),  # %Y does not pad it: the long way
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def contacts() -> list[Contact]:
    props = {"id": "c1", "first_name": "Zoë", "last_name": "O'Brien", "Étage": "3ᵉ", "z": "last", "a": "first",
             "emoji": "👋 \"quoted\" \\ back\nslash", "": "empty key"}
    return [
        Contact(id="c1"),
        Contact(id="c2", first_name="José", last_name="Álvarez", email="jose@example.com", company="Ünïcode GmbH",
                title="CTO", owner_id="o1", timezone="America/New_York", country="US", subdivision="CA",
                lead_status="NEW", lifecycle_stage="lead", properties=props, modified_at=NOW),
        Contact(id="c3", opted_out=frozenset({"email", "call", "all"}), do_not_contact=True, last_reply_at=TIMES[2],
                last_meeting_at=TIMES[4], referred_by="c2", deleted=True, merged_into="c9"),
        Contact(id="c4", opted_out=frozenset(), properties=MappingProxyType({"b": "2", "a": "1"}), modified_at=TIMES[5]),
        Contact(id="c5", properties={}, last_reply_at=None, last_meeting_at=None, modified_at=None),
    ]


def enrollments() -> list[Enrollment]:
    out = []
    for n, status in enumerate(EnrollmentStatus):
        out.append(Enrollment(contact_id=f"c{n}", cadence_id="intro", version=n + 1, seq=n, status=status,
                              enrolled_at=TIMES[n % len(TIMES)]))
        out.append(Enrollment(contact_id=f"c{n}", cadence_id="réengage", version=2, seq=n + 10, status=status,
                              enrolled_at=NOW, step_index=3, open_task_key="acct:c1:intro:1:1:call", anchor_at=TIMES[1],
                              snoozed_until=TIMES[2], reengage_into="later", referrer_id="c7", baseline_lead_status="NEW",
                              ended_at=TIMES[3], reason="not now: “next quarter”", next_due_at=TIMES[4], wake_at=TIMES[5],
                              queue_key="0001:c1", owner_id="o2"))
    return out


def tasks() -> list[CreateTask]:
    base: dict[str, Any] = dict(key="acct:c1:intro:1:1:intro-call", contact_id="c1", owner_id="o1", cadence_id="intro", version=1, seq=1,
                step_index=0, step_id="intro-call", task_type="call", priority="high", due_local="2026-03-02T09:00:00-05:00",
                timezone="America/New_York", subject="Call Zoë at Ünïcode", body='Say "hi"\n\tthen 👋', reason="first step")
    return [
        CreateTask(**base, channel=Channel.CALL, due_at=NOW),
        CreateTask(**base, channel=Channel.EMAIL, due_at=TIMES[4], adjustments=("moved past lunch", "skipped a holiday: Día"),
                   enrolled_at=TIMES[1], baseline_lead_status="NEW", referrer_id="c2", account="acct"),
        CreateTask(**{**base, "priority": "HIGH"}, channel=Channel.TODO, due_at=TIMES[10], adjustments=()),
    ]


RECORDS = [*contacts(), *enrollments(), *tasks(),
           TaskState(key="k", contact_id="c1", status=TaskStatus.COMPLETED, due_at=NOW, completed_at=TIMES[5],
                     outcome=Outcome.REPLIED, note="ok ✓"),
           TaskState(key="k2", contact_id="c1", status=TaskStatus.OPEN)]


# ---------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("value", [None, *TIMES])
def test_ts_writes_the_same_text(value: datetime | None) -> None:
    assert store.ts(value) == old_ts(value)


def test_ts_of_a_naive_time_reads_it_as_local_time_as_before() -> None:
    naive = datetime(2026, 3, 2, 13, 0, 5)
    assert store.ts(naive) == old_ts(naive)


@pytest.mark.parametrize("text", ["", None, "2026-03-02T13:00:05.123456Z", "2026-03-02T13:00:05.000000Z",
                                  "0999-05-06T07:08:09.000000Z", "2026-03-02T13:00:05Z", "2026-03-02T13:00:05+02:00",
                                  "2026-03-02T13:00:05.123456", "2026-03-02", "2026-03-02T13:00:05.123456+00:00"])
def test_from_ts_reads_the_same_time(text: str | None) -> None:
    new, old = store.from_ts(text), old_from_ts(text)
    assert new == old
    if new is not None and old is not None:
        assert new.tzinfo == old.tzinfo and new.utcoffset() == old.utcoffset()
        assert type(new) is type(old) is datetime


@pytest.mark.parametrize("text", ["not a time", "2026-13-02T13:00:05.123456Z", "2026-03-02TZ3:00:05.123456Z", "2026-03-02T13:00:05.12345ZZ"])
def test_from_ts_rejects_what_it_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        old_from_ts(text)
    with pytest.raises(ValueError):
        store.from_ts(text)


def test_ts_and_from_ts_round_trip() -> None:
    for value in TIMES:
        if value.year >= 1000:
            assert store.from_ts(store.ts(value)) == value
        else:  # as before: %Y writes no leading zeros, and that text is not ISO 8601
            with pytest.raises(ValueError):
                old_from_ts(old_ts(value))
            with pytest.raises(ValueError):
                store.from_ts(store.ts(value))


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_record_json_writes_the_same_text(record: Any) -> None:
    assert store.record_json(record) == old_record_json(record)


def test_record_json_writes_the_same_text_for_odd_values() -> None:
    # values of other types than the annotations say: every one still goes through jsonable's rules
    odd = [
        Contact(id="c1", opted_out={"email"}, properties={"n": 1, "f": 1.5, "b": True, "none": None, "list": ["x"]}),  # type: ignore[arg-type, dict-item]
        Contact(id="c2", first_name=Channel.CALL, email=None, do_not_contact=1),  # type: ignore[arg-type]
        Enrollment(contact_id="c1", cadence_id="x", version=1, seq=0, status="active", enrolled_at="2026-03-02T13:00:05.000000Z",  # type: ignore[arg-type]
                   wake_at="2026-03-03T13:00:05.000000Z", next_due_at=datetime(2026, 3, 2).date()),  # type: ignore[arg-type]
        CreateTask(key="k", contact_id="c", owner_id="o", cadence_id="x", version=1, seq=1, step_index=0, step_id="s",
                   channel=Channel.EMAIL, task_type="email", priority="low", due_at=NOW, due_local="", timezone="",
                   subject="", body="", reason="", adjustments=["a list"]),  # type: ignore[arg-type]
    ]
    for record in odd:
        assert store.record_json(record) == old_record_json(record)


def test_record_json_refuses_what_it_refused() -> None:
    bad = Contact(id="c1", properties={"x": object()})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        old_record_json(bad)
    with pytest.raises(TypeError):
        store.record_json(bad)
    with pytest.raises(TypeError):
        store.record_json(Contact(id="c1", first_name=object()))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.record_json("not a record")


def test_record_json_of_one_and_no_field() -> None:
    @dataclass(frozen=True)
    class One:
        only: datetime

    @dataclass(frozen=True)
    class Nothing:
        pass

    assert store.record_json(One(NOW)) == old_record_json(One(NOW)) == '{"only":"2026-03-02T13:00:05.123456Z"}'
    assert store.record_json(Nothing()) == old_record_json(Nothing()) == "{}"


@pytest.mark.parametrize("record", contacts(), ids=lambda r: r.id)
def test_contact_from_json_reads_the_same_contact(record: Contact) -> None:
    text = old_record_json(record)
    new, old = store.contact_from_json(text), old_contact_from_json(text)
    assert new == old
    assert {f.name: type(getattr(new, f.name)) for f in fields(new)} == {f.name: type(getattr(old, f.name)) for f in fields(old)}
    assert store.record_json(new) == text


@pytest.mark.parametrize("record", enrollments(), ids=lambda r: f"{r.status.value}-{r.seq}")
def test_enrollment_from_json_reads_the_same_enrollment(record: Enrollment) -> None:
    """The enrollment written, read back whole: its horizon times (`next_due_at`, `wake_at`) too, which the
    old decoder left as text (a re-read enrollment then could not be written again)."""
    text = old_record_json(record)
    new = store.enrollment_from_json(text)
    assert new == record and hash(new) == hash(record)
    assert {f.name: type(getattr(new, f.name)) for f in fields(new)} == {f.name: type(getattr(record, f.name)) for f in fields(record)}
    assert store.record_json(new) == text
    old = old_enrollment_from_json(text)  # otherwise what the old decoder read
    assert new == replace(old, next_due_at=record.next_due_at, wake_at=record.wake_at)


@pytest.mark.parametrize("record", tasks(), ids=lambda r: r.channel.value)
def test_create_task_from_json_reads_the_same_task(record: CreateTask) -> None:
    text = old_record_json(record)
    new, old = store.create_task_from_json(text), old_create_task_from_json(text)
    assert new == old and hash(new) == hash(old)
    assert store.record_json(new) == text


def test_decoders_read_older_and_newer_text_as_before() -> None:
    # an older state's text lacks later fields (their defaults apply); text with a field this
    # version does not know is refused, as the dataclass __init__ refused it
    short = json.dumps({"id": "c1", "first_name": "Ann", "modified_at": "2026-03-02T13:00:05.000000Z"})
    assert store.contact_from_json(short) == old_contact_from_json(short)
    assert store.contact_from_json(" " + short + "\n") == old_contact_from_json(short)
    short_e = json.dumps({"contact_id": "c1", "cadence_id": "x", "version": 1, "seq": 0, "status": "active",
                          "enrolled_at": "2026-03-02T13:00:05.000000Z"})
    assert store.enrollment_from_json(short_e) == old_enrollment_from_json(short_e)
    extra = json.loads(old_record_json(contacts()[1]))
    extra["new_field"] = 1
    with pytest.raises(TypeError):
        store.contact_from_json(json.dumps(extra))
    for damaged in ("", "{", '{"id": "c1"} trailing', "[]"):
        with pytest.raises((ValueError, TypeError, AttributeError)) as new_error:
            store.contact_from_json(damaged)
        with pytest.raises(new_error.type):
            old_contact_from_json(damaged)


def test_a_decoded_record_is_a_frozen_record() -> None:
    contact = store.contact_from_json(old_record_json(contacts()[1]))
    with pytest.raises(AttributeError):
        contact.id = "x"  # type: ignore[misc]
    assert contact.full_name == "José Álvarez"
    assert contact.prop("Étage") == "3ᵉ"


def test_ts_remembers_only_what_it_may() -> None:
    # the memo holds UTC datetimes only: an equal time in another zone, or an ambiguous local time
    # (equal to its fold=1 twin, another instant), is not served the text of another instant
    new_york = ZoneInfo("America/New_York")
    first, second = datetime(2026, 11, 1, 1, 30, tzinfo=new_york), datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=new_york)
    as_utc = first.astimezone(UTC)
    for value in (as_utc, first, second, as_utc.astimezone(timezone(timedelta(hours=2))), as_utc, second, first):
        assert store.ts(value) == old_ts(value)
    assert store.ts(first) != store.ts(second)
    # many distinct times (the memo is emptied when full): each one's own text
    values = [NOW + timedelta(seconds=7 * n, microseconds=n) for n in range(10_000)]
    assert [store.ts(v) for v in values] == [old_ts(v) for v in values]
    assert [store.ts(v) for v in reversed(values)] == [old_ts(v) for v in reversed(values)]
    assert len(store._TS_SEEN) <= 4096


def test_ledger_row_reads_each_column_into_its_field() -> None:
    from connector.store_ledger import LEDGER_COLUMNS, ledger_row

    columns = [c.strip() for c in LEDGER_COLUMNS.split(",")]
    assert columns == [f.name for f in fields(store.LedgerRow)]
    times = {"due_at", "sent_at", "completed_at", "created_at", "updated_at"}
    row = {c: (store.ts(NOW + timedelta(hours=n)) if c in times else 7 if c == "attempts" else f"v-{c}")
           for n, c in enumerate(columns)}
    got = ledger_row(row)  # type: ignore[arg-type]  # a PostgreSQL row is a dict
    for n, c in enumerate(columns):
        assert getattr(got, c) == (NOW + timedelta(hours=n) if c in times else row[c])


def test_ledger_channel_as_before() -> None:
    for payload in (old_record_json(tasks()[1]), '{"channel": "call"} ', '{"channel":"e\\u0301"}', "{}", "[]", "", "{", '"x"',
                    '{"channel": 5}'):
        try:
            expected = str(json.loads(payload).get("channel", ""))
        except (ValueError, AttributeError):
            expected = ""
        assert store._channel(payload) == expected
