"""Plain-JSON HubSpot calls through the client library's own transport.

The hot calls of a sync (contact and task searches, contact pages, batch creates, updates
and reads, association reads) skip `hubspot-api-client`'s model layer: building a model
object costs a `Configuration()` (and its logging set-up), every `createdAt`/`updatedAt`
goes through dateutil, and (de)serialising walks every value; that was half a sync's CPU.
Here the body is a dict, sent as JSON, and the answer is `json.loads` of the bytes.

Everything else is the library's: its `RESTClientObject` (urllib3 pool, `_request_timeout`),
its default headers (User-Agent) and its auth (`Authorization: Bearer ...` from the
configuration, read at each call), and its exceptions: an answer outside 2xx raises the
library's `ApiException` (or its 401/403/404/5xx subclasses) with `status`, `reason`,
`headers` and a text `body`, exactly as a generated call does, so `http.classify` sorts it
the same way (429 waited out, 5xx and resets retried or reported as unknown writes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Query = Sequence[tuple[str, Any]]


class Wire:
    """`wire(method, path, body, query)` -> the decoded JSON answer (`{}` when empty)."""

    def __init__(self, api_client: Any) -> None:
        self._client = api_client
        self._rest = api_client.rest_client
        self._host = api_client.configuration.host

    def __call__(self, method: str, path: str, body: Any = None, query: Query = (),
                 _request_timeout: float | None = None) -> Any:
        headers = {"Accept": "application/json", "Content-Type": "application/json", **self._client.default_headers}
        self._client.update_params_for_auth(headers, None, ["oauth2"])
        try:
            response = self._rest.request(method, self._host + path, query_params=list(query) or None,
                                          headers=headers, body=body, _preload_content=False,
                                          _request_timeout=_request_timeout)
        except Exception as exc:  # the library's ApiException: its body as text, as generated calls leave it
            if isinstance(getattr(exc, "body", None), bytes):
                exc.body = exc.body.decode("utf-8", "replace")  # type: ignore[attr-defined]
            raise
        try:
            data = response.data
        finally:
            response.release_conn()
        return json.loads(data) if data else {}


def after_of(page: dict[str, Any]) -> str | None:
    """The `paging.next.after` cursor of a page, or None on the last page."""
    return ((page.get("paging") or {}).get("next") or {}).get("after") or None
