"""HubSpot records <-> the engine's CRM-neutral records."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from connector.crm.base import BadRecord
from sequences.calendar import zone_or_none
from sequences.records import Channel, Contact, CreateTask, Owner, TaskState, TaskStatus

from .settings import ContactProperties

UTC = timezone.utc
_ZONE_NAMES: dict[str, str] = {}


def parse_time(value: str | None) -> datetime | None:
    """HubSpot timestamps: ISO 8601 or epoch milliseconds; date-only values are midnight UTC."""
    if not value:
        return None
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hubspot_zone(value: str) -> str:
    """HubSpot's `hs_timezone` option values (e.g. `america_slash_new_york`) as IANA names."""
    if not value:
        return ""
    if zone_or_none(value):
        return value
    if not _ZONE_NAMES:
        from zoneinfo import available_timezones

        _ZONE_NAMES.update({z.lower(): z for z in available_timezones()})
    return _ZONE_NAMES.get(value.replace("_slash_", "/").lower(), "")


_COUNTRY_ALIASES = {
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "u.k.": "GB", "united kingdom": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "deutschland": "DE", "españa": "ES", "brasil": "BR", "nederland": "NL", "the netherlands": "NL",
}
_COUNTRY_NAMES: dict[str, str] = {}


def country_code(value: str) -> str:
    """HubSpot's free-text `country` as an ISO 3166 alpha-2 code, or empty when unsure."""
    text = value.strip()
    if not _COUNTRY_NAMES:
        from importlib.resources import files

        table = files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text(encoding="utf-8")
        for line in table.splitlines():
            if line and not line.startswith("#"):
                code, name = line.split("\t", 1)
                _COUNTRY_NAMES[name.strip().lower()] = code
        _COUNTRY_NAMES.update({code.lower(): code for code in set(_COUNTRY_NAMES.values())})
        _COUNTRY_NAMES.update(_COUNTRY_ALIASES)
    return _COUNTRY_NAMES.get(text.lower(), "")


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in {"true", "1", "yes"}


def contact_properties(p: ContactProperties, extra: list[str]) -> list[str]:
    names = [v for v in p.model_dump().values() if v] + ["lastmodifieddate", "hs_merged_object_ids"] + list(extra)
    return sorted(set(names))


def to_contact(object_id: str, props: Mapping[str, str | None], p: ContactProperties) -> Contact:
    def get(name: str) -> str:
        return (props.get(name) or "").strip() if name else ""

    opted: set[str] = set()
    if _truthy(get(p.email_optout)):
        opted.add("email")
    if get(p.email_bounced):
        opted.add("bounced")
    return Contact(
        id=str(object_id),
        first_name=get(p.first_name),
        last_name=get(p.last_name),
        email=get(p.email),
        phone=get(p.phone) or get(p.mobile_phone),
        company=get(p.company),
        title=get(p.title),
        linkedin_url=get(p.linkedin_url),
        owner_id=get(p.owner_id),
        timezone=hubspot_zone(get(p.timezone)),
        country=country_code(get(p.country)),
        subdivision=get(p.subdivision),
        lead_status=get(p.lead_status),
        lifecycle_stage=get(p.lifecycle_stage),
        opted_out=frozenset(opted),
        do_not_contact=_truthy(get(p.do_not_contact)),
        last_reply_at=parse_time(get(p.last_reply_at)),
        last_meeting_at=parse_time(get(p.last_meeting_at)),
        referred_by=get(p.referred_by),
        modified_at=parse_time(get("lastmodifieddate")),
        properties={k: v for k, v in props.items() if v is not None},
    )


def to_owner(raw: object) -> Owner:
    get = (lambda k: getattr(raw, k, None)) if not isinstance(raw, Mapping) else raw.get
    return Owner(
        id=str(get("id")),
        first_name=get("first_name") or get("firstName") or "",
        last_name=get("last_name") or get("lastName") or "",
        email=get("email") or "",
    )


# the engine's channels in HubSpot's task-type vocabulary (HubSpot has no meeting task type)
TASK_TYPES = {
    Channel.CALL: "CALL",
    Channel.EMAIL: "EMAIL",
    Channel.LINKEDIN: "LINKED_IN_MESSAGE",
    Channel.MEETING: "TODO",
    Channel.TODO: "TODO",
}

TASK_PROPERTIES = [
    "hs_task_status", "hs_task_completion_date", "hubspot_owner_id", "hs_timestamp",
    "hs_task_subject", "hs_lastmodifieddate",
]


_MARKDOWN: Any = None


