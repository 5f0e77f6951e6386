"""Finding a referred person among the contacts already there, before adding anyone.

A referral names someone by name, email, phone or (column `referred_id`) contact id. If
any of the email (case-insensitive), the phone (normalised to E.164 where it can be) or the
id matches a contact, that contact is the referred person: no second contact, no second
cadence.
"""

from __future__ import annotations

import re
from dataclasses import replace

import phonenumbers

from sequences.records import Contact


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
        self._by_phone: dict[str, str] = {}
        for contact in contacts:
            self.add(contact)
        self._read = len(self._order)

    def add(self, contact: Contact) -> None:
        """Index a contact (after the read: a referred person added this run)."""
        self._order.append(contact.id)
        self._by_id[contact.id] = contact
        if contact.email:
            self._by_email.setdefault(contact.email.strip().lower(), contact.id)
        phone = normal_phone(contact.phone, contact.country)
        if phone:
            self._by_phone.setdefault(phone, contact.id)

    def find(self, contact_id: str, email: str, phone: str) -> str | None:
        """The id of the contact with this id, email or phone, or None."""
        if contact_id.strip() in self._by_id:
            return contact_id.strip()
        if email.strip() and email.strip().lower() in self._by_email:
            return self._by_email[email.strip().lower()]
        normal = normal_phone(phone)
        return self._by_phone.get(normal) if normal else None

    def mark_referred(self, contact_id: str, referrer_id: str) -> None:
        """The contact was referred by `referrer_id`, unless a referrer is already known."""
        contact = self._by_id[contact_id]
        if not contact.referred_by:
            self._by_id[contact_id] = replace(contact, referred_by=referrer_id)

    def contacts(self) -> list[Contact]:
        """The contacts read from the file (new ones excluded), with referral marks."""
        return [self._by_id[i] for i in self._order[: self._read]]
