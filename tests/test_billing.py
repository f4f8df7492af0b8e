"""Billing in Home Assistant: tariffs from the UI, sessions priced from the simulator's messages."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.billing.cashier import (
    FOREIGN_READINGS,
    LATE_STOP,
    NEVER_STOPPED,
    PRICED_WHILE_DOWN,
    REPEATED_STOP,
)
from custom_components.ev_charging.billing.pricing import (
    METER_STOP_BELOW_START,
    NO_DYNAMIC_PRICE,
    REGISTER_ROLLBACK,
)
from custom_components.ev_charging.const import (
    CONF_DEFAULT,
    CONF_IDLE_FEE,
    CONF_IDLE_GRACE,
    CONF_PRICE_FACTOR,
    CONF_PRICE_MARKUP,
    CONF_PRICE_PER_KWH,
    CONF_PRICE_SENSOR,
    CONF_PRICES_INCLUDE_VAT,
    CONF_SESSION_FEE,
    CONF_TIME_OF_USE,
    CONF_VAT_PERCENT,
    DOMAIN,
    SUBENTRY_TARIFF,
)
from custom_components.ev_charging.ledger import BillRecord
from simulator import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import enable_early, entity_state, until

T0 = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # a Monday, 22:30 in Amsterdam


@pytest.fixture(autouse=True)
async def resident_tag(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The tag the sessions charge with: only accepted sessions are priced."""
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "TAG"}, blocking=True)
    await hass.async_block_till_done()


async def add_tariff(hass: HomeAssistant, entry: MockConfigEntry, **fields: Any) -> str:
    """Add a tariff through its subentry flow, as the UI does; returns its id."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TARIFF), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Residents", CONF_DEFAULT: False} | fields
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()
    [subentry] = [
        s
        for s in entry.get_subentries_of_type(SUBENTRY_TARIFF)
        if s.title == fields.get(CONF_NAME, "Residents")
    ]
    return subentry.subentry_id


async def set_vat(
    hass: HomeAssistant, entry: MockConfigEntry, include: bool, percent: str, **more: str
) -> None:
    """The billing options: VAT, and what else is given (the electricity price)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "billing"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PRICES_INCLUDE_VAT: include, CONF_VAT_PERCENT: percent} | more
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def session(
    charger: SimulatedCharger,
    *,
    start_wh: int = 0,
    readings: tuple[tuple[float, int], ...] = (),
    stop: tuple[float, int] | None = None,
    statuses: tuple[tuple[float, str], ...] = (),
    at: datetime = T0,
) -> int:
    """Start, send readings at minutes after `at`, statuses, stop; returns the transaction id."""
    await charger.status(1, "Preparing", timestamp=at)
    started = await charger.start_transaction(1, "TAG", meter_start=start_wh, timestamp=at)
    transaction_id: int = started["transactionId"]
    await charger.status(1, "Charging", timestamp=at)
    events: list[tuple[float, Any]] = [(m, ("reading", wh)) for m, wh in readings]
    events += [(m, ("status", s)) for m, s in statuses]
    if stop is not None:
        events.append((stop[0], ("stop", stop[1])))
    for minutes, (kind, value) in sorted(events, key=lambda e: (e[0], e[1][0] != "stop")):
        moment = at + timedelta(minutes=minutes)
        if kind == "reading":
            await charger.meter_values(
                1, transaction_id, power_w=7_000, energy_wh=value, timestamp=moment
            )
        elif kind == "stop":
            await charger.stop_transaction(transaction_id, meter_stop=value, timestamp=moment)
        else:
            await charger.status(1, value, timestamp=moment)
    return transaction_id


async def bill_of(entry: MockConfigEntry, transaction_id: int) -> BillRecord:
    [bill] = await entry.runtime_data.ledger.load_bills(transaction_id=transaction_id)
    return bill