def _markdown() -> Any:
    """CommonMark via markdown-it-py, raw HTML in scripts escaped (contact data is never
    markup), headings as bold paragraphs (HubSpot's task view shows no heading styles)."""
    global _MARKDOWN
    if _MARKDOWN is None:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": False})
        md.add_render_rule("heading_open", lambda renderer, tokens, idx, options, env: "<p><strong>")
        md.add_render_rule("heading_close", lambda renderer, tokens, idx, options, env: "</strong></p>\n")
        _MARKDOWN = md
    return _MARKDOWN


@lru_cache(maxsize=512)
def body_html(markdown_text: str) -> str:
    """A task body (a Markdown script) as the HTML HubSpot's task body displays: paragraphs,
    bold, italics, lists and quotes, no literal `##` or `**`. Remembered by text: a step's
    script is often the same for every contact, and rendering was a third of a sync's CPU."""
    return _markdown().render(markdown_text).strip() if markdown_text.strip() else ""


def task_properties(task: CreateTask, key_property: str, known_owners: set[str] | None = None,
                    enrollment_property: str = "") -> dict[str, str]:
    """The HubSpot task for a follow-up. An owner HubSpot does not know is left off (unassigned)."""
    props = {
        "hs_timestamp": iso(task.due_at),
        "hs_task_subject": task.subject,
        "hs_task_body": body_html(task.body) + f"<p><small>crm-cadence {html.escape(task.key)}</small></p>",
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": task.priority.upper(),
        "hs_task_type": TASK_TYPES.get(task.channel, "TODO"),
        key_property: task.key,
    }
    if enrollment_property:
        from connector.crm.taskmeta import encode

        props[enrollment_property] = encode(task)
    if task.owner_id and (known_owners is None or task.owner_id in known_owners):
        props["hubspot_owner_id"] = task.owner_id
    return props


def to_task_state(object_id: str, props: Mapping[str, str | None], key_property: str, contact_id: str,
                  archived: bool = False) -> TaskState | None:
    key = props.get(key_property) or ""
    if not key:
        return None
    status = TaskStatus.DELETED if archived else (
        TaskStatus.COMPLETED if props.get("hs_task_status") == "COMPLETED" else TaskStatus.OPEN)
    completed = parse_time(props.get("hs_task_completion_date")) or (
        parse_time(props.get("hs_lastmodifieddate")) if status is TaskStatus.COMPLETED else None)
    return TaskState(
        key=key, contact_id=contact_id, status=status, crm_id=str(object_id),
        owner_id=props.get("hubspot_owner_id") or "", due_at=parse_time(props.get("hs_timestamp")),
        completed_at=completed, modified_at=parse_time(props.get("hs_lastmodifieddate")),
    )


_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}$")


def checked_contact(object_id: str, props: Mapping[str, str | None], p: ContactProperties) -> tuple[Contact, list[BadRecord]]:
    """The contact, with unusable values dropped to empty and each drop reported (never fatal)."""
    contact = to_contact(object_id, props, p)
    source = f"hubspot contact {object_id}"
    bad: list[BadRecord] = []
    changes: dict[str, Any] = {}

    def drop(field: str, prop: str, message: str) -> None:
        bad.append(BadRecord(source, prop, message, str(object_id)))
        changes[field] = ""

    raw_zone = (props.get(p.timezone) or "").strip() if p.timezone else ""
    if raw_zone and not contact.timezone:
        bad.append(BadRecord(source, p.timezone, f"unknown time zone {raw_zone!r}: the zone comes from the "
                                                 "country or phone, else the config", str(object_id)))
    raw_country = (props.get(p.country) or "").strip() if p.country else ""
    if raw_country and not contact.country:
        bad.append(BadRecord(source, p.country, f"unknown country {raw_country[:60]!r}: holidays come from the "
                                                "phone number, else the config", str(object_id)))
    if contact.phone and not usable_phone(contact.phone, contact.country):
        drop("phone", p.phone, f"not a phone number {contact.phone[:60]!r}: call steps are skipped")
    if contact.email and not _EMAIL.match(contact.email):
        drop("email", p.email, f"not an email address {contact.email[:60]!r}: email steps are skipped")
    return (replace(contact, **changes) if changes else contact), bad


def usable_phone(phone: str, country: str = "") -> bool:
    """A phone a recruiter can dial: 7 to 15 digits with the usual punctuation and an optional
    extension. Lenient on purpose: CRM numbers are messy, and a wrong skip loses a call."""
    main = re.split(r"(?i)\s*(?:ext\.?|x|#)\s*\d+\s*$", phone.strip())[0]
    if re.search(r"[^\d\s+().\-/]", main):
        return False
    return 7 <= sum(ch.isdigit() for ch in main) <= 15
