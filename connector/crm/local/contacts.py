"""contacts.csv and owners.csv rows -> Contact and Owner, with every problem named.

Also what a contacts table must hold: the columns the exit rules test, owners that exist.

A row with no id (or a duplicate id) is skipped. A bad value in an optional field is
dropped to empty (so the engine falls back, e.g. to the config's time zone) and reported;
unclear opt-out or do-not-contact values are read the careful way (as "stop").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timezone
from importlib.resources import files
from zoneinfo import ZoneInfo

import phonenumbers

from connector.crm.base import BadRecord
from sequences.calendar import zone_or_none
from sequences.records import Contact, Owner

from . import csvio, csvtable

log = logging.getLogger("connector.crm.local.crm")  # the owners file's warnings, under the CRM's name as before

CONTACT_COLUMNS = (
    "id", "first_name", "last_name", "email", "phone", "company", "title", "linkedin_url",
    "owner_id", "timezone", "country", "subdivision", "lead_status", "lifecycle_stage",
    "opted_out", "do_not_contact", "last_reply_at", "last_meeting_at", "referred_by",
)
OWNER_COLUMNS = ("id", "first_name", "last_name", "email", "timezone", "days_off")

_COUNTRIES = frozenset(
    line.split("\t", 1)[0]
    for line in files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text(encoding="utf-8").splitlines()
    if line and not line.startswith("#")
)
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}$")
_CHANNELS = {"call", "email", "linkedin", "meeting", "todo", "all"}
_CHANNEL_ALIASES = {"phone": "call", "calls": "call", "emails": "email", "mail": "email", "sms": "call", "*": "all"}
_NO_CHANNELS: frozenset[str] = frozenset()
_TRUE = {"true", "yes", "y", "1", "x"}
_FALSE = {"false", "no", "n", "0", ""}


def check_timezone(value: str) -> str | None:
    """An error message when `value` is not an IANA zone name, else None."""
    if zone_or_none(value) is None:
        return f"unknown time zone {value!r}: left empty (the zone then comes from the country or phone, else the config)"
    return None


def parse_when(value: str, default_zone: str = "") -> datetime:
    """An ISO date or date-time as aware UTC; naive values are read in `default_zone` (else UTC)."""
    text = value.strip().replace("Z", "+00:00")
    zone = ZoneInfo(default_zone) if default_zone else timezone.utc
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(12, 0), zone).astimezone(timezone.utc)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(timezone.utc)


def _is_nanp_e164(value: str) -> bool:
    """A North American number written as E.164 (`+1` and ten ASCII digits), which phonenumbers
    always parses, whatever the default region, and finds possible: `+` makes the region
    irrelevant, `1` is the country code (of US), the national prefix `1` is never stripped (9
    digits is not a possible US length) and 10 digits is. It spares the commonest clean shape the
    parse (~14 us a row); tests/test_local_fast_paths.py holds it to the parse's answer (a
    phonenumbers release with other US lengths would fail there)."""
    return len(value) == 12 and value.startswith("+1") and value.isascii() and value[2:].isdigit()


class _Row:
    """One row being turned into a Contact; collects what was wrong with it."""

    def __init__(self, values: Mapping[str, str], source: str, *, stripped: dict[str, str] | None = None):
        """`stripped`: the values already stripped, as a dict of its own (then `values` is not read)."""
        self.values = stripped if stripped is not None else {k: (v or "").strip() for k, v in values.items()}
        self.source = source
        self.problems: list[BadRecord] = []
        self.id = self.values.get("id", "")

    def bad(self, field: str, message: str) -> None:
        self.problems.append(BadRecord(self.source, field, message, self.id))

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def email(self) -> str:
        value = self.get("email")
        if value and not _EMAIL.match(value):
            self.bad("email", f"not an email address {value!r}: left empty")
            return ""
        return value

    def phone(self, country: str) -> str:
        value = self.get("phone")
        if not value:
            return ""
        if _is_nanp_e164(value):
            return value  # what phonenumbers says of every such number (see _is_nanp_e164), without parsing it
        if not value.startswith("+") and not country:
            digits = re.sub(r"\D", "", value)
            if 7 <= len(digits) <= 15 and not re.search(r"[A-Za-z]", value):
                return value
            self.bad("phone", f"not a phone number {value!r}: left empty")
            return ""
        try:
            number = phonenumbers.parse(value, country or None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_possible_number(number):
            self.bad("phone", f"not a phone number {value!r}: left empty")
            return ""
        return value

    def timezone(self) -> str:
        value = self.get("timezone")
        if value and (problem := check_timezone(value)):
            self.bad("timezone", problem)
            return ""
        return value

    def country(self) -> str:
        value = self.get("country").upper()
        if value and value not in _COUNTRIES:
            self.bad("country", f"not an ISO country code {value!r} (e.g. US, GB, DE): left empty")
            return ""
        return value

    def opted_out(self) -> frozenset[str]:
        raw = self.get("opted_out")
        if not raw:
            return _NO_CHANNELS
        channels: set[str] = set()
        for part in re.split(r"[;,|]", raw.lower()):
            part = _CHANNEL_ALIASES.get(part.strip(), part.strip())
            if not part or part in {"none", "false", "no"}:
                continue
            if part in {"true", "yes"}:
                part = "all"
            if part not in _CHANNELS:
                self.bad("opted_out", f"unknown channel {part!r}: read as opted out of everything")
                part = "all"
            channels.add(part)
        return frozenset(channels)

    def do_not_contact(self) -> bool:
        value = self.get("do_not_contact").lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.bad("do_not_contact", f"not true/false {value!r}: read as true (do not contact)")
        return True

    def when(self, name: str) -> datetime | None:
        value = self.get(name)
        if not value:
            return None
        try:
            return parse_when(value)
        except (ValueError, OverflowError):
            self.bad(name, f"not an ISO date {value!r}: left empty")
            return None


def parse_contact(values: Mapping[str, str], source: str) -> tuple[Contact | None, list[BadRecord]]:
    """A contacts.csv row as a Contact (None when it must be skipped), plus its problems."""
    return _contact(_Row(values, source))


def record_columns(header: Sequence[str]) -> list[tuple[int, str]]:
    """(position, name) of a header's named columns: what `parse_contact_record` reads a record by."""
    return [(i, name) for i, name in enumerate(header) if name]


