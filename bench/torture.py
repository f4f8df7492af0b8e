"""Crash torture: SIGKILL Home Assistant again and again while chargers charge; lose nothing.

python -m bench.torture [--kills 100] [--chargers 20] [--seed 1]

A real Home Assistant process (the integration, its ledger on disk) serves simulated chargers
that charge under a tariff. At moments drawn from a seeded RNG it is killed with SIGKILL: at
random, right after a charger sent a transaction message (often after its commit and before
its answer), right after a charger got an answer, or while it starts. It is started again on
the same config dir and port; the chargers reconnect, boot and resend what they queued
meanwhile (OCPP 1.6 section 4.7). At the end the ledger is read with sqlite3 and every
session is compared with the chargers' own account: meterStart, each reading, meterStop, and
the bill, computed here from the energy and the tariff's price (half-up to the cent).
Exit code 1 on any difference.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from simulator.charger import ChargerConfig, SimulatedCharger, many_chargers_session
from simulator.offline_queue import (
    QueuedMessage,
    SessionLog,
    TransactionQueue,
    is_transaction_frame,
    stay_connected,
)

from .hass import HassConfig, HassProcess, say
from .load import ID_TAG
from .proc import listens
from .torture_oracle import Verdict, compare

LEDGER = "ev_charging.db"
READING_EVERY = timedelta(minutes=1)  # of the chargers' clocks; whole minutes, see _Clock
# random: anywhere; sent: right after a transaction message left a charger (its commit may
# be done, its answer not sent); answered: right after a charger got an answer (a commit
# still pending there would be lost); starting: before or as the OCPP port opens.
KILL_MODES = ("random", "sent", "answered", "starting")


@dataclass(frozen=True, kw_only=True)
class TortureSettings:
    kills: int = 100
    chargers: int = 20
    seed: int = 1
    price_per_kwh: Decimal = Decimal("0.2975")
    pace: tuple[float, float] = (0.05, 0.25)
    """Real seconds between one charger's readings."""
    backlog: int = 50
    """A charger meters no more while this many of its messages wait: a longer interval
    while Home Assistant is down, so each restart replays a bounded queue."""
    up: tuple[float, float] = (0.3, 3.0)
    """Real seconds Home Assistant serves before a random or in-flight kill."""
    down: tuple[float, float] = (0.0, 1.0)
    """Real seconds it stays dead before the restart."""
    weights: tuple[int, int, int, int] = (3, 4, 2, 1)
    """How often each of KILL_MODES is drawn."""
    sent_delay: tuple[float, float] = (0.0, 0.012)
    """Seconds from a transaction message leaving to a "sent" kill."""
    drain_within: float = 180.0
    config_dir: Path | None = None  # None: a temporary directory, removed afterwards


@dataclass
class TortureResult:
    kills: Counter[str]
    verdict: Verdict
    frames_sent: int
    resent: int
    committed_unanswered: int
    """Frames in the ledger whose answer the charger never got: kills that fell between a
    commit and its answer."""
    final_bills: int
    reviews: Counter[str]
    """What the ledger puts before a person, by kind."""
    seconds: float

    def lines(self) -> list[str]:
        v = self.verdict
        modes = ", ".join(f"{self.kills[m]} {m}" for m in KILL_MODES)
        return [
            f"kills: {sum(self.kills.values())} ({modes})",
            f"sessions: {v.sessions}",
            f"readings: {v.readings}",
            f"transaction frames sent: {self.frames_sent} ({self.resent} resent)",
            f"committed before the kill, never answered: {self.committed_unanswered}",
            f"lost: {v.lost}",
            f"duplicated: {v.duplicated}",
            f"bills equal: {v.bills_equal}/{v.sessions} ({self.final_bills} final)",
            f"for review: {sum(self.reviews.values())}"
            + "".join(f", {n} {kind}" for kind, n in sorted(self.reviews.items())),
            f"wall time: {self.seconds:.0f} s",
        ]


