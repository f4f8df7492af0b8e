"""The kiosk app against the real integration: connector pages, the sticker sheet, settings."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from ipaddress import ip_network
from pathlib import Path

import pytest
import voluptuous as vol
from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ev_charging.const import (
    CONF_IDLE_FEE,
    CONF_IDLE_GRACE,
    CONF_PRICE_PER_KWH,
    CONF_SESSION_FEE,
)
from kiosk.__main__ import main
from kiosk.app import create_app
from kiosk.config import HoldLimits, KioskConfig, StripeSettings, read_settings_file
from kiosk.pages import price_words, session_page
from kiosk.qr import qr_svg
from kiosk.store import CAPTURED, Payment

from .conftest import ChargerFactory
from .test_billing import add_tariff, set_vat

PUBLIC = "https://charge.example.org"


@pytest.fixture
async def kiosk_client(
    kiosk_config: KioskConfig, aiohttp_client: ClientSessionGenerator
) -> TestClient:
    """The kiosk app, talking over loopback HTTP to Home Assistant's kiosk API."""
    assert kiosk_config.public_url == PUBLIC
    return await aiohttp_client(create_app(kiosk_config))


async def test_connector_page_shows_state_and_the_full_price(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    kiosk_client: TestClient,
    make_charger: ChargerFactory,
) -> None:
    """The page a QR code opens: can I charge here now, and what does it cost, in words."""
    await set_vat(hass, kiosk_entry, True, "21")
    await add_tariff(
        hass,
        kiosk_entry,
        **{
            CONF_PRICE_PER_KWH: "0.45",
            CONF_SESSION_FEE: "1",
            CONF_IDLE_FEE: "0.10",
            CONF_IDLE_GRACE: 15,
        },
    )
    charger = await make_charger("CP-1", connectors=2, owner_approved=True)
    await charger.status(1, "Available")
    await charger.fault(2, "GroundFailure")
    await hass.async_block_till_done()

    response = await kiosk_client.get("/c/CP-1/1")
    page = await response.text()
    assert response.status == 200
    assert "Maple Court garage" in page
    assert "Free: you can charge here now." in page
    assert "0.45 EUR per kWh" in page
    assert "1.00 EUR per session" in page
    assert "0.10 EUR per minute the car stays plugged in without charging" in page
    assert "after 15 free minutes" in page
    assert "Prices include 21 % VAT." in page
    assert "holds 30.00 EUR on your card" in page

    assert "Card payment is not set up at this kiosk." in page
    assert "Pay by card" not in page
    # Without Stripe settings there is nothing to pay or follow (even from the kiosk's pages).
    for method, path in (
        ("POST", "/c/CP-1/1/pay"),
        ("GET", "/s/anything-that-could-be-an-id"),
        ("POST", "/stripe/webhook"),
    ):
        response = await kiosk_client.request(method, path, headers={"Origin": PUBLIC})
        assert response.status == 404, path
    assert "Out of order." in await (await kiosk_client.get("/c/CP-1/2")).text()
    for path in ("/c/CP-1/3", "/c/NOPE/1", "/c/CP-1/x"):
        response = await kiosk_client.get(path)
        assert response.status == 404, path
        assert "Unknown connector" in await response.text()


