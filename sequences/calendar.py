"""Business days, holidays and local windows, in the contact's own time zone.

Every due time is worked out on the contact's wall clock and handed back in UTC. The zone
comes from, in order: the contact's own zone, a zone inferred from the contact's country
or phone number where that is unambiguous, then the config default. Never the server's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays
import phonenumbers
from phonenumbers import timezone as _phone_tz

from ._country_zones import COUNTRY_ZONE
from .durations import Duration, Window
from .records import Contact, Owner

UTC = timezone.utc
_SUPPORTED_COUNTRIES = frozenset(_holidays.list_supported_countries())
MAX_SEARCH_DAYS = 400  # a calendar with no business day in this long is a config mistake


@lru_cache(maxsize=4096)
def zone_or_none(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, or None for anything else (folders like 'Europe',
    overlong or malformed names, and bare abbreviations like 'EST' or 'localtime')."""
    if not name or len(name) > 64 or ("/" not in name and name != "UTC"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=65536)
def _phone_facts(phone: str) -> tuple[str, str]:
    """(country, zone) a phone number tells, each empty when unknown or ambiguous."""
    if not phone or not phone.strip().startswith("+"):
        return "", ""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return "", ""
    country = phonenumbers.region_code_for_number(number) or ""
    zones = [z for z in _phone_tz.time_zones_for_number(number) if z != "Etc/Unknown"]
    return (country if country != "ZZ" else ""), (zones[0] if len(zones) == 1 else "")


def phone_facts(phone: str) -> tuple[str, str]:
    """(country, zone) a phone number tells: with the contact's own zone, country and region,
    all that decides its calendar (`resolve_zone`, `resolve_country`)."""
    return _phone_facts(phone)


def resolve_zone(contact: Contact, default_zone: str) -> tuple[str, str]:
    """(IANA zone, where it came from: contact / country / phone / default)."""
    if zone_or_none(contact.timezone):
        return contact.timezone, "contact"
    by_country = COUNTRY_ZONE.get(contact.country.upper()) if contact.country else None
    if by_country:
        return by_country, "country"
    _, by_phone = _phone_facts(contact.phone)
    if by_phone and zone_or_none(by_phone):
        return by_phone, "phone"
    return default_zone, "default"


def resolve_country(contact: Contact, default_country: str) -> str:
    country = contact.country.upper()
    if country in _SUPPORTED_COUNTRIES:
        return country
    by_phone, _ = _phone_facts(contact.phone)
    return by_phone if by_phone in _SUPPORTED_COUNTRIES else default_country


@lru_cache(maxsize=1024)
def _holiday_table(country: str, subdivision: str) -> _holidays.HolidayBase | None:
    if country not in _SUPPORTED_COUNTRIES:
        return None
    try:
        return _holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:  # an unknown subdivision: the country's national holidays
        return _holidays.country_holidays(country)


