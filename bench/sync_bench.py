"""The HubSpot sync against the bundled emulator: requests, wall time, memory.

Used by `bench/run.py`; also runnable on its own for one measurement:

    .venv/bin/python bench/sync_bench.py first 10000          # one first sync + idle syncs, in process
    .venv/bin/python bench/sync_bench.py first 100000 --child # the sync in a child process
    .venv/bin/python bench/sync_bench.py first 10000 --profile 30   # cProfile the first sync

Set-up (the same as `cadence demo`, connector/commands/hubspot.py): an in-process
`HubSpotEmulator` seeded with `seed_owners(5)` and `seed_contacts(n)`, a config whose
enrollment rule matches every contact (so every contact gets its first task), the
task-key property created by `HubSpotCRM.setup()` (not counted), then `run_sync`.

- Rate limits "off": the emulator does not limit and the adapter's own throttle is
  disabled too (`Throttle.off()`), so the figures are the code's own cost;
  the emulator's clock is frozen on a Monday so runs are reproducible.
- Rate limits "free": the emulator enforces 100 requests / 10 s (and 5 searches / s)
  on the real clock; the adapter runs with `tier: free`, its normal throttle.
- `--child` (and `child=True`): the emulator stays in this process (a thread) and the
  sync runs in a fresh Python process, so its `ru_maxrss` is the sync's alone and it
  does not share a GIL with the emulator (as with the real HubSpot, on another machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

UTC = timezone.utc
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday, 08:00 in New York
SEED = 7
OWNERS = 5
FREE_PER_10S = 100  # the emulator's free tier: requests per rolling 10 seconds

CONFIG = """\
# crm-cadence sync bench: every seeded contact enrolls and gets its first task.
crm:
  type: hubspot
  tier: {tier}
calendar: {{timezone: America/New_York, country: US}}
guards:
  min_gap: 1 day
  touch_budget: {{touches: 3, per: 7 days}}
  daily_capacity: 10000
scripts:
  intro:
    subject: "Call {{{{contact.first_name}}}} at {{{{contact.company}}}}"
    body: |
      Introduce yourself and the role. Offer to do the legwork: "I'll send the details and follow up,
      so you don't have to chase anything."
    objections:
      - objection: "I don't know of any jobs."
        answer: "No problem. Who do you think I should speak to?"
cadences:
  - id: everyone
    name: Every contact
    enroll_when: {{all: [{{property: id, exists: true}}]}}
    steps:
      - {{id: intro-call, channel: call, script: intro, priority: high}}
      - {{id: follow-up-email, channel: email, wait: 2 business days, subject: "{{{{contact.first_name}}}}, following up"}}
"""


def rss_mib() -> float:
    """This process's peak RSS so far (ru_maxrss), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _status_mib(field_name: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MiB; 0 where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def current_rss_mib() -> float:
    return _status_mib("VmRSS")


def clean_command(cmd: list[str]) -> list[str]:
    """`cmd` run as a grandchild through /bin/sh, so its ru_maxrss is its own.

    Linux carries the peak RSS of the address space a process replaces at exec into its
    ru_maxrss; with vfork (what subprocess uses) that is this (large, emulator-holding)
    process's peak. A shell that forks the command first gives it a fresh count.
    """
    if sys.platform != "linux" or not Path("/bin/sh").exists():
        return cmd
    return ["/bin/sh", "-c", '"$@"; exit $?', "sh", *cmd]


# ------------------------------------------------------------------------------ portal


