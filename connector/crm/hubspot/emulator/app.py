"""The emulator handle: state + request handling (no socket needed) + knobs.

``HubSpotEmulator.handle(method, path_with_query, headers, body)`` returns a
:class:`Response`; :meth:`start` serves the same function over HTTP.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from . import errors, handlers_assoc, handlers_misc, handlers_objects
from .actions import ActionsMixin
from .clock import FakeClock, SystemClock
from .faults import Faults
from .gcpause import gc_paused
from .ratelimit import RateLimitExceeded, RateLimits
from .requestlog import LogEntry, RequestLog
from .router import Request, Response, Router
from .seeding import contact_values, make_owners
from .state import State

if TYPE_CHECKING:
    from .server import EmulatorServer

FIRST_OWNER_ID = 60_000_001


def build_router() -> Router:
    router = Router()
    handlers_misc.register(router)
    handlers_assoc.register(router)
    handlers_objects.register(router)
    return router


_ROUTER = build_router()


class HubSpotEmulator(ActionsMixin):
    """A stateful HubSpot CRM API emulator.

    >>> emu = HubSpotEmulator(rate_limit="off").start()
    >>> emu.base_url, emu.token
    """

    def __init__(self, *, token: str | None = "emulator-token", tokens=(), rate_limit: str = "off",
                 clock=None, host: str = "127.0.0.1", port: int = 0, hub_id: int = 24_681_357) -> None:
        self.faults = Faults()
        self.state = State(clock or SystemClock(), hub_id=hub_id, lag_seconds=lambda: self.faults.search_lag_seconds)
        self.state.tokens = {t for t in (token, *tokens) if t}
        self.token = token or next(iter(self.state.tokens), None)
        self.rate_limits = RateLimits(rate_limit, hub_id=hub_id)
        self.log = RequestLog()
        self.lock = threading.RLock()
        self.host, self.port = host, port
        self._server: EmulatorServer | None = None

    # -- configuration ---------------------------------------------------------------------
    @property
    def clock(self):
        return self.state.clock

    @clock.setter
    def clock(self, value) -> None:
        with self.lock:
            self.state.clock = value

    def freeze_clock(self, start=None) -> FakeClock:
        """Swap in a :class:`FakeClock` (starting now unless ``start`` is given) and return it."""
        fake = FakeClock(start if start is not None else self.state.clock.time())
        self.clock = fake
        return fake

    def add_token(self, token: str) -> None:
        self.state.tokens.add(token)

    def revoke_token(self, token: str) -> None:
        self.state.tokens.discard(token)
        self.state.oauth.access_tokens.pop(token, None)

    @property
    def oauth(self):
        """Client id/secret, refresh tokens and minted access tokens (``.client_id`` etc.)."""
        return self.state.oauth

    def set_rate_limit(self, mode: str) -> None:
        self.rate_limits.set_mode(mode)

    @property
    def shuffle_batch_results(self) -> bool:
        return self.state.shuffle_batch_results

    @shuffle_batch_results.setter
    def shuffle_batch_results(self, value: bool) -> None:
        self.state.shuffle_batch_results = bool(value)

    # -- request log --------------------------------------------------------------------------
    def counts(self, status: int | None = None) -> dict[str, int]:
        return self.log.counts(status)

    def total_requests(self) -> int:
        return self.log.total()

    def reset_log(self) -> None:
        self.log.reset()

    def requests(self) -> list[LogEntry]:
        return self.log.entries()

    # -- seeding ----------------------------------------------------------------------------------
    def seed_owners(self, n: int = 5, seed: int = 0) -> list[dict]:
        with self.lock:
            start = FIRST_OWNER_ID + len(self.state.owners)
            owners = make_owners(n, start, self.state.now_iso(), seed=seed)
            for o in owners:
                self.state.owners.append(o)
                self.state.owners_by_id[o["id"]] = o
            return owners

    def seed_contacts(self, n: int, seed: int = 0) -> list[str]:
        """Create ``n`` synthetic contacts (reproducible for a given ``seed`` on a fresh
        emulator and a fixed clock); seeds 5 owners first if there are none.  Returns the new ids."""
        with self.lock:
            if not self.state.owners:
                self.seed_owners(5, seed=seed)
            rng = random.Random(seed)
            store = self.state.stores["contacts"]
            owner_ids = [o["id"] for o in self.state.owners if not o["archived"]]
            now = self.state.now_ms()
            emails = store.unique.setdefault("email", {})
            ids = []
            with gc_paused():
                for _ in range(n):
                    values, created, modified = contact_values(rng, store.next_id, now, owner_ids)
                    if values.get("email") in emails:
                        values.pop("email")
                    rec = store.create(values, created_ms=created, modified_ms=modified, index_now=True)
                    ids.append(str(rec.id))
            return ids

    # -- request handling -----------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict | None = None, body: bytes = b"") -> Response:
        """Handle one HTTP request without a socket."""
        method = method.upper()
        parts = urlsplit(target)
        path = parts.path or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        arrived = self.state.clock.time()
        route, params, known = _ROUTER.match(method, path)
        if route is None:
            status = 405 if known else 404
            resp = Response(status, errors.error_body("OBJECT_NOT_FOUND" if status == 404 else "VALIDATION_ERROR",
                                                      "resource not found" if status == 404 else
                                                      f"Method {method} is not allowed on {path}"))
            self.log.add(LogEntry(method, path, f"{method} {path}", status, arrived))
            return resp
        template = route.template(params)
        log_path = template if "{token}" in template else path  # never log tokens
        fault = self.faults.pick(method, path, template, route.write)
        if fault and fault.kind == "reset":
            self.log.add(LogEntry(method, log_path, template, 0, arrived, "reset"))
            return Response(0, fault="reset")
        if fault and fault.kind == "status":
            resp = _fault_response(fault.status, self.state.hub_id)
            self.log.add(LogEntry(method, log_path, template, resp.status, arrived, str(fault.status)))
            return resp
        req = Request(method, path, query, headers, body or b"", params)
        resp = self._dispatch(route, req)
        if fault and fault.kind == "drop":
            resp.fault = "drop"
        if fault and fault.kind == "slow":
            resp.delay = fault.delay
        self.log.add(LogEntry(method, log_path, template, resp.status, arrived, fault.kind if fault else None))
        return resp

    def _dispatch(self, route, req: Request) -> Response:
        try:
            rl_headers = {}
            if route.auth:
                key, oauth = self._authenticate(req)
                with self.lock:
                    rl_headers = self.rate_limits.check(key, is_search=route.search, oauth=oauth,
                                                        clock=self.state.clock)
            with self.lock:
                resp = route.handler(self.state, req)
            resp.headers.update(rl_headers)
            return resp
        except errors.ApiError as exc:
            resp = Response(exc.status, exc.body, dict(exc.headers))
            if route.auth and exc.status != 401:
                resp.headers.update(rl_headers)
            return resp
        except RateLimitExceeded as exc:
            return Response(429, exc.body, dict(exc.headers))
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # malformed input that slipped past a handler's checks: HubSpot answers 400
            return Response(400, errors.error_body(
                "VALIDATION_ERROR", f"Invalid input (emulator: {type(exc).__name__}: {exc})"))

    def _authenticate(self, req: Request) -> tuple[str, bool]:
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthorized()
        if token in self.state.tokens:
            return "token:" + token, False
        expiry = self.state.oauth.access_tokens.get(token)
        if expiry is None:
            raise errors.unauthorized()
        now = self.state.clock.monotonic()
        if now >= expiry:
            raise errors.unauthorized(expired_seconds=int(now - expiry))
        return "oauth-app:" + self.state.oauth.client_id, True

    # -- server --------------------------------------------------------------------------------------
    def start(self) -> HubSpotEmulator:
        from .server import EmulatorServer

        if self._server is None:
            self._server = EmulatorServer(self, self.host, self.port)
            self._server.start()
            self.port = self._server.port
            self.state.base_url = self.base_url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start()")
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> HubSpotEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _fault_response(status: int, hub_id: int) -> Response:
    if status == 429:
        return Response(429, {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                              "errorType": "RATE_LIMIT", "correlationId": errors.correlation_id(),
                              "policyName": "TEN_SECONDLY_ROLLING",
                              "groupName": f"publicapi:private-app-api-calls-ten-secondly:{hub_id}"})
    return Response(status, errors.error_body("INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR",
                                              f"Injected fault: HTTP {status}"))

