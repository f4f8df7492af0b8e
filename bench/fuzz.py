"""Fuzzing the central system: `python -m bench.fuzz --frames 10000` sends the cases of
bench/fuzz_cases.py to a real Home Assistant process and prints what came back."""

import argparse
import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from simulator.charger import ChargerConfig, SimulatedCharger

from . import hass as ha
from .fuzz_cases import Case, Violation, drive, exchange, judge


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--frames", type=int, default=10_000, help="frames to send")
    return parser.parse_args(argv)


@dataclass
class Tally:
    """What the bench saw."""

    sent: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    drops: int = 0


async def main(args: argparse.Namespace) -> None:
    workdir = ha.REPO / ".bench" / "fuzz" / f"{datetime.now():%Y%m%d-%H%M%S}"
    config = ha.HassConfig.create(workdir / "config")
    process = ha.HassProcess(config, "hass")
    url = f"ws://127.0.0.1:{config.ocpp_port}"
    tally = Tally()
    charger: SimulatedCharger | None = None

    async def connected() -> SimulatedCharger:
        nonlocal charger
        if charger is None or not charger.connected:
            charger = SimulatedCharger(ChargerConfig(charger_id="FUZZ"), url)
            await charger.connect()
            await charger.boot()
        return charger

    async def check(case: Case) -> None:
        tally.sent += 1
        try:
            answers = await exchange(await connected(), case)
        except (ConnectionError, TimeoutError) as err:
            tally.drops += 1
            tally.violations.append(f"connection lost after {case.frame!r:.200}: {err}")
            return
        try:
            tally.kinds[judge(case, answers)] += 1
        except Violation as err:
            tally.violations.append(str(err))
            tally.kinds["violation"] += 1

    # The simulator warns of every answer it did not ask for: here, all of them.
    logging.getLogger("simulator").setLevel(logging.ERROR)
    ha.say(f"config dir and logs: {workdir}")
    process.start()
    try:
        await asyncio.to_thread(process.wait_ocpp_port)
        await connected()
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(drive, loop, args.frames, check)
        took = time.monotonic() - started
        if charger is not None:
            await charger.close()
    finally:
        await asyncio.to_thread(process.stop)
    log = process.log_summary()
    # Home Assistant's own start may log some (a bare config lacks the frontend): not ours.
    tracebacks = sum(
        n for key, n in log.counts.items() if key[0] == "EXCEPTION" and ha.DOMAIN in key[1]
    )
    print(f"\nev_charging fuzz: {tally.sent} frames in {took:.1f} s ({tally.sent / took:.0f}/s)")
    print("  answers by kind: " + ", ".join(f"{k} {n}" for k, n in tally.kinds.most_common()))
    print(f"  InternalErrors {tally.kinds['InternalError']}")
    print(f"  connection drops {tally.drops}")
    print(f"  answers the error table does not allow {len(tally.violations)}")
    for violation in tally.violations[:10]:
        print(f"    {violation}")
    print(f"  tracebacks from ev_charging in Home Assistant's log {tracebacks}")
    for line in log.lines(10):
        print(f"  {line}")
    print(f"Config dir and logs: {workdir}")


def cli() -> None:
    ha.run_bench(main(parse_args()))


if __name__ == "__main__":
    cli()
