"""The load: N simulated chargers charging, each sending MeterValues every interval.

Every charger connects, boots, reports its connectors, starts a transaction and then
sends MeterValues every ``interval`` seconds and a Heartbeat every heartbeat interval
(from the BootNotification answer). Charger i sends at t0 + i/N * interval + k * interval,
so the N chargers spread their calls evenly over the interval. Lost connections are
counted and re-established (with a back-off).

Latency is timed on the wire: from handing a CALL frame to the websocket to reading the
CALLRESULT (or CALLERROR) frame with its message id, before the simulator parses it. The
simulator's own work (building and validating payloads) is not part of it.
"""

import asyncio
import math
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
from ocpp.exceptions import OCPPError

from simulator.charger import (
    ChargerConfig,
    Connection,
    SimChargePoint,
    SimulatedCharger,
    many_chargers_session,
)

from . import proc

# Message type, id and (for a CALL) action at the start of an OCPP-J frame.
_FRAME = re.compile(r'\[\s*([234])\s*,\s*"([^"]*)"(?:\s*,\s*"(\w+)")?')
ID_TAG = "BENCHTAG"
SLOW = 0.02  # seconds: calls slower than this are listed with their time in the window


class Stats:
    """Latencies of the chargers' CALLs, keyed by message id; shared by all chargers."""

    def __init__(self) -> None:
        self.sent: dict[str, tuple[float, str]] = {}  # id -> (perf_counter at send, action)
        self.window_start = math.inf
        self.window_end = math.inf
        self.latencies: list[float] = []  # answered inside the window
        self.slow: list[tuple[float, float, str]] = []  # (s into the window, latency, action)
        self.by_action: defaultdict[str, list[float]] = defaultdict(list)
        self.call_errors: Counter[str] = Counter()  # CALLERROR answers in the window, by action
        self.call_errors_total: Counter[str] = Counter()  # the same over the whole run
        self.answered = 0  # all answers, window or not
        self.events: Counter[str] = Counter()  # connection losses, timeouts, ... (whole run)
        self.first_events: list[str] = []

    def on_send(self, raw: str) -> None:
        match = _FRAME.match(raw)
        if match is not None and match[1] == "2":
            self.sent[match[2]] = (time.perf_counter(), match[3] or "?")

    def on_reply(self, raw: str) -> None:
        now = time.perf_counter()
        match = _FRAME.match(raw)
        if match is None or match[1] == "2":
            return
        entry = self.sent.pop(match[2], None)
        if entry is None:
            return
        self.answered += 1
        if match[1] == "4":
            self.call_errors_total[entry[1]] += 1
        if self.window_start <= now <= self.window_end:
            latency = now - entry[0]
            self.latencies.append(latency)
            if latency > SLOW:
                self.slow.append((now - self.window_start, latency, entry[1]))
            self.by_action[entry[1]].append(latency)
            if match[1] == "4":
                self.call_errors[entry[1]] += 1

    def event(self, what: str, detail: str) -> None:
        self.events[what] += 1
        if len(self.first_events) < 10:
            self.first_events.append(f"{what}: {detail}"[:300])


class TimedConnection:
    """Notes the send time of every CALL frame the charger sends."""

    def __init__(self, inner: Connection, stats: Stats) -> None:
        self.inner = inner
        self.stats = stats

    async def recv(self) -> str:
        return await self.inner.recv()

    async def send(self, raw: str) -> None:
        self.stats.on_send(raw)
        await self.inner.send(raw)


class TimedChargePoint(SimChargePoint):
    """Notes the arrival of every answer before the simulator handles it."""

    async def route_message(self, raw_msg: str) -> None:
        cast(TimedCharger, self.sim).stats.on_reply(raw_msg)
        await super().route_message(raw_msg)


