"""Salesforce records <-> the engine's CRM-neutral records."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from connector.crm.base import BadRecord
from connector.crm.hubspot.mapping import _EMAIL, country_code, usable_phone
from sequences.calendar import zone_or_none
from sequences.records import Contact, CreateTask, Outcome, Owner, TaskState, TaskStatus

from .settings import ContactFields, SalesforceSettings

UTC = timezone.utc
SYSTEM_FIELDS = ["Id", "IsDeleted", "MasterRecordId", "SystemModstamp"]
LEAD_FIELDS = ["IsConverted", "ConvertedContactId"]
SYNTHETIC = {"sobject"}  # a property the adapter sets (Contact or Lead), never a field to query
USER_PREFIX = "005"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?$")


def parse_time(value: Any) -> datetime | None:
    """Salesforce datetimes (`2026-03-03T14:00:00.000+0000`) and dates (midnight UTC)."""
    if not value:
        return None
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        text = text.replace("Z", "+00:00")
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def soql_time(moment: datetime) -> str:
    """An unquoted SOQL datetime literal, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def valid_field_name(name: str) -> bool:
    return bool(_NAME.match(name))


def contact_fields(p: ContactFields, extra: list[str], sobject: str = "Contact") -> list[str]:
    names = [v for v in p.model_dump().values() if v] + SYSTEM_FIELDS + list(extra)
    if sobject == "Lead":
        names += LEAD_FIELDS
    return sorted({n for n in names if n not in SYNTHETIC}, key=lambda n: (n != "Id", n))


def _get(record: Mapping[str, Any], name: str) -> Any:
    """A field of a query record; `Account.Name` reads the nested parent (None when no parent)."""
    if not name:
        return None
    if "." in name:
        rel, _, sub = name.partition(".")
        parent = record.get(rel)
        return parent.get(sub) if isinstance(parent, Mapping) else None
    return record.get(name)


def _text(record: Mapping[str, Any], name: str) -> str:
    value = _get(record, name)
    if value is None or value is False:
        return ""
    return str(value).strip() if value is not True else "true"


def to_contact(record: Mapping[str, Any], p: ContactFields, sobject: str = "Contact") -> Contact:
    """A Contact or Lead as the engine's contact (the id tells them apart: 003 / 00Q). Gone:
    deleted, merged (`merged_into` the winner), or a converted Lead: `merged_into` its Contact,
    so its enrollment ends like a merged-away contact's (its open task closed)."""
    cid = str(record["Id"])
    if record.get("IsDeleted"):
        return Contact(id=cid, deleted=not record.get("MasterRecordId"), merged_into=str(record.get("MasterRecordId") or ""))
    if record.get("IsConverted"):
        converted = str(record.get("ConvertedContactId") or "")
        return Contact(id=cid, merged_into=converted) if converted else Contact(id=cid, deleted=True)
    opted: set[str] = set()
    if _text(record, p.email_optout) == "true":
        opted.add("email")
    if _text(record, p.do_not_call) == "true":
        opted.add("call")
    properties = {}
    for key, value in record.items():
        if key == "attributes" or value is None:
            continue
        if isinstance(value, Mapping):
            for sub, sub_value in value.items():
                if sub != "attributes" and sub_value is not None:
                    properties[f"{key}.{sub}"] = str(sub_value)
        else:
            properties[key] = "true" if value is True else "false" if value is False else str(value)
    properties["sobject"] = sobject
    owner = _text(record, p.owner_id)
    zone = _text(record, p.timezone)
    return Contact(
        id=cid, first_name=_text(record, p.first_name), last_name=_text(record, p.last_name),
        email=_text(record, p.email), phone=_text(record, p.phone) or _text(record, p.mobile_phone),
        company=_text(record, p.company), title=_text(record, p.title), linkedin_url=_text(record, p.linkedin_url),
        owner_id=owner if owner.startswith(USER_PREFIX) else "",  # a queue owns no tasks: unowned
        timezone=zone if zone_or_none(zone) else "",
        country=country_code(_text(record, p.country)), subdivision=_text(record, p.subdivision),
        lead_status=_text(record, p.lead_status), lifecycle_stage=_text(record, p.lifecycle_stage),
        opted_out=frozenset(opted), do_not_contact=_text(record, p.do_not_contact) == "true",
        last_reply_at=parse_time(_get(record, p.last_reply_at)), last_meeting_at=parse_time(_get(record, p.last_meeting_at)),
        referred_by=_text(record, p.referred_by), modified_at=parse_time(record.get("SystemModstamp")),
        properties=properties,
    )


def checked_contact(record: Mapping[str, Any], p: ContactFields,
                    sobject: str = "Contact") -> tuple[Contact, list[BadRecord]]:
    """The contact, with unusable values dropped to empty and each drop reported (never fatal)."""
    contact = to_contact(record, p, sobject)
    if contact.deleted or contact.merged_into:
        return contact, []
    source = f"salesforce {sobject} {contact.id}"
    bad: list[BadRecord] = []
    changes: dict[str, Any] = {}
    raw_zone = _text(record, p.timezone)
    if raw_zone and not contact.timezone:
        bad.append(BadRecord(source, p.timezone, f"unknown time zone {raw_zone[:60]!r}: the zone comes from the "
                                                 "country or phone, else the owner or the config", contact.id))
    raw_country = _text(record, p.country)
    if raw_country and not contact.country:
        bad.append(BadRecord(source, p.country, f"unknown country {raw_country[:60]!r}: holidays come from the "
                                                "phone number, else the config", contact.id))
    if contact.phone and not usable_phone(contact.phone, contact.country):
        bad.append(BadRecord(source, p.phone, f"not a phone number {contact.phone[:60]!r}: call steps are skipped",
                             contact.id))
        changes["phone"] = ""
    if contact.email and not _EMAIL.match(contact.email):
        bad.append(BadRecord(source, p.email, f"not an email address {contact.email[:60]!r}: email steps are skipped",
                             contact.id))
        changes["email"] = ""
    return (replace(contact, **changes) if changes else contact), bad


