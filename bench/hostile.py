"""Benchmark the ev_charging central system on a hostile network, inside Home Assistant.

python -m bench.hostile [--chargers 200] [--interval 10] [--baseline 30] [--duration 60]

A fresh Home Assistant (.bench/hostile/, auto_accept on) and the guest kiosk in front of it
(keyed through the options flow as scripts/demo does; on 127.0.0.1); --chargers honest
simulated chargers send MeterValues every --interval s. After a baseline window, attackers
flood 127.0.0.1 for --duration s, all at once, from a process of their own (their CPU must
not delay the event loop that times the honest calls):

  row 1   1 MiB unsolicited CALLRESULTs, one per connection, reconnecting after each 1009;
          and unsolicited CALLRESULTs just under the 64 KiB limit on open connections
  row 2   schema-breaking CALLs with 60 KB values (a forged log line and escapes in them),
          DataTransfer with 60 KB data, StartTransaction with junk (refused, kept raw)
  row 12  --half-open upgrade requests whose headers never end (every other one drips a
          header line every 2 s), each renewed when the server closes it
  row 13  bench/kiosk_flood.py: the kiosk's sticker page flooded while webhooks are timed

Every attacker is bounded in count and time and stops by itself. The figures (before vs
during the flood, next to the goals) and what Home Assistant logged are printed; nothing is
asserted (exit 0). Every process started is stopped on the way out, also on Ctrl-C or errors.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import math
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from kiosk.config import read_settings_file

from . import hass as ha
from . import proc
from .kiosk_flood import webhook_latency_under_flood
from .load import Load, LoadResult, percentile

ROOT = ha.REPO / ".bench" / "hostile"
HEARTBEAT_INTERVAL = 60  # the entry's option: also how long a client may go without booting
PROTOCOLS = ("ocpp1.6",)
EVIL = "EVIL"  # attackers' charger ids start so; the honest ones are BENCH*
OVERSIZED = 1 << 20
NEAR_LIMIT = 60_000  # characters of a reply or value under the limit: frames stay < 64 KiB
DRIP_EVERY = 2.0
# After the flood: late answers arrive, the log and the ledger catch up, and the flood's
# connections that never booted are closed (and logged) up to a heartbeat interval later.
GRACE = HEARTBEAT_INTERVAL + 10.0
# A forged log line and a terminal escape, padded: the log may only show them escaped.
FORGED = "\n2026-01-01 00:00:00.000 ERROR (MainThread) [homeassistant.core] forged\x1b[31m"
FILL = (FORGED + "A" * NEAR_LIMIT)[:NEAR_LIMIT]
BOOT = json.dumps(
    [2, "boot", "BootNotification", {"chargePointVendor": "E", "chargePointModel": "F"}]
)
JUNK = [
    json.dumps([2, "#", action, payload])
    for action, payload in (
        ("BootNotification", {"chargePointVendor": FILL, "chargePointModel": "M"}),
        ("StatusNotification", {"connectorId": FILL, "errorCode": "NoError", "status": "Available"}),
        ("DataTransfer", {"vendorId": EVIL, "data": FILL}),
        ("StartTransaction", {"connectorId": 1, "idTag": FILL, "meterStart": "x", "timestamp": "x"}),
        ("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "junk": FILL}),
    )
]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hostile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--chargers", type=int, default=200, help="honest simulated chargers (200)")
    add("--interval", type=float, default=10.0, help="s between their MeterValues (10)")
    add("--baseline", type=float, default=30.0, help="s measured before the flood (30)")
    add("--duration", type=float, default=60.0, help="s of flood (60)")
    add("--warmup", type=float, default=20.0, help="s from all charging to the baseline (20)")
    add("--ramp", type=float, default=10.0, help="s over which honest chargers connect (10)")
    add("--ready-timeout", type=float, default=120.0, help="wait for all charging, s (120)")
    add("--attackers", type=int, default=10, help="clients in each websocket attack (10)")
    add("--oversized", type=int, default=600, help="1 MiB replies in all (600)")
    add("--replies", type=int, default=3000, help="replies under the limit in all (3000)")
    add("--junk", type=int, default=3000, help="schema-breaking frames in all (3000)")
    add("--half-open", type=int, default=300, help="unfinished upgrades at once (300)")
    add("--page-rate", type=float, default=20.0, help="kiosk page views a second (20)")
    add("--webhooks", type=float, default=5.0, help="kiosk webhooks a second (5)")
    add("--rows", default="1,2,12,13", type=lambda v: v.split(","), help="attacks (1,2,12,13)")
    # The halves that run in processes of their own.
    add("--attack", type=Path, help=argparse.SUPPRESS)
    add("--serve-kiosk", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# The attack process.


async def _answers(ws: aiohttp.ClientWebSocketResponse, tally: Counter[str]) -> None:
    """Count what the server sends; its own CALLs are never answered."""
    async for msg in ws:
        try:
            frame = json.loads(msg.data)
            kind = {2: "server CALL (unanswered)", 3: "CALLRESULT", 4: "CALLERROR"}[frame[0]]
            tally[f"{kind} {frame[2]}" if frame[0] != 3 else kind] += 1
        except ValueError, LookupError, TypeError:
            tally[f"{msg.type.name} from the server"] += 1


async def _ws_attacker(
    http: aiohttp.ClientSession, url: str, frames: list[str] | None, budget: int,
    deadline: float, tally: Counter[str], one_each: bool,
) -> None:  # fmt: skip
    """Send ``budget`` frames evenly until the deadline (junk ``frames`` after a boot, else
    unsolicited CALLRESULTs), one per connection if ``one_each``; reconnect when closed."""
    start, sent = time.monotonic(), 0
    period = (deadline - start) / max(budget, 1)
    for _attempt in range(budget + 50):  # connections: bounded whatever the server does
        if sent >= budget or time.monotonic() >= deadline:
            return
        try:
            async with asyncio.timeout(10):
                ws = await http.ws_connect(url, protocols=PROTOCOLS, compress=0)
        except (aiohttp.ClientError, OSError) as err:  # OSError: timeouts too
            if isinstance(err, aiohttp.WSServerHandshakeError):
                tally[f"upgrade refused {err.status}"] += 1
            else:
                tally[f"connect failed ({type(err).__name__})"] += 1
            await asyncio.sleep(1)
            continue
        tally["connections"] += 1
        reader = asyncio.create_task(_answers(ws, tally))
        try:
            if frames is not None:
                await ws.send_str(BOOT)
            while sent < budget and not reader.done():
                if (at := start + sent * period) >= deadline:
                    break
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                if frames is None:
                    data = "A" * ((OVERSIZED if one_each else NEAR_LIMIT) - 60)
                    frame = f'[3,"r{sent}-{secrets.token_hex(4)}",{{"data":"{data}"}}]'
                else:
                    frame = frames[sent % len(frames)].replace('"#"', f'"j{sent}"', 1)
                async with asyncio.timeout(10):  # a server that stops reading
                    await ws.send_str(frame)
                sent += 1
                tally["frames sent"] += 1
                if one_each:  # the server is to close now (1009)
                    await asyncio.wait({reader}, timeout=10)
        except (aiohttp.ClientError, OSError) as err:
            tally[f"send failed ({type(err).__name__})"] += 1
        finally:
            by = "server" if reader.done() else "us"
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with asyncio.timeout(5):
                    await ws.close()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            tally[f"closed by {by}: {ws.close_code}"] += 1


async def _half_open(
    port: int, k: int, deadline: float, tally: Counter[str], lives: dict[str, list[float]]
) -> None:
    """An upgrade request whose headers never end, renewed whenever the server closes it."""
    drip = k % 2 == 1
    kind = "dripping" if drip else "silent"
    head = (
        f"GET /{EVIL}-HALF-{k:03d} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
    ).encode()
    for _renewal in range(int(deadline - time.monotonic()) + 10):
        if time.monotonic() >= deadline:
            return
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except OSError as err:
            tally[f"connect failed ({type(err).__name__})"] += 1
            await asyncio.sleep(1)
            continue
        opened = time.monotonic()
        tally[f"{kind} opened"] += 1
        try:
            writer.write(head)
            while (left := deadline - time.monotonic()) > 0:
                try:
                    wait = min(DRIP_EVERY, left) if drip else left
                    data = await asyncio.wait_for(reader.read(4096), wait)
                except TimeoutError:
                    if drip:
                        writer.write(b"X-Drip: 1\r\n")
                    continue
                if not data:  # closed by the server (which answers nothing first)
                    lives[kind].append(time.monotonic() - opened)
                    break
            else:
                tally[f"{kind} still open at the end (closed by us)"] += 1
        except OSError:  # reset by the server
            lives[kind].append(time.monotonic() - opened)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await asyncio.wait_for(writer.wait_closed(), 2)


async def run_attack(plan: dict[str, Any]) -> dict[str, Any]:
    """The attacks of plan["rows"] at once for plan["duration"] s; the kiosk's webhooks are
    timed in any case (row 13 adds its page flood)."""
    deadline = time.monotonic() + plan["duration"]
    url, n = f"ws://127.0.0.1:{plan['port']}", plan["attackers"]
    tallies: dict[str, Counter[str]] = {}
    lives: dict[str, list[float]] = {"silent": [], "dripping": []}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        kiosk = webhook_latency_under_flood(
            plan["kiosk_url"], plan["secret"], rate=plan["page_rate"],
            duration=plan["duration"], webhooks_per_s=plan["webhooks"],
        )  # fmt: skip
        jobs: list[Any] = [kiosk]
        for row, name, tag, total, frames in (
            ("1", "row 1, 1 MiB replies", "BIG", plan["oversized"], None),
            ("1", "row 1, 60 KB replies", "REPLY", plan["replies"], None),
            ("2", "row 2, junk frames", "JUNK", plan["junk"], JUNK),
        ):
            if row in plan["rows"]:
                tally = tallies[name] = Counter()
                budget, one_each = math.ceil(total / n), tag == "BIG"
                jobs += (
                    _ws_attacker(http, f"{url}/{EVIL}-{tag}-{k:02d}", frames, budget, deadline, tally, one_each)
                    for k in range(n)
                )  # fmt: skip
        if "12" in plan["rows"]:
            tally = tallies["row 12, half-open upgrades"] = Counter()
            jobs += (
                _half_open(plan["port"], k, deadline, tally, lives)
                for k in range(plan["half_open"])
            )
        async with asyncio.timeout(plan["duration"] + 120):  # the kiosk may answer late
            done = await asyncio.gather(*jobs, return_exceptions=True)
    crashed = [repr(d)[:200] for d in done if isinstance(d, BaseException)]
    figures = done[0]
    kiosk_report = repr(figures)[:300] if isinstance(figures, BaseException) else figures.report()
    return {"tallies": tallies, "lives": lives, "kiosk": kiosk_report, "crashed": crashed[:5]}


def serve_kiosk(settings: Path) -> None:
    """``python -m kiosk --config FILE``, but on 127.0.0.1 (it listens on all addresses)."""
    from kiosk.app import create_app, server_options  # only the kiosk process needs them
    from kiosk.config import KioskConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = KioskConfig.from_env(read_settings_file(settings.read_text()))
    web.run_app(create_app(config), host="127.0.0.1", port=config.port, **server_options(config))


# The bench process.


@dataclass
class Snap:
    at: float  # time.time()
    rss_kib: int
    log_bytes: int
    ledger_bytes: int  # ev_charging.db + its WAL
    events: Counter[str]  # the honest chargers' connection losses and timeouts so far

    @classmethod
    def take(cls, process: ha.HassProcess, load: Load) -> Snap:
        db = process.config.path / "ev_charging.db"
        ledger = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
        rss, log = proc.rss_kib(process.pid), process.log_path.stat().st_size
        return cls(time.time(), rss, log, ledger, Counter(load.stats.events))


@dataclass
class Outcome:
    """Before (the baseline) and during (the flood and GRACE after it)."""

    snaps: list[Snap]  # at the baseline's start, at the flood's start, GRACE after its end
    results: list[LoadResult] = field(default_factory=list)
    attacks: list[dict[str, Any]] = field(default_factory=list)  # the attackers' figures
    unanswered: list[int] = field(default_factory=list)  # honest CALLs, by window
    peak_kib: int = 0  # Home Assistant's RSS during the flood
    cpu: dict[str, float] = field(default_factory=dict)  # CPU-s during the flood
    ready: int = 0


async def _shown_once(api: ha.HassApi, step: str, answer: dict[str, Any], shown: str) -> str:
    """A secret from an options flow step that shows it once (as scripts/demo gets them)."""
    entry = (await api.get(f"/api/config/config_entries/entry?domain={ha.DOMAIN}"))[0]
    base = "/api/config/config_entries/options/flow"
    flow = f"{base}/{(await api.post(base, {'handler': entry['entry_id']}))['flow_id']}"
    await api.post(flow, {"next_step_id": step})
    secret = (await api.post(flow, answer))["description_placeholders"][shown]
    await api.post(flow, {})
    return str(secret)


async def start_kiosk(
    api: ha.HassApi, config: ha.HassConfig, workdir: Path
) -> tuple[str, Path, subprocess.Popen[bytes]]:
    """The kiosk against this Home Assistant: a key from the options flow, a settings file
    only we may read (the webhook secret is in it), the kiosk process."""
    key = await _shown_once(api, "kiosk_key", {"remove_kiosk_key": False}, "key")
    port = proc.free_port()
    settings = workdir / "kiosk.env"
    settings.touch(mode=0o600)
    settings.write_text(
        f"EV_CHARGING_HA_URL=http://127.0.0.1:{config.http_port}\nEV_CHARGING_KIOSK_KEY={key}\n"
        f"EV_CHARGING_KIOSK_PUBLIC_URL=http://127.0.0.1:{port}\nEV_CHARGING_KIOSK_PORT={port}\n"
        f"EV_CHARGING_KIOSK_DATABASE={workdir}/kiosk.sqlite3\n"
        f"EV_CHARGING_STRIPE_API_KEY=sk_test_{secrets.token_urlsafe(24)}\n"
        f"EV_CHARGING_STRIPE_WEBHOOK_SECRET=whsec_{secrets.token_urlsafe(32)}\n"
        # Never called: payment_intent.created needs nothing from Stripe (as in kiosk_flood).
        "EV_CHARGING_STRIPE_API_BASE=http://127.0.0.1:9\n"
    )
    cmd = [sys.executable, "-m", "bench.hostile", "--serve-kiosk", str(settings)]
    kiosk = ha.spawn(cmd, workdir / "kiosk.log")
    await asyncio.to_thread(proc.wait_port, "127.0.0.1", port, 60, 0.1, kiosk.pid)
    return f"http://127.0.0.1:{port}", settings, kiosk


async def measure(
    args: argparse.Namespace, process: ha.HassProcess, load: Load, plan: dict[str, Any],
    pids: dict[str, int], workdir: Path,
) -> Outcome:  # fmt: skip
    """The baseline (the kiosk's webhooks alone), then the flood and GRACE: each an attack
    process run to its end (bounded), Home Assistant's RSS and every CPU sampled meanwhile."""
    outcome = Outcome([Snap.take(process, load)])
    windows = []
    for name, rows in (("baseline", []), ("flood", args.rows)):
        duration = args.duration if rows else args.baseline
        ha.say(f"{name}: {duration:g} s" + (f", rows {', '.join(rows)} at once" if rows else ""))
        out, plan_file = workdir / f"{name}.json", workdir / f"{name}.plan.json"
        rate = args.page_rate if "13" in rows else 0.0
        plan_file.write_text(json.dumps({**plan, "rows": rows, "page_rate": rate,
                                         "duration": duration, "out": str(out)}))  # fmt: skip
        load.begin_window()
        cmd = [sys.executable, "-m", "bench.hostile", "--attack", str(plan_file)]
        popen = ha.spawn(cmd, workdir / f"{name}.log")
        watched = {**pids, "attackers": popen.pid}
        cpu0 = {k: proc.cpu_seconds(pid) for k, pid in watched.items()}
        cpu, outcome.peak_kib = dict(cpu0), 0
        limit = time.monotonic() + duration + 180
        try:
            while popen.poll() is None and time.monotonic() < limit:
                outcome.peak_kib = max(outcome.peak_kib, proc.rss_kib(process.pid))
                for key, pid in watched.items():
                    with contextlib.suppress(OSError):  # /proc/<pid> goes as it ends
                        cpu[key] = proc.cpu_seconds(pid)
                await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(ha.stop_process, popen)
        outcome.results.append(load.end_window())
        windows.append((load.stats.window_start, load.stats.window_end))
        outcome.attacks.append(json.loads(out.read_text()) if out.exists() else {})
        outcome.cpu = {k: cpu[k] - cpu0[k] for k in watched}
        if not rows:
            outcome.snaps.append(Snap.take(process, load))
    ha.say(f"flood over; {GRACE:g} s for its after-effects")
    for _tick in range(int(GRACE * 2)):
        outcome.peak_kib = max(outcome.peak_kib, proc.rss_kib(process.pid))
        await asyncio.sleep(0.5)
    outcome.snaps.append(Snap.take(process, load))
    sent = load.stats.sent.values()  # what is still there was never answered
    outcome.unanswered = [sum(1 for t, _ in sent if w0 <= t <= w1) for w0, w1 in windows]
    outcome.ready = len(load.ready)
    return outcome


_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (\w+) \(.*?\) \[([^\]]+)\] (.*)")
_VARYING = re.compile(rf"{EVIL}-[A-Z]+-\d+|BENCH\d+|\b[jr]\d+(-[0-9a-f]{{8}})?\b")


