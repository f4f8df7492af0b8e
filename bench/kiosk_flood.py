"""How long Stripe waits for the kiosk's webhook answer while its public pages are flooded.

python -m bench.kiosk_flood [--connectors 20] [--rate 20] [--duration 20] [--webhooks 5]
python -m bench.kiosk_flood --url http://localhost:8080 --settings .demo/config/kiosk.env

Without --url it starts a stand-in for the integration's kiosk API (--connectors connectors,
answered at once, in this process) and the kiosk itself (python -m kiosk --config FILE, card
payments set up; Stripe is never called). It then sends GET --page at --rate a second, on
schedule whether or not earlier ones were answered (as the attack did), and meanwhile POSTs
signed Stripe events (`payment_intent.created`: verified, stored, nothing to do) at --webhooks
a second, timing each answer. It prints figures and asserts nothing.
"""

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import stripe
from aiohttp import web

from kiosk.config import read_settings_file

from .hass import REPO, spawn, stop_process
from .load import percentile
from .proc import cpu_seconds, free_ports

API = "/api/ev_charging/kiosk/v1"
PRICE = {
    "currency": "EUR",
    "price_per_kwh": "0.45",
    "price_per_kwh_now": "0.45",
    "session_fee": "1.00",
    "idle_fee_per_minute": "0.10",
    "idle_grace_minutes": "30",
    "time_of_use": [],
    "follows_market_price": False,
    "prices_include_vat": True,
    "vat_percent": "21",
}


@dataclass
class Timings:
    """Answer times of one kind of request, in seconds; errors counted apart."""

    seconds: list[float] = field(default_factory=list)
    errors: int = 0

    def ms(self, q: float) -> float:
        """The q-quantile in milliseconds (nearest rank)."""
        return percentile(self.seconds, q) * 1000

    def line(self, name: str, sent: int) -> str:
        """One line of figures."""
        if not self.seconds:
            return f"{name:9} sent {sent:5}  answered 0  errors {self.errors}"
        return (
            f"{name:9} sent {sent:5}  answered {len(self.seconds):5}  errors {self.errors:3}  "
            f"p50 {self.ms(0.5):8.1f} ms  p99 {self.ms(0.99):8.1f} ms  "
            f"max {max(self.seconds) * 1000:8.1f} ms"
        )


@dataclass
class FloodFigures:
    """What webhook_latency_under_flood measured."""

    window_s: float
    """From the first request to the last answer."""
    pages_sent: int
    pages: Timings
    webhooks_sent: int
    webhooks: Timings

    def report(self) -> str:
        """The figures, for people."""
        return "\n".join(
            (
                f"window {self.window_s:.1f} s",
                self.pages.line("pages", self.pages_sent),
                self.webhooks.line("webhooks", self.webhooks_sent),
            )
        )


async def webhook_latency_under_flood(
    kiosk_url: str,
    webhook_secret: str,
    *,
    page: str = "/stickers",
    rate: float = 20.0,
    duration: float = 20.0,
    webhooks_per_s: float = 5.0,
    give_up_after: float = 60.0,
) -> FloodFigures:
    """Flood `page` at `rate` a second for `duration` seconds while POSTing signed webhooks
    at `webhooks_per_s`; the answer times of both (a request counts as answered only with a
    200 within `give_up_after` seconds)."""
    pages, webhooks = Timings(), Timings()
    limits = aiohttp.TCPConnector(limit=0)  # the flood is not held back on this side
    async with aiohttp.ClientSession(
        connector=limits, timeout=aiohttp.ClientTimeout(total=give_up_after)
    ) as http:

        async def view(number: int) -> None:
            began = time.perf_counter()
            try:
                async with http.get(f"{kiosk_url}{page}") as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError, TimeoutError:
                ok = False
            if ok:
                pages.seconds.append(time.perf_counter() - began)
            else:
                pages.errors += 1

        async def webhook(number: int) -> None:
            payload = json.dumps(
                {
                    "id": f"evt_bench_{secrets.token_hex(8)}_{number}",
                    "object": "event",
                    "type": "payment_intent.created",
                    "created": int(time.time()),
                    "livemode": False,
                    "data": {"object": {"id": f"pi_bench_{number}", "object": "payment_intent"}},
                }
            )
            header = stripe.WebhookSignature.generate_signature_header(payload, webhook_secret)
            began = time.perf_counter()
            try:
                async with http.post(
                    f"{kiosk_url}/stripe/webhook",
                    data=payload,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                ) as response:
                    ok = response.status == 200
            except aiohttp.ClientError, TimeoutError:
                ok = False
            if ok:
                webhooks.seconds.append(time.perf_counter() - began)
            else:
                webhooks.errors += 1

        start = time.perf_counter()
        sent = await asyncio.gather(
            _every(rate, duration, view), _every(webhooks_per_s, duration, webhook)
        )
    return FloodFigures(time.perf_counter() - start, sent[0], pages, sent[1], webhooks)


