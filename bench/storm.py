"""Reconnect storm: every charger drops at once (a network blip) and comes back within seconds.

python -m bench.storm [--chargers 1000] [--spread 10] [--queued 3] [--stops 0.3]

A fresh Home Assistant (.bench/storm/) with the integration; each charger gets a password
first (security profile 1, as bench/hostile.py gives them), so all are trusted and hold the
owner's tag list. N lightweight OCPP 1.6J chargers (bench/storm_clients.py) connect, boot,
start a transaction and send a MeterValues. Then the blip: every socket is reset at once
(no close frame; --drop silent leaves them half-open instead), some with a MeterValues
still on its way (--in-flight share), whose answer is lost. While offline each charger
queues --queued MeterValues with its transactionId, a --stops share also its
StopTransaction, as OCPP 1.6 requires; it reconnects after a random 0..--spread s, resends
the lost and queued messages in order, each after the previous one's answer, then reports
its status and sends what the server triggered.

Printed (never asserted): chargers back, queued messages answered, Home Assistant's REST API
latency (GET /api/ every --sample-ms, from a process of its own so the chargers' CPU does
not time it) before and during the storm, the time until all are back, Home Assistant's RSS,
the time it takes to stop (SIGTERM to exit) with every charger connected, and the ledger
(read after the stop) against what the chargers themselves sent: sessions, stops, readings,
duplicates.
"""

import argparse
import asyncio
import contextlib
import http.client
import json
import math
import os
import random
import re
import resource
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from . import hass as ha
from . import proc
from .hostile import _shown_once
from .load import ID_TAG, percentile
from .storm_clients import CallFailed, Counts, Refused, StormCharger, iso

ROOT = ha.REPO / ".bench" / "storm"
PREFIX = "STORM"
POWER_W = 7400
STOP_GOAL_S = 5.0
TOKEN_ENV = "EV_CHARGING_BENCH_TOKEN"  # the API token for the sampler, never on its argv


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--chargers", type=int, default=1000, help="chargers (1000)")
    add("--spread", type=float, default=10.0, help="each reconnects after 0..this s (10)")
    add("--queued", type=int, default=3, help="MeterValues each queues while offline (3)")
    add("--stops", type=float, default=0.3, help="share that also queue a stop (0.3)")
    add("--in-flight", type=float, default=0.5, help="share with a MeterValues lost (0.5)")
    add("--drop", choices=("reset", "silent"), default="reset", help="how sockets go (reset)")
    add("--ramp", type=float, help="s over which they first connect (chargers / 100)")
    add("--settle", type=float, help="s after all charge, before the baseline (2 + N/100)")
    add("--baseline", type=float, default=5.0, help="s of API latency before the blip (5)")
    add("--sample-ms", type=float, default=50.0, help="ms between API requests (50)")
    add("--deadline", type=float, default=180.0, help="s after the blip to give up (180)")
    add("--seed", type=int, default=16)
    # The API sampler, in a process of its own.
    add("--sample", nargs=3, metavar=("PORT", "OUT", "STOPFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.ramp = args.chargers / 100 if args.ramp is None else args.ramp
    args.settle = min(10.0, 2 + args.chargers / 100) if args.settle is None else args.settle
    return args


# The API sampler process.


def sample_api(port: int, out: Path, stop_file: Path, period: float) -> None:
    """GET /api/ every ``period`` s until ``stop_file`` exists; [epoch, s or None] to ``out``."""
    token = os.environ[TOKEN_ENV]
    samples: list[tuple[float, float | None]] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    next_at = time.monotonic()
    for _tick in range(int(3600 / period)):  # bounded: an hour at most
        if stop_file.exists():
            break
        at, start = time.time(), time.perf_counter()
        try:
            conn.request("GET", "/api/", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except OSError, http.client.HTTPException:
            conn.close()
            ok = False
        samples.append((at, time.perf_counter() - start if ok else None))
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))
    out.write_text(json.dumps(samples))


# The chargers.


@dataclass
class Storm:
    """The chargers and what happened to them."""

    chargers: list[StormCharger]
    counts: Counts
    rng: random.Random
    ready: set[str] = field(default_factory=set)
    blip_at: float = math.inf  # monotonic
    connected_at: dict[str, float] = field(default_factory=dict)  # s after the blip
    back_at: dict[str, float] = field(default_factory=dict)  # queue answered, s after
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (phase, outcome)
    queued: int = 0  # messages resent or queued during the drop
    dropped_by_error: int = 0  # queued messages answered with a CALLERROR (not resent)


async def connect(storm: Storm, charger: StormCharger, until: float, phase: str) -> bool:
    """Connect, retrying refusals and failures with a short back-off, until ``until``."""
    while time.monotonic() < until:
        try:
            await charger.connect()
            storm.attempts[phase, "connected"] += 1
            return True
        except Refused as err:
            storm.attempts[phase, f"HTTP {err.status}"] += 1
        except OSError as err:  # timeouts too
            storm.attempts[phase, type(err).__name__] += 1
        except asyncio.IncompleteReadError:
            storm.attempts[phase, "closed during the upgrade"] += 1
        await asyncio.sleep(storm.rng.uniform(0.5, 1.5))
    return False


async def first_contact(storm: Storm, charger: StormCharger, delay: float, until: float) -> None:
    await asyncio.sleep(delay)
    while time.monotonic() < until:
        if not await connect(storm, charger, until, "first contact"):
            return
        try:
            boot = await charger.call(
                "BootNotification",
                {"chargePointVendor": "Bench", "chargePointModel": "Storm"},
                "start",
            )
            if boot["status"] != "Accepted":
                await asyncio.sleep(min(5, boot.get("interval") or 5))
                charger.drop()
                continue
            await charger.call("StatusNotification", charger.status(0, "Available"), "start")
            await charger.call("StatusNotification", charger.status(1, "Preparing"), "start")
            started = await charger.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": ID_TAG, "meterStart": charger.energy_wh,
                 "timestamp": iso(time.time())},
                "start",
            )  # fmt: skip
            charger.transaction_id = int(started["transactionId"])
            await charger.call("StatusNotification", charger.status(1, "Charging"), "start")
            await charger.call("MeterValues", charger.meter_values(POWER_W), "start")
            storm.ready.add(charger.charger_id)
            return
        except CallFailed:
            charger.drop()
            await asyncio.sleep(1)