def print_log(path: Path, start: float, end: float) -> None:
    """What Home Assistant logged between start and end (epoch): bytes per logger, bytes
    and lines per kind of warning (ids left out), records with a traceback."""
    by_logger, kind_bytes, kind_lines = Counter[str](), Counter[str](), Counter[str]()
    tracebacks: list[str] = []
    logger, kind, header, inside = "?", "", "", False
    with path.open(errors="replace") as lines:
        for line in lines:
            if (match := _LOG_LINE.match(line)) is not None:
                at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S.%f").timestamp()
                logger, header, inside = match[3], line.strip(), start <= at <= end
                kind = f"{match[2]} [{logger}] {_VARYING.sub('<id>', match[4])[:90]}"
                kind_lines[kind] += inside
            if inside:  # a traceback's lines count with their record
                by_logger[logger] += len(line.encode())
                kind_bytes[kind] += len(line.encode())
                if line.startswith("Traceback") and len(tracebacks) < 10:
                    tracebacks.append(header[:240])
    print(f"\nHome Assistant's log during the flood: {by_logger.total():,} bytes; by logger:")
    for name, size in by_logger.most_common(6):
        print(f"  {size:9,} bytes  {name}")
    print("  by kind:")
    for name, size in kind_bytes.most_common(10):
        print(f"  {size:9,} bytes {kind_lines[name]:5} lines  {name}")
    print(f"  records with a traceback: {len(tracebacks)}")
    for line in tracebacks:
        print(f"    {line}")


