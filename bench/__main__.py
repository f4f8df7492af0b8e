"""Benchmark the ev_charging central system inside Home Assistant, and a bare server.

python -m bench [--chargers 200] [--interval 10] [--duration 60] [--warmup 20]

Run 1  a fresh Home Assistant (config dir under .bench/, with the ev_charging entry and
       auto_accept): N simulated chargers (in this process) connect for the first time,
       are approved, boot and charge, sending MeterValues every --interval seconds.
Run 2  the same Home Assistant restarted with the N chargers known: the setup time, then
       the same N chargers connect again and the same load runs (the steady state).
Run 3  the same load against bench/bare_server.py (aiohttp, minimal answers): the ceiling.

Each run measures over a window that starts --warmup seconds after every charger is
charging. It prints figures and asserts nothing. Every process it starts is stopped on
the way out (also on Ctrl-C, SIGTERM or an error).
"""

import argparse
import asyncio
import contextlib
import math
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp

from . import hass as ha
from . import proc
from .load import SLOW, Load, LoadResult, percentile

BENCH_ROOT = ha.REPO / ".bench"
HEARTBEAT_INTERVAL = 60  # the entry's option; the bare server answers the same


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--chargers", type=int, default=200, help="simulated chargers (200)")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between MeterValues per charger (10)"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="measurement window, s (60)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=20.0,
        help="s from every charger charging to the start of the window (20)",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=10.0,
        help="s over which the chargers start connecting, evenly spread (10)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=120.0,
        help="wait at most this long (after the ramp) for every charger to be charging (120)",
    )
    parser.add_argument(
        "--recorder",
        action="store_true",
        help="also load Home Assistant's recorder (SQLite history), as most installs do",
    )
    parser.add_argument(
        "--skip-restart", action="store_true", help="skip run 2 (restart: setup time, steady state)"
    )
    parser.add_argument("--skip-bare", action="store_true", help="skip run 3 (the bare server)")
    return parser.parse_args(argv)


@dataclass
class Setup:
    """From spawning the server process until it is ready."""

    known: int  # chargers known at the start
    port_s: float  # the OCPP port accepts a TCP connection
    entities_s: float | None  # every expected entity has a state it wrote itself
    running_s: float | None  # Home Assistant's state is RUNNING
    entities: int
    rss_kib: int  # once set up, no charger connected
    log_timings: list[str] = field(default_factory=list)


@dataclass
class Run:
    """One server process under the load."""

    name: str
    load: LoadResult
    cpu_s: float  # of the server process, over the window
    rss_zero_kib: int  # the server with no charger known or connected, after startup
    rss_end_kib: int  # at the end of the window
    server_connected: int | None  # as the server sees it
    idle_cpu: float  # fraction of a core, before the chargers connect
    setup: Setup | None = None
    entities: tuple[int, int] | None = None  # ev_charging entities: in the registry, with state
    call_errors_total: dict[str, int] = field(default_factory=dict)  # incl. start and stop

    @property
    def cpu_fraction(self) -> float:
        return self.cpu_s / self.load.window_s

    @property
    def calls_per_cpu_s(self) -> float:
        return self.load.calls / self.cpu_s if self.cpu_s > 0 else math.inf

    @property
    def rss_per_charger_kib(self) -> float:
        return (self.rss_end_kib - self.rss_zero_kib) / self.load.chargers


async def measure(
    load: Load, pid: int, args: argparse.Namespace, name: str
) -> tuple[LoadResult, float]:
    """Start the load, wait for every charger, warm up, measure the window.

    Returns the load's figures and the CPU seconds the server process used in the window.
    """
    ha.say(f"{name}: {load.n} chargers connecting over {load.ramp:g} s")
    await load.start()
    if not await load.wait_ready(load.ramp + args.ready_timeout):
        ha.say(
            f"{name}: only {len(load.ready)}/{load.n} chargers charging "
            f"{load.ramp + args.ready_timeout:.0f} s after the start; measuring anyway"
        )
    else:
        ha.say(f"{name}: all charging after {load.all_ready_s:.1f} s; warming up {args.warmup:g} s")
    await asyncio.sleep(args.warmup)
    ha.say(f"{name}: {len(load.ready)}/{load.n} chargers charging; measuring {args.duration:g} s")
    cpu0, split0, threads0 = proc.cpu_seconds(pid), proc.cpu_split(pid), proc.thread_cpu(pid)
    load.begin_window()
    await asyncio.sleep(args.duration)
    cpu1, split1, threads1 = proc.cpu_seconds(pid), proc.cpu_split(pid), proc.thread_cpu(pid)
    result = load.end_window()
    result.extra["user_s"] = split1[0] - split0[0]
    result.extra["system_s"] = split1[1] - split0[1]
    result.extra["threads"] = proc.thread_cpu_delta(threads0, threads1)
    return result, cpu1 - cpu0


