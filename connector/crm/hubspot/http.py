"""Every HubSpot call goes through here: throttle, timeout, retry, and error sorting.

The one place that decides what an HTTP failure means for the run:
- 429 TEN_SECONDLY_ROLLING / SECONDLY: wait and retry (our throttle should make these rare);
- 429 DAILY: `RetryLaterError`, the run ends cleanly and the next one resumes;
- 5xx, 423, 477, resets and timeouts: retried with exponential backoff and jitter, bounded;
  a non-idempotent write that fails this way raises `WriteOutcomeUnknown` instead, so the
  sync reconciles it rather than sending it twice;
- 401 / 403: `FatalCRMError` (the token or its scopes), never echoing the token;
- a stop request (SIGTERM) ends a back-off, a throttle wait or a call in flight at once
  (`StopRequested`, connector/crm/stop.py);
- any other answer is raised as the client library's exception, scrubbed first (`scrub`):
  its response headers dropped and the token taken out of its body, because a proxy or a
  gateway may echo the request's `Authorization` header back in an error.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from connector.crm.base import CRMError, FatalCRMError, RetryLaterError
from connector.crm.stop import call_until_stopped, pause
from connector.logs import redact

log = logging.getLogger("cadence.hubspot")
T = TypeVar("T")

RETRYABLE_STATUS = {423, 477, 500, 502, 503, 504, 521, 522, 523, 524}


class WriteOutcomeUnknown(CRMError):
    """A write may or may not have been applied (timeout, reset, 5xx): reconcile first."""


class RateLimited(CRMError):
    def __init__(self, policy: str, retry_after: float | None) -> None:
        super().__init__(f"HubSpot rate limit ({policy or 'unknown policy'})")
        self.policy = policy
        self.retry_after = retry_after


class Transient(CRMError):
    """A failure worth retrying (5xx, reset, timeout)."""


WINDOW = 10.0  # HubSpot's rolling window, seconds
JITTER = 1.0  # seconds of network jitter the burst leaves room for


class Throttle:
    """One token bucket for both of HubSpot's limits, at their true rates times `share`.

    Every request takes a token refilled at `share * per_ten_seconds / 10` a second (9.0 on
    the free tier); a search also takes one refilled at `share * search_per_second` (4.5),
    so reads and writes interleave under one budget and the margin is a rate, never a
    truncated count. Each bucket holds what HubSpot's window allows on top of its rate
    (less one second of network jitter): `per_ten_seconds - rate * 11` requests (at least
    one), so no 10-second window holds more than `per_ten_seconds` requests and no second
    more than `search_per_second` searches. Kept as theoretical arrival times (GCRA).

    Spacing alone cannot keep the search count: HubSpot counts a search when it reaches it, and a
    search that reaches it late (network, a busy process) lands beside the next one, sent on time
    (six in one second at 4.5 a second takes a delay of 0.11 s). So a search is also held until the
    window it will land in has room whatever the delays: the searches out (reserved, not answered)
    count as in it, and of those answered, the ones answered less than a second before it leaves
    (HubSpot counted each before it answered). `answered()` is told when each search's answer is
    back. With one reader whose answers take L seconds this caps it at 5 / (1 + L) a second when
    that is below the rate (L = 0.05 s: 4.76)."""

    def __init__(self, per_ten_seconds: int, search_per_second: int, share: float = 0.9,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self.stop: threading.Event | None = None  # set by the run: a wait ends when it is (connector/crm/stop.py)
        self.set_rates(per_ten_seconds * share / WINDOW, search_per_second * share,
                       burst=max(1.0, per_ten_seconds - per_ten_seconds * share / WINDOW * (WINDOW + JITTER)),
                       search_burst=max(1.0, search_per_second - search_per_second * share * (1.0 + JITTER)))
        self._lock = threading.Lock()
        self.search_window = search_per_second  # searches HubSpot takes in any one second
        self._answered: deque[float] = deque(maxlen=max(1, search_per_second))  # newest last
        self._searching = 0  # searches reserved and not answered yet
        self.waited = 0.0
        self.waits = 0  # times a call waited for the budget (for the metrics)

    def set_rates(self, rate: float, search_rate: float, *, burst: float = 1.0, search_burst: float = 1.0) -> None:
        """Requests and searches per second (0: unlimited) and how many may go at once."""
        self.rate, self.search_rate = rate, search_rate
        self.burst, self.search_burst = burst, search_burst
        self._next = self._next_search = float("-inf")  # when the next request / search conforms

    def off(self) -> None:
        """No client-side limit (benchmarks measuring the code's own cost)."""
        self.set_rates(0.0, 0.0)

    def acquire(self, search: bool = False) -> None:
        """Take a request's turn (and a search's), waiting for it. The turn is reserved under the
        lock and waited for outside it: a search waiting for its own bucket never holds up a write
        on another thread (the first sync reads on one thread while it writes on another)."""
        guarded = search and bool(self.search_rate)
        while True:
            with self._lock:
                now = self.clock()
                held = self._held(now) if guarded else 0.0
                if held is not None:
                    wait = max(0.0, held, self._due(self._next, self.rate, self.burst, now),
                               self._due(self._next_search, self.search_rate, self.search_burst, now) if search else 0.0)
                    at = now + wait
                    if self.rate:
                        self._next = max(self._next, at) + 1 / self.rate
                    if guarded:
                        self._next_search = max(self._next_search, at) + 1 / self.search_rate
                        self._searching += 1
                    if wait > 0:
                        self.waited += wait
                        self.waits += 1
                    break
                self.waited += 0.05  # every search the window may hold is out: wait for an answer
            pause(0.05, self.sleep, self.stop)
        if wait > 0:
            try:
                pause(wait, self.sleep, self.stop)
            except BaseException:
                self.answered(search)  # never sent: its place in the window is given back
                raise

    def _held(self, now: float) -> float | None:
        """Seconds a search must wait for HubSpot's one-second window to have room for it (None: it
        cannot be known before another search is answered)."""
        room = self.search_window - 1 - self._searching  # besides this search and those out
        if room < 0:
            return None
        answered = self._answered  # in the order answered: oldest first
        return 0.0 if len(answered) <= room else max(0.0, answered[-1 - room] + 1.0 - now)

    def answered(self, search: bool) -> None:
        """A search reserved by `acquire` has its answer (or failed, or was never sent)."""
        if not search:
            return
        with self._lock:
            if self._searching:
                self._searching -= 1
                self._answered.append(self.clock())

    @staticmethod
    def _due(next_at: float, rate: float, burst: float, now: float) -> float:
        """Seconds until a request conforms: its turn less the burst's tolerance."""
        return 0.0 if not rate else next_at - (burst - 1) / rate - now


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _body(exc: BaseException) -> dict[str, Any]:
    try:
        return json.loads(getattr(exc, "body", "") or "{}")
    except (TypeError, ValueError):
        return {}


def classify(exc: BaseException, *, idempotent: bool) -> BaseException:
    """Turn a client-library or network exception into what the run should do about it."""
    status = _status(exc)
    if status is None:
        if isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, OSError)):
            kind = type(exc).__name__
            return Transient(f"network error ({kind})") if idempotent else WriteOutcomeUnknown(f"network error ({kind})")
        return exc
    body = _body(exc)
    if status == 429:
        policy = str(body.get("policyName", ""))
        if policy == "DAILY":
            return RetryLaterError("HubSpot's daily request limit is used up; the next run will resume")
        headers = getattr(exc, "headers", None) or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        return RateLimited(policy, float(retry_after) if retry_after else None)
    if status == 401:
        return FatalCRMError("HubSpot rejected the access token (401): check the token and that the app is installed")
    if status == 403:
        scopes = ((body.get("errors") or [{}])[0].get("context") or {}).get("requiredGranularScopes", [])
        need = f" (needs scopes: {', '.join(scopes)})" if scopes else ""
        return FatalCRMError(f"HubSpot refused the request (403): missing scopes{need}")
    if status in RETRYABLE_STATUS:
        message = f"HubSpot answered {status}"
        return Transient(message) if idempotent else WriteOutcomeUnknown(message)
    return exc