def parse_contact_record(columns: Sequence[tuple[int, str]], values: Sequence[str], source: str
                         ) -> tuple[Contact | None, list[BadRecord]]:
    """`parse_contact(csvio.as_dict(header, values), source)` for a record with no more values
    than the header has columns (`columns`: `record_columns(header)`), without the dict in between."""
    n = len(values)
    row = _Row({}, source, stripped={name: values[i].strip() if i < n else "" for i, name in columns})
    return _contact(row)


def _contact(row: _Row) -> tuple[Contact | None, list[BadRecord]]:
    if not row.id:
        row.bad("id", "no id: row skipped")
        return None, row.problems
    values = row.values
    get = values.get
    country = row.country()
    contact = Contact(
        id=row.id,
        first_name=get("first_name", ""),
        last_name=get("last_name", ""),
        email=row.email(),
        phone=row.phone(country),
        company=get("company", ""),
        title=get("title", ""),
        linkedin_url=get("linkedin_url", ""),
        owner_id=get("owner_id", ""),
        timezone=row.timezone(),
        country=country,
        subdivision=get("subdivision", "").upper(),
        lead_status=get("lead_status", ""),
        lifecycle_stage=get("lifecycle_stage", ""),
        opted_out=row.opted_out(),
        do_not_contact=row.do_not_contact(),
        last_reply_at=row.when("last_reply_at"),
        last_meeting_at=row.when("last_meeting_at"),
        referred_by=get("referred_by", ""),
        modified_at=row.when("modified_at") if "modified_at" in values else None,
        properties={k: v for k, v in values.items() if k},
        deleted=get("deleted", "").lower() in _TRUE,
    )
    return contact, row.problems


def parse_owner(values: Mapping[str, str], source: str) -> tuple[Owner | None, list[BadRecord]]:
    """An owners.csv row as an Owner (None when it has no id), plus its problems."""
    row = _Row(values, source)
    if not row.id:
        row.bad("id", "no id: owner skipped")
        return None, row.problems
    days: set[date] = set()
    for part in re.split(r"[;,\s]+", row.get("days_off")):
        if not part:
            continue
        try:
            days.add(date.fromisoformat(part))
        except ValueError:
            row.bad("days_off", f"not an ISO date {part!r}: ignored")
    return Owner(
        id=row.id,
        first_name=row.get("first_name"),
        last_name=row.get("last_name"),
        email=row.email(),
        timezone=row.timezone(),
        days_off=frozenset(days),
    ), row.problems


def owners_from_table(table: csvtable.Table, label: str) -> dict[str, Owner]:
    """owners.csv's owners by id (the first of a repeated id); a bad row is logged and skipped."""
    owners: dict[str, Owner] = {}
    for err in table.errors:
        log.warning("%s:%s: %s (owner skipped)", label, err.line, err.message)
    for record in table.records:
        owner, problems = parse_owner(csvio.as_dict(table.header, record.values), f"{label}:{record.line}")
        for p in problems:
            log.warning("%s: %s: %s", p.source, p.field, p.message)
        if owner is not None:
            owners.setdefault(owner.id, owner)
    return owners


def known_owner(contact: Contact, owners: Mapping[str, Owner], source: str, bad: list[BadRecord]) -> Contact:
    """An owner missing from owners.csv is reported, and the contact's tasks left unassigned."""
    if not contact.owner_id or not owners or contact.owner_id in owners:
        return contact
    bad.append(BadRecord(source, "owner_id", f"unknown owner {contact.owner_id!r} (not in owners.csv): "
                                             "tasks are left unassigned", contact.id))
    return replace(contact, owner_id="")


def require_rule_columns(table: csvtable.Table, label: str, properties: Sequence[str]) -> None:
    """Every column the cadences' exit rules test must be in the header: a column renamed or
    lost (an edit of the header, a damaged save) would make `not_equals` exit rules match everyone."""
    present = {h.strip() for h in table.header}
    missing = [p for p in properties if p not in present]
    if missing:
        raise csvtable.UnreadableFile(label, 1, "header", f"no {missing[0]!r} column, which the cadences' exit rules test "
                                      f"(columns: {', '.join(table.header)[:200]})",
                                      "restore the column (its cells may be empty) or change the rules")