@dataclass
class Portal:
    """An emulated HubSpot portal with `n` seeded contacts, a config and a state directory."""

    n: int
    rate_limit: str = "off"  # "off" (frozen clock) or "free" (real clock)
    seed: int = SEED
    emu: Any = None
    clock: Any = None
    tmp: tempfile.TemporaryDirectory | None = None
    config_path: Path | None = None
    loaded: Any = None
    env: dict[str, str] = field(default_factory=dict)
    seed_seconds: float = 0.0

    def __enter__(self) -> Portal:
        from connector.configfile import load_config
        from connector.crm.hubspot.adapter import HubSpotCRM
        from connector.crm.hubspot.emulator import HubSpotEmulator

        self.emu = HubSpotEmulator(rate_limit="off")
        if self.rate_limit == "off":
            self.clock = self.emu.freeze_clock(START - timedelta(days=1))
        started = time.perf_counter()
        self.emu.seed_owners(OWNERS, seed=self.seed)
        self.emu.seed_contacts(self.n, seed=self.seed)
        self.seed_seconds = time.perf_counter() - started
        self.emu.start()
        self.tmp = tempfile.TemporaryDirectory(prefix="cadence-bench-")
        self.config_path = Path(self.tmp.name) / "bench.yaml"
        tier = "free" if self.rate_limit == "free" else "pro"
        self.config_path.write_text(CONFIG.format(tier=tier), encoding="utf-8")
        self.env = dict(os.environ, HUBSPOT_ACCESS_TOKEN=self.emu.token, HUBSPOT_BASE_URL=self.emu.base_url)
        self.loaded = load_config(self.config_path)
        HubSpotCRM.from_config(self.crm_settings(), env=self.env).setup()  # the task-key property
        if self.rate_limit != "off":
            self.emu.set_rate_limit(self.rate_limit)  # after set-up: set-up costs no budget
        self.emu.reset_log()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.emu.stop()
        if self.tmp is not None:
            self.tmp.cleanup()

    def crm_settings(self) -> dict[str, Any]:
        return self.loaded.config.crm.model_dump(exclude={"type"})

    def at(self, when: datetime) -> datetime:
        """Move the frozen clock to `when` (real clock: the real now) and return the run's `now`."""
        if self.clock is None:
            return datetime.now(UTC)
        self.clock.set_wall(when)
        return when

    def log_since(self, mark: int) -> dict[str, Any]:
        entries = self.emu.requests()[mark:]
        by_endpoint: dict[str, int] = {}
        for e in entries:
            by_endpoint[e.template] = by_endpoint.get(e.template, 0) + 1
        return {"requests": len(entries), "http_429": sum(1 for e in entries if e.status == 429),
                "by_endpoint": dict(sorted(by_endpoint.items()))}

    # -- one sync -----------------------------------------------------------------------
    def sync(self, when: datetime, *, child: bool = False, trace: bool = False, profile: int = 0) -> dict[str, Any]:
        """One `run_sync` at `when`; the emulator's request log says what it cost."""
        now = self.at(when)
        throttle = self.rate_limit != "off"
        if child:
            return ChildRun(self, now, throttle=throttle, trace=trace).result()
        mark = self.emu.total_requests()
        result = run_one(self.loaded, self.env, now, throttle=throttle, trace=trace, profile=profile)
        result.update(self.log_since(mark))
        result["contacts"] = self.n
        result["in_child_process"] = child
        return result