def write_tariff(config: HassConfig, price_per_kwh: Decimal) -> None:
    """Make the entry's default tariff a plain price per kWh (no fees) before the first start."""
    path = config.path / ".storage" / "core.config_entries"
    stored = json.loads(path.read_text())
    [entry] = stored["data"]["entries"]
    for subentry in entry["subentries"]:
        if subentry["subentry_type"] == "tariff":
            subentry["data"] |= {
                "price_per_kwh": str(price_per_kwh),
                "session_fee": "0",
                "idle_fee_per_minute": "0",
            }
    path.write_text(json.dumps(stored, indent=2))


class _Clock:
    """A charger's clock: in the past, whole minutes, moved on by what it does.

    Whole minutes keep every reading on the hour edges the pricing splits at, so the bill is
    the energy times the price with nothing split in proportion."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def tick(self, by: timedelta = READING_EVERY) -> datetime:
        self.now += by
        return self.now


@dataclass(eq=False)
class _Charger:
    sim: SimulatedCharger
    queue: TransactionQueue
    clock: _Clock
    rng: random.Random
    register_wh: int
    session: SessionLog | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    statuses: set[asyncio.Task[None]] = field(default_factory=set)

    def status(self, status: str) -> None:
        """A StatusNotification if it can be sent now (never queued), without waiting."""
        if not self.sim.connected:
            return

        async def send() -> None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self.sim.status(1, status, timestamp=self.clock.now)

        task = asyncio.create_task(send())
        self.statuses.add(task)
        task.add_done_callback(self.statuses.discard)

    async def after_boot(self) -> None:
        self.status("Available" if self.session is None else "Charging")

    async def drive(self, settings: TortureSettings, closing: asyncio.Event) -> None:
        """Charge session after session, online or not, until ``closing``."""
        rng, queue, clock, pace = self.rng, self.queue, self.clock, settings.pace
        while not closing.is_set():
            await queue.shorter_than(settings.backlog)
            session = queue.start(1, ID_TAG, self.register_wh, clock.tick())
            self.session = session
            self.status("Charging")
            step = round(rng.choice((3_680, 7_360, 11_040)) * READING_EVERY.seconds / 3600)
            for _ in range(rng.randint(0, 10)):
                await asyncio.sleep(rng.uniform(*pace))
                await queue.shorter_than(settings.backlog)
                if closing.is_set():
                    break
                self.register_wh += step
                queue.meter_values(session, self.register_wh, step * 60.0, clock.tick())
            await asyncio.sleep(rng.uniform(*pace))
            self.register_wh += step
            queue.stop(session, self.register_wh, clock.tick())
            self.session = None
            self.status("Available")
            await asyncio.sleep(rng.uniform(*pace))
            clock.tick(timedelta(minutes=rng.randint(1, 30)))


class _Killer:
    """Starts Home Assistant and kills it (SIGKILL) as the seeded RNG says."""

    def __init__(self, config: HassConfig, settings: TortureSettings, rng: random.Random) -> None:
        self.config, self.settings, self.rng = config, settings, rng
        self.process: HassProcess | None = None
        self.runs = 0
        self.kills: Counter[str] = Counter()
        self._armed: str | None = None  # "sent" or "answered": kill on that event
        self._trigger: asyncio.Future[None] | None = None
        self._pulled: asyncio.TimerHandle | None = None  # the armed trigger, once it fired

    def start(self) -> None:
        self.runs += 1
        self.process = HassProcess(self.config, f"run{self.runs:03d}")
        self.process.start()

    async def wait_port(self, within: float = 180) -> None:
        """Until the OCPP port accepts connections (the event loop keeps running)."""
        assert self.process is not None
        deadline = time.monotonic() + within
        while True:
            if listens(self._popen().pid, self.config.ocpp_port):
                return
            if self._popen().poll() is not None:
                raise RuntimeError(f"Home Assistant ended; see {self.process.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no OCPP port after {within:.0f} s")
            await asyncio.sleep(0.05)

    def frame_sent(self, raw: str) -> None:
        """A charger's hook: a "sent" trigger fires on the next transaction message."""
        if self._armed == "sent" and self._pulled is None and is_transaction_frame(raw):
            delay = self.rng.uniform(*self.settings.sent_delay)
            self._pulled = asyncio.get_running_loop().call_later(delay, self._fire)

    def answered(self, message: QueuedMessage) -> None:
        """A queue's hook: an "answered" trigger fires at once."""
        if self._armed == "answered":
            self._fire()

    def _fire(self) -> None:
        if self._trigger is not None and not self._trigger.done():
            self._kill_now()
            self._trigger.set_result(None)

    def _popen(self) -> subprocess.Popen[bytes]:
        assert self.process is not None
        assert self.process.popen is not None
        return self.process.popen

    def _kill_now(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._popen().pid, signal.SIGKILL)

    async def kill_once(self) -> str:
        """Kill the running Home Assistant at a moment of a random kind; returns the kind."""
        rng, settings = self.rng, self.settings
        [mode] = rng.choices(KILL_MODES, weights=settings.weights)
        if mode == "starting":
            await asyncio.sleep(rng.uniform(0.2, 2.5))  # since the spawn, port open or not
            self._kill_now()
        else:
            await self.wait_port()
            await asyncio.sleep(rng.uniform(*settings.up))
            if mode == "random":
                self._kill_now()
            else:
                self._armed, self._trigger = mode, asyncio.get_running_loop().create_future()
                try:
                    async with asyncio.timeout(10):
                        await self._trigger
                except TimeoutError:  # nothing sent meanwhile: an ordinary kill
                    mode = "random"
                    self._kill_now()
                finally:
                    if self._pulled is not None:
                        self._pulled.cancel()
                    self._armed = self._trigger = self._pulled = None
        await self.reaped()
        self.kills[mode] += 1
        return mode

    async def reaped(self) -> None:
        """Until the process has ended (its pidfd turns readable), without a thread."""
        popen = self._popen()
        fd = os.pidfd_open(popen.pid)
        try:
            if popen.poll() is None:
                ended = asyncio.Event()
                loop = asyncio.get_running_loop()
                loop.add_reader(fd, ended.set)
                try:
                    await ended.wait()
                finally:
                    loop.remove_reader(fd)
        finally:
            os.close(fd)
        popen.wait()

    async def stop(self) -> None:
        """A clean stop (SIGTERM), SIGKILL if it hangs."""
        if self.process is None:
            return
        if (popen := self._popen()).poll() is None:
            popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(60):
                    await self.reaped()
            if popen.poll() is None:
                self._kill_now()
                await self.reaped()