async def idle_cpu(pid: int, seconds: float = 5.0) -> float:
    cpu0, t0 = proc.cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    return (proc.cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)


async def run_hass(
    args: argparse.Namespace,
    config: ha.HassConfig,
    number: int,
    expected: list[str],
    rss_zero: int | None,
) -> tuple[Run, list[str], ha.LogSummary]:
    """One Home Assistant process: setup, idle, load. Returns the run and the live entities.

    ``expected``: entities that must have a state for the setup to count as done;
    ``rss_zero``: the RSS of a Home Assistant with no charger (None: measure it now).
    """
    name = f"run {number}"
    process = ha.HassProcess(config, f"run{number}")
    api = ha.HassApi(config)
    ha.say(f"{name}: starting Home Assistant, {len(expected)} ev_charging entities expected")
    process.start()
    try:
        port_task = asyncio.create_task(asyncio.to_thread(process.wait_ocpp_port))
        entities_at = await api.wait_entities(expected, process.pid) if expected else None
        running_at = await api.wait_running(process.pid)
        port_s = await port_task
        ha.say(
            f"{name}: OCPP port open after {port_s:.1f} s, RUNNING after "
            f"{running_at - process.started_at:.1f} s; entry {await api.entry_state()}"
        )
        await asyncio.sleep(5)  # let the start settle (delayed writes, first timers)
        idle = await idle_cpu(process.pid)
        rss_start = proc.rss_kib(process.pid)
        setup = Setup(
            known=args.chargers if expected else 0,
            port_s=port_s,
            entities_s=None if entities_at is None else entities_at - process.started_at,
            running_s=running_at - process.started_at,
            entities=len(expected),
            rss_kib=rss_start,
        )
        load = Load(
            f"ws://127.0.0.1:{config.ocpp_port}", args.chargers, args.interval, args.ramp, "BENCH"
        )
        try:
            result, cpu_s = await measure(load, process.pid, args, name)
            rss_end = proc.rss_kib(process.pid)
            connected = None
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                connected = int(
                    await api.template(
                        # Chargers whose Offline problem sensor is off.
                        "{{ integration_entities('ev_charging') | select('match', "
                        "'binary_sensor\\..*_offline$') | select('is_state', 'off') | list"
                        " | count }}"
                    )
                )
            registered = await api.integration_entities()
            live = sorted(await api.live_states(set(registered)))
        finally:
            ha.say(f"{name}: stopping the chargers (ending their transactions)")
            await load.stop()
        ha.say(f"{name}: stopping Home Assistant")
    finally:
        await api.close()
        await asyncio.to_thread(process.stop)
    summary = process.log_summary(result.window_epoch)
    setup.log_timings = summary.timings
    run = Run(
        "HA, first contact" if number == 1 else "HA, restarted",
        result,
        cpu_s,
        rss_start if rss_zero is None else rss_zero,
        rss_end,
        connected,
        idle,
        setup,
        (len(registered), len(live)),
        dict(load.stats.call_errors_total),
    )
    return run, live, summary