def run_one(loaded: Any, env: dict[str, str], now: datetime, *, throttle: bool, trace: bool = False,
            profile: int = 0) -> dict[str, Any]:
    """Run one sync in this process; wall time, report counts and the adapter's figures."""
    import gc
    import tracemalloc

    from connector.crm.hubspot.adapter import HubSpotCRM
    from connector.sync import run_sync

    crm = HubSpotCRM.from_config(loaded.config.crm.model_dump(exclude={"type"}), env=env)
    if not throttle:  # "rate limits off": measure the code, not the client's self-imposed pacing
        crm.throttle.off()
    if profile:  # the contacts read on the run's own thread, so that cProfile sees all of the sync's work
        from dataclasses import replace

        crm.capabilities = replace(crm.capabilities, reads_while_writing=False)
    gc.collect()
    rss_before = current_rss_mib()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if trace:
        tracemalloc.start()
    marks: dict[str, list[float]] = {}  # progress label -> [first, last] seconds into the run

    def progress(label: str, *_: Any) -> None:
        at = round(time.perf_counter() - started, 2)
        marks.setdefault(label, [at, at])[1] = at

    started, cpu = time.perf_counter(), time.process_time()
    report = run_sync(loaded, now=now, env=env, crm=crm, progress=progress)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    out: dict[str, Any] = {}
    if trace:
        out["tracemalloc_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    if profiler is not None:
        profiler.disable()
        out["profile"] = _profile_text(profiler, profile)
    counts = dict(report.counts)
    out.update({
        "status": report.status, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "created": counts.get("created", 0), "contacts_read": counts.get("contacts_read", 0),
        "report_counts": counts, "errors": list(report.errors)[:3],
        "adapter_requests": crm.requests_made, "throttle_waited_s": round(crm.throttle.waited, 2),
        "rate_limited_retries": crm.call.rate_limited,
        "rss_before_mib": round(rss_before, 1), "ru_maxrss_mib": round(rss_mib(), 1),
        "vm_hwm_mib": round(_status_mib("VmHWM"), 1), "phases_s": marks,
    })
    return out


def _profile_text(profiler: Any, top: int) -> str:
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


class ChildRun:
    """One sync in a fresh Python process (started at once; `result()` waits for it).

    `nice` lowers the child's priority: a memory-only pass (tracemalloc, whose timing is
    not reported) can then use the CPU the timed measurements leave idle.
    """

    def __init__(self, portal: Portal, now: datetime, *, throttle: bool, trace: bool, nice: int = 0) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "child", str(portal.config_path), now.isoformat()]
        if throttle:
            cmd.append("--throttle")
        if trace:
            cmd.append("--trace")
        if nice:
            cmd += ["--nice", str(nice)]
        self.portal = portal
        self.mark = portal.emu.total_requests()
        env = dict(portal.env, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(clean_command(cmd), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)

    def result(self) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=3600)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise RuntimeError(f"sync child failed ({self.proc.returncode}): {err.strip()[-2000:]}")
        result = json.loads(lines[-1])
        result.update(self.portal.log_since(self.mark))
        result["contacts"] = self.portal.n
        result["in_child_process"] = True
        return result


def _child_main(config_path: str, now_iso: str, throttle: bool, trace: bool, nice: int) -> int:
    import logging

    from connector.configfile import load_config

    if nice:
        os.nice(nice)
    logging.disable(logging.INFO)  # structured INFO lines are not part of the measurement
    loaded = load_config(config_path)
    result = run_one(loaded, dict(os.environ), datetime.fromisoformat(now_iso), throttle=throttle, trace=trace)
    print(json.dumps(result))
    return 0


# ------------------------------------------------------------------ the measurements


def first_and_idle(n: int, *, child: bool = False, keep_portal: bool = False) -> dict[str, Any]:
    """A first sync of `n` contacts (creating every first task), then two idle syncs.

    `idle` runs an hour later with nothing changed in HubSpot (it still sees the tasks
    the first run wrote, modified after that run's cursor); `idle_steady` another hour
    later. Rate limits off. With `keep_portal`, the portal stays open under "portal"
    (the caller closes it) so the naive baseline can reuse its tasks.
    """
    portal = Portal(n).__enter__()
    try:
        first = portal.sync(START, child=child)
        idle = portal.sync(START + timedelta(hours=1), child=child)
        steady = portal.sync(START + timedelta(hours=2), child=child)
        result = {
            "contacts": n, "seed_s": round(portal.seed_seconds, 2),
            "first": first, "idle": idle, "idle_steady": steady,
            "first_requests_per_1000": round(first["requests"] * 1000 / n, 2),
            "tasks_in_crm": portal.emu.count("tasks"),
        }
        if keep_portal:
            result["portal"] = portal
        return result
    finally:
        if not keep_portal:
            portal.__exit__(None, None, None)


SEARCH_PER_S = 5.0


def searches_in(by_endpoint: dict[str, int]) -> int:
    return sum(c for endpoint, c in by_endpoint.items() if endpoint.endswith("/search"))


def sequential_floor(requests: int, searches: int) -> float:
    """Seconds the free tier needs when every search comes first and the other requests after:
    each search costs 0.2 s (5 a second), anything else 0.1 s (100 per 10 s)."""
    return (requests - searches) / (FREE_PER_10S / 10.0) + searches / SEARCH_PER_S


