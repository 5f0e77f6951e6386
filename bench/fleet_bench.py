"""A fleet on the free tier's rate limits: one period of 8 accounts x 5,000 contacts with 1, 2 and 4 workers.

    .venv/bin/python bench/fleet_bench.py                      # 8 x 5,000, workers 1 2 4
    .venv/bin/python bench/fleet_bench.py --accounts 4 --contacts 1000 --workers 1 2

Each account is its own emulated HubSpot portal (its own rate limit: 100 requests / 10 s,
5 searches / s, on the real clock), seeded like bench/sync_bench.py (every contact enrolls
and gets its first task). The state and the queue are a fresh database on the PostgreSQL in
CADENCE_TEST_POSTGRES_URL (default: the local server). `cadence worker` processes (each
`--concurrency 1`) run the fleet; the schedule is every minute and the period measured is
the first one: from its first job's start to its last job's end, from `fleet_runs`.

Target (issue 15): 4 workers at least 3x faster than 1, with the same requests per account.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sync_bench import CONFIG, OWNERS, SEED  # noqa: E402

SERVER = os.environ.get("CADENCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def one(accounts: int, contacts: int, workers: int) -> dict[str, Any]:
    import psycopg
    from psycopg.rows import dict_row

    from connector.crm.hubspot.adapter import HubSpotCRM
    from connector.crm.hubspot.emulator import HubSpotEmulator

    name = f"cadence_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _database(SERVER, name)
    emulators: list[Any] = []
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="cadence-fleet-bench-") as tmp:
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CADENCE_TEST_")} | {"CADENCE_STATE": url}
            lines = ["state: {env: CADENCE_STATE}", "accounts:"]
            for n in range(accounts):
                emu = HubSpotEmulator(rate_limit="off")
                emu.seed_owners(OWNERS, seed=SEED + n)
                emu.seed_contacts(contacts, seed=SEED + n)
                emu.start()
                emulators.append(emu)
                folder = Path(tmp) / f"portal{n}"
                folder.mkdir()
                text = CONFIG.format(tier="free").replace("  tier: free", f"  tier: free\n  token_env: BENCH_TOKEN_{n}\n"
                                                         f"  base_url: {emu.base_url}")
                (folder / "cadence.yaml").write_text(f"account: portal{n}\n" + text, encoding="utf-8")
                env[f"BENCH_TOKEN_{n}"] = emu.token
                from connector.configfile import load_config

                loaded = load_config(folder / "cadence.yaml")
                HubSpotCRM.from_config(loaded.config.crm.model_dump(exclude={"type"}), env=env).setup()
                emu.set_rate_limit("free")
                emu.reset_log()
                lines.append(f"  - {{name: portal{n}, config: portal{n}/cadence.yaml, cron: '* * * * *'}}")
            fleet = Path(tmp) / "fleet.yaml"
            fleet.write_text("\n".join(lines) + "\n", encoding="utf-8")
            emulator_cpu = time.process_time()  # this process serves every emulated portal from here on
            for w in range(workers):
                log = open(Path(tmp) / f"worker{w}.log", "wb")  # noqa: SIM115 - closed with the process
                procs.append(subprocess.Popen([sys.executable, "-m", "connector.cli", "worker", str(fleet), "--log-format", "json"],
                                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 3600
            rows: list[dict[str, Any]] = []
            first = None
            while time.monotonic() < deadline:
                time.sleep(1)
                with psycopg.connect(url, row_factory=dict_row) as db:
                    if not db.execute("SELECT to_regclass('fleet_runs') AS t").fetchone()["t"]:  # type: ignore[index]
                        continue
                    rows = list(db.execute("SELECT * FROM fleet_runs ORDER BY id"))
                if rows:
                    first = min(r["period"] for r in rows)
                    done = [r for r in rows if r["period"] == first and r["status"] != "running"]
                    if len(done) == accounts:
                        break
            emulator_cpu = time.process_time() - emulator_cpu
            worker_cpu = sum(_cpu_seconds(p.pid) for p in procs)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=600)
            period = [r for r in rows if r["period"] == first]
            start = min(datetime.fromisoformat(r["started_at"].replace("Z", "+00:00")) for r in period)
            end = max(datetime.fromisoformat(r["ended_at"].replace("Z", "+00:00")) for r in period)
            per_account = {}
            for n, emu in enumerate(emulators):
                mine = [r for r in period if r["account"] == f"portal{n}"]
                window = [datetime.fromisoformat(mine[0][k].replace("Z", "+00:00")).timestamp() for k in ("started_at", "ended_at")] if mine else [0, 0]
                entries = [e for e in emu.requests() if window[0] <= e.time <= window[1]]  # this account's job (not the next period's)
                per_account[f"portal{n}"] = {"ran_s": [round(w - start.timestamp(), 1) for w in window],
                                             "requests_first_period": len(entries),
                                             "http_429": sum(1 for e in entries if e.status == 429),
                                             "tasks": emu.count("tasks"),
                                             "status": mine[0]["status"] if mine else "missing",
                                             "created": mine[0]["created"] if mine else 0}
            return {"workers": workers, "accounts": accounts, "contacts": contacts,
                    "period_wall_s": round((end - start).total_seconds(), 1),
                    "worker_cpu_s": round(worker_cpu, 1), "emulator_cpu_s": round(emulator_cpu, 1),
                    "statuses": sorted({r["status"] for r in period}), "per_account": per_account,
                    "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for emu in emulators:
                emu.stop()
            with psycopg.connect(SERVER, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = [one(args.accounts, args.contacts, w) for w in args.workers]
    print(f"\nOne period of {args.accounts} accounts x {args.contacts:,} contacts, free-tier rate limits; "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| workers | period wall s | speed-up vs 1 | requests per account (min-max) | 429s | tasks per account "
          "| worker CPU s | emulator CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    base = results[0]["period_wall_s"]
    for r in results:
        reqs = [a["requests_first_period"] for a in r["per_account"].values()]
        tasks = [a["tasks"] for a in r["per_account"].values()]
        print(f"| {r['workers']} | {r['period_wall_s']} | {base / r['period_wall_s']:.2f}x | {min(reqs)}-{max(reqs)} | "
              f"{sum(a['http_429'] for a in r['per_account'].values())} | {min(tasks)}-{max(tasks)} | "
              f"{r['worker_cpu_s']} | {r['emulator_cpu_s']} |")
    print("\n" + json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
