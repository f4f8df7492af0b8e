"""Run simulated chargers against a CSMS until Ctrl-C or SIGTERM.

python -m simulator --url ws://127.0.0.1:9000 --chargers 3

Or play a recorded charger's frames (a tests/corpus file) once, printing each answer:

python -m simulator --url ws://127.0.0.1:9000 --replay tests/corpus/keba_kc-p30_1.12.0.json
"""

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
from pathlib import Path

from ocpp.exceptions import OCPPError

from . import replay
from .charger import ChargerConfig, SimulatedCharger, many_chargers_session

_LOGGER = logging.getLogger("simulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", required=True, help="CSMS websocket URL, without charger id")
    parser.add_argument("--chargers", type=int, default=1, help="number of chargers")
    parser.add_argument("--prefix", default="SIM-", help="charger id prefix (ids: PREFIX001...)")
    parser.add_argument("--connectors", type=int, default=1, help="connectors per charger")
    parser.add_argument("--meter-interval", type=float, default=10.0, help="seconds")
    parser.add_argument("--max-power", type=int, default=11000, help="W per connector")
    parser.add_argument(
        "--stagger", type=float, default=0.05, help="seconds between charger starts"
    )
    parser.add_argument(
        "--passwords",
        type=Path,
        help="JSON file {charger id: password}: those chargers log in with HTTP Basic auth",
    )
    parser.add_argument(
        "--fault-every",
        type=float,
        default=0.0,
        help="seconds between injected problems at a random charger (0: none)",
    )
    parser.add_argument(
        "--fault-kinds",
        default="fault",
        help=f"comma-separated problems to inject, of: {', '.join(SimulatedCharger.INJECTABLE)}",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="play the frames of a recorded charger (a tests/corpus file) once, then exit",
    )
    parser.add_argument(
        "--charger-id",
        help="with --replay: the charge point id to connect as (default: the file's name)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="INFO: one line per state change; DEBUG: every frame",
    )
    args = parser.parse_args(argv)
    args.fault_kinds = [kind.strip() for kind in args.fault_kinds.split(",") if kind.strip()]
    if unknown := set(args.fault_kinds) - set(SimulatedCharger.INJECTABLE):
        parser.error(f"--fault-kinds: unknown {', '.join(sorted(unknown))}")
    return args


async def _run_one(charger: SimulatedCharger, delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        await charger.run_forever()
    except Exception:
        _LOGGER.exception("%s stopped", charger.config.charger_id)


async def _inject_now_and_then(
    chargers: list[SimulatedCharger], kinds: list[str], args: argparse.Namespace
) -> None:
    """Every so often one connected charger shows one problem (the demo's faults)."""
    rng = random.Random()
    while True:
        await asyncio.sleep(args.fault_every * rng.uniform(0.5, 1.5))
        connected = [charger for charger in chargers if charger.connected]
        if not connected:
            continue
        try:
            await rng.choice(connected).inject(rng.choice(kinds))
        except (OSError, TimeoutError, OCPPError) as err:
            _LOGGER.warning("injecting a problem failed: %r", err)


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    passwords: dict[str, str] = {}
    if args.passwords is not None and args.passwords.exists():
        passwords = json.loads(args.passwords.read_text())
    kinds: list[str] = args.fault_kinds
    async with many_chargers_session() as session:
        chargers = [
            SimulatedCharger(
                ChargerConfig(
                    charger_id=f"{args.prefix}{i:03d}",
                    connectors=args.connectors,
                    meter_interval=args.meter_interval,
                    max_power_w=args.max_power,
                    password=passwords.get(f"{args.prefix}{i:03d}"),
                ),
                args.url,
                session=session,
                record_frames=False,
            )
            for i in range(1, args.chargers + 1)
        ]
        tasks = [
            asyncio.create_task(_run_one(charger, i * args.stagger))
            for i, charger in enumerate(chargers)
        ]
        if args.fault_every > 0 and kinds:
            tasks.append(asyncio.create_task(_inject_now_and_then(chargers, kinds, args)))
        await stop.wait()
        _LOGGER.info("stopping %d chargers", len(tasks))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_replay(args: argparse.Namespace) -> int:
    """Play one recording; 0 if every answer is the kind its file expects."""
    recording = replay.load(args.replay)
    charger = SimulatedCharger(
        ChargerConfig(
            charger_id=args.charger_id or recording.charger_id,
            connectors=recording.connectors,
            password=_passwords(args).get(args.charger_id or recording.charger_id),
        ),
        args.url,
    )
    await charger.connect()
    try:
        replay.prepare(charger, recording)
        exchanges = await replay.replay(charger, recording)
    finally:
        await charger.close()
    expected = recording.expect.get("answers", [])
    mismatches = 0
    for index, exchange in enumerate(exchanges):
        wanted = expected[index] if index < len(expected) else None
        glue = " (glue)" if index in recording.glue else ""
        print(f"> {json.dumps(exchange.sent, separators=(',', ':'))}{glue}")
        print(f"< {'no answer' if exchange.reply is None else json.dumps(exchange.reply)}")
        if wanted is not None and wanted != exchange.outcome:
            mismatches += 1
            print(f"! expected {wanted}, got {exchange.outcome}")
    print(f"{len(exchanges)} frames replayed, {mismatches} answers not as expected")
    return 1 if mismatches else 0


def _passwords(args: argparse.Namespace) -> dict[str, str]:
    if args.passwords is not None and args.passwords.exists():
        passwords: dict[str, str] = json.loads(args.passwords.read_text())
        return passwords
    return {}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    if args.replay is not None:
        raise SystemExit(asyncio.run(run_replay(args)))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
