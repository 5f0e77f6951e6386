"""HTTP wrapper: a ``ThreadingHTTPServer`` (daemon threads, HTTP/1.1 keep-alive)
around :meth:`HubSpotEmulator.handle`.  It carries out the connection-level
faults: ``reset`` (RST before applying) and ``drop`` (applied, then closed
without a response)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import HubSpotEmulator

_REASONS = {207: "Multi-Status", 429: "Too Many Requests"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "HubSpotEmulator/1.0"
    emulator: HubSpotEmulator  # set per server class

    def log_message(self, format, *args):
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        resp = self.emulator.handle(self.command, self.path, dict(self.headers.items()), body)
        if resp.fault in ("reset", "drop"):
            self._abort(rst=resp.fault == "reset")
            return
        if resp.delay:
            time.sleep(resp.delay)
        payload = resp.encoded()
        self.send_response(resp.status, _REASONS.get(resp.status))
        if resp.status != 204:
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if payload and resp.status != 204:
            self.wfile.write(payload)

    def _abort(self, rst: bool) -> None:
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set = set()
        self.conn_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.conn_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on keep-alive clients so no handler thread outlives the server."""
        with self.conn_lock:
            conns, self.open_connections = list(self.open_connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):  # a client hanging up is not an error here
        pass


class EmulatorServer:
    def __init__(self, emulator: HubSpotEmulator, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("BoundHandler", (_Handler,), {"emulator": emulator})
        self.httpd = _Server((host, port), handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"hubspot-emulator:{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_connections()
        self._thread.join(timeout=5)
