"""Run the fake Stripe: python -m fake_stripe --port 8111 --webhook-url URL …

The API key and webhook secret may come from EV_CHARGING_STRIPE_API_KEY and
EV_CHARGING_STRIPE_WEBHOOK_SECRET (the kiosk's names for them) instead of the command line,
where every user of the machine can read them."""

import argparse
import logging
import os

from aiohttp import web

from .server import FakeStripe


def main() -> None:
    """Read the options, then serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m fake_stripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8111)
    parser.add_argument(
        "--api-key", default=os.environ.get("EV_CHARGING_STRIPE_API_KEY", "sk_test_demo")
    )
    parser.add_argument("--webhook-url", help="where events are POSTed (none: not sent)")
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("EV_CHARGING_STRIPE_WEBHOOK_SECRET", "whsec_demo"),
    )
    parser.add_argument("--public-url", help="base of the hosted payment page's URLs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    fake = FakeStripe(
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        webhook_url=args.webhook_url,
        public_url=args.public_url or f"http://{args.host}:{args.port}",
    )
    web.run_app(fake.app(), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
