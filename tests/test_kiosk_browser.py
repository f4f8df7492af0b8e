"""The kiosk's pages in headless Chromium (Debian's chromium, driven by its chromedriver):
what a guest's phone shows. Screenshots land in .artifacts/screenshots/."""

import asyncio
from collections.abc import AsyncGenerator

import pytest
from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from selenium import webdriver
from selenium.webdriver.common.by import By

from custom_components.ev_charging.const import CONF_PRICE_PER_KWH, CONF_SESSION_FEE
from kiosk.app import create_app
from kiosk.config import KioskConfig

from .conftest import SCREENSHOTS, ChargerFactory
from .test_billing import add_tariff


@pytest.fixture
async def kiosk_url(kiosk_config: KioskConfig) -> AsyncGenerator[str]:
    """The kiosk served on a loopback port (the browser needs a real one)."""
    server = TestServer(create_app(kiosk_config), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_connector_page_on_a_phone(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    kiosk_url: str,
    browser: webdriver.Chrome,
    make_charger: ChargerFactory,
) -> None:
    """A guest scanning the sticker sees the connector free and the full price."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.45", CONF_SESSION_FEE: "1.00"})
    charger = await make_charger("CP-1", connectors=2, owner_approved=True)
    await charger.status(1, "Available")
    await charger.fault(2, "GroundFailure")
    await hass.async_block_till_done()

    def look(path: str, shot: str) -> tuple[str, str, list[str]]:
        browser.get(f"{kiosk_url}{path}")
        state = browser.find_element(By.CSS_SELECTOR, ".state")
        prices = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "ul.price li")]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / shot))
        return browser.find_element(By.TAG_NAME, "h1").text, state.text, prices

    # Selenium blocks: it runs in a thread while the loop serves the kiosk and Home Assistant.
    title, state, prices = await asyncio.to_thread(look, "/c/CP-1/1", "connector-free.png")
    assert (title, state) == ("CP-1, connector 1", "Free: you can charge here now.")
    assert prices[:2] == ["0.45 EUR per kWh", "1.00 EUR per session"]
    _, state, _ = await asyncio.to_thread(look, "/c/CP-1/2", "connector-faulted.png")
    assert state == "Out of order."
    assert (SCREENSHOTS / "connector-free.png").stat().st_size > 1000


async def test_sticker_sheet_renders_its_codes(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    kiosk_url: str,
    browser: webdriver.Chrome,
    make_charger: ChargerFactory,
) -> None:
    """Every sticker's QR code is drawn at a printable size."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", connectors=2, owner_approved=True)
    await charger.status(1, "Available")
    await charger.status(2, "Available")
    await hass.async_block_till_done()

    def sizes() -> list[tuple[int, int]]:
        browser.get(f"{kiosk_url}/stickers")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / "stickers.png"))
        return [
            (svg.size["width"], svg.size["height"])
            for svg in browser.find_elements(By.CSS_SELECTOR, ".sticker svg")
        ]

    drawn = await asyncio.to_thread(sizes)
    assert len(drawn) == 2
    assert all(width >= 150 and width == height for width, height in drawn)
