"""The local CRM's fast paths give exactly what the slow paths they skip would.

A contacts.csv phone written as `+1` and ten digits is accepted without phonenumbers.parse
(connector/crm/local/contacts.py `_is_nanp_e164`): every value here, in every country column,
gets the accept/reject the full parse gives.
"""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest

from connector.crm.local.contacts import _is_nanp_e164, _Row

COUNTRIES = ("", "US", "CA", "GB", "DE", "FR", "IN", "AU", "JM", "XK", "AQ")

PHONES = [
    # E.164, North American and not
    "+12125551234", "+11234567890", "+10000000000", "+19999999999", "+12125550100", "+18005551212",
    "+1212555123", "+121255512345", "+1212555123x", "+1 212 555 1234", "+1-212-555-1234", "+1(212)555-1234",
    "+442079460018", "+4420794600", "+491701234567", "+33612345678", "+919876543210", "+61412345678",
    "+8613800138000", "+999123456789", "+0123456789", "+", "++12125551234", "+1", "+12", "+1\u0662125551234",
    "+1\uff12125551234", "+12125551234 ", "+12125551234;ext=5", "+12125551234 ext. 5", "+12125551234#5",
    "+12125551234,5",
    # national, with punctuation, letters
    "(212) 555-1234", "212-555-1234", "212.555.1234", "2125551234", "12125551234", "0114420794600 18",
    "020 7946 0018", "07700 900123", "0170 1234567", "555-1234", "5551234", "1-800-FLOWERS", "1800FLOWERS",
    "call me", "n/a", "tbd", "-", "0", "123", "1234567", "123456789012345", "1234567890123456",
    # extensions
    "212-555-1234 x12", "212-555-1234 ext 12", "(212) 555-1234 #12", "+1 212 555 1234 extension 9",
    # what spreadsheets leave
    "1.23E+10", "1.21255E+10", "2.12555E+9", "12125551234.0", "'+12125551234", "'2125551234",
    "=+12125551234", "tel:+1-212-555-1234", "tel:2125551234;phone-context=+1",
]


def slow_phone(value: str, country: str) -> tuple[str, bool]:
    """The phone check before the fast path (contacts.py as it was), and whether it reported a problem."""
    if not value:
        return "", False
    if not value.startswith("+") and not country:
        digits = re.sub(r"\D", "", value)
        if 7 <= len(digits) <= 15 and not re.search(r"[A-Za-z]", value):
            return value, False
        return "", True
    try:
        number = phonenumbers.parse(value, country or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        return "", True
    return value, False


def fast_phone(value: str, country: str) -> tuple[str, bool]:
    row = _Row({"id": "c1", "phone": value}, "contacts.csv:2")
    return row.phone(country), bool(row.problems)


def random_nanp(rng: random.Random, n: int) -> list[str]:
    return ["+1" + "".join(rng.choice("0123456789") for _ in range(10)) for _ in range(n)]


@pytest.mark.parametrize("country", COUNTRIES)
def test_phone_fast_path_agrees_with_the_full_parse(country: str) -> None:
    values = [v.strip() for v in PHONES] + random_nanp(random.Random(14), 300)
    for value in values:
        assert fast_phone(value, country) == slow_phone(value, country), (value, country)


def test_every_leading_digits_of_a_nanp_number_is_accepted_as_the_full_parse_accepts_it() -> None:
    """Each of the 1,000 first-three-digit prefixes (area codes, and the impossible ones), rest random."""
    rng = random.Random(7)
    for prefix in range(1000):
        value = f"+1{prefix:03d}" + "".join(rng.choice("0123456789") for _ in range(7))
        assert _is_nanp_e164(value)
        for country in ("", "US", "GB"):
            assert fast_phone(value, country) == slow_phone(value, country) == (value, False), (value, country)


def test_the_fast_path_takes_only_its_shape() -> None:
    assert _is_nanp_e164("+12125551234")
    for value in ("+1212555123", "+121255512345", "+1 212555123", "+1\u0662125551234", "+1\uff12125551234",
                  "12125551234", "+22125551234", "+1212555123x", "+1212555123\n"):
        assert not _is_nanp_e164(value), value
