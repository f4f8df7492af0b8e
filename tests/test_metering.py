"""Metering edge cases real chargers produce: rounding, split moments, clocks, late stops."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import ChargerFactory
from .helpers import entity_state

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
ENERGY = "Energy.Active.Import.Register"


def register(hass: HomeAssistant) -> Decimal:
    """The connector's lifetime energy register, in kWh."""
    return Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state)


async def test_rounded_meter_stop_is_not_a_meter_reset(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Decimal MeterValues then an integer meterStop a fraction lower: no jump, no drop."""
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "T", meter_start=1_000_000, timestamp=T0))[
        "transactionId"
    ]
    await charger.meter_values(
        1,
        transaction_id,
        power_w=0,
        timestamp=T0 + timedelta(minutes=1),
        sampled_value=[{"value": "1000500.6", "measurand": ENERGY, "unit": "Wh"}],
    )
    await charger.stop_transaction(
        transaction_id, meter_stop=1_000_500, timestamp=T0 + timedelta(minutes=2)
    )
    await hass.async_block_till_done()
    assert register(hass) == Decimal("1000.5006")


async def test_one_moment_split_over_elements_is_merged(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Energy in one meterValue element and power in another, same timestamp: both count."""
    charger = await make_charger("CP-1")
    moment = T0.isoformat()
    await charger.call_raw(
        [
            2,
            "split",
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": moment, "sampledValue": [{"value": "500", "measurand": ENERGY}]},
                    {
                        "timestamp": moment,
                        "sampledValue": [{"value": "7400", "measurand": "Power.Active.Import"}],
                    },
                ],
            },
        ]
    )
    await hass.async_block_till_done()
    assert register(hass) == Decimal("0.5")
    assert entity_state(hass, "sensor", "CP-1|1|power").state == "7.4"


async def test_clock_in_the_future_does_not_freeze_readings(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A reading stamped years ahead (a charger's clock after a reboot) does not block later ones."""
    charger = await make_charger("CP-1")
    await charger.meter_values(
        1, None, power_w=0, energy_wh=1_000, timestamp=T0 + timedelta(days=3650)
    )
    await charger.meter_values(1, None, power_w=0, energy_wh=2_000)
    await charger.meter_values(1, None, power_w=0, energy_wh=3_000)
    await hass.async_block_till_done()
    assert register(hass) == Decimal(3)


async def test_late_stop_of_older_transaction_keeps_the_running_one(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """After a power loss a charger may stop its old transaction once the new one runs."""
    charger = await make_charger("CP-1")
    old = (await charger.start_transaction(1, "OLD", meter_start=0, timestamp=T0))["transactionId"]
    new = (
        await charger.start_transaction(
            1, "NEW", meter_start=100, timestamp=T0 + timedelta(hours=1)
        )
    )["transactionId"]
    await charger.stop_transaction(old, meter_stop=100, timestamp=T0 + timedelta(hours=1))
    connector = init_integration.runtime_data.central.chargers["CP-1"].connector(1)
    assert connector.transaction is not None
    assert connector.transaction.transaction_id == new


async def test_another_chargers_transaction_cannot_be_stopped(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A StopTransaction naming another charger's transaction is kept raw but changes nothing."""
    owner = await make_charger("CP-1")
    intruder = await make_charger("CP-2")
    transaction_id = (await owner.start_transaction(1, "T", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    await intruder.stop_transaction(transaction_id, meter_stop=99_999, timestamp=T0)
    [transaction] = await init_integration.runtime_data.ledger.load_transactions("CP-1")
    assert transaction.stopped_at is None
    assert init_integration.runtime_data.central.chargers["CP-1"].connector(1).transaction


async def test_retried_stop_with_transaction_data_is_stored_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A StopTransaction sent again (its answer was lost) adds no readings."""
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "T", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    data = [
        {
            "timestamp": (T0 + timedelta(minutes=1)).isoformat(),
            "sampledValue": [{"value": "100", "measurand": ENERGY}],
        }
    ]
    for _ in range(2):
        await charger.stop_transaction(
            transaction_id,
            meter_stop=150,
            timestamp=T0 + timedelta(minutes=2),
            transaction_data=data,
        )
    readings = await init_integration.runtime_data.ledger.load_meter_readings(transaction_id)
    assert [(r.connector_id, r.energy_wh) for r in readings] == [(1, 100)]


async def test_a_failing_entity_does_not_refuse_the_charger(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A listener that raises is logged; the charger still gets its answers."""
    charger = await make_charger("CP-1")

    def broken() -> None:
        raise ValueError("a broken listener")

    init_integration.runtime_data.central.chargers["CP-1"].add_listener(broken)
    assert await charger.meter_values(1, None, power_w=1000, energy_wh=10, timestamp=T0) == {}
    assert (await charger.heartbeat())["currentTime"]