class TimedCharger(SimulatedCharger):
    charge_point_class = TimedChargePoint

    def __init__(
        self, config: ChargerConfig, url: str, *, session: aiohttp.ClientSession, stats: Stats
    ) -> None:
        super().__init__(config, url, session=session, record_frames=False)
        self.stats = stats

    async def connect(self, url_suffix: str | None = None) -> None:
        await super().connect(url_suffix)
        assert self._conn is not None
        # Only the charger's own CALLs go through _conn; answers to the CSMS's CALLs
        # go through the charge point's connection, untimed.
        self._conn = TimedConnection(self._conn, self.stats)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class LoadResult:
    chargers: int
    ready: int  # connected, booted and in a transaction at the end of the window
    window_s: float
    calls: int  # CALLs answered in the window
    latencies: list[float]
    by_action: dict[str, list[float]]
    call_errors: Counter[str]
    events: Counter[str]
    first_events: list[str]
    unanswered: int  # CALLs sent more than 5 s before the window ended, never answered
    late_slots: int  # MeterValues that left more than 1 s after their slot
    slow: list[tuple[float, float, str]]  # calls slower than SLOW: (s into window, s, action)
    all_ready_s: float | None  # from the first connection until every charger was charging
    window_epoch: tuple[float, float]  # the window in time.time()
    bench_cpu: float  # this process, fraction of a core, over the window
    lag_p99_ms: float  # this process's event loop lag
    lag_max_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.window_s

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


