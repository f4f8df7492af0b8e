"""The central system's edges: subprotocols, charger ids, every message, devices, diagnostics."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.ev_charging import backup
from custom_components.ev_charging.const import CONF_REMOTE_ID_TAG, DOMAIN
from custom_components.ev_charging.diagnostics import async_get_config_entry_diagnostics

from .conftest import ChargerFactory
from .helpers import entity_state, until

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


async def test_refuses_connection_without_ocpp16(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charger offering only subprotocols we do not speak is refused, with a log line."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await make_charger("CP-201", boot=False, subprotocols=("ocpp2.0.1",))
    assert refused.value.status == 400
    assert "offers subprotocols ocpp2.0.1," in caplog.text
    assert "CP-201" not in init_integration.runtime_data.central.connections


async def test_charger_id_is_last_path_segment(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """ws://host:port/any/prefix/CP-7 is charger CP-7."""
    charger = await make_charger("CP-7", boot=False)
    await charger.close()
    await charger.connect(url_suffix="ocpp/v16/CP-7")
    await charger.boot()
    assert init_integration.runtime_data.central.chargers["CP-7"].booted


async def test_every_charger_message_is_answered(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """DataTransfer, diagnostics and firmware notifications get their 1.6 answers."""
    charger = await make_charger("CP-1")
    assert (await charger.data_transfer("com.acme", "hello", "x"))["status"] == "UnknownVendorId"
    assert await charger.diagnostics_status("Uploaded") == {}
    assert await charger.firmware_status("Installed") == {}
    state = init_integration.runtime_data.central.chargers["CP-1"]
    assert (state.diagnostics_status, state.firmware_status) == ("Uploaded", "Installed")


async def test_all_measurands_reach_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Current, voltage, SoC and temperature (disabled by default) show once enabled."""
    registry = er.async_get(hass)
    charger = await make_charger("CP-1")
    await charger.status(1, "Charging")
    for key in ("current", "voltage", "soc", "temperature", "session_duration", "id_tag"):
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"CP-1|1|{key}")
        assert entity_id is not None
        assert registry.async_get(entity_id).disabled_by is er.RegistryEntryDisabler.INTEGRATION
        registry.async_update_entity(entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    await charger.connect()
    # The reconnect refresh (statuses, local list) first: its answers must not race the
    # readings below.
    state = init_integration.runtime_data.central.chargers["CP-1"]
    await until(lambda: state.local_list_status is not None, "reconnect refresh")
    await charger.idle()
    transaction_id = (await charger.start_transaction(1, "TAG-9", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    await charger.meter_values(
        1, transaction_id, power_w=11_040, energy_wh=1_000, soc=55, timestamp=T0
    )
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|current").state) > 0
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|voltage").state) > 200
    assert entity_state(hass, "sensor", "CP-1|1|soc").state == "55"
    assert entity_state(hass, "sensor", "CP-1|1|temperature").state not in (
        "unknown",
        "unavailable",
    )
    assert entity_state(hass, "sensor", "CP-1|1|id_tag").state == "TAG-9"
    assert entity_state(hass, "sensor", "CP-1|1|session_duration").state not in (
        "unknown",
        "unavailable",
    )


async def test_lean_default_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A one-connector charger enables nine entities by default (1,000 chargers and the
    accounts stay under Home Assistant's 10,000 enabled entities per config entry)."""
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")
    await hass.async_block_till_done()
    entries = er.async_entries_for_config_entry(er.async_get(hass), init_integration.entry_id)
    enabled = sorted(
        e.unique_id
        for e in entries
        if e.disabled_by is None and not e.unique_id.startswith("account_")
    )
    assert enabled == [
        "CP-1|1|charging",
        "CP-1|1|energy_register",
        "CP-1|1|fault",
        "CP-1|1|power",
        "CP-1|1|session_cost",
        "CP-1|1|session_energy",
        "CP-1|1|status",
        "CP-1|current_limit",
        "CP-1|offline",
    ]


async def test_remove_stale_charger_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A connected charger cannot be deleted; a gone one can, and must be approved again."""
    assert await async_setup_component(hass, "config", {})
    charger = await make_charger("CP-1")
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, "CP-1"), init_integration.entry_id
    )
    assert device is not None
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": init_integration.entry_id,
            "device_id": device.id,
        }
    )
    assert not (await client.receive_json())["success"]
    await charger.close()
    central = init_integration.runtime_data.central
    await until(lambda: not central.connections, "the server saw the socket close")
    await client.send_json_auto_id(
        {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": init_integration.entry_id,
            "device_id": device.id,
        }
    )
    assert (await client.receive_json())["success"]
    assert "CP-1" not in central.chargers
    assert [c.charger_id for c in await init_integration.runtime_data.ledger.load_chargers()] == []


async def test_diagnostics_redacts_secrets(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Diagnostics show each charger's state and counters, without serial numbers or tags."""
    await hass.services.async_call(
        DOMAIN, "set_id_tag", {"id_tag": "SECRET-TAG", "blocked": True}, blocking=True
    )
    charger = await make_charger("CP-1", serial_number="SECRET-SN", owner_approved=True)
    await charger.start_transaction(1, "SECRET-TAG", meter_start=0, timestamp=T0)
    await charger.fault(1, "GroundFailure")
    diagnostics = await async_get_config_entry_diagnostics(hass, init_integration)
    text = str(diagnostics)
    assert "SECRET-SN" not in text
    assert "SECRET-TAG" not in text
    assert init_integration.options[CONF_REMOTE_ID_TAG] not in text
    assert diagnostics["chargers"]["CP-1"]["connected"] is True
    assert diagnostics["chargers"]["CP-1"]["local_list_version"] == 1
    assert diagnostics["id_tags"] == {"Blocked": 1}
    assert diagnostics["billing"] == {"tariffs": [], "open_bills": 0, "reviews_waiting": 0}
    assert diagnostics["data"]["host"] == "**REDACTED**"
    health = diagnostics["chargers"]["CP-1"]["health"]
    assert health["problems"]["1|fault"]["error_code"] == "GroundFailure"
    assert health["uptime_percent"] is not None
    assert diagnostics["fault_detection"]["offline_multiple"] == 2.0


async def test_chargers_are_answered_during_a_backup(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A backup freezes the ledger's main file, yet chargers keep being answered."""
    charger = await make_charger("CP-1")
    ledger = init_integration.runtime_data.ledger
    await backup.async_pre_backup(hass)
    frozen = await asyncio.to_thread(ledger.path.read_bytes)
    started = await charger.start_transaction(1, "TAG", meter_start=0, timestamp=T0)
    assert await asyncio.to_thread(ledger.path.read_bytes) == frozen
    await backup.async_post_backup(hass)
    [transaction] = await ledger.load_transactions("CP-1")
    assert transaction.transaction_id == started["transactionId"]


async def test_after_handlers_run_once_answered(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """`@after` follow-up work runs after the answer went out, with the handler's payload."""
    charger = await make_charger("CP-1")
    connection = init_integration.runtime_data.central.connections["CP-1"]
    seen: list[dict[str, Any]] = []

    async def after(**payload: Any) -> None:
        seen.append(payload)

    connection.route_map["StatusNotification"]["_after_action"] = after
    await charger.status(1, "Available", info="ready", timestamp=T0)
    await until(lambda: bool(seen), "the after handler ran")
    assert seen == [
        {
            "connector_id": 1,
            "error_code": "NoError",
            "status": "Available",
            "info": "ready",
            "timestamp": "2026-11-25T18:00:00.000Z",
        }
    ]