def blip(storm: Storm, in_flight: float, silent: bool) -> None:
    """Every charger's network goes at once; some had a MeterValues on its way."""
    storm.blip_at = time.monotonic()
    for charger in storm.chargers:
        if charger.charger_id in storm.ready and storm.rng.random() < in_flight:
            lost = charger.meter_values(POWER_W)
            charger.send_unanswered("MeterValues", lost)
            charger.outbox.append(("MeterValues", lost))  # unanswered: it goes again
        charger.drop(silent)


async def come_back(storm: Storm, charger: StormCharger, args: argparse.Namespace) -> None:
    """Offline for a while (queueing what a charger must deliver), then reconnect and resend."""
    if charger.charger_id not in storm.ready:
        return
    offline = storm.rng.uniform(0, args.spread)
    for _reading in range(args.queued):
        await asyncio.sleep(offline / (args.queued + 1))
        charger.outbox.append(("MeterValues", charger.meter_values(POWER_W)))
    stopping = storm.rng.random() < args.stops
    if stopping:
        charger.outbox.append(("StopTransaction", charger.stop_transaction()))
    await asyncio.sleep(max(0.0, storm.blip_at + offline - time.monotonic()))
    storm.queued += len(charger.outbox)
    until = storm.blip_at + args.deadline
    while charger.outbox or charger.sock is None:
        if charger.sock is None:
            if not await connect(storm, charger, until, "storm"):
                return
            storm.connected_at.setdefault(charger.charger_id, time.monotonic() - storm.blip_at)
        try:
            while charger.outbox:
                await charger.call(*charger.outbox[0], "storm")
                charger.outbox.pop(0)
        except CallFailed as err:
            if err.kind not in ("gone", "timeout"):
                storm.dropped_by_error += 1  # a charger drops a message refused with a CALLERROR
                charger.outbox.pop(0)
            elif err.kind == "timeout":
                charger.drop()
    storm.back_at[charger.charger_id] = time.monotonic() - storm.blip_at
    # Its status now, and what the server triggered on the way in (not timed as "back").
    with contextlib.suppress(CallFailed):
        status = "Finishing" if stopping else "Charging"
        await charger.call("StatusNotification", charger.status(1, status), "after")
        while charger.triggered:
            if charger.triggered.pop(0) == "MeterValues":
                payload = charger.meter_values(POWER_W, with_transaction=not stopping)
                await charger.call("MeterValues", payload, "after")
            else:
                for connector_id in (0, 1):
                    await charger.call(
                        "StatusNotification", charger.status(connector_id, status), "after"
                    )