async def test_flat_price_with_session_fee(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """10 kWh at 0.30 plus a 0.50 session fee, 21 % VAT included: 3.50, final when unplugged."""
    await set_vat(hass, init_integration, True, "21")
    await add_tariff(
        hass, init_integration, **{CONF_PRICE_PER_KWH: "0,30", CONF_SESSION_FEE: "0.50"}
    )
    enable_early(hass, init_integration, "sensor", "CP-1|energy_price")
    charger = await make_charger("CP-1")
    transaction_id = await session(
        charger,
        readings=((30, 5_000),),
        stop=(60, 10_000),
        statuses=((61, "Finishing"), (62, "Available")),
    )
    await hass.async_block_till_done()
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.energy_wh, bill.energy_cost, bill.session_fee) == (
        Decimal(10_000),
        Decimal("3.000"),
        Decimal("0.50"),
    )
    assert (bill.gross, bill.net, bill.tax, bill.final) == (
        Decimal("3.50"),
        Decimal("2.89"),
        Decimal("0.61"),
        True,
    )
    assert bill.tariff["version"] == 1
    assert entity_state(hass, "sensor", "CP-1|1|session_cost").state == "3.50"
    assert entity_state(hass, "sensor", "CP-1|energy_price").state == "0.30"
    # After a restart the connector still shows what its last session cost.
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert entity_state(hass, "sensor", "CP-1|1|session_cost").state == "3.50"


async def test_idle_fee_runs_past_the_stop_until_unplugged(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Full at 60 min, stopped at 65, unplugged at 100: 10 minutes grace, 30 at 0.10/min."""
    freezer.move_to(T0 + timedelta(minutes=70))
    await add_tariff(
        hass,
        init_integration,
        **{CONF_PRICE_PER_KWH: "0.30", CONF_IDLE_FEE: "0.10", CONF_IDLE_GRACE: 10},
    )
    charger = await make_charger("CP-1")
    transaction_id = await session(
        charger,
        readings=((30, 5_000),),
        statuses=((60, "SuspendedEV"),),
        stop=(65, 10_000),
    )
    await hass.async_block_till_done()
    # Stopped but still plugged in: 70 - 60 - 10 = 0 idle minutes so far, and the bill is open.
    assert entity_state(hass, "sensor", "CP-1|1|session_cost").state == "3.00"
    freezer.move_to(T0 + timedelta(minutes=90))
    await charger.heartbeat()  # any message refreshes the charger's sensors
    assert entity_state(hass, "sensor", "CP-1|1|session_cost").state == "5.00"
    assert not (await bill_of(init_integration, transaction_id)).final
    freezer.move_to(T0 + timedelta(minutes=100))
    await charger.status(1, "Available", timestamp=T0 + timedelta(minutes=100))
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.idle_seconds, bill.idle_fee, bill.gross, bill.final) == (
        Decimal(1_800),
        Decimal(3),
        Decimal("6.00"),
        True,
    )
    freezer.move_to(T0 + timedelta(hours=5))
    await charger.heartbeat()
    assert entity_state(hass, "sensor", "CP-1|1|session_cost").state == "6.00"


async def test_time_of_use_boundary(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """22:30-23:30 in Amsterdam, day band until 23:00: half at 0.40, half at 0.20."""
    await add_tariff(
        hass,
        init_integration,
        **{CONF_PRICE_PER_KWH: "0.20", CONF_TIME_OF_USE: "daily 07:00-23:00 0.40"},
    )
    # Bands are read in Home Assistant's time zone, also when it changes later.
    await hass.config.async_update(time_zone="Europe/Amsterdam")
    await hass.async_block_till_done()
    charger = await make_charger("CP-1")
    transaction_id = await session(charger, stop=(60, 2_000))
    bill = await bill_of(init_integration, transaction_id)
    assert [(p["energy_wh"], p["price_per_kwh"]) for p in bill.pieces] == [
        ("1000", "0.40"),
        ("1000", "0.20"),
    ]
    assert bill.gross == Decimal("0.60")


async def test_dynamic_price_changes_mid_session(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A Nord Pool-like sensor goes from 0.10 to 0.30 half-way: each half at its price + 0.05."""
    freezer.move_to(T0 - timedelta(hours=1))
    hass.states.async_set("sensor.nord_pool", "0.10")
    await add_tariff(
        hass,
        init_integration,
        **{
            CONF_PRICE_PER_KWH: "0",
            CONF_PRICE_SENSOR: "sensor.nord_pool",
            CONF_PRICE_FACTOR: "1",
            CONF_PRICE_MARKUP: "0.05",
        },
    )
    enable_early(hass, init_integration, "sensor", "CP-1|energy_price")
    charger = await make_charger("CP-1")
    transaction_id = await session(charger, readings=((15, 500),))
    freezer.move_to(T0 + timedelta(minutes=30))
    hass.states.async_set("sensor.nord_pool", "0.30")
    await hass.async_block_till_done()
    assert entity_state(hass, "sensor", "CP-1|energy_price").state == "0.35"
    await charger.stop_transaction(
        transaction_id, meter_stop=2_000, timestamp=T0 + timedelta(hours=1)
    )
    bill = await bill_of(init_integration, transaction_id)
    assert [(Decimal(p["energy_wh"]), p["price_per_kwh"]) for p in bill.pieces] == [
        (Decimal(1_000), "0.15"),
        (Decimal(1_000), "0.35"),
    ]
    assert bill.gross == Decimal("0.50")


async def test_restart_mid_session_prices_the_same(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A reload half-way through: the bill equals that of an uninterrupted session."""
    await add_tariff(
        hass, init_integration, **{CONF_PRICE_PER_KWH: "0.3333", CONF_SESSION_FEE: "0.25"}
    )
    steady = await make_charger("CP-2")
    reference = await session(
        steady,
        readings=((m, m * 123) for m in range(1, 60)),
        stop=(60, 7_400),  # type: ignore[arg-type]
    )
    charger = await make_charger("CP-1")
    transaction_id = await session(charger, readings=tuple((m, m * 123) for m in range(1, 30)))
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    await charger.connect()
    for minute in range(30, 60):
        await charger.meter_values(
            1,
            transaction_id,
            power_w=7_000,
            energy_wh=minute * 123,
            timestamp=T0 + timedelta(minutes=minute),
        )
    await charger.stop_transaction(
        transaction_id, meter_stop=7_400, timestamp=T0 + timedelta(hours=1)
    )
    restarted, uninterrupted = (
        await bill_of(init_integration, transaction_id),
        await bill_of(init_integration, reference),
    )
    assert restarted.gross == uninterrupted.gross == Decimal("2.72")
    assert (restarted.energy_cost, restarted.pieces) == (
        uninterrupted.energy_cost,
        uninterrupted.pieces,
    )


async def test_tariff_edit_mid_session_applies_to_the_next_session(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A session keeps the tariff version it started with; the next one pays the new price."""
    tariff_id = await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1")
    first = await session(charger, readings=((30, 5_000),))
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_TARIFF),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": tariff_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Residents", CONF_PRICE_PER_KWH: "0.50", CONF_DEFAULT: True}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    await charger.stop_transaction(first, meter_stop=10_000, timestamp=T0 + timedelta(hours=1))
    second = await session(charger, stop=(60, 10_000), at=T0 + timedelta(hours=2))
    old, new = await bill_of(init_integration, first), await bill_of(init_integration, second)
    assert (old.tariff["version"], old.gross) == (1, Decimal("3.00"))
    assert (new.tariff["version"], new.gross) == (2, Decimal("5.00"))


