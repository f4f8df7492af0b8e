"""Restarts: open transactions and readings come back from the ledger."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ev_charging.ledger import LedgerError

from .conftest import ChargerFactory
from .helpers import entity_state, until

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


async def test_reload_mid_transaction(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A transaction started before a reload is metered and stopped correctly after it."""
    charger = await make_charger("CP-1")
    await charger.status(1, "Charging", timestamp=T0)
    transaction_id = (await charger.start_transaction(1, "TAG", meter_start=2_000, timestamp=T0))[
        "transactionId"
    ]
    await charger.meter_values(
        1, transaction_id, power_w=7_400, energy_wh=2_500, timestamp=T0 + timedelta(minutes=5)
    )

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    await charger.wait_closed()
    # Before the charger is back, the known charger's entities exist with restored values.
    assert entity_state(hass, "sensor", "CP-1|1|power").state == STATE_UNAVAILABLE
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state) == Decimal("2.5")

    # Chargers reconnect without a new BootNotification after a CSMS restart: the central
    # system asks for their connector statuses and the meter values of running sessions.
    central = init_integration.runtime_data.central
    await charger.connect()
    await until(lambda: central.chargers["CP-1"].local_list_status is not None, "refresh")
    await charger.idle()
    await hass.async_block_till_done()
    assert ("TriggerMessage", {"requestedMessage": "StatusNotification"}) in charger.received_calls
    assert (
        "TriggerMessage",
        {"requestedMessage": "MeterValues", "connectorId": 1},
    ) in charger.received_calls
    assert entity_state(hass, "sensor", "CP-1|1|status").state == "charging"
    # A reading sent while we were down arrives late: stored, though older than the refresh.
    await charger.meter_values(
        1, transaction_id, power_w=7_400, energy_wh=3_000, timestamp=T0 + timedelta(minutes=10)
    )
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|session_energy").state) == Decimal("0.5")
    await charger.stop_transaction(
        transaction_id, meter_stop=3_100, timestamp=T0 + timedelta(minutes=11)
    )
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|session_energy").state) == Decimal("1.1")

    ledger = init_integration.runtime_data.ledger
    [transaction] = await ledger.load_transactions("CP-1")
    assert (transaction.meter_start_wh, transaction.meter_stop_wh) == (2_000, 3_100)
    readings = await ledger.load_meter_readings(transaction_id)
    # The refresh reading (taken now, the register still at 2.5 kWh) comes last in time.
    assert [r.energy_wh for r in readings] == [2_500, 3_000, 2_500]


async def test_register_never_decreases_across_meter_reset(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger whose meter restarts from zero (it says so by booting) does not make the
    energy sensor go down; a single low reading without a boot is a glitch, not a new meter."""
    charger = await make_charger("CP-1")
    await charger.meter_values(1, None, power_w=0, energy_wh=50_000, timestamp=T0)
    await charger.meter_values(
        1, None, power_w=0, energy_wh=20, timestamp=T0 + timedelta(seconds=30)
    )
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state) == Decimal("50")
    await charger.boot()
    await charger.meter_values(
        1, None, power_w=0, energy_wh=20, timestamp=T0 + timedelta(minutes=1)
    )
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state) == Decimal("50.02")
    reviews = await init_integration.runtime_data.ledger.open_reviews()
    assert [r["kind"] for r in reviews] == ["meter_reset"]
    # An older reading arriving late does not move it either.
    await charger.meter_values(
        1, None, power_w=0, energy_wh=10, timestamp=T0 - timedelta(minutes=1)
    )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state) == Decimal("50.02")


async def test_last_session_energy_survives_a_restart(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A finished session's energy still shows after a reload, not 'unknown'."""
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "TAG", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    await charger.stop_transaction(
        transaction_id, meter_stop=4_200, timestamp=T0 + timedelta(hours=1)
    )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    await charger.connect()
    await charger.heartbeat()
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|session_energy").state) == Decimal("4.2")


async def test_no_timer_writes_to_the_ledger_once_it_is_closed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant cancels an entry's async_on_unload timers only after unloading it:
    timers that write to the ledger stop before it closes, or one firing in between (seen
    on a slow machine) raised 'the ledger is closed'."""
    ledger = init_integration.runtime_data.ledger
    close = ledger.close

    async def close_then_time_passes() -> None:
        await close()
        # A week at once: every periodic job of the entry would be due now.
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=7))
        await hass.async_block_till_done()

    monkeypatch.setattr(ledger, "close", close_then_time_passes)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert "the ledger is closed" not in caplog.text
    assert "Error doing job" not in caplog.text


async def test_home_assistant_stopping_says_going_away_and_closes_the_ledger(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Home Assistant does not unload entries when it stops: the integration hears the stop
    itself, so chargers get a close frame (1001, going away: come back soon) and the ledger's
    writer finishes instead of dying with the process."""
    charger = await make_charger("CP-1")
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await until(lambda: charger.close_code is not None, "the charger hears of the stop")
    assert charger.close_code == 1001
    with pytest.raises(LedgerError):
        init_integration.runtime_data.ledger.submit(lambda connection: None)