def interleaved_floor(by_endpoint: dict[str, int], http_429: int = 0) -> float:
    """Seconds the free tier needs at best: HubSpot's two limits (100 requests per 10 s, 5 searches
    a second) are independent, so a run that interleaves its reads and writes is bounded by the
    larger of all requests / 10 per s and searches / 5 per s. 429s are not needed requests."""
    requests = sum(by_endpoint.values()) - http_429
    return max(requests / (FREE_PER_10S / 10.0), searches_in(by_endpoint) / SEARCH_PER_S)


def rate_limited_first(n: int) -> dict[str, Any]:
    """A first sync of `n` contacts against the free tier (100 requests / 10 s), in a child.

    Two floors: `floor_s` the sequential one (the searches, then the rest), `interleaved_floor_s`
    the one a sync interleaving reads and writes can reach (issue 14's target: within 1.2x)."""
    with Portal(n, rate_limit="free") as portal:
        first = portal.sync(START, child=True)
    needed = first["requests"] - first["http_429"]
    by_endpoint = first.get("by_endpoint", {})
    searches = searches_in(by_endpoint)
    # a 429 is not a request the work needs (its endpoint is not known here: counted out of the total)
    floor = sequential_floor(needed, searches)
    interleaved = max(needed / (FREE_PER_10S / 10.0), searches / SEARCH_PER_S)
    first["searches"] = searches
    first["floor_s"] = round(floor, 1)
    first["ratio_to_floor"] = round(first["wall_s"] / floor, 3) if floor else None
    first["interleaved_floor_s"] = round(interleaved, 1)
    first["ratio_to_interleaved_floor"] = round(first["wall_s"] / interleaved, 3) if interleaved else None
    return first


class TracedRuns:
    """The memory pass: a first sync of `n` contacts, then an idle one, each in a child
    with tracemalloc on (Python heap peak; its RSS and timing include tracemalloc's own
    cost). `start()` launches the first sync (niced: it may run beside timed work);
    `finish()` waits for it and runs the idle one."""

    def __init__(self, n: int, nice: int = 0) -> None:
        self.n, self.nice = n, nice
        self.portal: Portal | None = None
        self.job: ChildRun | None = None

    def start(self) -> TracedRuns:
        self.portal = Portal(self.n).__enter__()
        self.job = ChildRun(self.portal, self.portal.at(START), throttle=False, trace=True, nice=self.nice)
        return self

    def finish(self) -> dict[str, Any]:
        if self.job is None:
            self.start()
        assert self.portal is not None and self.job is not None
        try:
            first = self.job.result()
            idle = ChildRun(self.portal, self.portal.at(START + timedelta(hours=1)), throttle=False, trace=True).result()
            return {"contacts": self.n, "first": first, "idle": idle, "niced": bool(self.nice)}
        finally:
            self.portal.__exit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("first", help="a first sync and two idle syncs of N contacts")
    one.add_argument("n", type=int)
    one.add_argument("--child", action="store_true", help="run the sync in a child process")
    one.add_argument("--free", action="store_true", help="free-tier rate limits (real clock, child process)")
    one.add_argument("--profile", type=int, default=0, metavar="TOP", help="cProfile the first sync (in process)")
    child = sub.add_parser("child", help=argparse.SUPPRESS)
    child.add_argument("config")
    child.add_argument("now")
    child.add_argument("--throttle", action="store_true")
    child.add_argument("--trace", action="store_true")
    child.add_argument("--nice", type=int, default=0)
    args = parser.parse_args(argv)
    if args.cmd == "child":
        return _child_main(args.config, args.now, args.throttle, args.trace, args.nice)
    if args.free:
        print(json.dumps(rate_limited_first(args.n), indent=1))
    elif args.profile:
        with Portal(args.n) as portal:
            result = portal.sync(START, profile=args.profile)
        print(result.pop("profile"))
        print(json.dumps(result, indent=1))
    else:
        print(json.dumps(first_and_idle(args.n, child=args.child), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