# The ledger, read after Home Assistant stopped, against what the chargers sent.


@dataclass
class LedgerCheck:
    sessions: int = 0  # transactions of the chargers in the ledger
    expected_sessions: int = 0
    stops_expected: int = 0
    stops_ok: int = 0  # stopped, with the meterStop sent
    running_expected: int = 0
    running_ok: int = 0
    readings_expected: int = 0
    readings_stored: int = 0
    missing: int = 0
    duplicates: int = 0
    foreign: int = 0  # stored with the tx but never sent
    wrong_energy: int = 0
    error: str = ""


def check_ledger(db: Path, storm: Storm) -> LedgerCheck:
    check = LedgerCheck()
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            sessions = con.execute(
                "SELECT transaction_id, charger_id, meter_stop_wh, stopped_at FROM transactions"
                " WHERE charger_id LIKE ?",
                (f"{PREFIX}%",),
            ).fetchall()
            rows = con.execute(
                "SELECT transaction_id, timestamp, energy_wh FROM meter_readings"
                " WHERE charger_id LIKE ? AND transaction_id IS NOT NULL",
                (f"{PREFIX}%",),
            ).fetchall()
    except sqlite3.Error as err:
        check.error = str(err)
        return check
    by_tx = {tx: (stop, stopped_at) for tx, _charger, stop, stopped_at in sessions}
    stored: dict[int, Counter[datetime]] = {}
    energy: dict[tuple[int, datetime], Decimal] = {}
    for tx, at, wh in rows:
        moment = datetime.fromisoformat(at)
        stored.setdefault(tx, Counter())[moment] += 1
        energy[tx, moment] = Decimal(wh)
    check.sessions = len(sessions)
    check.readings_stored = len(rows)
    for charger in storm.chargers:
        tx = charger.transaction_id
        if tx is None:
            continue
        check.expected_sessions += 1
        stop, stopped_at = by_tx.get(tx, (None, None))
        if charger.stop is not None:
            check.stops_expected += 1
            check.stops_ok += stopped_at is not None and stop == charger.stop[1]
        else:
            check.running_expected += 1
            check.running_ok += tx in by_tx and stopped_at is None
        sent = {datetime.fromisoformat(at): wh for at, wh in charger.readings.items()}
        seen = stored.get(tx, Counter())
        check.readings_expected += len(sent)
        check.missing += sum(1 for at in sent if at not in seen)
        check.foreign += sum(1 for at in seen if at not in sent)
        check.duplicates += sum(n - 1 for n in seen.values())
        check.wrong_energy += sum(
            1 for at, wh in sent.items() if at in seen and energy[tx, at] != wh
        )
    return check


# The run.


def raise_file_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (Home Assistant, started after, inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@dataclass
class Figures:
    rss_kib: dict[str, int] = field(default_factory=dict)
    passwords_s: float = 0.0
    ready_s: float = 0.0
    samples: list[tuple[float, float | None]] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)  # epoch
    stop_s: float = math.nan
    closed_by_server: int = 0
    still_connected: int = 0


