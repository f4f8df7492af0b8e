"""A whole charging session through real websockets: entity states and ledger rows."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ev_charging.const import DOMAIN

from .conftest import ChargerFactory
from .helpers import enable_early, entity_state, until

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


async def test_device_from_boot_notification(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that boots becomes a device with its maker, model, serial and firmware."""
    await make_charger(
        "CP-1", vendor="Acme", model="Wallbox 22", serial_number="SN42", firmware="3.1"
    )
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, "CP-1"), init_integration.entry_id
    )
    assert device is not None
    assert (device.manufacturer, device.model, device.serial_number, device.sw_version) == (
        "Acme",
        "Wallbox 22",
        "SN42",
        "3.1",
    )
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == STATE_OFF


async def test_full_session(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Boot, plug in, start, five meter values, stop: entities and the ledger agree."""
    await hass.services.async_call(
        DOMAIN, "set_id_tag", {"id_tag": "TAG-1", "name": "Resident"}, blocking=True
    )
    enable_early(hass, init_integration, "sensor", "CP-1|status")
    charger = await make_charger("CP-1")
    await charger.status(0, "Available")
    await charger.status(1, "Preparing", timestamp=T0)
    assert (await charger.authorize("TAG-1"))["idTagInfo"]["status"] == "Accepted"
    started = await charger.start_transaction(1, "TAG-1", meter_start=1_000_000, timestamp=T0)
    transaction_id = started["transactionId"]
    await charger.status(1, "Charging", timestamp=T0)
    energy = 1_000_000
    for minute in range(1, 6):
        energy += 180  # 11 kW for a minute is about 183 Wh
        await charger.meter_values(
            1,
            transaction_id,
            power_w=11_000,
            energy_wh=energy,
            timestamp=T0 + timedelta(minutes=minute),
        )
    await hass.async_block_till_done()

    assert entity_state(hass, "sensor", "CP-1|status").state == "available"
    assert entity_state(hass, "sensor", "CP-1|1|status").state == "charging"
    assert float(entity_state(hass, "sensor", "CP-1|1|power").state) == 11.0
    register = entity_state(hass, "sensor", "CP-1|1|energy_register")
    assert Decimal(register.state) == Decimal("1000.9")
    assert register.attributes["unit_of_measurement"] == "kWh"
    assert register.attributes["state_class"] == "total_increasing"
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|session_energy").state) == Decimal("0.9")

    stopped = await charger.stop_transaction(
        transaction_id,
        meter_stop=energy + 20,
        reason="EVDisconnected",
        timestamp=T0 + timedelta(minutes=6),
    )
    assert stopped == {} or "idTagInfo" not in stopped
    await charger.status(1, "Finishing")
    await charger.status(1, "Available")
    await hass.async_block_till_done()

    assert entity_state(hass, "sensor", "CP-1|1|status").state == "available"
    assert float(entity_state(hass, "sensor", "CP-1|1|power").state) == 0
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|session_energy").state) == Decimal("0.92")
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state) == Decimal(
        "1000.92"
    )

    ledger = init_integration.runtime_data.ledger
    [transaction] = await ledger.load_transactions("CP-1")
    assert transaction.transaction_id == transaction_id
    assert (transaction.id_tag, transaction.meter_start_wh, transaction.meter_stop_wh) == (
        "TAG-1",
        1_000_000,
        1_000_920,
    )
    assert transaction.started_at == T0
    assert transaction.stopped_at == T0 + timedelta(minutes=6)
    assert transaction.stop_reason == "EVDisconnected"
    readings = await ledger.load_meter_readings(transaction_id)
    assert [r.energy_wh for r in readings] == [Decimal(1_000_000 + 180 * m) for m in range(1, 6)]
    assert all(r.power_w == Decimal(11_000) for r in readings)
    frames = await ledger.load_frames("CP-1")
    assert [f["action"] for f in frames] == ["StartTransaction"] + ["MeterValues"] * 5 + [
        "StopTransaction"
    ]
    assert {f["outcome"] for f in frames} == {"ok"}


async def test_disconnect_marks_charger_offline(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The offline problem turns on and live figures become unavailable; the register stays."""
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")
    await charger.meter_values(1, None, power_w=0, energy_wh=5000, timestamp=T0)
    await charger.close()
    await hass.async_block_till_done()
    central = init_integration.runtime_data.central
    await until(lambda: not central.connections, "the server saw the socket close")
    await hass.async_block_till_done()
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == STATE_ON
    assert entity_state(hass, "sensor", "CP-1|1|power").state == STATE_UNAVAILABLE
    assert entity_state(hass, "sensor", "CP-1|1|energy_register").state == "5"


async def test_second_connection_replaces_a_half_open_first(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that connects again while its old socket no longer answers (a network drop
    the server did not notice) takes over; the old socket is closed."""
    first = await make_charger("CP-1")
    first.go_half_open()
    second = await make_charger("CP-1")
    first.go_half_open(False)  # it hears the close now
    await first.wait_closed()
    assert not first.connected
    assert (await second.heartbeat())["currentTime"]
    await hass.async_block_till_done()
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == STATE_OFF


async def test_stop_transaction_data_is_stored(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Readings a charger sends inside StopTransaction's transactionData go to the ledger."""
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "TAG", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    transaction_data = [
        {
            "timestamp": (T0 + timedelta(minutes=m)).isoformat(),
            "sampledValue": [
                {"value": str(100 * m), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
            ],
        }
        for m in (1, 2)
    ]
    await charger.stop_transaction(
        transaction_id,
        meter_stop=250,
        timestamp=T0 + timedelta(minutes=3),
        transaction_data=transaction_data,
    )
    readings = await init_integration.runtime_data.ledger.load_meter_readings(transaction_id)
    assert [(r.connector_id, r.energy_wh) for r in readings] == [(1, 100), (1, 200)]
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state) == Decimal("0.25")


async def test_answered_raw_frames_are_pruned_after_a_week(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Raw frames answered "ok" go after the retention time; refused ones stay."""
    charger = await make_charger("CP-1")
    await charger.start_transaction(1, "TAG", meter_start=0, timestamp=T0)
    refused = [2, "bad", "MeterValues", {"connectorId": 1}]
    assert (await charger.call_raw(refused))[2] == "OccurenceConstraintViolation"
    charger.frames[:] = [f for f in charger.frames if f.parsed[1] != "bad"]
    ledger = init_integration.runtime_data.ledger
    assert len(await ledger.load_frames("CP-1")) == 2

    freezer.tick(timedelta(days=6))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(await ledger.load_frames("CP-1")) == 2

    freezer.tick(timedelta(days=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [f["message_id"] for f in await ledger.load_frames("CP-1")] == ["bad"]