async def _every(
    per_s: float, duration: float, work: Callable[[int], Coroutine[Any, Any, None]]
) -> int:
    """Start work(n) per_s times a second for duration seconds, each on time in a task of its
    own (a slow answer does not hold up the next); returns, how many, once all are done."""
    start = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for number in range(int(per_s * duration)):
        await asyncio.sleep(max(0.0, start + number / per_s - time.perf_counter()))
        tasks.append(asyncio.create_task(work(number)))
    await asyncio.gather(*tasks)
    return len(tasks)


def _connectors(count: int) -> list[dict[str, Any]]:
    return [
        {
            "charger_id": f"BENCH-{number // 2 + 1}",
            "connector_id": number % 2 + 1,
            "state": "available",
            "price": PRICE,
        }
        for number in range(count)
    ]


@contextlib.asynccontextmanager
async def integration_stand_in(port: int, count: int) -> AsyncIterator[None]:
    """The kiosk API's read side, answering at once (the kiosk is what is measured)."""
    connectors = _connectors(count)

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"connectors": connectors})

    async def one(request: web.Request) -> web.Response:
        for found in connectors:
            if (found["charger_id"], str(found["connector_id"])) == (
                request.match_info["charger_id"],
                request.match_info["connector_id"],
            ):
                return web.json_response(found)
        return web.json_response({"error": "unknown_connector"}, status=404)

    app = web.Application()
    app.router.add_get(f"{API}/connectors", listing)
    app.router.add_get(API + "/connectors/{charger_id}/{connector_id}", one)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def _wait_healthy(url: str, within: float) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError, TimeoutError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kiosk did not answer at {url} within {within:.0f} s")
            await asyncio.sleep(0.2)


async def run_own(args: argparse.Namespace) -> None:
    """Start the stand-in and the kiosk, measure, stop both."""
    ha_port, kiosk_port = free_ports(2)
    secret = f"whsec_{secrets.token_urlsafe(24)}"
    with tempfile.TemporaryDirectory(prefix="kiosk-flood-") as directory:
        settings = Path(directory) / "kiosk.env"
        settings.touch(mode=0o600)
        settings.write_text(
            f"EV_CHARGING_HA_URL=http://127.0.0.1:{ha_port}\n"
            f"EV_CHARGING_KIOSK_KEY=bench_{secrets.token_urlsafe(24)}\n"
            f"EV_CHARGING_KIOSK_PUBLIC_URL=http://127.0.0.1:{kiosk_port}\n"
            f"EV_CHARGING_KIOSK_PORT={kiosk_port}\n"
            f"EV_CHARGING_KIOSK_DATABASE={directory}/kiosk.sqlite3\n"
            f"EV_CHARGING_STRIPE_API_KEY=sk_test_{secrets.token_urlsafe(24)}\n"
            f"EV_CHARGING_STRIPE_WEBHOOK_SECRET={secret}\n"
            "EV_CHARGING_STRIPE_API_BASE=http://127.0.0.1:9\n"
        )
        log = Path(directory) / "kiosk.log"
        kiosk = spawn([sys.executable, "-m", "kiosk", "--config", str(settings)], log)
        try:
            async with integration_stand_in(ha_port, args.connectors):
                url = f"http://127.0.0.1:{kiosk_port}"
                await _wait_healthy(url, 30)
                print(f"kiosk pid {kiosk.pid} (from {REPO}), {args.connectors} connectors")
                cpu = cpu_seconds(kiosk.pid)
                figures = await _measure(url, secret, args)
                print(f"kiosk CPU {cpu_seconds(kiosk.pid) - cpu:.1f} s")
        finally:
            stop_process(kiosk)
    print(figures.report())


async def _measure(url: str, secret: str, args: argparse.Namespace) -> FloodFigures:
    print(
        f"flooding {url}{args.page} at {args.rate:g}/s for {args.duration:g} s, "
        f"{args.webhooks:g} webhooks/s"
    )
    return await webhook_latency_under_flood(
        url,
        secret,
        page=args.page,
        rate=args.rate,
        duration=args.duration,
        webhooks_per_s=args.webhooks,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kiosk_flood",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--connectors", type=int, default=20, help="stickers on the sheet (20)")
    parser.add_argument("--rate", type=float, default=20.0, help="page views a second (20)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of flood (20)")
    parser.add_argument("--webhooks", type=float, default=5.0, help="webhooks a second (5)")
    parser.add_argument("--page", default="/stickers", help="the page flooded (/stickers)")
    parser.add_argument("--url", help="a kiosk already running (else one is started)")
    parser.add_argument(
        "--settings",
        type=Path,
        help="with --url: the kiosk's settings file, for its webhook signing secret",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.url is None:
        asyncio.run(run_own(args))
        return
    if args.settings is None:
        sys.exit("--url needs --settings (the webhook secret signs the events)")
    secret = read_settings_file(args.settings.read_text())["EV_CHARGING_STRIPE_WEBHOOK_SECRET"]
    print((asyncio.run(_measure(args.url.rstrip("/"), secret, args))).report())


if __name__ == "__main__":
    main()