async def torture(settings: TortureSettings) -> TortureResult:
    """Run the torture; the result says what the ledger holds against the chargers' account."""
    with contextlib.ExitStack() as stack:
        root = settings.config_dir
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="torture-")))
        return await _torture(settings, root / "config")


async def _torture(settings: TortureSettings, path: Path) -> TortureResult:
    began = time.monotonic()
    rng = random.Random(settings.seed)
    config = HassConfig.create(path)
    write_tariff(config, settings.price_per_kwh)
    killer = _Killer(config, settings, random.Random(rng.random()))
    url = f"ws://127.0.0.1:{config.ocpp_port}"
    # The chargers' clocks run in the past: a week back, on a whole minute.
    epoch = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=7)
    http = many_chargers_session()
    chargers: list[_Charger] = []
    closing = asyncio.Event()
    try:
        killer.start()
        await killer.wait_port()
        for n in range(settings.chargers):
            charger_rng = random.Random(rng.random())
            sim = SimulatedCharger(
                ChargerConfig(charger_id=f"TORTURE{n:03d}"), url, session=http, record_frames=False
            )
            sim.on_frame_sent = killer.frame_sent
            queue = TransactionQueue(sim, answer_timeout=20)
            queue.on_answered = killer.answered
            # Triggered readings and statuses would come at the real time, not the clock
            # these chargers meter by; TriggerMessage is optional in 1.6 (RemoteTrigger).
            sim.answers["TriggerMessage"] = {"status": "Rejected"}
            charger = _Charger(
                sim,
                queue,
                _Clock(epoch),
                charger_rng,
                charger_rng.randrange(1_000_000, 5_000_000),
            )
            charger.tasks = [
                asyncio.create_task(
                    stay_connected(
                        sim, charger.queue, rng=charger_rng, after_boot=charger.after_boot
                    )
                ),
                asyncio.create_task(charger.queue.run()),
                asyncio.create_task(charger.drive(settings, closing)),
            ]
            chargers.append(charger)
        for kill in range(1, settings.kills + 1):
            await killer.kill_once()
            await asyncio.sleep(rng.uniform(*settings.down))
            killer.start()
            if kill % 10 == 0 or kill == settings.kills:
                backlog = sum(len(c.queue) for c in chargers)
                say(f"{kill} kills; {backlog} messages queued at the chargers")
        await killer.wait_port()
        closing.set()
        await asyncio.gather(*(c.tasks[2] for c in chargers))
        try:
            async with asyncio.timeout(settings.drain_within):
                await asyncio.gather(*(c.queue.drained() for c in chargers))
        except TimeoutError:
            say(f"queues not drained within {settings.drain_within:.0f} s")
        await asyncio.gather(*(t for c in chargers for t in c.statuses), return_exceptions=True)
    finally:
        for charger in chargers:
            for task in charger.tasks:
                task.cancel()
            await asyncio.gather(*charger.tasks, return_exceptions=True)
            await charger.sim.close()
        await http.close()
        await killer.stop()
    sessions = [s for c in chargers for s in c.queue.sessions]
    unanswered = {m for c in chargers for m in c.queue.unanswered_ids}
    undelivered = sum(len(c.queue) + len(c.queue.refused) for c in chargers)
    with contextlib.closing(sqlite3.connect(f"file:{path / LEDGER}?mode=ro", uri=True)) as db:
        verdict = compare(db, sessions, settings.price_per_kwh)
        committed = db.execute(
            "SELECT message_id FROM raw_frames WHERE charger_id LIKE 'TORTURE%'"
        ).fetchall()
        final_bills = db.execute("SELECT COUNT(*) FROM session_bills WHERE final = 1").fetchone()[0]
        reviews = Counter(kind for (kind,) in db.execute("SELECT kind FROM reviews"))
    if undelivered:
        verdict.problem(f"{undelivered} messages never answered or refused")
    return TortureResult(
        kills=killer.kills,
        verdict=verdict,
        frames_sent=sum(c.queue.sent for c in chargers),
        resent=sum(c.queue.resent for c in chargers),
        committed_unanswered=len(unanswered & {m for (m,) in committed}),
        final_bills=final_bills,
        reviews=reviews,
        seconds=time.monotonic() - began,
    )