def attacker_rows(db: Path) -> str:
    """What the attackers left in the ledger (read once Home Assistant stopped)."""
    evil = f"charger_id LIKE '{EVIL}-%'"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            rows, chars, sizes, pruned = con.execute(
                "SELECT count(*), total(length(frame)), total(size), (SELECT total(count) FROM"
                f" pruned_frames WHERE {evil}) FROM raw_frames WHERE {evil}"
            ).fetchone()
    except sqlite3.Error as err:
        return f"unreadable ({err})"
    return f"{rows} raw frames kept ({chars:,.0f} of their {sizes:,.0f} characters), {pruned:.0f} pruned"


async def main(args: argparse.Namespace) -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    workdir = ROOT / f"{datetime.now():%Y%m%d-%H%M%S}-n{args.chargers}"
    config = ha.HassConfig.create(workdir / "config", heartbeat_interval=HEARTBEAT_INTERVAL)
    process, api = ha.HassProcess(config, "hass"), ha.HassApi(config)
    url = f"ws://127.0.0.1:{config.ocpp_port}"
    load = Load(url, args.chargers, args.interval, args.ramp, "BENCH")
    ha.say(f"config dir and logs: {workdir}")
    async with contextlib.AsyncExitStack() as stack:  # stops all of it, in reverse order
        process.start()
        stack.push_async_callback(asyncio.to_thread, process.stop)
        stack.push_async_callback(api.close)
        await asyncio.to_thread(process.wait_ocpp_port)
        await api.wait_running(process.pid)
        kiosk_url, settings, kiosk = await start_kiosk(api, config, workdir)
        stack.push_async_callback(asyncio.to_thread, ha.stop_process, kiosk)
        # The honest chargers log in with passwords (security profile 1), given before they
        # first connect: at most 50 chargers nobody vouched for get in, the attackers' ids.
        ha.say(f"kiosk at {kiosk_url}; passwords for {args.chargers} honest chargers")
        for charger_id in map(load.charger_id, range(args.chargers)):
            answer = {"charger_id": charger_id, "remove_password": False}
            load.passwords[charger_id] = await _shown_once(api, "password", answer, "password")
        ha.say(f"{args.chargers} honest chargers connecting")
        await load.start()
        stack.push_async_callback(load.stop)
        if not await load.wait_ready(args.ramp + args.ready_timeout):
            ha.say(f"only {len(load.ready)}/{args.chargers} charging; measuring anyway")
        await asyncio.sleep(args.warmup)
        plan = {
            "port": config.ocpp_port, "attackers": args.attackers, "oversized": args.oversized,
            "replies": args.replies, "junk": args.junk, "half_open": args.half_open,
            "kiosk_url": kiosk_url, "kiosk_settings": str(settings), "webhooks": args.webhooks,
        }  # fmt: skip
        pids = {"Home Assistant": process.pid, "kiosk": kiosk.pid}
        outcome = await measure(args, process, load, plan, pids, workdir)
    print_report(args, workdir, outcome)
    print_log(process.log_path, outcome.results[1].window_epoch[0], outcome.snaps[2].at)
    print(f"\nLedger, left by the attackers: {attacker_rows(config.path / 'ev_charging.db')}")
    print(f"Config dir and logs: {workdir}")


