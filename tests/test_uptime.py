"""Uptime after a scripted day: a fault, the owner's maintenance, an offline charger and a
restart of Home Assistant in the middle of it, against the NEVI formula worked by hand."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ev_charging.const import CONF_HEARTBEAT_INTERVAL, DOMAIN
from custom_components.ev_charging.health_reports import EVENT_CHARGER

from .conftest import ChargerFactory
from .helpers import enable_early, entity_state, until

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """A heartbeat interval of a day: silence between the test's steps is not an outage."""
    return {CONF_HEARTBEAT_INTERVAL: 86_400, "auto_accept": True}


async def _at(hass: HomeAssistant, freezer: FrozenDateTimeFactory, hours: float) -> None:
    freezer.move_to(T0 + timedelta(hours=hours))
    async_fire_time_changed(hass)
    # The minute tick (uptime refresh) runs as a background task.
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_uptime_after_outages_maintenance_and_a_restart(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """(period - (outage - excluded)) / period, every part of it exercised."""
    freezer.move_to(T0)
    config_entry.add_to_hass(hass)
    for platform, unique_id in (
        ("sensor", "CP-1|uptime"),
        ("sensor", "CP-1|1|uptime"),
        ("sensor", "CP-1|reconnects"),
        ("sensor", "CP-1|last_fault"),
        ("switch", "CP-1|1|available"),
    ):
        enable_early(hass, config_entry, platform, unique_id)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")

    # 01:00-01:30 faulted: 30 outage minutes.
    await _at(hass, freezer, 1)
    await charger.status(1, "Faulted", "GroundFailure")
    await _at(hass, freezer, 1.5)
    await charger.status(1, "Available")

    # 02:00-04:00 the owner takes the connector out of service: Unavailable, but excluded.
    switch = er.async_get(hass).async_get_entity_id("switch", DOMAIN, "CP-1|1|available")
    await _at(hass, freezer, 2)
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    await charger.idle()  # the charger announces Unavailable
    await hass.async_block_till_done()
    await _at(hass, freezer, 4)
    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    await charger.idle()

    # 05:00 the charger drops off; 05:30-06:30 Home Assistant is down; 07:00 it is back.
    # 120 offline minutes, of which the 60 while Home Assistant was down are excluded.
    await _at(hass, freezer, 5)
    await charger.close()
    await until(
        lambda: entity_state(hass, "binary_sensor", "CP-1|offline").state == STATE_ON, "offline"
    )
    await _at(hass, freezer, 5.5)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await _at(hass, freezer, 6.5)
    events: list[str] = []
    hass.bus.async_listen(EVENT_CHARGER, lambda event: events.append(event.data["type"]))
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    # Still offline since 05:00 (restored, not raised again).
    offline = entity_state(hass, "binary_sensor", "CP-1|offline")
    assert (offline.state, offline.attributes["since"]) == (
        STATE_ON,
        (T0 + timedelta(hours=5)).isoformat(),
    )
    assert entity_state(hass, "sensor", "CP-1|last_fault").state == "GroundFailure"
    await _at(hass, freezer, 7)
    await charger.connect()
    await until(lambda: events == ["online"], "online again")

    await _at(hass, freezer, 10)
    period = Decimal(600)  # minutes since first seen
    outage = Decimal(30 + 120 + 120)
    excluded = Decimal(120 + 60)
    expected = ((period - (outage - excluded)) / period * 100).quantize(Decimal("0.01"))
    assert expected == Decimal("85.00")
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|uptime").state) == expected
    assert Decimal(entity_state(hass, "sensor", "CP-1|uptime").state) == expected
    # The history behind it, in the ledger.
    stored = await config_entry.runtime_data.ledger.load_problem_intervals(T0)
    assert sorted(
        (i.started_at - T0, i.kind, i.connector_id, i.ended_at and i.ended_at - T0) for i in stored
    ) == [
        (timedelta(hours=1), "fault", 1, timedelta(hours=1.5)),
        (timedelta(hours=2), "maintenance", 1, timedelta(hours=4)),
        (timedelta(hours=2), "unavailable", 1, timedelta(hours=4)),
        (timedelta(hours=5), "offline", 0, timedelta(hours=7)),
    ]
    # Reconnecting after our restart counts; it is kept in the ledger.
    assert entity_state(hass, "sensor", "CP-1|reconnects").state == "1"