def scrub(exc: BaseException, secrets: Sequence[str] = ()) -> BaseException:
    """An HTTP error the run does not sort, safe to show: its status and body stay (the adapter
    reads them), its response headers go, and the token (`secrets`, the environment's secrets,
    anything token-shaped) is taken out of its body and reason."""
    if hasattr(exc, "headers"):
        exc.headers = None
    for name in ("body", "reason"):
        value = getattr(exc, name, None)
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8", "replace")
        if isinstance(value, str):
            setattr(exc, name, redact(redact(value, list(secrets))))
    return exc


def answer_text(exc: BaseException) -> str:
    """One line for a HubSpot answer the run does not sort: its status and HubSpot's message."""
    message = _body(exc).get("message") or getattr(exc, "reason", None) or type(exc).__name__
    return redact(f"HubSpot answered {_status(exc)}: {message}")


class Caller:
    """Runs client-library calls with throttle, timeout and bounded retries."""

    def __init__(self, throttle: Throttle, *, timeout: float, max_retries: int, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 secrets: Sequence[str] = ()) -> None:
        self.secrets = tuple(secrets)
        self.throttle = throttle
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.stop: threading.Event | None = None  # set by the run: waits and calls end when it is
        self.rng = rng or random.Random()
        self.requests = 0
        self.rate_limited = 0
        self._count = threading.Lock()  # the counts: the first sync calls from two threads

    def pause(self, seconds: float) -> None:
        """A back-off: `seconds`, or until the run is asked to stop (StopRequested)."""
        pause(seconds, self.sleep, self.stop)

    def __call__(self, fn: Callable[..., T], *args: Any, search: bool = False, idempotent: bool = True, **kwargs: Any) -> T:
        def once() -> T:
            self.throttle.acquire(search)
            with self._count:
                self.requests += 1
            try:  # a call in flight is abandoned when the run is asked to stop (its batch is `unknown` already)
                return call_until_stopped(lambda: fn(*args, _request_timeout=self.timeout, **kwargs), self.stop)
            except Exception as exc:  # sorted into what to do by `classify`
                sorted_exc = classify(exc, idempotent=idempotent)
                if sorted_exc is exc:
                    if _status(exc) is not None:
                        scrub(exc, self.secrets)
                    raise
                if isinstance(sorted_exc, RateLimited):
                    with self._count:
                        self.rate_limited += 1
                raise sorted_exc from None
            finally:
                self.throttle.answered(search)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_if_exception(lambda e: isinstance(e, (RateLimited, Transient))),
            wait=self._wait,
            sleep=self.pause,
            reraise=True,
        )
        return retrying(once)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        attempt = state.attempt_number
        if isinstance(exc, RateLimited):
            if exc.retry_after is not None:
                return exc.retry_after
            base = 1.0 if exc.policy == "SECONDLY" else 2.0
        else:
            base = 0.5
        # exponential backoff with full jitter, capped
        return self.backoff * self.rng.uniform(0, min(30.0, base * 2 ** (attempt - 1)))
