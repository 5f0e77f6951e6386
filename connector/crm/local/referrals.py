"""Referrals in the local CRM: the people named on done `referral` tasks, found among the
contacts already there (`ExistingPeople`) or added to contacts.csv (`referred_people`,
`append_contacts`).

A referral names someone by name, email, phone or (column `referred_id`) contact id. If
any of the email (case-insensitive), the phone (normalised to E.164 where it can be) or the
id matches a contact, that contact is the referred person: no second contact, no second
cadence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path

import phonenumbers

from connector.crm.base import BadRecord
from sequences.records import Contact, TaskStatus

from . import csvio, csvtable
from .contacts import parse_contact
from .taskfile import REFERRAL_COLUMNS, outcome_of, status_of


def normal_phone(text: str, country: str = "") -> str:
    """A phone number as E.164 when it can be parsed, else its digits (empty when none)."""
    value = text.strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, country.upper() or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\D", "", value)


class ExistingPeople:
    """The contacts of one read, indexed by id, email and phone; referral marks applied on top."""

    def __init__(self, contacts: list[Contact]):
        self._order: list[str] = []
        self._by_id: dict[str, Contact] = {}
        self._by_email: dict[str, str] = {}
        self._by_phone: dict[str, str] | None = None  # built when a referral is first looked up (phones are slow to parse)
        for contact in contacts:
            self.add(contact)
        self._read = len(self._order)

    def add(self, contact: Contact) -> None:
        """Index a contact (after the read: a referred person added this run)."""
        self._order.append(contact.id)
        self._by_id[contact.id] = contact
        if contact.email:
            self._by_email.setdefault(contact.email.strip().lower(), contact.id)
        if self._by_phone is not None:
            self._index_phone(contact)

    def _index_phone(self, contact: Contact) -> None:
        phone = normal_phone(contact.phone, contact.country)
        if phone:
            self._by_phone.setdefault(phone, contact.id)  # type: ignore[union-attr]

    def find(self, contact_id: str, email: str, phone: str) -> str | None:
        """The id of the contact with this id, email or phone, or None."""
        if contact_id.strip() in self._by_id:
            return contact_id.strip()
        if email.strip() and email.strip().lower() in self._by_email:
            return self._by_email[email.strip().lower()]
        normal = normal_phone(phone)
        if not normal:
            return None
        if self._by_phone is None:  # in the order the contacts were added: the first with a number keeps it
            self._by_phone = {}
            for contact_id_ in self._order:
                self._index_phone(self._by_id[contact_id_])
        return self._by_phone.get(normal)

    def mark_referred(self, contact_id: str, referrer_id: str) -> None:
        """The contact was referred by `referrer_id`, unless a referrer is already known."""
        contact = self._by_id[contact_id]
        if not contact.referred_by:
            self._by_id[contact_id] = replace(contact, referred_by=referrer_id)

    def contacts(self) -> list[Contact]:
        """The contacts read from the file (new ones excluded), with referral marks."""
        return [self._by_id[i] for i in self._order[: self._read]]


def referred_people(tasks: csvtable.Table, label: str, skipped: Collection[str], seen: Mapping[str, int],
                    people: ExistingPeople) -> tuple[list[Contact], list[dict[str, str]], list[BadRecord]]:
    """Contacts for referrals recorded on done tasks. A referred person who is already a
    contact (same email, same phone once normalised, or the id given in `referred_id`) is
    not added again: that contact is marked referred by the task's contact (unless someone
    else referred them first). Others are returned as new contacts, with the rows to append to
    contacts.csv (`append_contacts`): reading twice never adds anyone twice."""
    new_rows: list[dict[str, str]] = []
    added: list[Contact] = []
    bad: list[BadRecord] = []
    for record in tasks.records:
        row = csvio.as_dict(tasks.header, record.values)
        if row.get("key", "").strip() in skipped:
            continue
        outcome = outcome_of(row.get("outcome", ""))
        if status_of(row.get("status", "")) is not TaskStatus.COMPLETED or outcome is None or outcome.value != "referral":
            continue
        given = {c: row.get(c, "").strip() for c in (*REFERRAL_COLUMNS, "referred_id")}
        source = f"{label}:{record.line}"
        referrer = row.get("contact_id", "").strip()
        if not any(given.values()):
            bad.append(BadRecord(source, "referred_first_name", "outcome is referral but no referred person is given", referrer))
            continue
        ref_id = "ref-" + hashlib.sha256(row.get("key", "").encode()).hexdigest()[:10]
        if ref_id in seen:
            continue
        existing = people.find(given["referred_id"], given["referred_email"], given["referred_phone"])
        if existing is not None:
            if existing != referrer:
                people.mark_referred(existing, referrer)
            continue
        values = {
            "id": ref_id,
            "first_name": given["referred_first_name"],
            "last_name": given["referred_last_name"],
            "email": given["referred_email"],
            "phone": given["referred_phone"],
            "owner_id": row.get("owner_id", ""),
            "referred_by": referrer,
        }
        contact, problems = parse_contact(values, source)
        bad.extend(problems)
        if contact is None:
            continue
        people.add(contact)
        added.append(contact)
        new_rows.append(values)
    return added, new_rows, bad


def append_contacts(path: Path, label: str, table: csvtable.Table, rows: list[dict[str, str]],
                    reread: Callable[[], csvtable.Table]) -> list[BadRecord]:
    """Add referred people to contacts.csv in the file's own encoding and separator
    (`reread` reads it again under the lock when columns must be added)."""
    header = table.header
    with csvio.file_lock(path):
        missing = [c for c in ("id", "first_name", "last_name", "email", "phone", "owner_id", "referred_by") if c not in header]
        try:
            if not missing:
                csvio.atomic_append_rows(path, header, [[r.get(c, "") for c in header] for r in rows],
                                         encoding=table.dialect.encoding, delimiter=table.dialect.delimiter)
                return []
            current = reread()
            if current.errors:  # rewriting would drop the unreadable rows
                return [BadRecord(f"{label}:{current.errors[0].line}", "row",
                                  f"{current.errors[0].message}; fix it to add referrals")]
            full = list(current.header) + missing
            existing = [csvio.as_dict(current.header, r.values) for r in current.records]
            csvio.atomic_write_rows(path, full, existing + rows, unchanged_since=current.signature,
                                    delimiter=current.dialect.delimiter, bom=True)
        except UnicodeEncodeError as exc:
            return [BadRecord(label, "encoding", f"a referred person's name cannot be written in "
                              f"{table.dialect.encoding} ({exc.object[exc.start:exc.end]!r}): not added; "
                              f"{csvtable.SAVE_HINT}")]
        except OSError as exc:
            return [BadRecord(label, "file", f"referrals not added: {exc.strerror or exc}")]
    return []
