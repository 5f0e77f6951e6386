"""Every Salesforce call goes through here: daily budget, timeout, retry, and error sorting.

- 403 REQUEST_LIMIT_EXCEEDED, or this run's share of the daily allocation spent (read from
  `Sforce-Limit-Info` after every call): `RetryLaterError`, the run ends cleanly and the next resumes;
- 5xx, 420, resets, timeouts and UNABLE_TO_LOCK_ROW: retried with exponential backoff and
  jitter, bounded (every call the connector makes is idempotent: queries, upserts by
  External ID, and closes by id), then `Transient`;
- 401 / other 403s / sign-in failures: `FatalCRMError`, never echoing a secret.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connector.crm.base import CRMError, FatalCRMError, RetryLaterError
from connector.crm.stop import call_until_stopped, pause

log = logging.getLogger("cadence.salesforce")
T = TypeVar("T")
RETRYABLE_STATUS = {420, 500, 502, 503, 504}


class Transient(CRMError):
    """A failure worth retrying; after the last retry the run stops (or the write is reconciled)."""


def error_code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


def error_message(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode', '')}: {content[0].get('message', '')}"
    return f"HTTP {exc.status}"


class Budget:
    """This run may use `share` of the requests the org had left when it started."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.used: int | None = None
        self.total: int | None = None
        self.stop_at: int | None = None

    def observe(self, used: int, total: int) -> None:
        if self.stop_at is None:
            self.stop_at = used + max(1, int(self.share * max(0, total - used)))
        self.used, self.total = used, total

    def check(self) -> None:
        if self.stop_at is not None and self.used is not None and self.used >= self.stop_at:
            raise RetryLaterError(
                f"this run's share of Salesforce's daily API requests is used up ({self.used} of {self.total} used "
                f"in the org's rolling 24 hours, crm.daily_share {self.share}); the next run resumes")


class TransportAdapter(HTTPAdapter):
    """A default timeout on every request (simple-salesforce sets none, and most of its
    calls cannot take one), and optionally the OAuth token exchange sent to `login_url`
    instead of https://<domain>.salesforce.com (the client builds that host itself)."""

    def __init__(self, timeout: float, login_url: str = "") -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout
        self.login = urlsplit(login_url) if login_url else None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.login is not None and request.url:
            parts = urlsplit(request.url)
            if (parts.hostname or "").endswith(".salesforce.com") and parts.path.startswith("/services/oauth2/"):
                request.url = urlunsplit((self.login.scheme, self.login.netloc, parts.path, parts.query, ""))
        return super().send(request, **kwargs)


def classify(exc: BaseException) -> BaseException:
    """A client-library or network exception, as what the run should do about it."""
    if isinstance(exc, SalesforceAuthenticationFailed):
        return FatalCRMError(f"Salesforce sign-in failed: {exc.code}: {getattr(exc, 'auth_message', '')}")
    if isinstance(exc, SalesforceError):
        code = error_code(exc)
        if code == "REQUEST_LIMIT_EXCEEDED":
            return RetryLaterError("Salesforce's daily API request limit is reached (REQUEST_LIMIT_EXCEEDED); "
                                   "the next run resumes")
        if code == "UNABLE_TO_LOCK_ROW" or exc.status in RETRYABLE_STATUS:
            return Transient(f"Salesforce answered {exc.status} {code}".strip())
        if isinstance(exc, SalesforceExpiredSession):
            return FatalCRMError("Salesforce rejected the session (401 INVALID_SESSION_ID): sign in again")
        if isinstance(exc, SalesforceRefusedRequest):
            return FatalCRMError(f"Salesforce refused the request (403 {error_message(exc)}): check the integration "
                                 "user's permissions")
        return exc
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return Transient(f"network error ({type(exc).__name__})")
    return exc


class Caller:
    """Runs simple-salesforce calls within the budget, with bounded retries."""

    def __init__(self, budget: Budget, *, max_retries: int, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.budget = budget
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.requests = 0
        self.retries = 0
        self.stop: threading.Event | None = None  # set by the run: waits and calls end when it is (connector/crm/stop.py)

    def __call__(self, sf: Any, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def once() -> T:
            self.budget.check()
            self.requests += 1
            try:  # a call in flight is abandoned when the run is asked to stop (its batch is `unknown` already)
                result = call_until_stopped(lambda: fn(*args, **kwargs), self.stop)
            except Exception as exc:  # sorted into what to do by `classify`
                sorted_exc = classify(exc)
                if sorted_exc is exc:
                    raise
                raise sorted_exc from None
            usage = (getattr(sf, "api_usage", None) or {}).get("api-usage")
            if usage is not None:
                self.budget.observe(usage.used, usage.total)
            return result

        retrying = Retrying(stop=stop_after_attempt(self.max_retries + 1), retry=retry_if_exception_type(Transient),
                            wait=self._wait, sleep=self._sleep, reraise=True)
        return retrying(once)

    def _sleep(self, seconds: float) -> None:
        self.retries += 1
        pause(seconds, self.sleep, self.stop)

    def wait(self, attempt: int) -> float:
        return self.backoff * self.rng.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))

    def _wait(self, state: RetryCallState) -> float:
        return self.wait(state.attempt_number)
