"""`bench/run.py --quick` runs end to end (a few hundred contacts) and prints its JSON.

No timing assertions: benchmarks print figures, they are never timed tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = {"requests", "naive", "ratelimit", "steady", "local", "memory", "engine"}


@pytest.mark.timeout(300)
def test_bench_quick_runs_and_prints_json() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert {line["part"] for line in lines if "part" in line} == PARTS

    summary = lines[-1]
    assert {"bench", "quick", "machine", "elapsed_s", "parts", "targets"} <= set(summary)
    assert summary["quick"] is True
    assert set(summary["parts"]) == PARTS
    assert {"nproc", "python", "cpu"} <= set(summary["machine"])

    requests = summary["parts"]["requests"]["sizes"]
    assert requests and all({"first_requests", "first_requests_per_1000", "idle_requests", "tasks_created"} <= set(r)
                            for r in requests.values())
    # every contact got its first task, but those whose lead status (UNQUALIFIED, CONNECTED, BAD_TIMING) was set before
    assert all(0.5 * r["contacts"] < r["tasks_created"] <= r["contacts"] for r in requests.values())
    naive = summary["parts"]["naive"]
    assert {"requests_factor", "wall_ratio_sync_over_naive", "extrapolated"} <= set(naive)
    assert naive["naive"]["requests"] > naive["sync_requests"]
    # the competent script: fewer requests than naive, and a rerun duplicates every task (ours creates none)
    competent = naive["competent"]
    assert competent["requests"] < naive["naive"]["requests"]
    assert competent["tasks_in_crm"] == naive["tasks"]
    assert competent["rerun"]["tasks_in_crm"] == 2 * naive["tasks"]
    assert naive["sync_rerun_created"] == 0
    assert set(naive["free_tier_floor_s"]) == {"naive", "competent", "sync"}

    free = summary["parts"]["ratelimit"]["free"]
    assert {"ratio_to_floor", "http_429", "floor_s", "interleaved_floor_s", "ratio_to_interleaved_floor"} <= set(free)
    # interleaved: bounded by the larger of the two limits, never more than reading then writing
    assert free["interleaved_floor_s"] == round(max((free["requests"] - free["http_429"]) / 10, free["searches"] / 5), 1)
    assert free["interleaved_floor_s"] <= free["floor_s"]

    day = summary["parts"]["steady"]
    assert day["runs"] == 24 and len(day["per_run"]) == 24
    assert day["completed"] == round(0.05 * day["contacts"]) and day["changed"] == round(0.01 * day["contacts"])
    assert day["requests"] == sum(day["by_endpoint"].values()) == sum(r["requests"] for r in day["per_run"])
    # the floor: at least the two change searches a run, plus what the day created and closed
    assert day["floor"] == sum(day["floor_by_kind"].values()) >= 2 * day["runs"]
    assert day["floor_by_kind"]["batch_creates"] >= -(-day["created"] // 100) and day["created"] > 0
    assert day["statuses"] == ["ok"]

    local = summary["parts"]["local"]
    assert [r["contacts"] for r in local["sizes"]] == [300, 1000]
    assert all(r["created"] == r["contacts"] and r["wall_s"] > 0 for r in local["sizes"])
    assert {"sync_peak_rss_mib", "engine_rss_peak_mib", "sync_first_traced"} <= set(summary["parts"]["memory"])
    assert summary["parts"]["engine"]["contacts_per_cpu_s"] > 0

    names = [t["name"] for t in summary["targets"]]
    assert len(names) == 10
    assert all({"target", "value", "pass", "margin_pct"} <= set(t) for t in summary["targets"])