async def main(args: argparse.Namespace) -> None:
    limits = raise_file_limit()
    ROOT.mkdir(parents=True, exist_ok=True)
    workdir = ROOT / f"{datetime.now():%Y%m%d-%H%M%S}-n{args.chargers}"
    config = ha.HassConfig.create(workdir / "config")
    process, api = ha.HassProcess(config, "hass"), ha.HassApi(config)
    counts, rng = Counts(), random.Random(args.seed)
    chargers = [
        StormCharger(f"{PREFIX}{i:05d}", "127.0.0.1", config.ocpp_port, None, counts)
        for i in range(args.chargers)
    ]
    storm, figures = Storm(chargers, counts, rng), Figures()
    ha.say(f"config dir and logs: {workdir}; file limit {limits[0]}")
    async with contextlib.AsyncExitStack() as stack:  # stops all of it, in reverse order
        process.start()
        stack.push_async_callback(asyncio.to_thread, process.stop)
        stack.push_async_callback(api.close)
        await asyncio.to_thread(process.wait_ocpp_port)
        await api.wait_running(process.pid)
        ha.say(f"passwords for {args.chargers} chargers (options flow)")
        start = time.monotonic()
        for charger in chargers:
            answer = {"charger_id": charger.charger_id, "remove_password": False}
            charger.password = await _shown_once(api, "password", answer, "password")
        figures.passwords_s = time.monotonic() - start
        figures.rss_kib["idle"] = proc.rss_kib(process.pid)
        for charger in chargers:
            stack.callback(charger.close_half_open)
            stack.callback(charger.drop)
        ha.say(f"{args.chargers} chargers connecting over {args.ramp:g} s")
        start = time.monotonic()
        until = start + args.ramp + 120
        await asyncio.gather(
            *(
                first_contact(storm, c, i * args.ramp / args.chargers, until)
                for i, c in enumerate(chargers)
            )
        )
        figures.ready_s = time.monotonic() - start
        ha.say(f"{len(storm.ready)}/{args.chargers} charging after {figures.ready_s:.1f} s")
        await asyncio.sleep(args.settle)

        os.environ[TOKEN_ENV] = config.token
        samples, stop_file = workdir / "api-samples.json", workdir / "api-samples.stop"
        sampler = ha.spawn(
            [sys.executable, "-m", "bench.storm", "--sample", str(config.http_port),
             str(samples), str(stop_file), "--sample-ms", str(args.sample_ms)],
            workdir / "sampler.log",
        )  # fmt: skip
        stack.push_async_callback(asyncio.to_thread, ha.stop_process, sampler)
        base0 = time.time()
        await asyncio.sleep(args.baseline)
        figures.windows["before the blip"] = (base0, time.time())
        figures.rss_kib["before"] = proc.rss_kib(process.pid)

        ha.say(f"the blip: {args.chargers} sockets {args.drop} at once")
        storm0 = time.time()
        blip(storm, args.in_flight, args.drop == "silent")
        await asyncio.gather(*(come_back(storm, c, args) for c in chargers))
        figures.windows["during the storm"] = (storm0, time.time())
        ha.say(f"{len(storm.back_at)}/{len(storm.ready)} back; their last messages answered")
        await asyncio.sleep(2)
        stop_file.touch()
        await asyncio.to_thread(sampler.wait, 30)
        figures.samples = [(a, s) for a, s in json.loads(samples.read_text())]
        figures.rss_kib["after"] = proc.rss_kib(process.pid)

        figures.still_connected = sum(1 for c in chargers if c.sock is not None)
        ha.say(f"stopping Home Assistant with {figures.still_connected} chargers connected")
        start = time.monotonic()
        await asyncio.to_thread(process.stop)
        figures.stop_s = time.monotonic() - start
        figures.closed_by_server = sum(1 for c in chargers if c.closed_by_server.is_set())
    check = check_ledger(config.path / "ev_charging.db", storm)
    print_report(args, storm, figures, check)
    print_log(process.log_summary(figures.windows.get("during the storm")))
    print(f"\nConfig dir and logs: {workdir}")