@dataclass(frozen=True, slots=True)
class LocalCalendar:
    """One contact's clock and business days, and their owner's days off.

    The owner's days off are dates on the owner's own clock (`owner_zone_name`): a slot
    is refused when it falls on such a date where the owner is, whatever the date is where
    the contact is. Counting a wait in business days, a date that is the owner's day off
    does not count either.
    """

    zone_name: str
    zone_source: str
    country: str
    subdivision: str
    work_days: frozenset[int]
    days_off: frozenset[date]  # the owner's days off, owner-local dates
    owner_zone_name: str = ""  # the owner's zone ("" = the contact's)
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # hashed once: every remembered answer below is keyed by the calendar (hot path)
        object.__setattr__(self, "_hash", hash((self.zone_name, self.zone_source, self.country, self.subdivision,
                                                self.work_days, self.days_off, self.owner_zone_name)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.zone_name)

    @property
    def owner_zone(self) -> ZoneInfo:
        return _zone(self.owner_zone_name or self.zone_name)

    def day_off_reason(self, day: date) -> str | None:
        """Why `day` does not count as a business day, in words; None when it counts."""
        return _day_off_reason(self, day)

    def _day_off_reason(self, day: date) -> str | None:
        reason = self._contact_day_off(day)
        if reason is None and day in self.days_off:
            return "the recruiter's day off"
        return reason

    def _contact_day_off(self, day: date) -> str | None:
        """Weekends and public holidays where the contact is."""
        if day.weekday() not in self.work_days:
            return f"{day:%A} is not a work day"
        table = _holiday_table(self.country, self.subdivision)
        if table is not None:
            name = table.get(day)
            if name:
                return f"{name} (public holiday, {self.country})"
        return None

    def add_business_days(self, day: date, count: int) -> tuple[date, tuple[str, ...]]:
        """The `count`-th business day after `day`, and the days passed over that did not count."""
        passed: list[str] = []
        for _ in range(MAX_SEARCH_DAYS):
            if count <= 0:
                return day, tuple(passed)
            day += timedelta(days=1)
            reason = self.day_off_reason(day)
            if reason is None:
                count -= 1
            else:
                passed.append(f"skipped {day:%a %d %b %Y}: {reason}")
        raise ValueError("no business day found within 400 days; check work_days")

    def shift(self, moment: datetime, duration: Duration, sign: int = 1) -> datetime:
        """`moment` moved by `duration` (back with sign=-1), the one way every duration is counted.

        Hours are fixed time. Days and weeks are calendar days on the contact's wall clock
        (the same local time N days later, across DST changes). N business days land on the
        Nth business day after (or before) the moment's local day, at the same local time.
        """
        if duration.unit == "hours":
            return moment + sign * duration.fixed
        return _shift(self, moment, duration, sign, moment.fold)

    def _shift(self, moment: datetime, duration: Duration, sign: int) -> datetime:
        local = moment.astimezone(self.zone)
        day, count = local.date(), duration.amount
        if not duration.business:
            day += sign * duration.fixed
            count = 0
        for _ in range(MAX_SEARCH_DAYS):
            if count <= 0:
                wall = datetime.combine(day, local.time(), tzinfo=self.zone)
                return wall.astimezone(UTC)
            day += timedelta(days=sign)
            if self.day_off_reason(day) is None:
                count -= 1
        raise ValueError("no business day found within 400 days; check work_days")

    def next_slot(self, earliest: datetime, window: Window) -> tuple[datetime, tuple[str, ...]]:
        """The first moment at or after `earliest` inside `window` on a business day, and
        not on a day the owner is off (on the owner's clock).

        Returns it in UTC with the reasons it was moved (skipped days by name).
        """
        return _next_slot(self, earliest, window, earliest.fold)

    def _next_slot(self, earliest: datetime, window: Window) -> tuple[datetime, tuple[str, ...]]:
        zone = self.zone
        local = earliest.astimezone(zone)
        day, clock = local.date(), local.time()
        moves: list[str] = []
        for _ in range(MAX_SEARCH_DAYS):
            reason = _contact_day_off(self, day)
            if reason is not None:
                moves.append(f"skipped {day:%a %d %b %Y}: {reason}")
                day, clock = day + timedelta(days=1), window.start
                continue
            if clock < window.start:
                clock = window.start
            if clock >= window.end:
                day, clock = day + timedelta(days=1), window.start
                continue
            candidate = datetime.combine(day, clock, tzinfo=zone)
            utc = candidate.astimezone(UTC)
            back = utc.astimezone(zone)
            if back.time() != clock or back.date() != day:
                # a wall-clock time that does not exist (DST gap): take the first real one
                first = _gap_end(candidate, zone)
                day, clock = first.date(), first.time()
                continue
            if self.days_off:
                owner_zone = self.owner_zone
                owner_day = utc.astimezone(owner_zone).date()
                if owner_day in self.days_off:
                    # the owner is off there and then: resume where their next day starts
                    resume = datetime.combine(owner_day + timedelta(days=1), time(0), tzinfo=owner_zone).astimezone(zone)
                    where = f" in {self.owner_zone_name}" if self.owner_zone_name and self.owner_zone_name != self.zone_name else ""
                    moves.append(f"skipped {owner_day:%a %d %b %Y}{where}: the recruiter's day off")
                    day, clock = resume.date(), resume.time()
                    continue
            return utc, tuple(moves)
        raise ValueError("no allowed slot within 400 days; check work_days and windows")

    def due_after(self, anchor: datetime, wait: Duration, window: Window) -> tuple[datetime, tuple[str, ...]]:
        """Where a wait of `wait` from `anchor` lands, in `window`, on a business day."""
        if wait.unit == "hours" or wait.amount == 0:
            return self.next_slot(anchor + timedelta(hours=wait.amount if wait.unit == "hours" else 0), window)
        return _due_after_day(self, local_day(anchor, self.zone_name), wait, window)

    def _due_after_day(self, start: date, wait: Duration, window: Window) -> tuple[datetime, tuple[str, ...]]:
        passed: tuple[str, ...] = ()
        if wait.business:
            day, passed = self.add_business_days(start, wait.amount)
        else:
            day = start + wait.fixed
        due, moves = self.next_slot(datetime.combine(day, window.start, tzinfo=self.zone), window)
        return due, passed + moves


# Pure results, remembered: many contacts share a calendar, and dates repeat across them.
@lru_cache(maxsize=262_144)
def _day_off_reason(calendar: LocalCalendar, day: date) -> str | None:
    return calendar._day_off_reason(day)


@lru_cache(maxsize=262_144)
def _contact_day_off(calendar: LocalCalendar, day: date) -> str | None:
    return calendar._contact_day_off(day)


# The answers below are asked per task with moments that repeat (window starts, the run's
# `now`, capacity moves): remembered, within a bound. A moment's `fold` is part of the key:
# two wall times of one zone that differ only by it compare (and hash) equal, yet are an
# hour apart.
@lru_cache(maxsize=16_384)
def _next_slot(calendar: LocalCalendar, earliest: datetime, window: Window, fold: int) -> tuple[datetime, tuple[str, ...]]:
    return calendar._next_slot(earliest, window)


@lru_cache(maxsize=16_384)
def _shift(calendar: LocalCalendar, moment: datetime, duration: Duration, sign: int, fold: int) -> datetime:
    return calendar._shift(moment, duration, sign)


@lru_cache(maxsize=65_536)
def _due_after_day(calendar: LocalCalendar, start: date, wait: Duration, window: Window) -> tuple[datetime, tuple[str, ...]]:
    return calendar._due_after_day(start, wait, window)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first real local minute after a nonexistent wall-clock time (the DST gap's end)."""
    lo = wall.replace(fold=1).astimezone(UTC)  # read with the later offset: before the switch
    hi = wall.replace(fold=0).astimezone(UTC)  # read with the earlier offset: after the switch
    late = hi.astimezone(zone).utcoffset()
    lo_min, hi_min = 0, int((hi - lo).total_seconds() // 60)
    while lo_min < hi_min:  # the first minute whose offset is already the new one
        mid = (lo_min + hi_min) // 2
        if (lo + timedelta(minutes=mid)).astimezone(zone).utcoffset() == late:
            hi_min = mid
        else:
            lo_min = mid + 1
    return (lo + timedelta(minutes=lo_min)).astimezone(zone)


@lru_cache(maxsize=4096)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def _calendar(zone: str, source: str, country: str, subdivision: str, work_days: frozenset[int],
              days_off: frozenset[date], owner_zone: str) -> LocalCalendar:
    return LocalCalendar(zone, source, country, subdivision, work_days, days_off, owner_zone)


def calendar_for(
    contact: Contact,
    owner: Owner | None,
    *,
    default_zone: str,
    default_country: str,
    default_subdivision: str,
    work_days: frozenset[int],
    extra_days_off: frozenset[date] = frozenset(),
) -> LocalCalendar:
    zone, source = resolve_zone(contact, default_zone)
    country = resolve_country(contact, default_country)
    subdivision = contact.subdivision.upper() if contact.subdivision else (default_subdivision if country == default_country else "")
    days_off = (owner.days_off if owner else frozenset()) | extra_days_off
    owner_zone = owner_zone_name(owner, default_zone) if days_off else ""
    return _calendar(zone, source, country, subdivision, work_days, days_off, owner_zone)


# ------------------------------------------------------------------ owner-local days
# The one place that says which zone an owner's day is read in (capacity, days off, and
# the sync's count of each owner's existing tasks per day all use it).


def owner_zone_name(owner: Owner | None, default_zone: str) -> str:
    """The owner's own zone when it is a real IANA zone, else the config's default zone."""
    return owner.timezone if owner is not None and zone_or_none(owner.timezone) else default_zone


def local_day(moment: datetime, zone_name: str) -> date:
    """The date on the wall clock of `zone_name` at `moment` (an owner-local day, for capacity)."""
    return _local_day(moment, zone_name, moment.fold)


def local_day_text(moment: datetime, zone_name: str) -> str:
    """`local_day(...).isoformat()`: the capacity ledger's key."""
    return _local_day_text(moment, zone_name, moment.fold)


def local_text(moment: datetime, zone_name: str) -> str:
    """`moment` on the wall clock of `zone_name`, ISO 8601 with the offset (a task's `due_local`)."""
    return _local_text(moment, zone_name, moment.fold)


# Remembered (see `_next_slot`): converting to a zone is the costly part, and due times repeat.
@lru_cache(maxsize=16_384)
def _local_day(moment: datetime, zone_name: str, fold: int) -> date:
    return moment.astimezone(_zone(zone_name)).date()


@lru_cache(maxsize=16_384)
def _local_day_text(moment: datetime, zone_name: str, fold: int) -> str:
    return moment.astimezone(_zone(zone_name)).date().isoformat()


@lru_cache(maxsize=16_384)
def _local_text(moment: datetime, zone_name: str, fold: int) -> str:
    return moment.astimezone(_zone(zone_name)).isoformat()