def print_report(args: argparse.Namespace, workdir: Path, outcome: Outcome) -> None:
    s0, s1, s2 = outcome.snaps
    r0, r1 = outcome.results
    t0, t1 = s1.at - s0.at, s2.at - s1.at
    rss = [(s1.rss_kib - s0.rss_kib) / 1024, (s2.rss_kib - s1.rss_kib) / 1024]
    peak = (outcome.peak_kib - s1.rss_kib) / 1024
    log = [s1.log_bytes - s0.log_bytes, s2.log_bytes - s1.log_bytes]
    db = [s1.ledger_bytes - s0.ledger_bytes, s2.ledger_bytes - s1.ledger_bytes]
    # The honest chargers write to the ledger all along: the flood's share is what it grew
    # by beyond the baseline's rate.
    extra = log[1] + db[1] - (log[0] + db[0]) * t1 / t0
    gone = [(s1.events - s0.events).total(), (s2.events - s1.events).total()]
    errors = [r.call_errors.total() for r in outcome.results]
    lost = [sum(n) for n in zip(outcome.unanswered, errors, gone, strict=True)]
    p99 = [r.ms(0.99) if r.latencies else math.nan for r in outcome.results]

    def row(
        what: str, values: list[Any], spec: str, goal: str = "", ok: bool | None = None
    ) -> None:
        first, second = (format(v, spec) if isinstance(v, (int, float)) else v for v in values)
        met = "" if ok is None else ("yes" if ok else "NO")
        print(f"  {what:38} {first:>12} {second:>20}  {goal:12} {met}")

    print(
        f"\nev_charging on a hostile network: {args.chargers} honest chargers (MeterValues every "
        f"{args.interval:g} s), {outcome.ready} charging at the end; before = baseline "
        f"{t0:.0f} s, during = flood {r1.window_s:.0f} s + {GRACE:g} s after it"
    )
    row("", ["before", "during"], "", "goal")
    row("Home Assistant RSS growth, MB", [f"{rss[0]:+.1f}", f"{rss[1]:+.1f} (peak {peak:+.1f})"],
        "", "< 50", max(rss[1], peak) < 50)  # fmt: skip
    row("log file growth, bytes", log, ",")
    row("ledger growth (db + WAL), bytes", db, ",")
    row("log + ledger beyond the honest rate", ["", extra], ",.0f", "< 1,000,000", extra < 1e6)
    row("honest p50 CALL->CALLRESULT, ms", [r.ms(0.5) for r in outcome.results], ".1f")
    row("honest p99 CALL->CALLRESULT, ms", p99, ".1f", "< 50", p99[1] < 50)
    parts = [
        f"{n} ({a}+{e}+{g})"
        for n, a, e, g in zip(lost, outcome.unanswered, errors, gone, strict=True)
    ]
    row("honest lost (unanswered+CALLERROR+gone)", parts, "", "0", lost[1] == 0)
    worst = sorted(r1.slow, key=lambda s: -s[1])[:8]
    print(
        f"  honest CALLs answered: {r0.calls} before, {r1.calls} during; over 20 ms: "
        f"{len(r0.slow)} before, {len(r1.slow)} during; slowest "
        "(s into the flood: ms action): " + (", ".join(f"{t:.1f}: {x * 1000:.0f} {a}" for t, x, a in worst) or "-")
    )  # fmt: skip
    for event in r1.first_events[:3]:
        print(f"    {event}")
    print(
        "  CPU during the flood, cores: "
        + ", ".join(f"{k} {v / r1.window_s:.2f}" for k, v in outcome.cpu.items())
        + f", honest chargers (the bench) {r1.bench_cpu:.2f}; the bench's loop lag p99 "
        f"{r1.lag_p99_ms:.1f} ms (before {r0.lag_p99_ms:.1f})"
    )
    before, during = outcome.attacks
    print("\nAttackers, over the flood:")
    for name, tally in during.get("tallies", {}).items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    for kind, lives in during.get("lives", {}).items():
        if lives:
            print(
                f"  row 12, {kind}: the server closed {len(lives)} after p50 "
                f"{percentile(lives, 0.5):.1f} s, max {max(lives):.1f} s"
            )
    for crash in during.get("crashed", ["no figures"]) + before.get("crashed", ["no figures"]):
        print(f"  attacker crashed: {crash}")
    for name, figures in (("before, webhooks alone", before), ("during the flood", during)):
        print(f"  row 13, the kiosk (bench/kiosk_flood.py), {name}:")
        for line in str(figures.get("kiosk", "no figures")).splitlines():
            print(f"    {line}")
    print(f"  the kiosk's log: {workdir / 'kiosk.log'}")


def cli() -> None:
    args = parse_args()
    if args.serve_kiosk is not None:
        serve_kiosk(args.serve_kiosk)
        return
    if args.attack is not None:
        plan = json.loads(args.attack.read_text())
        # The webhook secret from the kiosk's settings file, never from the plan on disk.
        settings = read_settings_file(Path(plan["kiosk_settings"]).read_text())
        plan["secret"] = settings["EV_CHARGING_STRIPE_WEBHOOK_SECRET"]
        Path(plan["out"]).write_text(json.dumps(asyncio.run(run_attack(plan))))
        return
    ha.run_bench(main(args))


if __name__ == "__main__":
    cli()
