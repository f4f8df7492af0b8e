"""Commands from Home Assistant to chargers, through the service actions."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from ocpp.exceptions import NotSupportedError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.const import CONF_CHARGERS, CONF_KEEP_CONFIGURATION, DOMAIN
from custom_components.ev_charging.csms import commands
from custom_components.ev_charging.services import SERVICES
from simulator.charger import SILENT

from .conftest import ChargerFactory
from .helpers import until

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def device_id(hass: HomeAssistant, entry: MockConfigEntry, charger_id: str = "CP-1") -> str:
    """The device registry id of a charger."""
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, charger_id), entry.entry_id)
    assert device is not None
    return device.id


async def run(
    hass: HomeAssistant, entry: MockConfigEntry, service: str, **data: Any
) -> dict[str, Any] | None:
    """Call a service on charger CP-1 and return its response, if it has one."""
    response = next(s.response for s in SERVICES if s.name == service)
    return await hass.services.async_call(
        DOMAIN,
        service,
        {"device_id": device_id(hass, entry), **data},
        blocking=True,
        return_response=response is not SupportsResponse.NONE,
    )


@pytest.mark.parametrize(
    ("service", "data", "action", "payload"),
    [
        (
            "remote_start_transaction",
            {"id_tag": "HOME"},
            "RemoteStartTransaction",
            {"idTag": "HOME", "connectorId": 1},
        ),
        (
            "set_current_limit",
            {"current": 16},
            "SetChargingProfile",
            {
                "connectorId": 0,
                "csChargingProfiles": {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                    },
                },
            },
        ),
        ("clear_charging_profile", {}, "ClearChargingProfile", {}),
        (
            "change_availability",
            {"connector_id": 1, "available": False},
            "ChangeAvailability",
            {"connectorId": 1, "type": "Inoperative"},
        ),
        ("reset", {"type": "hard"}, "Reset", {"type": "Hard"}),
        ("unlock_connector", {}, "UnlockConnector", {"connectorId": 1}),
        (
            "trigger_message",
            {"message": "StatusNotification", "connector_id": 1},
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "connectorId": 1},
        ),
        (
            "reserve_now",
            {"id_tag": "GUEST", "expiry": "2026-11-25T19:00:00+00:00", "reservation_id": 7},
            "ReserveNow",
            {
                "connectorId": 1,
                "expiryDate": "2026-11-25T19:00:00+00:00",
                "idTag": "GUEST",
                "reservationId": 7,
            },
        ),
        ("cancel_reservation", {"reservation_id": 7}, "CancelReservation", {"reservationId": 7}),
    ],
)
async def test_command_reaches_the_charger(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    service: str,
    data: dict[str, Any],
    action: str,
    payload: dict[str, Any],
) -> None:
    """Each service sends its OCPP command with the right payload."""
    charger = await make_charger("CP-1")
    charger.answers.setdefault("ReserveNow", {"status": "Accepted"})
    charger.answers.setdefault("CancelReservation", {"status": "Accepted"})
    await run(hass, init_integration, service, **data)
    assert (action, payload) in charger.received_calls


async def test_remote_stop_stops_the_running_session(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Stop charging names the connector's open transaction; none open is a clear error."""
    charger = await make_charger("CP-1")
    with pytest.raises(ServiceValidationError) as no_session:
        await run(hass, init_integration, "remote_stop_transaction")
    assert no_session.value.translation_key == "no_transaction"
    transaction_id = (await charger.start_transaction(1, "T", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    charger.transactions[1] = transaction_id
    await run(hass, init_integration, "remote_stop_transaction")
    assert ("RemoteStopTransaction", {"transactionId": transaction_id}) in charger.received_calls


async def test_responses_come_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """GetConfiguration, ChangeConfiguration and DataTransfer return the charger's answer."""
    charger = await make_charger("CP-1")
    configuration = await run(
        hass, init_integration, "get_configuration", keys=["HeartbeatInterval", "Nope"]
    )
    assert configuration is not None
    assert [k["key"] for k in configuration["configuration_key"]] == ["HeartbeatInterval"]
    assert configuration["unknown_key"] == ["Nope"]
    changed = await run(
        hass, init_integration, "change_configuration", key="MeterValueSampleInterval", value="30"
    )
    assert changed == {"status": "Accepted"}
    assert charger.configuration["MeterValueSampleInterval"] == "30"
    charger.answers["DataTransfer"] = {"status": "Accepted", "data": "pong"}
    assert await run(hass, init_integration, "data_transfer", vendor_id="acme", data="ping") == {
        "status": "Accepted",
        "data": "pong",
    }


async def test_rejected_command_is_a_clear_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that says Rejected makes the service fail with that reason."""
    charger = await make_charger("CP-1")
    charger.answers["Reset"] = {"status": "Rejected"}
    with pytest.raises(HomeAssistantError) as rejected:
        await run(hass, init_integration, "reset")
    assert rejected.value.translation_key == "command_rejected"
    assert rejected.value.translation_placeholders["detail"] == "Rejected"


async def test_unsupported_command_is_a_clear_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger answering NotSupported makes the service say so."""
    charger = await make_charger("CP-1")
    charger.answers["SetChargingProfile"] = NotSupportedError(description="no smart charging")
    with pytest.raises(HomeAssistantError) as unsupported:
        await run(hass, init_integration, "set_current_limit", current=10)
    assert unsupported.value.translation_key == "command_not_supported"


async def test_silent_charger_times_out(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A charger that never answers makes the service time out, and the next command works."""
    charger = await make_charger("CP-1")
    charger.answers["UnlockConnector"] = SILENT
    monkeypatch.setattr(commands, "COMMAND_TIMEOUT", 0)
    with pytest.raises(HomeAssistantError) as timed_out:
        await run(hass, init_integration, "unlock_connector")
    assert timed_out.value.translation_key == "command_timeout"
    monkeypatch.undo()
    await run(hass, init_integration, "reset")
    assert ("Reset", {"type": "Soft"}) in charger.received_calls


async def test_offline_charger_is_a_clear_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A command to a charger that is not connected fails at once, saying why."""
    charger = await make_charger("CP-1")
    await charger.close()
    central = init_integration.runtime_data.central
    await until(lambda: not central.connections, "the server saw the socket close")
    with pytest.raises(HomeAssistantError) as offline:
        await run(hass, init_integration, "reset")
    assert offline.value.translation_key == "charger_offline"


async def test_clearing_a_profile_that_is_not_there_is_no_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """ClearChargingProfile answered Unknown (no such profile) leaves no profile: success."""
    charger = await make_charger("CP-1")
    charger.answers["ClearChargingProfile"] = {"status": "Unknown"}
    await run(hass, init_integration, "clear_charging_profile")
    assert ("ClearChargingProfile", {}) in charger.received_calls


async def test_charger_gone_mid_command_fails_at_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that disconnects while a command waits for its answer: offline, no timeout."""
    charger = await make_charger("CP-1")
    charger.answers["Reset"] = SILENT
    command = hass.async_create_task(run(hass, init_integration, "reset"))
    await until(lambda: ("Reset", {"type": "Soft"}) in charger.received_calls, "the Reset")
    await charger.close()
    with pytest.raises(HomeAssistantError) as offline:
        async with asyncio.timeout(5):  # the command timeout is 30 s
            await command
    assert offline.value.translation_key == "charger_offline"


async def test_unknown_device_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A device that is not a charger is a validation error."""
    with pytest.raises(ServiceValidationError) as unknown:
        await hass.services.async_call(
            DOMAIN, "reset", {"device_id": "not-a-device"}, blocking=True
        )
    assert unknown.value.translation_key == "unknown_device"


async def test_boot_sets_the_meter_values_billing_needs(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """After an accepted boot the charger's own settings are read first; only what billing
    lacks is added (the energy register and power, every minute) and the answers recorded:
    the measurands the charger already sent stay."""
    charger = await make_charger("CP-1", boot=False)
    charger.configuration["MeterValuesSampledData"] = "Voltage,Current.Import,SoC"
    charger.configuration["MeterValueSampleInterval"] = "300"
    await charger.boot()
    central = init_integration.runtime_data.central
    state = central.chargers["CP-1"]
    await until(lambda: len(state.configuration_results) == 2, "both settings answered")
    assert charger.configuration["MeterValueSampleInterval"] == "60"
    assert charger.configuration["MeterValuesSampledData"] == (
        "Voltage,Current.Import,SoC,Energy.Active.Import.Register,Power.Active.Import"
    )
    ledger = init_integration.runtime_data.ledger
    assert await ledger.load_configuration_results("CP-1") == {
        "MeterValueSampleInterval": "Accepted",
        "MeterValuesSampledData": "Accepted",
    }
    # At the next boot everything is as billing needs it: nothing is changed.
    changes = [a for a, _ in charger.received_calls].count("ChangeConfiguration")
    state.configuration_results.clear()
    await charger.boot()
    await until(lambda: len(state.configuration_results) == 2, "both settings read")
    assert set(state.configuration_results.values()) == {"Unchanged"}
    assert [a for a, _ in charger.received_calls].count("ChangeConfiguration") == changes


async def test_a_charger_whose_configuration_is_kept_is_not_changed(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The owner's workaround: nothing is changed at boot, the charger's list stays."""
    hass.config_entries.async_update_entry(
        init_integration,
        options={
            **init_integration.options,
            CONF_CHARGERS: {"CP-1": {CONF_KEEP_CONFIGURATION: True}},
        },
    )
    await hass.async_block_till_done()
    charger = await make_charger("CP-1", boot=False)
    charger.configuration["MeterValuesSampledData"] = "Voltage"
    await charger.boot()
    state = init_integration.runtime_data.central.chargers["CP-1"]
    await until(lambda: state.local_list_status is not None, "the boot's follow-up")
    assert charger.configuration["MeterValuesSampledData"] == "Voltage"
    assert not [a for a, _ in charger.received_calls if a == "ChangeConfiguration"]


async def test_boot_configuration_refusals_are_recorded(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that refuses or does not know a setting is noted, not retried forever."""
    charger = await make_charger("CP-1", boot=False)
    charger.configuration["MeterValuesSampledData"] = "Voltage"
    charger.configuration["MeterValueSampleInterval"] = "300"
    charger.answers["ChangeConfiguration"] = {"status": "Rejected"}
    await charger.boot()
    state = init_integration.runtime_data.central.chargers["CP-1"]
    await until(lambda: len(state.configuration_results) == 2, "both settings answered")
    assert set(state.configuration_results.values()) == {"Rejected"}
    charger.answers["ChangeConfiguration"] = NotSupportedError(description="read-only")
    state.configuration_results.clear()
    await charger.boot()
    await until(lambda: len(state.configuration_results) == 2, "both settings answered")
    assert set(state.configuration_results.values()) == {"command_not_supported"}
