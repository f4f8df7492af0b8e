"""Snapshots of the entity surface (every platform) and diagnostics, for a charger mid-session.

Users build dashboards and automations on these entity ids, names, units and attributes: a
change shows here as a snapshot diff. Regenerate on purpose with `--snapshot-update`.
"""

from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from unittest.mock import PropertyMock, patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.ev_charging.const import (
    CONF_PRICE_PER_KWH,
    CONF_REMOTE_ID_TAG,
    CONF_SESSION_FEE,
    DOMAIN,
    SUBENTRY_ACCOUNT,
)
from simulator import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import later
from .test_billing import add_tariff, set_vat

# Fixed so that nothing in the snapshots depends on when or in which order tests run.
T0 = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
ENTRY_ID = "01KSNAPSHOTENTRY0000000000"
ACCOUNT_ID = "01KSNAPSHOTACCOUNT00000000"  # in the account sensors' unique ids
TAG = "UNIT1-CARD"
REGISTER_WH = 1_000_000


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's serializer (registry ids as ANY, states readable) and its
    tests/snapshots/ folder: the plugin's own fixture of this name loses to syrupy's here."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entry_options(entry_options: dict[str, Any]) -> dict[str, Any]:
    """The remote-start tag is random when the integration makes it: given here instead."""
    return entry_options | {CONF_REMOTE_ID_TAG: "HA-SNAPSHOT"}


@pytest.fixture
def config_entry(port: int, entry_options: dict[str, Any]) -> MockConfigEntry:
    """The entry with a fixed id and one account (as its flow stores it) with a fixed id."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="EV Charging",
        unique_id=DOMAIN,
        entry_id=ENTRY_ID,
        data={CONF_HOST: "127.0.0.1", CONF_PORT: port},
        options=entry_options,
        subentries_data=[
            ConfigSubentryDataWithId(
                data={CONF_NAME: "Unit 1"},
                subentry_id=ACCOUNT_ID,
                subentry_type=SUBENTRY_ACCOUNT,
                title="Unit 1",
                unique_id=None,
            )
        ],
    )


@pytest.fixture
def platforms() -> list[Platform]:
    """All platforms, unless a test asks for one (snapshot_platform wants one at a time)."""
    return [
        Platform.BINARY_SENSOR,
        Platform.BUTTON,
        Platform.EVENT,
        Platform.NUMBER,
        Platform.SENSOR,
        Platform.SWITCH,
    ]


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Entities disabled by default are created enabled, so the whole surface is locked."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


async def online_for(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, charger: SimulatedCharger, minutes: int
) -> None:
    """Time passes with a heartbeat a minute (the interval it was given): it stays online."""
    for _ in range(minutes):
        await later(hass, freezer, minutes=1)
        await charger.heartbeat()


async def meter(charger: SimulatedCharger, transaction_id: int, wh: int) -> None:
    await charger.meter_values(
        1, transaction_id, power_w=7_000, energy_wh=wh, timestamp=dt_util.utcnow()
    )


@pytest.fixture
async def mid_session(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    platforms: list[Platform],
    entity_registry_enabled_by_default: None,
) -> AsyncGenerator[MockConfigEntry]:
    """CP-1 charging for Unit 1 under a priced tariff, after one finished session."""
    freezer.move_to(T0)
    config_entry.add_to_hass(hass)
    with patch("custom_components.ev_charging.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await set_vat(hass, config_entry, True, "21")
        await add_tariff(
            hass, config_entry, **{CONF_PRICE_PER_KWH: "0.30", CONF_SESSION_FEE: "0.50"}
        )
        await hass.services.async_call(
            DOMAIN,
            "set_id_tag",
            {"id_tag": TAG, "name": "Anna", "account": "Unit 1"},
            blocking=True,
        )
        await hass.async_block_till_done()
        charger = await make_charger("CP-1")
        await charger.status(0, "Available", timestamp=dt_util.utcnow())

        # A finished session: account and charger totals are not zero.
        first = await charger.start_transaction(
            1, TAG, meter_start=REGISTER_WH, timestamp=dt_util.utcnow()
        )
        await online_for(hass, freezer, charger, 30)
        await charger.stop_transaction(
            first["transactionId"], meter_stop=REGISTER_WH + 4_000, timestamp=dt_util.utcnow()
        )
        await charger.status(1, "Available", timestamp=dt_util.utcnow())
        await online_for(hass, freezer, charger, 60)

        # The running one: plugged in, started, three readings five minutes apart.
        await charger.status(1, "Preparing", timestamp=dt_util.utcnow())
        second = await charger.start_transaction(
            1, TAG, meter_start=REGISTER_WH + 4_000, timestamp=dt_util.utcnow()
        )
        await charger.status(1, "Charging", timestamp=dt_util.utcnow())
        for wh in (500, 1_100, 1_700):
            await online_for(hass, freezer, charger, 5)
            await meter(charger, second["transactionId"], REGISTER_WH + 4_000 + wh)
        await hass.async_block_till_done()
        yield config_entry
        if config_entry.state.recoverable:
            await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.parametrize(
    "platforms",
    [
        [Platform.BINARY_SENSOR],
        [Platform.BUTTON],
        [Platform.EVENT],
        [Platform.NUMBER],
        [Platform.SENSOR],
        [Platform.SWITCH],
    ],
    ids=lambda platforms: str(platforms[0]),
)
async def test_entities(
    hass: HomeAssistant,
    mid_session: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Each platform's registry entries and states, attributes included."""
    await snapshot_platform(hass, entity_registry, snapshot, mid_session.entry_id)


async def test_figures_in_the_snapshots_follow_the_tariff(
    hass: HomeAssistant, mid_session: MockConfigEntry
) -> None:
    """Spot checks computed here, so the snapshots did not just record whatever came out:
    0.30 per kWh plus 0.50 a session, 21 % VAT included, electricity free."""
    cent = Decimal("0.01")
    finished = (Decimal(4) * Decimal("0.30") + Decimal("0.50")).quantize(cent)
    running = (Decimal("1.7") * Decimal("0.30") + Decimal("0.50")).quantize(cent)
    net = (finished / Decimal("1.21")).quantize(cent, ROUND_HALF_UP)
    expected = {
        "sensor.unit_1_lifetime_cost": finished,
        "sensor.unit_1_lifetime_energy": Decimal(4),
        "sensor.cp_1_revenue": finished,
        "sensor.cp_1_cost_recovery_margin": net,
        "sensor.cp_1_connector_1_session_cost": running,
        "sensor.cp_1_connector_1_session_energy": Decimal("1.7"),
        "sensor.guests_lifetime_cost": Decimal(0),
    }
    for entity_id, value in expected.items():
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        assert Decimal(state.state) == value, entity_id


async def test_devices(
    hass: HomeAssistant,
    mid_session: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The charger and the two accounts (Unit 1, the kiosk's guests) as devices."""
    devices = dr.async_entries_for_config_entry(device_registry, mid_session.entry_id)
    assert len(devices) == 3
    for device in sorted(devices, key=lambda device: sorted(device.identifiers)):
        [(_, identifier)] = device.identifiers
        assert device == snapshot(name=identifier)


async def test_diagnostics(
    hass: HomeAssistant,
    mid_session: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """The diagnostics download, fetched as the frontend does."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mid_session)
    # The listening port is a free one picked per test run.
    assert diagnostics == snapshot(exclude=props(CONF_PORT))
