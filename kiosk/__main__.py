"""Run the kiosk: python -m kiosk [--config FILE] (settings from EV_CHARGING_* variables)."""

import argparse
import logging
import os
import sys
from pathlib import Path

import voluptuous as vol
from aiohttp import web

from .app import StartRefused, create_app, server_options
from .config import KioskConfig, read_settings_file


def main(argv: list[str] | None = None) -> None:
    """Read the settings, then serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m kiosk", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        help="a file of NAME=value lines (the same names; environment variables win)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings: dict[str, str] = {}
    try:
        if args.config is not None:
            settings = read_settings_file(args.config.read_text(encoding="utf-8"))
        config = KioskConfig.from_env({**settings, **os.environ})
    except OSError as err:
        sys.exit(f"kiosk: cannot read {args.config}: {err.strerror}")
    except vol.Invalid as err:
        sys.exit(f"kiosk: bad settings: {err}")
    try:
        web.run_app(create_app(config), port=config.port, **server_options(config))
    except StartRefused as err:
        sys.exit(f"kiosk: not started: {err}")


if __name__ == "__main__":
    main()
