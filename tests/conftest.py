"""Fixtures: a real Home Assistant with the integration, and simulated chargers on loopback."""

import shutil
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from bench.official_schemas import frame_problems
from custom_components.ev_charging.const import (
    CONF_AUTO_ACCEPT,
    CONF_HEARTBEAT_INTERVAL,
    DOMAIN,
)
from kiosk.config import KioskConfig
from simulator.charger import ChargerConfig, SimulatedCharger

from .helpers import new_key, until
from .kiosk_site import Site, open_site


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Each test gets its own config directory, so its ledger database starts empty."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


@pytest.fixture
def port(socket_enabled: None) -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def occupied(port: int) -> Iterator[None]:
    """Another program listening on the port."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        yield


@pytest.fixture
def auto_accept() -> bool:
    """Whether unknown chargers are let in without approval (override per test)."""
    return True


@pytest.fixture
def entry_options(auto_accept: bool) -> dict[str, Any]:
    """The config entry's options (override per test module)."""
    return {CONF_HEARTBEAT_INTERVAL: 60, CONF_AUTO_ACCEPT: auto_accept}


@pytest.fixture
def config_entry(port: int, entry_options: dict[str, Any]) -> MockConfigEntry:
    """The integration's config entry, listening on loopback."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="EV Charging",
        unique_id=DOMAIN,
        data={CONF_HOST: "127.0.0.1", CONF_PORT: port},
        options=entry_options,
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """The integration set up and running; unloaded at the end so the port is freed."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry
    if config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)


type ChargerFactory = Callable[..., Awaitable[SimulatedCharger]]


@pytest.fixture
async def make_charger(hass: HomeAssistant, port: int) -> AsyncGenerator[ChargerFactory]:
    """Connect simulated chargers; every well-formed frame they exchanged is schema-checked."""
    chargers: list[SimulatedCharger] = []

    async def make(
        charger_id: str = "CP-1", *, boot: bool = True, owner_approved: bool = False, **config: Any
    ) -> SimulatedCharger:
        if owner_approved:
            # Approved by a person beforehand (not automatically): it gets the ID tag list.
            [entry] = hass.config_entries.async_entries(DOMAIN)
            await entry.runtime_data.central.approve(charger_id)
        charger = SimulatedCharger(
            ChargerConfig(charger_id=charger_id, **config), f"ws://127.0.0.1:{port}"
        )
        chargers.append(charger)
        await charger.connect()
        if boot and (await charger.boot())["status"] == "Accepted":
            # An accepted boot is followed by the meter-value configuration and the local
            # list: let them finish so tests see only their own traffic.
            [entry] = hass.config_entries.async_entries(DOMAIN)
            state = entry.runtime_data.central.chargers[charger_id]
            await until(lambda: state.local_list_status is not None, "boot follow-up")
        await hass.async_block_till_done()
        return charger

    yield make
    for charger in chargers:
        await charger.close()  # its frames are checked by every_charger_speaks_ocpp


def assert_frames_match_schemas(charger: SimulatedCharger) -> None:
    """Every CALL and CALLRESULT in both directions against the official OCPP 1.6 schemas
    (read with jsonschema from the `ocpp` package, not through the code under test)."""
    problems = frame_problems([(frame.direction, frame.raw) for frame in charger.frames])
    assert not problems, "\n".join(problems)


@pytest.fixture(autouse=True)
def every_charger_speaks_ocpp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Chargers made outside make_charger too: their frames are checked at the test's end."""
    made: list[SimulatedCharger] = []
    original = SimulatedCharger.__init__

    def register(self: SimulatedCharger, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(SimulatedCharger, "__init__", register)
    yield
    for charger in made:
        assert_frames_match_schemas(charger)


@pytest.fixture
async def kiosk_entry(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """Home Assistant's HTTP server (not listening: the test client talks to it) first, as in
    a real installation, then the integration."""
    assert await async_setup_component(hass, "http", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
async def kiosk_config(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> KioskConfig:
    """The kiosk's settings: a key made in the options, Home Assistant's test server."""
    key = await new_key(hass, kiosk_entry)
    home_assistant = await hass_client_no_auth()
    return KioskConfig(
        ha_url=str(home_assistant.make_url("")).rstrip("/"),
        kiosk_key=key,
        public_url="https://charge.example.org",
        site_name="Maple Court garage",
    )


@pytest.fixture
async def site(
    kiosk_config: KioskConfig, tmp_path: Path, socket_enabled: None
) -> AsyncGenerator[Site]:
    """The kiosk set up for card payments against a fake Stripe on loopback."""
    async with open_site(kiosk_config, tmp_path) as result:
        yield result


SCREENSHOTS = Path(__file__).parent.parent / ".artifacts" / "screenshots"
# A phone's viewport.
PHONE = (390, 844)


@pytest.fixture
def browser(socket_enabled: None) -> Iterator[webdriver.Chrome]:
    """Headless Chromium; without the background-networking flags it keeps trying the (closed)
    network at every start."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(
            "the browser tests need chromium and chromedriver (scripts/setup installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={PHONE[0]},{PHONE[1]}",
    ):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    yield chrome
    chrome.quit()
