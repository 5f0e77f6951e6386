"""The HubSpot emulator's threaded HTTP/1.1 server, with TLS on each accepted connection.

The handshake runs in the connection's own thread (not in the accept loop), so a client
that connects and stalls never blocks the others. Connection faults (`reset`, `drop`)
behave as in the HubSpot emulator.
"""

from __future__ import annotations

import ssl
import threading

from connector.crm.hubspot.emulator.server import _Handler, _Server


class _TLSServer(_Server):
    ssl_context: ssl.SSLContext

    def get_request(self):
        sock, addr = super().get_request()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


class _SFHandler(_Handler):
    server_version = "SalesforceEmulator/1.0"


class TLSServer:
    def __init__(self, emulator, context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("BoundHandler", (_SFHandler,), {"emulator": emulator})
        server_cls = type("BoundTLSServer", (_TLSServer,), {"ssl_context": context})
        self.httpd = server_cls((host, port), handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"salesforce-emulator:{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_connections()
        self._thread.join(timeout=5)
