"""What real chargers send that our own simulator did not (issue 15): grid-side readings,
offline replays, reboots that lose a transaction, heartbeat changes, odd replies."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.const import CONF_PRICE_PER_KWH, DOMAIN

from .conftest import ChargerFactory
from .helpers import entity_state
from .test_billing import add_tariff, bill_of, set_vat

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"


@pytest.fixture(autouse=True)
async def resident_tag(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The tag the sessions here charge with."""
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "T"}, blocking=True)


def both_sides(energy_outlet: str, energy_inlet: str) -> list[dict[str, str]]:
    """A charger that balances its own load reports the grid side (Inlet) beside the car
    side (Outlet, or no location); the grid side comes last, as on the charger that cost a
    guest 3452.39 EUR."""
    return [
        {"value": energy_outlet, "measurand": ENERGY, "unit": "Wh", "context": "Sample.Periodic"},
        {"value": "7000", "measurand": POWER, "unit": "W", "location": "Outlet"},
        {"value": "16", "measurand": CURRENT, "unit": "A", "phase": "L1", "location": "Outlet"},
        {"value": "32", "measurand": "SoC", "unit": "Percent", "location": "EV"},
        {"value": "41.5", "measurand": "Temperature", "unit": "Celsius", "location": "Body"},
        {"value": energy_inlet, "measurand": ENERGY, "unit": "kWh", "location": "Inlet"},
        {"value": "9200", "measurand": POWER, "unit": "W", "location": "Inlet"},
        {"value": "40", "measurand": CURRENT, "unit": "A", "phase": "L1", "location": "Inlet"},
    ]


async def test_grid_side_readings_never_reach_the_bill(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Only car-side energy feeds the register, the session and the bill: 0.2 kWh at 0.30 is
    0.06, whatever the Inlet register says; power and current are the car's too."""
    await set_vat(hass, init_integration, False, "0")
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "T", meter_start=14_000, timestamp=T0))[
        "transactionId"
    ]
    for minute, outlet, inlet in ((5, "14100", "9876.543"), (10, "14150", "9876.6")):
        await charger.meter_values(
            1,
            transaction_id,
            power_w=0,
            timestamp=T0 + timedelta(minutes=minute),
            sampled_value=both_sides(outlet, inlet),
        )
    await hass.async_block_till_done()
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|power").state) == 7
    assert Decimal(entity_state(hass, "sensor", "CP-1|1|energy_register").state) == Decimal("14.15")
    await charger.stop_transaction(
        transaction_id, meter_stop=14_200, timestamp=T0 + timedelta(minutes=15)
    )
    await charger.status(1, "Available", timestamp=T0 + timedelta(minutes=16))
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.energy_wh, bill.gross) == (Decimal(200), Decimal("0.06"))
    connector = init_integration.runtime_data.central.chargers["CP-1"].connectors[1]
    assert connector.energy_register_kwh == Decimal("14.2")
    assert (connector.current_a, connector.soc_percent) == (Decimal(16), Decimal(32))
    assert connector.temperature_c == Decimal("41.5")
    # The grid side is kept in the ledger with its location, never mixed in.
    readings = await init_integration.runtime_data.ledger.load_meter_readings(transaction_id)
    assert any(
        s.get("location") == "Inlet" and s["measurand"] == ENERGY
        for r in readings
        for s in r.sampled_values
    )
    assert [r.energy_wh for r in readings] == [Decimal(14_100), Decimal(14_150)]
