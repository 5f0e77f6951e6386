"""A forwarding HTTP proxy for tests that echoes the request's headers (the token included)
in an unexpected 4xx, as a misconfigured corporate proxy or a debugging gateway does.

Requests whose path contains `echo_on` are answered by the proxy itself with `status` and a
body (and a header) holding every request header; everything else is forwarded to `target`.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def echo_proxy(target: str, *, echo_on: str, status: int = 400) -> Iterator[str]:
    """The proxy's base URL while the block runs."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if echo_on in self.path:
                echoed = dict(self.headers.items())
                payload = json.dumps({"status": "error", "message": f"proxy refused {self.command} {self.path}",
                                      "requestHeaders": echoed}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Echo-Authorization", echoed.get("Authorization", ""))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            request = urllib.request.Request(target + self.path, data=body, method=self.command,
                                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    code, headers, data = answer.status, answer.headers, answer.read()
            except urllib.error.HTTPError as err:
                code, headers, data = err.code, err.headers, err.read()
            self.send_response(code)
            for key, value in headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
