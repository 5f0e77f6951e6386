"""Prometheus metrics and the health check of `cadence serve` (the worker's are read in the same way)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support.local import make_workspace

from connector.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_exposes_metrics_and_health(tmp_path: Path) -> None:
    """`cadence serve --metrics-port` counts its runs and tasks on /metrics and answers /healthz; SIGTERM exits 0."""
    config = make_workspace(tmp_path / "ws")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADENCE_TEST_")}
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "serve", str(config), "--every", "1h",
                             "--metrics-port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, text = time.monotonic() + 120, ""
        while time.monotonic() < deadline:
            try:
                _, text = get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                text = ""
            if 'cadence_runs_total{account="local",status="ok"} 1.0' in text:
                break
            time.sleep(0.3)
        assert 'cadence_runs_total{account="local",status="ok"} 1.0' in text, text[-2000:]
        created = next(line for line in text.splitlines() if line.startswith('cadence_tasks_created_total{account="local"}'))
        assert float(created.split()[-1]) > 0
        assert 'cadence_seconds_since_last_success{account="local"}' in text
        assert 'cadence_run_duration_seconds_count{account="local"} 1.0' in text
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and body.startswith("ok")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_health_goes_stale_when_the_loop_stops_beating() -> None:
    """/healthz answers 503 once the loop has not beaten for `stale_after` seconds."""
    from connector.metrics import serve_metrics

    metrics = Metrics()
    server = serve_metrics(metrics, 0, host="127.0.0.1", stale_after=60)
    try:
        port = server.server_port
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        metrics.beat -= 120
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 503 and body.startswith("stale")
    finally:
        server.shutdown()