async def test_a_stop_sent_again_as_it_was_is_not_for_review(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that heard no answer (a crash took it) sends its StopTransaction again, as
    OCPP tells it to: the first stop counts and nobody is asked to review anything."""
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1")
    stopped = await session(charger, start_wh=0, stop=(60, 10_000))
    await charger.stop_transaction(stopped, meter_stop=10_000, timestamp=T0 + timedelta(hours=1))
    await charger.status(1, "Available", timestamp=T0 + timedelta(hours=2))
    await charger.stop_transaction(stopped, meter_stop=10_000, timestamp=T0 + timedelta(hours=1))
    bill = await bill_of(init_integration, stopped)
    assert (bill.flags, bill.energy_wh, bill.final) == (set(), Decimal(10_000), True)
    assert await init_integration.runtime_data.ledger.open_reviews() == []


async def test_meter_stop_below_start_and_replayed_stop_are_flagged(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Never a negative cost; a StopTransaction replayed after a restart costs nothing extra."""
    await set_vat(hass, init_integration, False, "0")
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1")
    backwards = await session(charger, start_wh=5_000, stop=(60, 4_000))
    bill = await bill_of(init_integration, backwards)
    assert bill.flags == {METER_STOP_BELOW_START, REGISTER_ROLLBACK}
    assert bill.gross == Decimal("0.00")

    normal = await session(charger, start_wh=0, stop=(60, 10_000), at=T0 + timedelta(hours=2))
    await charger.status(1, "Available", timestamp=T0 + timedelta(hours=3))
    assert (await bill_of(init_integration, normal)).gross == Decimal("3.00")
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    await charger.connect()
    await charger.stop_transaction(normal, meter_stop=12_000, timestamp=T0 + timedelta(hours=4))
    bill = await bill_of(init_integration, normal)
    assert bill.flags == {REPEATED_STOP}
    assert (bill.gross, bill.energy_wh, bill.final) == (Decimal("3.00"), Decimal(10_000), True)
    # A stop for a transaction nobody knows is kept for review too.
    await charger.stop_transaction(424_242, meter_stop=1, timestamp=T0 + timedelta(hours=5))
    await hass.async_block_till_done()
    reviews = await init_integration.runtime_data.ledger.open_reviews()
    # The second session's meterStart of 0 after 4 kWh: the charger's meter restarted.
    assert sorted((r["transaction_id"], r["kind"]) for r in reviews) == [
        (backwards, f"{METER_STOP_BELOW_START},{REGISTER_ROLLBACK}"),
        (normal, "meter_reset"),
        (normal, REPEATED_STOP),
        (424_242, "unknown_transaction"),
    ]

    # A repair issue says so; its fix flow lists them and marks them reviewed.
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "sessions_need_review")
    assert issue is not None
    assert issue.translation_placeholders == {"count": "4"}
    assert await async_setup_component(hass, "repairs", {})
    flows = hass.data["repairs"]["flow_manager"]
    result = await flows.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    assert result["step_id"] == "confirm"
    assert "424242: unknown_transaction" in result["description_placeholders"]["reviews"]
    result = await flows.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, "sessions_need_review") is None
    assert await init_integration.runtime_data.ledger.open_reviews() == []