async def test_sticker_sheet_has_a_qr_code_per_connector(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    kiosk_client: TestClient,
    make_charger: ChargerFactory,
) -> None:
    """Each connector's sticker: its QR code pointing at its page, its name, its price."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    # An id the rule allows that a URL still has to encode.
    garage = await make_charger("P&R:1", connectors=2, owner_approved=True)
    await garage.status(1, "Available")
    await garage.status(2, "Available")
    await hass.async_block_till_done()
    response = await kiosk_client.get("/stickers")
    sheet = await response.text()
    assert response.status == 200
    for connector in (1, 2):
        url = f"{PUBLIC}/c/P%26R%3A1/{connector}"
        assert qr_svg(url) in sheet
        assert url in sheet
    assert sheet.count("<svg") == 2
    assert sheet.count("0.30 EUR per kWh") == 2
    # The sticker's address leads to its connector.
    page = await kiosk_client.get("/c/P%26R%3A1/2")
    assert page.status == 200
    assert "P&amp;R:1, connector 2" in await page.text()


async def test_kiosk_says_when_home_assistant_is_unreachable(
    aiohttp_client: ClientSessionGenerator, socket_enabled: None
) -> None:
    """Home Assistant down or the key refused: a clear 503, not a crash."""
    config = KioskConfig(
        ha_url="http://127.0.0.1:9", kiosk_key="evk_" + "x" * 40, public_url=PUBLIC
    )
    client = await aiohttp_client(create_app(config))
    response = await client.get("/c/CP-1/1")
    assert response.status == 503
    assert (await client.get("/healthz")).status == 200


def test_price_in_words_by_time_of_day_and_market_price() -> None:
    """Time-of-use bands are spelt out; a market price says it follows the market."""
    price = {
        "currency": "EUR",
        "price_per_kwh": "0.30",
        "price_per_kwh_now": "0.40",
        "session_fee": "0",
        "idle_fee_per_minute": "0",
        "idle_grace_minutes": "0",
        "time_of_use": [
            {
                "weekdays": [0, 1, 2, 3, 4],
                "start": "07:00:00",
                "end": "23:00:00",
                "price_per_kwh": "0.40",
            }
        ],
        "follows_market_price": False,
        "prices_include_vat": False,
        "vat_percent": "21",
    }
    assert price_words(price) == [
        "0.40 EUR per kWh now; by time of day: Mon/Tue/Wed/Thu/Fri 07:00-23:00: 0.40 EUR",
        "Prices exclude VAT; 21 % is added.",
    ]
    assert price_words({**price, "follows_market_price": True})[0] == (
        "0.40 EUR per kWh now (it follows the electricity market price)"
    )
    assert price_words({**price, "vat_percent": "0"})[-1] == "No VAT is charged."
    assert price_words(None) == ["No price is set for guests: charging cannot be paid for here."]


def test_settings_from_the_environment() -> None:
    """Environment variables, checked: a clear error names what is wrong."""
    env = {
        "EV_CHARGING_HA_URL": "http://homeassistant.local:8123/",
        "EV_CHARGING_KIOSK_KEY": "evk_" + "k" * 40,
        "EV_CHARGING_KIOSK_PUBLIC_URL": PUBLIC,
        "EV_CHARGING_KIOSK_HOLD": "25.00",
    }
    config = KioskConfig.from_env(env)
    assert (config.ha_url, config.hold, config.port) == (
        "http://homeassistant.local:8123",
        Decimal("25.00"),
        8080,
    )
    # On a hostile network: the header timeout, the hold limits, no proxy trusted.
    assert (config.header_timeout, config.hold_limits, config.trusted_proxies) == (
        5.0,
        HoldLimits(open_per_client=2, per_client_hour=6, cooldown=timedelta(minutes=15)),
        (),
    )
    tuned = KioskConfig.from_env(
        env
        | {
            "EV_CHARGING_KIOSK_HEADER_TIMEOUT": "2.5",
            "EV_CHARGING_KIOSK_OPEN_HOLDS_PER_CLIENT": "1",
            "EV_CHARGING_KIOSK_HOLDS_PER_CLIENT_HOUR": "3",
            "EV_CHARGING_KIOSK_HOLD_COOLDOWN": "30",
            "EV_CHARGING_KIOSK_TRUSTED_PROXIES": "10.0.0.1, fd00::/8",
        }
    )
    assert (tuned.header_timeout, tuned.hold_limits, tuned.trusted_proxies) == (
        2.5,
        HoldLimits(1, 3, timedelta(minutes=30)),
        (ip_network("10.0.0.1/32"), ip_network("fd00::/8")),
    )
    for key, bad in (
        ("EV_CHARGING_KIOSK_HOLD", "25.001"),
        ("EV_CHARGING_KIOSK_HOLD", "-5"),
        ("EV_CHARGING_HA_URL", "homeassistant.local"),
        ("EV_CHARGING_KIOSK_KEY", "short"),
        ("EV_CHARGING_KIOSK_HEADER_TIMEOUT", "0"),
        ("EV_CHARGING_KIOSK_OPEN_HOLDS_PER_CLIENT", "0"),
        ("EV_CHARGING_KIOSK_TRUSTED_PROXIES", "proxy.local"),
    ):
        with pytest.raises(vol.Invalid):
            KioskConfig.from_env({**env, key: bad})
    with pytest.raises(vol.Invalid):
        KioskConfig.from_env({k: v for k, v in env.items() if k != "EV_CHARGING_KIOSK_KEY"})


def test_kiosk_refuses_to_start_with_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """python -m kiosk without its settings stops with a message naming the problem."""
    monkeypatch.delenv("EV_CHARGING_KIOSK_KEY", raising=False)
    monkeypatch.setenv("EV_CHARGING_HA_URL", "http://homeassistant.local:8123")
    monkeypatch.setenv("EV_CHARGING_KIOSK_PUBLIC_URL", PUBLIC)
    with pytest.raises(SystemExit, match="kiosk: bad settings: required key not provided"):
        main([])


def test_settings_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config reads NAME=value lines; the environment wins; mistakes are named."""
    settings = tmp_path / "kiosk.env"
    settings.write_text(
        "# the kiosk\n"
        "EV_CHARGING_HA_URL=http://homeassistant.local:8123\n"
        f"EV_CHARGING_KIOSK_KEY='evk_{'k' * 40}'\n"
        f"EV_CHARGING_KIOSK_PUBLIC_URL={PUBLIC}\n"
        "EV_CHARGING_STRIPE_API_KEY=sk_test_x\n"
        "EV_CHARGING_STRIPE_WEBHOOK_SECRET=whsec_x\n"
    )
    read = read_settings_file(settings.read_text())
    config = KioskConfig.from_env(read)
    assert config.stripe == StripeSettings("sk_test_x", "whsec_x", "https://api.stripe.com")
    assert config.kiosk_key == "evk_" + "k" * 40
    with pytest.raises(vol.Invalid, match="line 2"):
        read_settings_file("A=1\nnonsense\n")
    # A Stripe key without its webhook secret is refused (payments would never start).
    del read["EV_CHARGING_STRIPE_WEBHOOK_SECRET"]
    with pytest.raises(vol.Invalid):
        KioskConfig.from_env(read)
    monkeypatch.setenv("EV_CHARGING_KIOSK_PUBLIC_URL", "not a url")
    with pytest.raises(SystemExit, match="EV_CHARGING_KIOSK_PUBLIC_URL"):
        main(["--config", str(settings)])
    with pytest.raises(SystemExit, match="cannot read"):
        main(["--config", str(tmp_path / "missing.env")])


def test_the_receipt_offers_the_meters_signed_readings() -> None:
    """A paid session on a calibration-law meter: the receipt carries its signed start and
    end for the transparency software, escaped (the meter's text is not ours)."""
    moment = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    payment = Payment(
        "p" * 32,
        "CP-1",
        1,
        "EUR",
        Decimal(30),
        "h1",
        CAPTURED,
        moment,
        moment,
        intent_id="pi_1",
        energy_kwh=Decimal("2.5"),
        cost=Decimal("0.75"),
        captured=Decimal("0.75"),
    )
    signed = {
        "start_at": moment.isoformat(),
        "start": 'OCMF|{"TX":"B"}|{"SD":"<30>"}',
        "end_at": moment.isoformat(),
        "end": 'OCMF|{"TX":"E"}|{"SD":"31"}',
    }
    page = session_page("Garage", payment, {"signed_meter_values": signed}, moment)
    assert "Signed meter readings" in page
    assert "OCMF|{&quot;TX&quot;:&quot;B&quot;}|{&quot;SD&quot;:&quot;&lt;30&gt;&quot;}" in page
    assert "&quot;TX&quot;:&quot;E&quot;" in page
    assert "Signed meter readings" not in session_page("Garage", payment, {}, moment)
