"""HubSpot's timestamp wire formats: ISO-8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone

_EPOCH_MS = re.compile(r"^-?\d{1,15}$")


def iso_from_ms(ms: int) -> str:
    """``1700000000123`` -> ``2023-11-14T22:13:20.123Z``."""
    secs, milli = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{milli:03d}Z"


def parse_timestamp_ms(value) -> int | None:
    """Epoch ms from what HubSpot accepts for datetimes: epoch ms (int or digits),
    an ISO-8601 string (``Z`` or offset, with or without fractions), a date, or a
    ``datetime``.  Returns None when it cannot be read."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return round(value.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000)
    text = str(value).strip()
    if not text:
        return None
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return round(parsed.timestamp() * 1000)


def normalize_datetime(value) -> str | None:
    """Any accepted datetime input -> canonical ISO string, or None if unreadable."""
    ms = parse_timestamp_ms(value)
    return None if ms is None else iso_from_ms(ms)


def normalize_date(value) -> str | None:
    """A ``date`` property: ``YYYY-MM-DD`` or epoch ms at midnight UTC -> ``YYYY-MM-DD``."""
    text = str(value).strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        try:
            date.fromisoformat(text)
        except ValueError:
            return None
        return text
    ms = parse_timestamp_ms(value)
    if ms is None or ms % 86_400_000 != 0:
        return None  # HubSpot wants date properties at midnight UTC
    return iso_from_ms(ms)[:10]
