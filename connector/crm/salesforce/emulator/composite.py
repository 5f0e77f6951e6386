"""`POST /composite` for the emulator: a series of GET subrequests answered in one request.

The fact sheet (§2.5) has Composite counting as one API call; Salesforce's Composite page says
up to 25 subrequests, of which up to 5 may be query operations (Query, QueryAll, query
more). The emulator serves GET subrequests only (the connector bundles reads), without
`@{reference}` substitution. Each result is `{body, httpHeaders, httpStatusCode, referenceId}`;
a failed subrequest carries Salesforce's error array as its body, and the request as a whole
still answers 200. With `allOrNone`, one failure turns every other result into 400
`PROCESSING_HALTED`. Over the caps: 400 for the whole request (the exact code is not in the
sources; the emulator says `LIMIT_EXCEEDED`).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .soql import SoqlError

if TYPE_CHECKING:
    from .app import SalesforceEmulator

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
_DATA = re.compile(r"^/services/data/v(?P<v>\d+\.\d)(?P<rest>/.*)?$")
_QUERY = re.compile(r"^/(query|queryAll)(/.*)?$")
_HALTED = {"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction failed."}


def serve(emu: SalesforceEmulator, body: bytes) -> dict[str, Any]:
    from .app import SFError

    data = json.loads(body or b"{}")
    subs = data.get("compositeRequest") if isinstance(data, dict) else None
    if not isinstance(subs, list) or not subs:
        raise SFError(400, "JSON_PARSER_ERROR", "compositeRequest: expected a non-empty array")
    if len(subs) > MAX_SUBREQUESTS:
        raise SFError(400, "LIMIT_EXCEEDED", f"a composite request takes at most {MAX_SUBREQUESTS} subrequests")
    paths = [urlsplit(str(s.get("url", ""))) for s in subs]
    queries = sum(1 for p in paths if (m := _DATA.match(p.path)) and _QUERY.match(m.group("rest") or "/"))
    if queries > MAX_QUERIES:
        raise SFError(400, "LIMIT_EXCEEDED", f"a composite request takes at most {MAX_QUERIES} query operations")
    results: list[dict[str, Any]] = []
    failed = False
    for sub, url in zip(subs, paths, strict=True):
        ref = str(sub.get("referenceId", ""))
        method = str(sub.get("method", "")).upper()
        m = _DATA.match(url.path)
        try:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", ref):
                raise SFError(400, "INVALID_INPUT", f"invalid referenceId: {ref!r}")
            if m is None:
                raise SFError(400, "INVALID_INPUT", f"the url must start with /services/data/vNN.N: {url.path}")
            if method != "GET":
                raise SFError(400, "INVALID_INPUT", "the emulator serves GET subrequests only")
            resp = emu._route(method, m.group("rest") or "/", parse_qs(url.query, keep_blank_values=True), b"")
            status, answer = resp.status, resp.body
        except SFError as exc:
            status, answer = exc.status, exc.body
        except SoqlError as exc:
            status, answer = 400, [{"message": exc.message, "errorCode": exc.code}]
        results.append({"body": answer, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref})
        failed = failed or status >= 300
    if data.get("allOrNone") and failed:
        for r in results:
            if r["httpStatusCode"] < 300:
                r.update(body=[dict(_HALTED)], httpStatusCode=400)
    return {"compositeResponse": results}