def print_report(
    args: argparse.Namespace, storm: Storm, figures: Figures, check: LedgerCheck
) -> None:
    n, counts = args.chargers, storm.counts
    ready = len(storm.ready)
    back = sorted(storm.back_at.values())
    storm_sent = sum(v for k, v in counts.sent.items() if k.startswith("storm "))
    storm_answered = sum(v for k, v in counts.answered.items() if k.startswith("storm "))
    p = print
    p(
        f"\nev_charging reconnect storm: {n} chargers (passwords), {ready} charging before the "
        f"blip; sockets {args.drop} at once, back after 0..{args.spread:g} s; each queued "
        f"{args.queued} MeterValues, {args.stops:.0%} a StopTransaction, {args.in_flight:.0%} "
        "had a MeterValues in flight"
    )
    p(
        f"  passwords given in {figures.passwords_s:.1f} s; all charging {figures.ready_s:.1f} s after the first connected"
    )
    p(f"  chargers back (queue answered)        {len(back)}/{ready}")
    p(f"  connected again                       {len(storm.connected_at)}/{ready}")
    last = f"{back[-1]:.1f} s" if back else "-"
    p(f"  blip -> all back                      {last} (p50 {percentile(back, 0.5):.1f} s)")
    p(
        f"  queued messages sent / answered       {storm_sent} / {storm_answered} "
        f"({storm.queued} queued incl. the lost ones; refused by CALLERROR {storm.dropped_by_error})"
    )
    for phase in ("first contact", "storm"):
        tried = [(why, n) for (when, why), n in storm.attempts.most_common() if when == phase]
        p(f"  connection attempts, {phase}: " + ", ".join(f"{why} {n}" for why, n in tried))
    if counts.failed:
        p("  calls failed: " + ", ".join(f"{k} {v}" for k, v in counts.failed.most_common(8)))
    p(
        "  server CALLs answered: "
        + ", ".join(f"{k} {v}" for k, v in counts.server_calls.most_common())
    )
    for name, (t0, t1) in figures.windows.items():
        inside = [s for at, s in figures.samples if t0 <= at <= t1]
        ok = [s for s in inside if s is not None]
        p(
            f"  API GET /api/ {name:17} p50 {percentile(ok, 0.5) * 1000:6.1f} ms  p99 "
            f"{percentile(ok, 0.99) * 1000:6.1f} ms  max {max(ok, default=math.nan) * 1000:6.1f} ms"
            f"  ({len(ok)} answered, {len(inside) - len(ok)} failed, {t1 - t0:.1f} s)"
        )
    rss = figures.rss_kib
    p(
        f"  Home Assistant RSS: idle {rss.get('idle', 0) / 1024:.0f} MB, before the blip "
        f"{rss.get('before', 0) / 1024:.0f} MB, after {rss.get('after', 0) / 1024:.0f} MB"
    )
    met = "met" if figures.stop_s < STOP_GOAL_S else "MISSED"
    p(
        f"  Home Assistant stop (SIGTERM -> exit) with {figures.still_connected} connected: "
        f"{figures.stop_s:.1f} s (goal < {STOP_GOAL_S:g} s: {met}); "
        f"{figures.closed_by_server} got a close frame"
    )
    c = check
    if c.error:
        p(f"  ledger unreadable: {c.error}")
        return
    p(
        f"  ledger: sessions {c.sessions} (expected {c.expected_sessions}); stopped "
        f"{c.stops_ok}/{c.stops_expected} with their meterStop, running "
        f"{c.running_ok}/{c.running_expected}"
    )
    p(
        f"  ledger: readings {c.readings_stored} stored, {c.readings_expected} sent; missing "
        f"{c.missing}, duplicated {c.duplicates}, never sent {c.foreign}, wrong energy "
        f"{c.wrong_energy}"
    )


def print_log(summary: ha.LogSummary) -> None:
    """What the integration logged, by kind (charger ids left out); Home Assistant's own lines
    only counted (a bench install lacks the packages of the always-loaded integrations)."""
    ours: Counter[tuple[str, str, str]] = Counter()
    inside: Counter[tuple[str, str, str]] = Counter()
    for (level, logger, kind), n in summary.counts.items():
        if "ev_charging" in logger:
            key = (level, logger.rsplit(".", 1)[-1], re.sub(rf"{PREFIX}\d+", "<id>", kind)[:110])
            ours[key] += n
            inside[key] += summary.in_window[level, logger, kind]
    other = summary.counts.total() - ours.total()
    print(f"\nWhat the integration logged, by kind ({other} lines of Home Assistant not shown):")
    for key, n in ours.most_common(12):
        print(f"  {n:6d} x ({inside[key]} during the storm) {key[0]} [{key[1]}] {key[2]}")


def cli() -> None:
    args = parse_args()
    if args.sample is not None:
        port, out, stop_file = args.sample
        sample_api(int(port), Path(out), Path(stop_file), args.sample_ms / 1000)
        return
    ha.run_bench(main(args))


if __name__ == "__main__":
    cli()