class Load:
    """Drives N chargers against ``url`` until ``stop``."""

    def __init__(
        self,
        url: str,
        chargers: int,
        interval: float,
        ramp: float,
        prefix: str,
        passwords: dict[str, str] | None = None,  # by charger id: security profile 1
    ) -> None:
        self.url = url
        self.passwords = passwords or {}
        self.n = chargers
        self.interval = interval
        self.ramp = ramp
        self.prefix = prefix
        self.stats = Stats()
        self.ready: set[int] = set()
        self.all_ready_s: float | None = None
        self.late_slots = 0
        self._late_in_window = 0
        self._session: aiohttp.ClientSession | None = None
        self._chargers: list[TimedCharger] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lags: list[float] = []
        self._t0 = 0.0
        self._cpu0 = 0.0
        self._wall0 = 0.0
        self._epoch0 = 0.0
        self._in_window = False

    def charger_id(self, i: int) -> str:
        return f"{self.prefix}{i:05d}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._session = many_chargers_session()
        self._chargers = [
            TimedCharger(
                ChargerConfig(
                    charger_id=self.charger_id(i),
                    meter_interval=self.interval,
                    password=self.passwords.get(self.charger_id(i)),
                ),
                self.url,
                session=self._session,
                stats=self.stats,
            )
            for i in range(self.n)
        ]
        self._tasks = [
            asyncio.create_task(self._drive(i, c), name=c.config.charger_id)
            for i, c in enumerate(self._chargers)
        ]
        self._tasks.append(asyncio.create_task(self._watch_lag(), name="lag"))

    async def wait_ready(self, within: float) -> bool:
        """Wait until every charger is charging; False after ``within`` seconds."""
        deadline = time.monotonic() + within
        while len(self.ready) < self.n:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
        return True

    def begin_window(self) -> None:
        # Each window's figures start empty: a run may measure several windows in a row.
        stats = self.stats
        stats.latencies, stats.slow, stats.by_action = [], [], defaultdict(list)
        stats.call_errors, stats.window_end = Counter(), math.inf
        self._lags, self._late_in_window = [], 0
        self._wall0 = time.perf_counter()
        self._epoch0 = time.time()
        self._cpu0 = proc.own_cpu_seconds()
        self.stats.window_start = self._wall0
        self._in_window = True

    def end_window(self) -> LoadResult:
        wall1 = time.perf_counter()
        cpu1 = proc.own_cpu_seconds()
        self.stats.window_end = wall1
        self._in_window = False
        window = wall1 - self._wall0
        unanswered = sum(1 for t, _ in self.stats.sent.values() if t < wall1 - 5)
        lags = self._lags
        return LoadResult(
            chargers=self.n,
            ready=len(self.ready),
            window_s=window,
            calls=len(self.stats.latencies),
            latencies=list(self.stats.latencies),
            by_action={k: list(v) for k, v in self.stats.by_action.items()},
            call_errors=Counter(self.stats.call_errors),
            events=Counter(self.stats.events),
            first_events=list(self.stats.first_events),
            unanswered=unanswered,
            late_slots=self._late_in_window,
            slow=list(self.stats.slow),
            all_ready_s=self.all_ready_s,
            window_epoch=(self._epoch0, time.time()),
            bench_cpu=(cpu1 - self._cpu0) / window,
            lag_p99_ms=percentile(lags, 0.99) * 1000 if lags else math.nan,
            lag_max_ms=max(lags) * 1000 if lags else math.nan,
        )

    async def stop(self, graceful: bool = True) -> None:
        """Stop the chargers; graceful: end their transactions first (bounded to 20 s)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if graceful:
            connected = [c for c in self._chargers if c.connected and c.transactions]
            try:
                async with asyncio.timeout(20):
                    await asyncio.gather(
                        *(self._end_transaction(c) for c in connected), return_exceptions=True
                    )
            except TimeoutError:
                pass
        await asyncio.gather(*(c.close() for c in self._chargers), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @staticmethod
    async def _end_transaction(charger: TimedCharger) -> None:
        for tx in list(charger.transactions.values()):
            await charger.stop_transaction(tx, reason="Local")
        await charger.status(1, "Available")

    async def _watch_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.05)
            if self._in_window:
                self._lags.append(max(0.0, loop.time() - start - 0.05))

    async def _drive(self, i: int, charger: TimedCharger) -> None:
        await asyncio.sleep(i * self.ramp / self.n)
        rng = random.Random(i)
        backoff = 1.0
        while True:
            try:
                await charger.connect()
                answer = await charger.boot()
                while answer["status"] != "Accepted":
                    await asyncio.sleep(answer.get("interval") or 10)
                    answer = await charger.boot()
                await charger.status(0, "Available")
                await charger.status(1, "Available")
                await charger.status(1, "Preparing")
                await charger.authorize(ID_TAG)
                started = await charger.start_transaction(1, ID_TAG)
                await charger.status(1, "Charging")
                self.ready.add(i)
                if len(self.ready) == self.n and self.all_ready_s is None:
                    self.all_ready_s = asyncio.get_running_loop().time() - self._t0
                backoff = 1.0
                await self._charge(i, charger, started["transactionId"])
            except (OSError, aiohttp.ClientError, OCPPError) as err:  # OSError: timeouts too
                self.ready.discard(i)
                self.stats.event(type(err).__name__, f"{charger.config.charger_id}: {err!r}")
                await charger.close()
                await asyncio.sleep(backoff * rng.uniform(0.8, 1.2))
                backoff = min(backoff * 2, 30.0)

    async def _charge(self, i: int, charger: TimedCharger, tx: int) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval
        heartbeat = charger.heartbeat_interval
        now = loop.time()
        next_mv = _next_slot(self._t0 + i / self.n * interval, interval, now)
        next_hb = _next_slot(self._t0 + i / self.n * heartbeat, heartbeat, now)
        power = float(charger.config.max_power_w)
        soc = 20.0
        while True:
            due = min(next_mv, next_hb)
            await asyncio.sleep(max(0.0, due - loop.time()))
            if loop.time() - due > 1.0:
                self.late_slots += 1
                if self._in_window:
                    self._late_in_window += 1
            if next_mv <= next_hb:
                energy = charger.energy_wh[1] + round(power * interval / 3600)
                soc = min(100.0, soc + power * interval / 3600 / 600)
                await charger.meter_values(1, tx, power_w=power, energy_wh=energy, soc=int(soc))
                next_mv = _next_slot(next_mv + interval, interval, loop.time())
            else:
                await charger.heartbeat()
                next_hb = _next_slot(next_hb + heartbeat, heartbeat, loop.time())


def _next_slot(slot: float, period: float, now: float) -> float:
    """The first of slot, slot + period, ... that is not before now - 1 s."""
    if slot < now - 1.0:
        slot += math.ceil((now - 1.0 - slot) / period) * period
    return slot
