"""The calendar maths, pinned with plain data tables: business days, holidays, DST, zones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sequences.calendar import LocalCalendar, calendar_for, resolve_country, resolve_zone
from sequences.durations import parse_duration, parse_window
from sequences.records import Contact, Owner

UTC = timezone.utc
MON_FRI = frozenset(range(5))
ALL_WEEK = frozenset(range(7))
ROOT = Path(__file__).resolve().parent.parent


def cal(
    zone: str = "America/New_York",
    country: str = "US",
    subdivision: str = "",
    *,
    work_days: frozenset[int] = MON_FRI,
    owner_days_off: frozenset[date] = frozenset(),
    extra_days_off: frozenset[date] = frozenset(),
    default_zone: str = "Europe/London",
    default_country: str = "US",
    default_subdivision: str = "",
) -> LocalCalendar:
    """A contact's calendar built through the public `calendar_for` path."""
    contact = Contact(id="c", timezone=zone, country=country, subdivision=subdivision, owner_id="o")
    owner = Owner("o", days_off=owner_days_off)
    return calendar_for(
        contact, owner, default_zone=default_zone, default_country=default_country,
        default_subdivision=default_subdivision, work_days=work_days, extra_days_off=extra_days_off,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


# ------------------------------------------------------------------ weekends, work days


@pytest.mark.parametrize(
    ("day", "work_days", "is_business_day"),
    [
        (date(2026, 3, 2), MON_FRI, True),  # Monday
        (date(2026, 3, 6), MON_FRI, True),  # Friday
        (date(2026, 3, 7), MON_FRI, False),  # Saturday
        (date(2026, 3, 8), MON_FRI, False),  # Sunday
        (date(2026, 3, 8), frozenset({6, 0, 1, 2, 3}), True),  # Sunday in a Sun-Thu week
        (date(2026, 3, 6), frozenset({6, 0, 1, 2, 3}), False),  # Friday in a Sun-Thu week
        (date(2026, 3, 7), ALL_WEEK, True),  # Saturday when every day is a work day
    ],
)
def test_weekends_follow_configured_work_days(day, work_days, is_business_day):
    """A day is a business day exactly when its weekday is one of the configured work days (no holidays here)."""
    reason = cal(work_days=work_days).day_off_reason(day)
    assert (reason is None) is is_business_day
    if not is_business_day:
        assert "not a work day" in reason


# ------------------------------------------------------------------------- holidays


@pytest.mark.parametrize(
    ("country", "subdivision", "day", "is_holiday"),
    [
        ("US", "", date(2026, 11, 26), True),  # Thanksgiving (Thursday)
        ("US", "", date(2026, 11, 25), False),  # the Wednesday before
        ("US", "", date(2026, 7, 3), True),  # Independence Day observed: July 4th 2026 is a Saturday
        ("US", "", date(2027, 7, 5), True),  # observed Monday: July 4th 2027 is a Sunday
        ("GB", "", date(2026, 12, 25), True),  # Christmas Day (Friday)
        ("GB", "", date(2026, 12, 28), True),  # Boxing Day observed: Dec 26th 2026 is a Saturday
        ("GB", "", date(2027, 12, 27), True),  # Christmas Day observed (Dec 25th 2027 is a Saturday)
        ("GB", "", date(2027, 12, 28), True),  # Boxing Day observed (Dec 26th 2027 is a Sunday)
        ("GB", "", date(2027, 12, 29), False),
        ("DE", "", date(2025, 10, 3), True),  # Tag der Deutschen Einheit (Friday)
        ("DE", "", date(2028, 10, 3), True),  # Tag der Deutschen Einheit (Tuesday)
        ("DE", "BY", date(2026, 1, 6), True),  # Epiphany: Bavaria only
        ("DE", "BE", date(2026, 1, 6), False),  # ... not in Berlin
        ("DE", "", date(2026, 1, 6), False),  # ... nor nationally
        ("DE", "XX", date(2026, 1, 6), False),  # unknown subdivision: national holidays only
        ("DE", "XX", date(2025, 10, 3), True),  # ... which still include Unity Day
        ("IN", "", date(2026, 1, 26), True),  # Republic Day (Monday)
        ("IN", "", date(2026, 1, 27), False),
    ],
)
def test_public_holidays_by_country_and_subdivision(country, subdivision, day, is_holiday):
    """A public holiday of the contact's country (and subdivision when known) is not a business day."""
    zone = {"US": "America/New_York", "GB": "Europe/London", "DE": "Europe/Berlin", "IN": "Asia/Kolkata"}[country]
    reason = cal(zone, country, subdivision).day_off_reason(day)
    assert day.weekday() < 5, "the table must use weekdays so only the holiday can make it a day off"
    if is_holiday:
        assert reason is not None and "public holiday" in reason and country in reason
    else:
        assert reason is None


@pytest.mark.parametrize(
    ("contact_country", "contact_subdivision", "is_holiday"),
    [
        ("", "", True),  # unknown country: the default DE with the default subdivision BY
        ("DE", "", True),  # the default country: the default subdivision applies
        ("DE", "BE", False),  # the contact's own subdivision wins
        ("FR", "", False),  # another country: the default subdivision does not carry over
    ],
)
def test_default_subdivision_applies_only_to_the_default_country(contact_country, contact_subdivision, is_holiday):
    """The config's default subdivision (BY) is used only when the contact's country is the default one."""
    calendar = cal("Europe/Berlin", contact_country, contact_subdivision,
                   default_country="DE", default_subdivision="BY")
    assert (calendar.day_off_reason(date(2026, 1, 6)) is not None) is is_holiday


# ---------------------------------------------------------------------- owner days off


@pytest.mark.parametrize(
    ("owner_off", "config_off", "day", "is_day_off"),
    [
        ({date(2026, 3, 4)}, set(), date(2026, 3, 4), True),
        (set(), {date(2026, 3, 4)}, date(2026, 3, 4), True),
        ({date(2026, 3, 4)}, set(), date(2026, 3, 5), False),
    ],
)
def test_owner_days_off_are_not_business_days(owner_off, config_off, day, is_day_off):
    """The owner's own days off and those from the config's owner_days_off are not business days."""
    reason = cal(owner_days_off=frozenset(owner_off), extra_days_off=frozenset(config_off)).day_off_reason(day)
    assert (reason == "the recruiter's day off") is is_day_off
    assert (reason is None) is (not is_day_off)


# --------------------------------------------------------------- N business days after D


@pytest.mark.parametrize(
    ("zone", "country", "days_off", "completed", "wait", "window", "expected_local"),
    [
        # Mon -> 1 business day -> Tue at the window start
        ("America/New_York", "US", (), local("America/New_York", 2026, 3, 2, 11, 0), "1 business day", "09:00-17:00",
         local("America/New_York", 2026, 3, 3, 9, 0)),
        # late in the day still counts from that day
        ("America/New_York", "US", (), local("America/New_York", 2026, 3, 2, 20, 45), "2 business days", "10:30-12:00",
         local("America/New_York", 2026, 3, 4, 10, 30)),
        # Friday -> 2 business days -> Tuesday (the weekend does not count)
        ("America/New_York", "US", (), local("America/New_York", 2026, 3, 6, 15, 0), "2 business days", "09:00-17:00",
         local("America/New_York", 2026, 3, 10, 9, 0)),
        # the day D is the contact's local day: 00:30 UTC Monday is Sunday evening in New York
        ("America/New_York", "US", (), utc(2026, 3, 2, 0, 30), "1 business day", "09:00-17:00",
         local("America/New_York", 2026, 3, 2, 9, 0)),
        # ... and already Monday in Tokyo
        ("Asia/Tokyo", "JP", (), utc(2026, 3, 2, 0, 30), "1 business day", "09:00-17:00",
         local("Asia/Tokyo", 2026, 3, 3, 9, 0)),
        # Thanksgiving does not count
        ("America/New_York", "US", (), local("America/New_York", 2026, 11, 25, 16, 0), "1 business day", "09:00-17:00",
         local("America/New_York", 2026, 11, 27, 9, 0)),
        # Christmas, a weekend and Boxing Day observed do not count
        ("Europe/London", "GB", (), local("Europe/London", 2026, 12, 24, 12, 0), "1 business day", "09:00-17:00",
         local("Europe/London", 2026, 12, 29, 9, 0)),
        # the owner's day off does not count
        ("America/New_York", "US", (date(2026, 3, 3),), local("America/New_York", 2026, 3, 2, 11, 0), "1 business day",
         "09:00-17:00", local("America/New_York", 2026, 3, 4, 9, 0)),
        # Republic Day does not count
        ("Asia/Kolkata", "IN", (), local("Asia/Kolkata", 2026, 1, 23, 12, 0), "1 business day", "09:00-17:00",
         local("Asia/Kolkata", 2026, 1, 27, 9, 0)),
        # Adelaide at Easter 2026: Good Friday, the weekend and Easter Monday, and DST ends on Sunday
        ("Australia/Adelaide", "AU", (), local("Australia/Adelaide", 2026, 4, 2, 12, 0), "1 business day",
         "09:00-17:00", local("Australia/Adelaide", 2026, 4, 7, 9, 0)),
    ],
)
def test_n_business_days_after_completion(zone, country, days_off, completed, wait, window, expected_local):
    """N business days from a completion on local day D is the Nth business day after D, at the window's first minute."""
    calendar = cal(zone, country, owner_days_off=frozenset(days_off))
    due, reasons = calendar.due_after(completed, parse_duration(wait), parse_window(window))
    assert due.tzinfo is UTC
    assert due == expected_local.astimezone(UTC)
    assert due.astimezone(ZoneInfo(zone)).time() == parse_window(window).start
    # every day passed over is named, with why
    assert all(r.startswith("skipped ") for r in reasons)


def test_add_business_days_names_each_skipped_day():
    """add_business_days returns the Nth business day and one reason per day passed over."""
    day, passed = cal("Europe/London", "GB").add_business_days(date(2026, 12, 24), 1)
    assert day == date(2026, 12, 29)
    assert len(passed) == 4  # Fri 25 Christmas, Sat 26, Sun 27, Mon 28 Boxing Day observed
    assert "Fri 25 Dec 2026" in passed[0] and "public holiday" in passed[0]
    assert "public holiday" in passed[3]


@pytest.mark.parametrize(
    ("earliest", "window", "expected_local"),
    [
        # inside the window: unchanged
        (local("America/New_York", 2026, 3, 4, 10, 15), "09:00-17:00", local("America/New_York", 2026, 3, 4, 10, 15)),
        # before the window: its start, same day
        (local("America/New_York", 2026, 3, 4, 6, 0), "09:00-17:00", local("America/New_York", 2026, 3, 4, 9, 0)),
        # at the window end (exclusive): next business day
        (local("America/New_York", 2026, 3, 4, 17, 0), "09:00-17:00", local("America/New_York", 2026, 3, 5, 9, 0)),
        # Friday evening: Monday morning
        (local("America/New_York", 2026, 3, 6, 18, 0), "09:00-17:00", local("America/New_York", 2026, 3, 9, 9, 0)),
    ],
)
def test_next_slot_is_first_allowed_minute(earliest, window, expected_local):
    """next_slot returns the first moment at or after `earliest` inside the window on a business day."""
    due, _ = cal().next_slot(earliest, parse_window(window))
    assert due == expected_local.astimezone(UTC)


# --------------------------------------------------------------------------- leap day


def test_leap_day_is_a_business_day():
    """29 Feb 2028 (a Tuesday) is an ordinary business day and is counted as one."""
    calendar = cal()
    assert calendar.day_off_reason(date(2028, 2, 29)) is None
    assert calendar.add_business_days(date(2028, 2, 28), 1) == (date(2028, 2, 29), ())
    day, passed = calendar.add_business_days(date(2028, 2, 25), 2)  # Fri + 2: Mon 28, Tue 29
    assert day == date(2028, 2, 29) and len(passed) == 2


@pytest.mark.parametrize(
    ("completed", "wait", "expected_local"),
    [
        (local("America/New_York", 2028, 2, 22, 15, 0), "1 week", local("America/New_York", 2028, 2, 29, 9, 0)),
        (local("America/New_York", 2028, 2, 28, 15, 0), "1 day", local("America/New_York", 2028, 2, 29, 9, 0)),
        (local("America/New_York", 2028, 2, 29, 15, 0), "1 day", local("America/New_York", 2028, 3, 1, 9, 0)),
        (local("America/New_York", 2028, 2, 29, 15, 0), "1 week", local("America/New_York", 2028, 3, 7, 9, 0)),
    ],
)
def test_calendar_day_waits_across_leap_day(completed, wait, expected_local):
    """Day and week waits count 29 Feb 2028 as a real calendar day."""
    due, _ = cal().due_after(completed, parse_duration(wait), parse_window("09:00-17:00"))
    assert due == expected_local.astimezone(UTC)


# -------------------------------------------------------------------------------- DST


@pytest.mark.parametrize(
    ("zone", "country", "completed", "wait", "expected_local", "expected_utc", "utc_before"),
    [
        # US spring forward (Sun 8 Mar 2026): 09:00 EST is 14:00 UTC, 09:00 EDT is 13:00 UTC
        ("America/New_York", "US", local("America/New_York", 2026, 3, 6, 15, 0), "1 business day",
         local("America/New_York", 2026, 3, 9, 9, 0), utc(2026, 3, 9, 13, 0), utc(2026, 3, 6, 14, 0)),
        ("America/New_York", "US", local("America/New_York", 2026, 3, 4, 15, 0), "1 week",
         local("America/New_York", 2026, 3, 11, 9, 0), utc(2026, 3, 11, 13, 0), utc(2026, 3, 4, 14, 0)),
        # US fall back (Sun 1 Nov 2026): 09:00 EDT is 13:00 UTC, 09:00 EST is 14:00 UTC
        ("America/New_York", "US", local("America/New_York", 2026, 10, 30, 15, 0), "1 business day",
         local("America/New_York", 2026, 11, 2, 9, 0), utc(2026, 11, 2, 14, 0), utc(2026, 10, 30, 13, 0)),
        ("America/New_York", "US", local("America/New_York", 2026, 10, 28, 15, 0), "1 week",
         local("America/New_York", 2026, 11, 4, 9, 0), utc(2026, 11, 4, 14, 0), utc(2026, 10, 28, 13, 0)),
        # EU spring forward (Sun 29 Mar 2026): 09:00 CET is 08:00 UTC, 09:00 CEST is 07:00 UTC
        ("Europe/Berlin", "DE", local("Europe/Berlin", 2026, 3, 27, 15, 0), "1 business day",
         local("Europe/Berlin", 2026, 3, 30, 9, 0), utc(2026, 3, 30, 7, 0), utc(2026, 3, 27, 8, 0)),
        # EU fall back (Sun 25 Oct 2026): 09:00 CEST is 07:00 UTC, 09:00 CET is 08:00 UTC
        ("Europe/Berlin", "DE", local("Europe/Berlin", 2026, 10, 23, 15, 0), "1 business day",
         local("Europe/Berlin", 2026, 10, 26, 9, 0), utc(2026, 10, 26, 8, 0), utc(2026, 10, 23, 7, 0)),
        ("Europe/Berlin", "DE", local("Europe/Berlin", 2026, 10, 21, 15, 0), "3 days",
         local("Europe/Berlin", 2026, 10, 26, 9, 0), utc(2026, 10, 26, 8, 0), utc(2026, 10, 21, 7, 0)),
    ],
)
def test_due_time_keeps_local_window_across_dst(zone, country, completed, wait, expected_local, expected_utc, utc_before):
    """A due time computed across a DST transition keeps its local wall-clock time; its UTC value shifts by an hour."""
    due, _ = cal(zone, country).due_after(completed, parse_duration(wait), parse_window("09:00-17:00"))
    assert due == expected_utc == expected_local.astimezone(UTC)
    assert due.astimezone(ZoneInfo(zone)).time().isoformat() == "09:00:00"
    # the same local 09:00 before the transition was an hour apart in UTC
    before, _ = cal(zone, country).next_slot(utc_before, parse_window("09:00-17:00"))
    assert before == utc_before
    assert abs(due.hour - before.hour) == 1 and due.minute == before.minute


@pytest.mark.parametrize(
    ("zone", "earliest", "window", "expected_utc"),
    [
        # New York 8 Mar 2026: 02:00-03:00 does not exist; the window starting in the gap opens at 03:00 EDT
        ("America/New_York", utc(2026, 3, 8, 5, 0), "02:00-04:00", utc(2026, 3, 8, 7, 0)),
        # a window lying wholly in the gap has no real minute that day: the next day's window start
        ("America/New_York", utc(2026, 3, 8, 5, 0), "02:00-03:00", utc(2026, 3, 9, 6, 0)),
        # Havana 8 Mar 2026: midnight does not exist; 00:00 becomes 01:00 CDT
        ("America/Havana", utc(2026, 3, 7, 12, 0), "00:00-02:00", utc(2026, 3, 8, 5, 0)),
        # fall back (New York 1 Nov 2026): an ambiguous 01:30 is its first occurrence (EDT)
        ("America/New_York", utc(2026, 11, 1, 4, 0), "01:30-03:00", utc(2026, 11, 1, 5, 30)),
    ],
)
def test_nonexistent_local_time_moves_to_first_real_time(zone, earliest, window, expected_utc):
    """A window start inside a DST gap moves to the first real local time (the gap's end) that day."""
    due, _ = cal(zone, "", work_days=ALL_WEEK).next_slot(earliest, parse_window(window))
    assert due == expected_utc


def test_window_starting_mid_gap_opens_at_gap_end():
    """A window starting mid-gap (02:30 on 8 Mar 2026 in New York) opens at the first real time, 03:00 EDT."""
    due, _ = cal("America/New_York", "", work_days=ALL_WEEK).next_slot(utc(2026, 3, 8, 5, 0), parse_window("02:30-04:00"))
    assert due == utc(2026, 3, 8, 7, 0)


# ------------------------------------------------------------- half-hour offsets


@pytest.mark.parametrize(
    ("zone", "country", "completed", "expected_utc"),
    [
        ("Asia/Kolkata", "IN", utc(2026, 2, 9, 10, 0), utc(2026, 2, 10, 3, 30)),  # +05:30
        ("Asia/Kathmandu", "NP", utc(2026, 2, 9, 10, 0), utc(2026, 2, 10, 3, 15)),  # +05:45
        ("Asia/Kolkata", "IN", utc(2026, 3, 2, 10, 0), utc(2026, 3, 3, 3, 30)),
        ("Asia/Kolkata", "IN", utc(2026, 3, 3, 10, 0), utc(2026, 3, 5, 3, 30)),  # Holi (Wed 4 Mar) skipped
        ("Australia/Adelaide", "AU", utc(2026, 1, 12, 2, 0), utc(2026, 1, 12, 22, 30)),  # +10:30 (ACDT)
        ("Australia/Adelaide", "AU", utc(2026, 7, 13, 2, 0), utc(2026, 7, 13, 23, 30)),  # +09:30 (ACST)
        ("Asia/Kolkata", "IN", utc(2026, 2, 9, 20, 0), utc(2026, 2, 11, 3, 30)),  # already Tue 01:30 local
    ],
)
def test_half_and_quarter_hour_offsets(zone, country, completed, expected_utc):
    """Zones offset by 30 or 45 minutes get the window start on the local clock, not a rounded hour."""
    due, _ = cal(zone, country).due_after(completed, parse_duration("1 business day"), parse_window("09:00-17:00"))
    assert due == expected_utc
    assert due.astimezone(ZoneInfo(zone)).time().isoformat() == "09:00:00"


# ------------------------------------------------------------------- zone fallback chain


@pytest.mark.parametrize(
    ("tz", "country", "phone", "expected_zone", "source"),
    [
        ("Asia/Tokyo", "US", "+12125550100", "Asia/Tokyo", "contact"),  # a valid contact zone wins
        ("Not/AZone", "IN", "", "Asia/Kolkata", "country"),  # invalid zone: the country's only zone
        ("", "NP", "", "Asia/Kathmandu", "country"),
        ("garbage", "DE", "+12125550100", "Europe/Berlin", "country"),  # country before phone
        ("", "de", "", "Europe/Berlin", "country"),  # country codes are case-insensitive
        ("bad", "US", "+12125550100", "America/New_York", "phone"),  # multi-zone country: the phone decides
        ("bad", "US", "", "Europe/London", "default"),  # ... and without a phone, the config default
        ("", "US", "+18005550100", "Europe/London", "default"),  # toll-free: no single zone
        ("", "AU", "+61881234567", "Europe/London", "default"),  # 08 spans SA, WA and NT
        ("", "", "+5372345678", "America/Havana", "phone"),
        ("", "", "12125550100", "Europe/London", "default"),  # no country code: no inference
        ("", "", "", "Europe/London", "default"),
        ("localtime", "", "", "Europe/London", "default"),  # the server's own zone is never taken
    ],
)
def test_zone_fallback_chain(tz, country, phone, expected_zone, source):
    """The zone comes from the contact, else its country when unambiguous, else its phone when unambiguous, else the default."""
    contact = Contact(id="c", timezone=tz, country=country, phone=phone)
    zone, where = resolve_zone(contact, "Europe/London")
    assert (zone, where) == (expected_zone, source)


@pytest.mark.parametrize(
    ("country", "phone", "expected"),
    [
        ("", "+442079460000", "GB"),  # missing country: the phone number's region
        ("", "+4930123456", "DE"),
        ("", "+919876543210", "IN"),
        ("XX", "+919876543210", "IN"),  # an unknown country counts as missing
        ("FR", "+442079460000", "FR"),  # the contact's own country wins
        ("de", "", "DE"),
        ("", "", "US"),  # nothing known: the config default
        ("", "not a phone", "US"),
    ],
)
def test_country_fallback(country, phone, expected):
    """The holiday country is the contact's, else the phone number's region, else the config default."""
    assert resolve_country(Contact(id="c", country=country, phone=phone), "US") == expected


def test_phone_country_brings_its_holidays():
    """A contact with only a UK phone number gets UK holidays (Boxing Day observed), not the default US ones."""
    contact = Contact(id="c", phone="+442079460000")
    calendar = calendar_for(contact, None, default_zone="America/New_York", default_country="US",
                            default_subdivision="", work_days=MON_FRI)
    assert (calendar.zone_name, calendar.country) == ("Europe/London", "GB")
    assert calendar.day_off_reason(date(2026, 12, 28)) is not None
    assert calendar.day_off_reason(date(2026, 11, 26)) is None  # not Thanksgiving


_PROBE = """
import json, sys
from datetime import datetime, timezone
from sequences.calendar import calendar_for
from sequences.durations import parse_duration, parse_window
from sequences.records import Contact
out = []
for tz, country, phone in json.loads(sys.argv[1]):
    c = calendar_for(Contact(id="c", timezone=tz, country=country, phone=phone), None, default_zone="America/Chicago",
                     default_country="US", default_subdivision="", work_days=frozenset(range(5)))
    due, _ = c.due_after(datetime(2026, 3, 6, 20, 0, tzinfo=timezone.utc), parse_duration("1 business day"),
                         parse_window("09:00-17:00"))
    out.append([c.zone_name, due.isoformat()])
print(json.dumps(out))
"""
_PROBE_CONTACTS = [["", "", ""], ["bad", "US", ""], ["", "IN", ""], ["Asia/Kathmandu", "", ""], ["", "", "+12125550100"]]


@cache
def _probe(server_tz: str) -> tuple[str, list]:
    """Run the probe in a fresh interpreter with TZ set; return its tzname and results."""
    env = dict(os.environ, TZ=server_tz, PYTHONPATH=str(ROOT))
    code = _PROBE + "\nimport time; print(time.tzname[0], file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(_PROBE_CONTACTS)], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return done.stderr.strip(), json.loads(done.stdout)


@pytest.mark.parametrize("server_tz", ["Pacific/Chatham", "Asia/Kathmandu", "XXX+13:17"])
def test_results_never_depend_on_the_server_zone(server_tz):
    """The same inputs give the same zones and due times whatever the process's TZ is (the server's zone is never used)."""
    tzname, results = _probe(server_tz)
    assert tzname != "UTC"  # the odd zone really was in force
    assert results == _probe("UTC")[1]
    assert [zone for zone, _ in results] == [
        "America/Chicago", "America/Chicago", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York"]
