"""Stopping a run within seconds wherever it is (SIGTERM, Ctrl-C), inside a CRM's transport.

The sync checks its stop flag between steps and batches; that is not enough while a CRM call
waits out a back-off (up to half a minute in a 429 storm) or hangs on a slow answer (up to
the HTTP timeout). A CRM that satisfies `StopsOnRequest` is handed the run's stop event
before the run starts, and its transport

- sleeps with `pause`: a back-off or throttle wait ends as soon as the event is set;
- makes each HTTP call with `call_until_stopped`: the call runs in a helper thread and is
  abandoned when the event is set (the process is about to exit; the thread is a daemon).

Both raise `StopRequested`. It is a BaseException, like KeyboardInterrupt, so no
`except Exception` in an adapter can turn it into a failed write: it goes straight up to
the sync, which ends the run as `stopped`. A write abandoned this way was marked `unknown`
before it was sent, so the next run reconciles it with the CRM before sending anything again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

__all__ = ["StopRequested", "StopsOnRequest", "call_until_stopped", "pause"]


class StopRequested(BaseException):  # like KeyboardInterrupt: a request, not an error
    """The run was asked to stop while a CRM call waited; nothing is assumed about that call."""


@runtime_checkable
class StopsOnRequest(Protocol):
    def watch_stop(self, stop: threading.Event | None) -> None:
        """Give up waiting (back-offs, calls in flight) as soon as `stop` is set; None: never."""


def pause(seconds: float, sleep: Callable[[float], Any] = time.sleep, stop: threading.Event | None = None) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile (then StopRequested).

    With the real `time.sleep` the wait is on the event itself; an injected sleep (tests that
    record waits instead of sleeping) is called as it is and the event checked after."""
    if stop is None:
        sleep(seconds)
        return
    if stop.is_set():
        raise StopRequested("stop requested")
    if sleep is time.sleep:
        stopped = stop.wait(max(0.0, seconds))
    else:
        sleep(seconds)
        stopped = stop.is_set()
    if stopped:
        raise StopRequested("stop requested during a wait")


def call_until_stopped(fn: Callable[[], T], stop: threading.Event | None, poll: float = 0.05) -> T:
    """`fn()`, or StopRequested as soon as `stop` is set while it runs (the call is abandoned)."""
    if stop is None:
        return fn()
    if stop.is_set():
        raise StopRequested("stop requested")
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the caller's thread as it is
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="crm-call", daemon=True).start()
    while not done.wait(poll):
        if stop.is_set():
            raise StopRequested("stop requested during a CRM call")
    ok, value = outcome[0]
    if ok:
        return value
    raise value
