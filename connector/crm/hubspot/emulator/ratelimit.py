"""HubSpot rate limits (facts §3).

* a rolling 10-second window per token (per app for OAuth tokens):
  100 (free/starter) or 190 (pro/enterprise) requests;
* search: 5 requests a second for the account;
* a daily budget for the account (250,000 free, 650,000 pro, 1,000,000 enterprise),
  reset at midnight in the account's time zone.

Over a limit -> 429 with ``errorType: RATE_LIMIT`` and ``policyName``.  Requests
refused with 429 do not consume budget.  Search responses carry no rate-limit
headers, OAuth-token responses no daily headers (both as the facts report).
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from .errors import correlation_id

TIERS = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "pro": (190, 650_000),
    "enterprise": (190, 1_000_000),
}
WINDOW_SECONDS = 10.0


class RateLimitExceeded(Exception):
    def __init__(self, body: dict, headers: dict) -> None:
        super().__init__(body["message"])
        self.body = body
        self.headers = headers


class RateLimits:
    def __init__(self, mode: str = "off", hub_id: int = 0) -> None:
        self.hub_id = hub_id
        self.search_per_second = 5
        self.send_retry_after = False
        self.account_timezone = "UTC"
        self.mode = "off"
        self.ten_second_limit = 0
        self.daily_limit = 0
        self.set_mode(mode)
        self.reset()

    def set_mode(self, mode: str) -> None:
        if mode != "off" and mode not in TIERS:
            raise ValueError(f"rate-limit mode must be one of off, {', '.join(TIERS)}; got {mode!r}")
        self.mode = mode
        if mode != "off":
            self.ten_second_limit, self.daily_limit = TIERS[mode]

    def reset(self) -> None:
        self._windows: dict[str, deque] = {}
        self._search: deque = deque()
        self._day: str | None = None
        self._daily_used = 0

    @property
    def daily_used(self) -> int:
        return self._daily_used

    def _day_key(self, wall: float) -> str:
        tz = ZoneInfo(self.account_timezone) if self.account_timezone != "UTC" else timezone.utc
        return datetime.fromtimestamp(wall, tz).strftime("%Y-%m-%d")

    def check(self, key: str, *, is_search: bool, oauth: bool, clock) -> dict:
        """Admit one request or raise :class:`RateLimitExceeded`; returns headers to send."""
        if self.mode == "off":
            return {}
        now, wall = clock.monotonic(), clock.time()
        day = self._day_key(wall)
        if day != self._day:
            self._day, self._daily_used = day, 0
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        while self._search and self._search[0] <= now - 1.0:
            self._search.popleft()

        if self._daily_used >= self.daily_limit:
            raise self._exceeded("DAILY", "You have reached your daily limit.", "daily",
                                 self._seconds_to_midnight(wall), window, now, oauth)
        if is_search and len(self._search) >= self.search_per_second:
            raise self._exceeded("SECONDLY", "You have reached your secondly limit.", "search-secondly",
                                 1.0 - (now - self._search[0]), window, now, oauth)
        if len(window) >= self.ten_second_limit:
            raise self._exceeded("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.",
                                 "ten-secondly", WINDOW_SECONDS - (now - window[0]), window, now, oauth)
        window.append(now)
        self._daily_used += 1
        if is_search:
            self._search.append(now)
            return {}
        return self._headers(window, now, oauth)

    def _headers(self, window: deque, now: float, oauth: bool) -> dict:
        secondly = math.ceil(self.ten_second_limit / WINDOW_SECONDS)
        last_second = sum(1 for t in reversed(window) if t > now - 1.0) if window else 0
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.ten_second_limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.ten_second_limit - len(window))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - last_second)),
        }
        if not oauth:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily_limit - self._daily_used))
        return headers

    def _seconds_to_midnight(self, wall: float) -> float:
        tz = ZoneInfo(self.account_timezone) if self.account_timezone != "UTC" else timezone.utc
        local = datetime.fromtimestamp(wall, tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86_400
        return midnight - wall

    def _exceeded(self, policy: str, message: str, group: str, wait: float, window, now, oauth):
        body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": policy,
            "groupName": f"publicapi:private-app-api-calls-{group}:{self.hub_id}",
        }
        headers = {} if policy == "SECONDLY" else self._headers(window, now, oauth)
        if self.send_retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return RateLimitExceeded(body, headers)