async def run_bare(args: argparse.Namespace, workdir: Path) -> Run:
    port = proc.free_port()
    ha.say(f"run 3: starting the bare server on port {port}")
    popen = ha.spawn(
        [
            sys.executable,
            "-m",
            "bench.bare_server",
            "--port",
            str(port),
            "--heartbeat-interval",
            str(HEARTBEAT_INTERVAL),
        ],
        workdir / "bare_server.log",
    )
    try:
        await asyncio.to_thread(proc.wait_port, "127.0.0.1", port, 30, 0.02, popen.pid)
        idle = await idle_cpu(popen.pid, 2)
        rss_zero = proc.rss_kib(popen.pid)
        load = Load(f"ws://127.0.0.1:{port}", args.chargers, args.interval, args.ramp, "BARE")
        try:
            result, cpu_s = await measure(load, popen.pid, args, "run 3")
            rss_end = proc.rss_kib(popen.pid)
            connected = None
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{port}/_bench/stats") as resp,
                ):
                    connected = int((await resp.json())["connections"])
        finally:
            await load.stop(graceful=False)
    finally:
        await asyncio.to_thread(ha.stop_process, popen)
    return Run(
        "bare aiohttp server",
        result,
        cpu_s,
        rss_zero,
        rss_end,
        connected,
        idle,
        call_errors_total=dict(load.stats.call_errors_total),
    )


# Output.


