"""Run the kiosk: python -m kiosk (settings from EV_CHARGING_* environment variables)."""

import logging
import os
import sys

import voluptuous as vol
from aiohttp import web

from .app import create_app
from .config import KioskConfig


def main() -> None:
    """Read the settings, then serve until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = KioskConfig.from_env(os.environ)
    except vol.Invalid as err:
        sys.exit(f"kiosk: bad settings: {err}")
    web.run_app(create_app(config), port=config.port, access_log=None)


if __name__ == "__main__":
    main()
