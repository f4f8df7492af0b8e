"""Controlling chargers from entities: charging and availability switches, current limit, buttons."""

import pytest
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.const import CONF_REMOTE_ID_TAG, DOMAIN
from simulator.charger import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import entity_state, until


def entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    """The entity id behind a unique id."""
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None
    return found


async def connected_with(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    make_charger: ChargerFactory,
    enable: tuple[tuple[str, str], ...] = (),
) -> SimulatedCharger:
    """A charger with connector 1 Available and the named disabled entities enabled."""
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")
    await hass.async_block_till_done()
    if enable:
        registry = er.async_get(hass)
        for platform, unique_id in enable:
            registry.async_update_entity(entity_id(hass, platform, unique_id), disabled_by=None)
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        await charger.wait_closed()
        await charger.connect()
        await charger.boot()
        await hass.async_block_till_done()
    return charger


async def test_charging_switch_starts_and_stops(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """On starts a session with Home Assistant's ID tag; off stops it."""
    charger = await connected_with(hass, init_integration, make_charger)
    switch = entity_id(hass, "switch", "CP-1|1|charging")
    assert hass.states.get(switch).state == STATE_OFF
    await hass.services.async_call(
        "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    tag = init_integration.options[CONF_REMOTE_ID_TAG]
    assert ("RemoteStartTransaction", {"idTag": tag, "connectorId": 1}) in charger.received_calls
    await until(lambda: hass.states.get(switch).state == STATE_ON, "the session started")
    [transaction] = await init_integration.runtime_data.ledger.load_transactions("CP-1")
    assert transaction.id_tag == tag
    # The simulator knows its transaction once it has read our answer.
    await until(lambda: charger.transactions.get(1) == transaction.transaction_id, "known")

    await hass.services.async_call(
        "switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert ("RemoteStopTransaction", {"transactionId": transaction.transaction_id}) in (
        charger.received_calls
    )
    await until(lambda: hass.states.get(switch).state == STATE_OFF, "the session stopped")


async def test_charging_switch_reports_a_refusal(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that refuses the remote start makes the switch call fail, and it stays off."""
    charger = await connected_with(hass, init_integration, make_charger)
    charger.answers["RemoteStartTransaction"] = {"status": "Rejected"}
    switch = entity_id(hass, "switch", "CP-1|1|charging")
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
        )
    assert refused.value.translation_key == "command_rejected"
    assert hass.states.get(switch).state == STATE_OFF


async def test_availability_switch_marks_maintenance(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Off makes the connector Inoperative; the charger's Unavailable status shows it."""
    charger = await connected_with(
        hass, init_integration, make_charger, enable=(("switch", "CP-1|1|available"),)
    )
    await charger.status(1, "Available")
    await hass.async_block_till_done()
    switch = entity_id(hass, "switch", "CP-1|1|available")
    assert hass.states.get(switch).state == STATE_ON
    await hass.services.async_call(
        "switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) in (
        charger.received_calls
    )
    await until(lambda: hass.states.get(switch).state == STATE_OFF, "Unavailable reported")
    assert entity_state(hass, "sensor", "CP-1|1|status").state == "unavailable"
    await hass.services.async_call(
        "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await until(lambda: hass.states.get(switch).state == STATE_ON, "Available reported")


async def test_current_limit_is_sent_and_kept(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Setting the limit sends a ChargePointMaxProfile; a refused one leaves the old value."""
    charger = await connected_with(hass, init_integration, make_charger)
    number = entity_id(hass, "number", "CP-1|current_limit")
    await hass.services.async_call(
        "number", "set_value", {ATTR_ENTITY_ID: number, "value": 16}, blocking=True
    )
    action, payload = charger.received_calls[-1]
    assert action == "SetChargingProfile"
    assert payload["connectorId"] == 0
    assert payload["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0}
    ]
    assert float(hass.states.get(number).state) == 16

    charger.answers["SetChargingProfile"] = {"status": "Rejected"}
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "number", "set_value", {ATTR_ENTITY_ID: number, "value": 6}, blocking=True
        )
    assert float(hass.states.get(number).state) == 16


async def test_buttons_restart_and_unlock(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The restart and unlock buttons send Reset and UnlockConnector."""
    charger = await connected_with(
        hass,
        init_integration,
        make_charger,
        enable=(("button", "CP-1|reset_soft"), ("button", "CP-1|1|unlock")),
    )
    for unique_id in ("CP-1|reset_soft", "CP-1|1|unlock"):
        await hass.services.async_call(
            "button", "press", {ATTR_ENTITY_ID: entity_id(hass, "button", unique_id)}, blocking=True
        )
    assert ("Reset", {"type": "Soft"}) in charger.received_calls
    assert ("UnlockConnector", {"connectorId": 1}) in charger.received_calls