def to_owner(record: Mapping[str, Any]) -> Owner:
    zone = str(record.get("TimeZoneSidKey") or "")
    return Owner(id=str(record["Id"]), first_name=str(record.get("FirstName") or ""),
                 last_name=str(record.get("LastName") or ""), email=str(record.get("Email") or ""),
                 timezone=zone if zone_or_none(zone) else "")


def task_fields(settings: SalesforceSettings) -> list[str]:
    names = ["Id", settings.task_key_field, "WhoId", "OwnerId", "Status", "IsClosed", "CompletedDateTime",
             "ActivityDate", "ReminderDateTime", "IsDeleted", "SystemModstamp"]
    if settings.outcome_field:
        names.append(settings.outcome_field)
    return list(dict.fromkeys(names))


def _normal(text: str) -> str:
    return re.sub(r"[^a-z]+", "_", text.strip().lower()).strip("_")


_SYNONYMS = {
    "no_answer": Outcome.NO_RESPONSE, "left_voicemail": Outcome.NO_RESPONSE, "voicemail": Outcome.NO_RESPONSE,
    "busy": Outcome.NO_RESPONSE, "meeting": Outcome.MEETING_BOOKED, "meeting_scheduled": Outcome.MEETING_BOOKED,
    "call_back_later": Outcome.NOT_NOW, "not_interested": Outcome.NOT_NOW, "dnc": Outcome.DO_NOT_CONTACT,
    "do_not_call": Outcome.DO_NOT_CONTACT, "wrong_number": Outcome.WRONG_PERSON, "unsubscribed": Outcome.OPTED_OUT,
}


def to_outcome(value: str, mapping: Mapping[str, str]) -> Outcome | None:
    """A recorded outcome: the config's `outcomes` map first (exact, then case-insensitive),
    then the outcome names themselves and a few common call results ("Left voicemail")."""
    text = (value or "").strip()
    if not text:
        return None
    lowered = {k.strip().lower(): v for k, v in mapping.items()}
    name = mapping.get(text) or lowered.get(text.lower())
    if name:
        return Outcome(name)
    key = _normal(text)
    try:
        return Outcome(key)
    except ValueError:
        return _SYNONYMS.get(key)


def to_task_state(record: Mapping[str, Any], settings: SalesforceSettings, key: str = "",
                  missing: bool = False) -> TaskState | None:
    key = key or str(record.get(settings.task_key_field) or "")
    if not key:
        return None
    if missing or record.get("IsDeleted"):
        status = TaskStatus.DELETED
    else:
        status = TaskStatus.COMPLETED if record.get("IsClosed") else TaskStatus.OPEN
    outcome = None
    if status is TaskStatus.COMPLETED and settings.outcome_field:
        outcome = to_outcome(str(record.get(settings.outcome_field) or ""), settings.outcomes)
    completed = parse_time(record.get("CompletedDateTime"))
    if status is TaskStatus.COMPLETED and completed is None:
        completed = parse_time(record.get("SystemModstamp"))
    return TaskState(
        key=key, contact_id=str(record.get("WhoId") or ""), status=status, crm_id=str(record.get("Id") or ""),
        owner_id=str(record.get("OwnerId") or ""),
        due_at=parse_time(record.get("ReminderDateTime")) or parse_time(record.get("ActivityDate")),
        completed_at=completed if status is TaskStatus.COMPLETED else None, outcome=outcome,
    )


def task_record(task: CreateTask, settings: SalesforceSettings, owners: Mapping[str, Owner]) -> dict[str, Any]:
    """The Task for a follow-up. ActivityDate is a date only: the owner-local day (else the
    contact-local day); the instant goes in ReminderDateTime with IsReminderSet. Status and
    TaskSubtype are never sent: an upsert that updates must not reopen a closed task, and
    TaskSubtype is create-only."""
    owner = owners.get(task.owner_id)
    zone = zone_or_none(owner.timezone) if owner and owner.timezone else None
    if zone is not None:
        day = task.due_at.astimezone(ZoneInfo(str(zone))).date().isoformat()
    else:
        day = task.due_local[:10] if re.match(r"\d{4}-\d{2}-\d{2}", task.due_local or "") else task.due_at.date().isoformat()
    body = f"{task.body}\n\n(crm-cadence {task.key})" if task.body else f"(crm-cadence {task.key})"
    record: dict[str, Any] = {
        "attributes": {"type": "Task"},
        settings.task_key_field: task.key,
        "WhoId": task.contact_id,
        "Subject": task.subject[:255],
        "Description": body[:32000],
        "ActivityDate": day,
        "ReminderDateTime": task.due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "IsReminderSet": True,
        "Priority": settings.priorities.get(task.priority.lower(), settings.priorities.get("medium", "Normal")),
    }
    task_type = settings.channel_types.get(task.channel.value, "")
    if task_type:
        record["Type"] = task_type
    if owner is not None:
        record["OwnerId"] = task.owner_id
    return record