def parse_args(argv: list[str] | None = None) -> TortureSettings:
    parser = argparse.ArgumentParser(
        prog="python -m bench.torture",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs (100)")
    parser.add_argument("--chargers", type=int, default=20, help="simulated chargers (20)")
    parser.add_argument("--seed", type=int, default=1, help="the RNG's seed (1)")
    parser.add_argument("--price", type=Decimal, default=Decimal("0.2975"), help="EUR per kWh")
    parser.add_argument(
        "--weights",
        default="3,4,2,1",
        help=f"how often each kind of kill is drawn: {', '.join(KILL_MODES)} (3,4,2,1)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the config dir (logs, ledger) here"
    )
    args = parser.parse_args(argv)
    weights = tuple(int(w) for w in args.weights.split(","))
    if len(weights) != len(KILL_MODES) or min(weights) < 0 or not sum(weights):
        parser.error(f"--weights takes {len(KILL_MODES)} counts, not all 0")
    return TortureSettings(
        kills=args.kills,
        chargers=args.chargers,
        seed=args.seed,
        price_per_kwh=args.price,
        weights=(weights[0], weights[1], weights[2], weights[3]),
        config_dir=args.keep,
    )


async def main(settings: TortureSettings) -> None:
    say(f"torture: {settings.kills} kills, {settings.chargers} chargers, seed {settings.seed}")
    result = await torture(settings)
    for line in result.lines():
        print(line)
    for problem in result.verdict.problems:
        print(f"  {problem}")
    if not result.verdict.ok or result.verdict.problems:
        sys.exit(1)


if __name__ == "__main__":
    from .hass import run_bench

    run_bench(main(parse_args()))