async def test_session_that_ended_while_home_assistant_was_down(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The stop sent on reconnect carries its past timestamp: priced as it happened."""
    await hass.config.async_update(time_zone="Europe/Amsterdam")
    await set_vat(hass, init_integration, True, "0")
    await add_tariff(
        hass,
        init_integration,
        **{CONF_PRICE_PER_KWH: "0.20", CONF_TIME_OF_USE: "daily 07:00-23:00 0.40"},
    )
    charger = await make_charger("CP-1")
    transaction_id = await session(charger, readings=((15, 500),))
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    # Meanwhile the car finished at 23:30 local; the charger reports it when it is back
    # (after answering the status and meter value requests every reconnect brings; its
    # register stands where the session ended).
    charger.energy_wh[1] = 2_000
    await charger.connect()
    connector = init_integration.runtime_data.central.chargers["CP-1"].connectors[1]
    await until(
        lambda: connector.status_at is not None and connector.status_at > T0 + timedelta(days=1),
        "the status the refresh asks for",
    )
    await charger.stop_transaction(
        transaction_id, meter_stop=2_000, timestamp=T0 + timedelta(hours=1)
    )
    await charger.status(1, "Available", timestamp=T0 + timedelta(hours=1))
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.gross, bill.flags, bill.final) == (Decimal("0.60"), frozenset(), True)


async def test_dynamic_price_while_home_assistant_was_down(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Energy drawn while we were down is priced at the last known price, and flagged."""
    freezer.move_to(T0)
    hass.states.async_set("sensor.nord_pool", "0.20")
    await add_tariff(
        hass, init_integration, **{CONF_PRICE_PER_KWH: "0", CONF_PRICE_SENSOR: "sensor.nord_pool"}
    )
    charger = await make_charger("CP-1")
    transaction_id = await session(charger)
    freezer.move_to(T0 + timedelta(minutes=15))
    await charger.meter_values(
        1, transaction_id, power_w=4_000, energy_wh=1_000, timestamp=T0 + timedelta(minutes=15)
    )
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await charger.wait_closed()
    freezer.move_to(T0 + timedelta(minutes=45))
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    await charger.connect()
    await charger.meter_values(
        1, transaction_id, power_w=4_000, energy_wh=3_000, timestamp=T0 + timedelta(minutes=45)
    )
    await charger.stop_transaction(
        transaction_id, meter_stop=4_000, timestamp=T0 + timedelta(minutes=60)
    )
    bill = await bill_of(init_integration, transaction_id)
    assert PRICED_WHILE_DOWN in bill.flags
    assert bill.gross == Decimal("0.80")  # 4 kWh, all at the last known 0.20


async def test_dynamic_price_known_late_prices_like_a_rebuild(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A session that began before any price was known is priced again when one comes, to
    what a rebuild after a restart makes of it."""
    freezer.move_to(T0)
    await add_tariff(
        hass, init_integration, **{CONF_PRICE_PER_KWH: "0", CONF_PRICE_SENSOR: "sensor.spot"}
    )
    charger = await make_charger("CP-1")
    transaction_id = await session(charger, readings=((30, 1_000),))
    freezer.move_to(T0 + timedelta(minutes=40))
    hass.states.async_set("sensor.spot", "0.25")
    await hass.async_block_till_done()
    live = await bill_of(init_integration, transaction_id)
    assert (live.gross, live.flags) == (Decimal("0.25"), {NO_DYNAMIC_PRICE})
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    await charger.connect()
    await charger.meter_values(
        1, transaction_id, power_w=2_000, energy_wh=2_000, timestamp=T0 + timedelta(minutes=60)
    )
    rebuilt = await bill_of(init_integration, transaction_id)
    assert rebuilt.gross == Decimal("0.50")


async def test_retried_start_leaves_the_bill_alone(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A StartTransaction the charger sends again (its answer was lost) bills once; once that
    session has stopped, the same start again is a new session (a charger without a clock
    starts every session at the same moment with the same register)."""
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1")
    first = await charger.start_transaction(1, "TAG", meter_start=0, timestamp=T0)
    again = await charger.start_transaction(1, "TAG", meter_start=0, timestamp=T0)
    transaction_id = first["transactionId"]
    assert again["transactionId"] == transaction_id
    await charger.stop_transaction(
        transaction_id, meter_stop=10_000, timestamp=T0 + timedelta(hours=1)
    )
    await charger.status(1, "Available", timestamp=T0 + timedelta(hours=1))
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.final, bill.gross, bill.energy_wh) == (True, Decimal("3.00"), Decimal(10_000))
    later_session = await charger.start_transaction(1, "TAG", meter_start=0, timestamp=T0)
    assert later_session["transactionId"] != transaction_id


async def test_readings_from_another_charger_are_not_billed_to_the_session(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger naming another charger's transaction adds nothing to that session's bill and
    cannot mark it either: the sender is put on the review list."""
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    garage = await make_charger("GARAGE")
    street = await make_charger("STREET")
    transaction_id = await session(garage, readings=((30, 1_000),))
    await street.meter_values(
        1, transaction_id, power_w=7_000, energy_wh=90_000, timestamp=T0 + timedelta(minutes=40)
    )
    await garage.stop_transaction(
        transaction_id, meter_stop=2_000, timestamp=T0 + timedelta(hours=1)
    )
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.energy_wh, bill.gross) == (Decimal(2_000), Decimal("0.60"))
    assert bill.flags == frozenset()
    reviews = await init_integration.runtime_data.ledger.open_reviews()
    assert [(r["charger_id"], r["kind"], r["transaction_id"]) for r in reviews] == [
        ("STREET", FOREIGN_READINGS, None)
    ]


async def test_late_stop_of_a_session_closed_by_the_next_one(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A session the next one closed (never stopped) is billed up to its real meterStop once
    that comes, and flagged for review."""
    await set_vat(hass, init_integration, False, "0")
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    enable_early(hass, init_integration, "sensor", "CP-1|revenue")
    charger = await make_charger("CP-1")
    first = await session(charger, readings=((30, 2_000),))
    second = await session(charger, start_wh=5_000, stop=(60, 6_000), at=T0 + timedelta(hours=2))
    closed = await bill_of(init_integration, first)
    assert (closed.final, closed.gross, closed.flags) == (True, Decimal("0.60"), {NEVER_STOPPED})
    await charger.stop_transaction(first, meter_stop=5_000, timestamp=T0 + timedelta(hours=1))
    billed = await bill_of(init_integration, first)
    assert (billed.gross, billed.energy_wh, billed.flags) == (
        Decimal("1.50"),
        Decimal(5_000),
        {LATE_STOP},
    )
    assert (await bill_of(init_integration, second)).gross == Decimal("0.30")
    # Revenue counts final bills: the first, now with the energy its stop added.
    assert entity_state(hass, "sensor", "CP-1|revenue").state == "1.50"
