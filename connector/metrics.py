"""Prometheus metrics and a health endpoint for `cadence serve` and `cadence worker`
(the official prometheus-client; one small HTTP server: /metrics and /healthz).

Metric names (all prefixed cadence_):
  runs_total{account,status}              runs by how they ended (ok, failed, stopped, deferred, held, refused, skipped...)
  run_duration_seconds{account}           how long runs take (histogram)
  tasks_created_total{account}            tasks created in the CRM
  tasks_closed_total{account}             tasks closed in the CRM
  records_rejected_total{account}         CRM records refused as bad input
  rate_limit_waits_total{account}         times a run waited on the CRM's rate limit
  crm_requests_total{account,crm}         requests sent to the CRM
  last_success_timestamp_seconds{account} when the last ok run ended (seconds since the epoch)
  seconds_since_last_success{account}     now minus the above, computed when scraped

/healthz answers 200 "ok" while the process's loop is alive (it reports its last beat),
503 when the loop has not beaten for `stale_after` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class _SinceLastSuccess(Collector):
    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        now = time.time()
        last = GaugeMetricFamily("cadence_last_success_timestamp_seconds", "When the last ok run of the account ended",
                                 labels=["account"])
        since = GaugeMetricFamily("cadence_seconds_since_last_success", "Seconds since the last ok run of the account ended",
                                  labels=["account"])
        with self.metrics.lock:
            items = sorted(self.metrics.last_success.items())
        for account, when in items:
            last.add_metric([account], when)
            since.add_metric([account], max(0.0, now - when))
        yield last
        yield since


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.lock = threading.Lock()
        self.last_success: dict[str, float] = {}
        self.beat = time.time()
        r = self.registry
        self.runs = Counter("cadence_runs", "Runs by how they ended", ["account", "status"], registry=r)
        self.duration = Histogram("cadence_run_duration_seconds", "Run duration", ["account"], registry=r,
                                  buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600))
        self.created = Counter("cadence_tasks_created", "Tasks created in the CRM", ["account"], registry=r)
        self.closed = Counter("cadence_tasks_closed", "Tasks closed in the CRM", ["account"], registry=r)
        self.rejected = Counter("cadence_records_rejected", "CRM records refused as bad input", ["account"], registry=r)
        self.rate_waits = Counter("cadence_rate_limit_waits", "Waits on the CRM's rate limit", ["account"], registry=r)
        self.requests = Counter("cadence_crm_requests", "Requests sent to the CRM", ["account", "crm"], registry=r)
        r.register(_SinceLastSuccess(self))

    def observe_run(self, account: str, report: Any, seconds: float, crm: str = "") -> None:
        """Count a finished run from its SyncReport (`crm`: the CRM's type, for requests per CRM)."""
        counts = getattr(report, "counts", {}) or {}
        status = str(getattr(report, "status", "failed"))
        self.runs.labels(account, status).inc()
        self.duration.labels(account).observe(seconds)
        self.created.labels(account).inc(int(counts.get("created", 0) or 0))
        self.closed.labels(account).inc(int(counts.get("closed", 0) or 0))
        self.rejected.labels(account).inc(int(counts.get("bad_records", 0) or 0))
        self.rate_waits.labels(account).inc(int(counts.get("rate_limit_waits", 0) or 0))
        requests = counts.get("requests", 0)
        if isinstance(requests, int | float) and requests:
            self.requests.labels(account, crm or "crm").inc(requests)
        if status == "ok":
            with self.lock:
                self.last_success[account] = time.time()

    def count_status(self, account: str, status: str) -> None:
        """A run that ended before a report existed (bad config, lock held, crash)."""
        self.runs.labels(account, status).inc()

    def alive(self) -> None:
        self.beat = time.time()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


def serve_metrics(metrics: Metrics, port: int, host: str = "0.0.0.0", stale_after: float = 300.0) -> WSGIServer:
    """Serve /metrics and /healthz on `port` in a daemon thread; return the server (its port is .server_port)."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes] | Iterable[bytes]:
        if environ.get("PATH_INFO") in ("/healthz", "/health"):
            age = time.time() - metrics.beat
            ok = age <= stale_after
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [f"{'ok' if ok else 'stale'}: last beat {age:.0f}s ago\n".encode()]
        return prometheus(environ, start_response)

    server = make_server(host, port, app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