def _f(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return format(value, spec)


def print_report(
    args: argparse.Namespace,
    workdir: Path,
    runs: list[Run],
    logs: list[tuple[str, ha.LogSummary]],
) -> None:
    p = print
    p()
    p(
        f"ev_charging benchmark: {args.chargers} chargers, each one MeterValues every "
        f"{args.interval:g} s and a Heartbeat every {HEARTBEAT_INTERVAL} s; connecting over "
        f"{args.ramp:g} s, window of {args.duration:g} s from {args.warmup:g} s after all "
        "charge" + (" (recorder on)" if args.recorder else " (no recorder)")
    )
    p()
    p(
        f"{'':20} {'connected':>11} {'calls/s':>8} {'CPU':>6} {'calls/':>7} "
        f"{'p50':>6} {'p99':>6} {'RSS per':>8} {'setup with N known':>19}"
    )
    p(
        f"{'':20} {'bench/srv':>11} {'':>8} {'cores':>6} {'CPU-s':>7} "
        f"{'ms':>6} {'ms':>6} {'chg KiB':>8} {'port / entities s':>19}"
    )
    for run in runs:
        r = run.load
        srv = "?" if run.server_connected is None else str(run.server_connected)
        setup_cell = "-"
        if run.setup is not None and run.setup.known:
            s = run.setup
            setup_cell = f"{s.port_s:.1f} / {_f(s.entities_s, '.1f')}"
        p(
            f"{run.name:20} {f'{r.ready}/{srv}':>11} {r.calls_per_s:8.1f} "
            f"{run.cpu_fraction:6.3f} {run.calls_per_cpu_s:7.0f} {r.ms(0.5):6.2f} "
            f"{r.ms(0.99):6.2f} {run.rss_per_charger_kib:8.1f} {setup_cell:>19}"
        )
    print_goals(runs)

    for run in runs:
        print_details(run)

    for name, summary in logs:
        p()
        if not summary.counts and not summary.notable:
            p(f"Home Assistant log, {name}: no warnings or errors (beyond the usual start lines)")
            continue
        p(f"Home Assistant log, {name}: warnings and errors by kind")
        for line in summary.lines():
            p(f"  {line}")
        if summary.notable:
            p("  notable lines:")
            for line in summary.notable:
                p(f"    {line}")
    print_ledger(workdir / "config")
    p()
    p(f"Config dir and logs: {workdir}")
    print_method()


def print_ledger(config_dir: Path) -> None:
    """How big the ledger grew: file size, rows, biggest tables and indexes (Home Assistant
    stopped by now)."""
    files = [config_dir / f"ev_charging.db{suffix}" for suffix in ("", "-wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    if not size:
        return
    rows: dict[str, int] = {}
    objects: list[tuple[str, str, int]] = []  # (name, table, bytes)
    with contextlib.suppress(sqlite3.Error):
        db = sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            rows = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
            objects = db.execute(
                "SELECT d.name, m.tbl_name, sum(d.pgsize) FROM dbstat d "
                "JOIN sqlite_master m ON m.name = d.name GROUP BY d.name ORDER BY 3 DESC"
            ).fetchall()
        except sqlite3.Error:
            pass  # no dbstat in this SQLite
        finally:
            db.close()
    print()
    listed = ", ".join(f"{t} {n}" for t, n in rows.items() if not t.startswith("sqlite_"))
    print(f"Ledger (ev_charging.db + WAL) after all runs: {size / 1e6:.1f} MB; rows: {listed}")
    if objects:
        print(
            "  largest tables and indexes: "
            + ", ".join(f"{name} {used / 1e6:.1f} MB" for name, _, used in objects[:4])
        )
        readings = rows.get("meter_readings")
        used = sum(b for _, table, b in objects if table == "meter_readings")
        if readings:
            print(
                f"  meter_readings with its indexes: {used / readings / 1024:.1f} KiB per "
                f"stored reading ({readings} readings)"
            )


def print_goals(runs: list[Run]) -> None:
    ha_runs = [r for r in runs if r.name.startswith("HA")]
    if not ha_runs:
        return
    run = ha_runs[-1]  # the steady state if there is one
    r = run.load

    def mark(ok: bool) -> str:
        return "yes" if ok else "NO"

    setup_s = None if run.setup is None or not run.setup.known else run.setup.entities_s
    print()
    print(f"Goals for 1,000 chargers at 10 s, against '{run.name}' ({r.chargers} chargers):")
    print(
        f"  p99 < 50 ms: {r.ms(0.99):.1f} ms, {mark(r.ms(0.99) < 50)};  "
        f"CPU < 0.5 core: {run.cpu_fraction:.3f}, {mark(run.cpu_fraction < 0.5)};  "
        f">= 1,000 calls/CPU-s: {run.calls_per_cpu_s:.0f}, {mark(run.calls_per_cpu_s >= 1000)}"
    )
    print(
        f"  RSS < 150 KiB per charger: {run.rss_per_charger_kib:.0f}, "
        f"{mark(run.rss_per_charger_kib < 150)};  "
        f"setup with N known < 10 s: {_f(setup_s, '.1f')} s, "
        f"{'-' if setup_s is None else mark(setup_s < 10)}"
    )


def print_details(run: Run) -> None:
    p = print
    r = run.load
    p()
    p(f"{run.name}:")
    if (s := run.setup) is not None:
        what = f"{s.known} chargers known" if s.known else "fresh config, no charger known"
        p(
            f"  setup ({what}): OCPP port accepting {s.port_s:.2f} s, "
            + (
                f"all {s.entities} entities with a state {_f(s.entities_s, '.2f')} s, "
                if s.known
                else ""
            )
            + f"RUNNING {_f(s.running_s, '.2f')} s after spawning the process; "
            f"RSS then {s.rss_kib / 1024:.1f} MiB"
        )
        for line in s.log_timings:
            p(f"    log: {line}")
    if r.all_ready_s is not None:
        p(
            f"  all {r.chargers} chargers connected, booted and charging {r.all_ready_s:.1f} s after the first started"
        )
    start, end = (time.strftime("%H:%M:%S", time.localtime(t)) for t in r.window_epoch)
    p(
        f"  window {start}-{end} ({r.window_s:.1f} s): {r.calls} CALLs answered, {run.cpu_s:.2f} CPU-s of the "
        f"server process ({run.cpu_fraction:.3f} of a core); idle before the load "
        f"{run.idle_cpu:.3f} of a core"
    )
    if "threads" in r.extra:
        threads = ", ".join(
            f"{name} {seconds:.2f}" for name, seconds in r.extra["threads"].items() if seconds > 0
        )
        p(
            f"    CPU-s: user {r.extra['user_s']:.2f}, system {r.extra['system_s']:.2f}; "
            f"by thread: {threads or '-'}"
        )
    p(
        f"  latency ms: p50 {r.ms(0.5):.2f}  p90 {r.ms(0.9):.2f}  p99 {r.ms(0.99):.2f}  "
        f"p99.9 {r.ms(0.999):.2f}  max {r.ms(1.0):.2f}"
    )
    for action, values in sorted(r.by_action.items(), key=lambda kv: -len(kv[1])):
        p(
            f"    {action:12} {len(values):6d} calls  p50 {percentile(values, 0.5) * 1000:6.2f}"
            f"  p99 {percentile(values, 0.99) * 1000:6.2f}"
        )
    if r.slow:
        worst = sorted(r.slow, key=lambda s: -s[1])[:6]
        p(
            f"  {len(r.slow)} calls over {SLOW * 1000:.0f} ms; slowest (s into the window: ms): "
            + ", ".join(f"{t:.1f}: {lat * 1000:.0f}" for t, lat, _ in worst)
        )
    p(
        f"  RSS {run.rss_zero_kib / 1024:.1f} MiB with no charger known -> "
        f"{run.rss_end_kib / 1024:.1f} MiB with {r.ready} charging: "
        f"{run.rss_per_charger_kib:.1f} KiB per charger"
    )
    if run.entities is not None:
        p(
            f"  ev_charging entities: {run.entities[0]} in the registry, {run.entities[1]} with a state"
        )
    problems = []
    if r.call_errors:
        problems.append(f"CALLERROR answers in the window: {dict(r.call_errors)}")
    if run.call_errors_total:
        problems.append(f"CALLERROR answers over the whole run: {dict(run.call_errors_total)}")
    if r.unanswered:
        problems.append(f"{r.unanswered} CALLs unanswered (> 5 s) at the end of the window")
    if r.events:
        problems.append(f"charger errors / reconnects during the run: {dict(r.events)}")
        problems += [f"  {e}" for e in r.first_events[:5]]
    if r.late_slots:
        problems.append(f"{r.late_slots} MeterValues sent > 1 s after their slot")
    for line in problems or ["no CALLERRORs, timeouts, lost connections or late sends"]:
        p(f"  {line}")
    saturated = r.bench_cpu > 0.85 or r.lag_p99_ms > 20
    p(
        f"  bench process (the simulator): {r.bench_cpu:.3f} of a core, its event loop lag "
        f"p99 {r.lag_p99_ms:.1f} ms, max {r.lag_max_ms:.1f} ms"
        + ("  <-- SATURATED: latencies include the simulator's own delays" if saturated else "")
    )


def print_method() -> None:
    print(
        """
How the figures are measured:
  connected    chargers charging in the bench at the end of the window / connected as the
               server sees it (Home Assistant: Offline problem sensors off; bare server:
               open websockets).
  calls/s      CALLs whose CALLRESULT arrived inside the window / the window's length.
  CPU          utime + stime of the server process, all its threads (/proc/<pid>/stat),
               used during the window / the window's length: the fraction of one core.
  calls/CPU-s  the CALLs answered in the window / those CPU seconds.
  p50, p99     per CALL, from handing the frame to the websocket until its reply frame is
               read (matched by message id), timed in the bench before the simulator parses
               it; the simulator's own payload building and validation are not included.
  RSS per chg  VmRSS (/proc/<pid>/status) at the end of the window minus the VmRSS of the
               server with no charger known or connected (Home Assistant: run 1, after its
               start settled), / N: it includes the N devices, entities and connections.
  setup        Home Assistant restarted on the same config (N chargers in ev_charging.db and
               in the registries): seconds from spawning the process until the OCPP port
               accepts a TCP connection (polled every 20 ms) / until every entity that had a
               state in run 1 has one again written by the entity itself, not a 'restored'
               placeholder (REST API: a sample of them every 0.1 s, then all of /api/states;
               an upper bound).
  The simulated chargers run in the bench process; its CPU is not counted as the server's."""
    )


async def main(args: argparse.Namespace) -> None:
    BENCH_ROOT.mkdir(exist_ok=True)
    workdir = BENCH_ROOT / f"{datetime.now():%Y%m%d-%H%M%S}-n{args.chargers}"
    config = ha.HassConfig.create(
        workdir / "config", recorder=args.recorder, heartbeat_interval=HEARTBEAT_INTERVAL
    )
    ha.say(f"config dir and logs: {workdir}")
    runs: list[Run] = []
    logs: list[tuple[str, ha.LogSummary]] = []

    first, live, summary = await run_hass(args, config, 1, [], None)
    runs.append(first)
    logs.append(("run 1 (first contact)", summary))
    if not args.skip_restart:
        second, _, summary = await run_hass(args, config, 2, live, first.rss_zero_kib)
        runs.append(second)
        logs.append(("run 2 (restarted)", summary))
    if not args.skip_bare:
        runs.append(await run_bare(args, workdir))
    print_report(args, workdir, runs, logs)


def cli() -> None:
    args = parse_args()
    ha.run_bench(main(args))


if __name__ == "__main__":
    cli()
