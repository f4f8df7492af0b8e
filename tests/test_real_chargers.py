"""What real chargers send that our own simulator did not (issue 15): grid-side readings,
offline replays, reboots that lose a transaction, heartbeat changes, odd replies."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.ev_charging.const import (
    CONF_IDLE_FEE,
    CONF_IDLE_GRACE,
    CONF_PRICE_PER_KWH,
    DOMAIN,
)
from custom_components.ev_charging.csms.commands import CommandError
from simulator.charger import SILENT

from .conftest import ChargerFactory
from .helpers import enable_early, entity_state, later, until
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


async def test_no_idle_fee_for_the_time_a_charger_was_offline(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A charger offline for 18 hours replays three sessions it queued (as OCPP requires):
    their energy is priced, but no idle time accrues while nobody could see the charger;
    EVDisconnected and a queued Available end it at their own moment; the bills say so."""
    freezer.move_to(T0)
    await set_vat(hass, init_integration, False, "0")
    await add_tariff(
        hass,
        init_integration,
        **{CONF_PRICE_PER_KWH: "0.30", CONF_IDLE_FEE: "0.10", CONF_IDLE_GRACE: 0},
    )
    charger = await make_charger("CP-1")
    await charger.status(1, "Available", timestamp=T0)
    await charger.close()
    await until(
        lambda: not init_integration.runtime_data.central.chargers["CP-1"].connected, "offline"
    )
    freezer.move_to(T0 + timedelta(hours=18))
    await charger.connect()

    async def replay(start_h: int, reason: str, available_h: int | None) -> int:
        at = T0 + timedelta(hours=start_h)
        await charger.status(1, "Preparing", timestamp=at)
        transaction_id: int = (
            await charger.start_transaction(1, "T", meter_start=0, timestamp=at)
        )["transactionId"]
        await charger.status(1, "Charging", timestamp=at)
        await charger.meter_values(
            1, transaction_id, power_w=7000, energy_wh=5_000, timestamp=at + timedelta(minutes=45)
        )
        await charger.stop_transaction(
            transaction_id, meter_stop=5_000, reason=reason, timestamp=at + timedelta(hours=1)
        )
        if available_h is not None:
            await charger.status(1, "Available", timestamp=T0 + timedelta(hours=available_h))
        return transaction_id

    left_at_stop = await replay(1, "EVDisconnected", None)
    queued_available = await replay(3, "Local", 5)
    unplugged_later = await replay(6, "Remote", None)
    await charger.status(1, "Available", timestamp=T0 + timedelta(hours=18))  # now

    for transaction_id, flagged in (
        (left_at_stop, False),
        (queued_available, True),
        (unplugged_later, True),
    ):
        bill = await bill_of(init_integration, transaction_id)
        assert (bill.energy_wh, bill.idle_seconds, bill.gross, bill.final) == (
            Decimal(5_000),
            Decimal(0),
            Decimal("1.50"),
            True,
        ), transaction_id
        assert ("idle_while_offline_not_billed" in bill.flags) is flagged, transaction_id


async def test_idle_time_after_the_charger_is_back_is_billed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Idle time while the charger is seen counts as before; only the offline part is left
    out: stop at 19:00, offline 19:30-19:35 (a blip: after 10 minutes gone the bill would be
    final), unplugged 20:00 -> 55 minutes of idle time."""
    freezer.move_to(T0)
    await set_vat(hass, init_integration, False, "0")
    await add_tariff(
        hass,
        init_integration,
        **{CONF_PRICE_PER_KWH: "0.30", CONF_IDLE_FEE: "0.10", CONF_IDLE_GRACE: 0},
    )
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "T", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    await charger.meter_values(
        1, transaction_id, power_w=7000, energy_wh=1_000, timestamp=T0 + timedelta(minutes=30)
    )
    freezer.move_to(T0 + timedelta(hours=1))
    await charger.stop_transaction(transaction_id, meter_stop=1_000)
    await charger.status(1, "Finishing")  # the car stays plugged in
    freezer.move_to(T0 + timedelta(hours=1, minutes=30))
    await charger.close()
    await until(
        lambda: not init_integration.runtime_data.central.chargers["CP-1"].connected, "offline"
    )
    freezer.move_to(T0 + timedelta(hours=1, minutes=35))
    await charger.connect()
    freezer.move_to(T0 + timedelta(hours=2))
    await charger.status(1, "Available")
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.idle_seconds, bill.idle_fee, bill.final) == (
        Decimal(3300),
        Decimal("5.5"),
        True,
    )
    assert "idle_while_offline_not_billed" in bill.flags


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("[3, {id}]", "ProtocolError"),  # no payload at all
        ('[3, {id}, {{"status": 7}}]', "status: must be of type string"),
        ('[3, {id}, {{"state": "Accepted"}}]', "payload: unknown field state"),
    ],
)
async def test_a_malformed_answer_fails_the_command_at_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    answer: str,
    says: str,
) -> None:
    """A CALLRESULT of the wrong shape fails the command now (not after its 30 s timeout),
    and the error names the field."""
    charger = await make_charger("CP-1")
    charger.answers["Reset"] = SILENT
    central = init_integration.runtime_data.central
    command = asyncio.ensure_future(central.command("CP-1", call.Reset(type="Soft")))
    frame = await charger.wait_frame(
        lambda f: isinstance(f.parsed, list) and f.parsed[0] == 2 and f.parsed[2] == "Reset"
    )
    await charger.send_raw(answer.format(id=json.dumps(frame.parsed[1])))
    async with asyncio.timeout(5):
        with pytest.raises(CommandError) as failed:
            await command
    assert says in str(failed.value)
    charger.frames.clear()  # the malformed answer is not schema material


async def test_fault_attributes_follow_the_frame_that_changed_them(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """OverVoltage, then WeakSignal while still faulted: the fault sensor and the last fault
    show WeakSignal right after that frame, not with the next one."""
    enable_early(hass, init_integration, "sensor", "CP-1|last_fault")
    charger = await make_charger("CP-1")
    await charger.status(1, "Faulted", "OverVoltage")
    await hass.async_block_till_done()
    assert entity_state(hass, "binary_sensor", "CP-1|1|fault").attributes["error_code"] == (
        "OverVoltage"
    )
    await charger.status(1, "Faulted", "WeakSignal", info="antenna")
    await hass.async_block_till_done()
    fault = entity_state(hass, "binary_sensor", "CP-1|1|fault")
    assert (fault.state, fault.attributes["error_code"], fault.attributes["info"]) == (
        "on",
        "WeakSignal",
        "antenna",
    )
    assert entity_state(hass, "sensor", "CP-1|last_fault").state == "WeakSignal"


async def test_offline_detection_uses_the_interval_the_charger_has(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HeartbeatInterval=150 set from Home Assistant and accepted: 130 s of silence is not
    offline any more; twice the new interval (300 s) is. A charger that reports its own
    interval at boot is judged by it too."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    await charger.heartbeat()
    central = init_integration.runtime_data.central
    answer = await central.command(
        "CP-1", call.ChangeConfiguration(key="HeartbeatInterval", value="150")
    )
    assert answer.status == "Accepted"
    await later(hass, freezer, seconds=130)
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == "off"
    await later(hass, freezer, seconds=169)
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == "off"
    await later(hass, freezer, seconds=1)
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == "on"

    # A charger that keeps its own interval (here 90 s) whatever the boot answer said.
    await make_charger("CP-2", heartbeat_interval=90)
    state = central.chargers["CP-2"]
    assert state.heartbeat_interval == 90
    assert state.health.heartbeat_interval == 90


async def test_a_session_lost_in_a_reboot_ends_at_its_last_reading(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A charger reboots and reports the connector Available without its transaction: after
    a minute for a queued StopTransaction, the session ends at its last reading, the
    entities show it, and it is on the review list; a late stop then changes no bill."""
    freezer.move_to(T0)
    await set_vat(hass, init_integration, False, "0")
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "T", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    await charger.status(1, "Charging", timestamp=T0)
    await later(hass, freezer, minutes=10)
    await charger.meter_values(1, transaction_id, power_w=7000, energy_wh=2_000)
    await later(hass, freezer, minutes=10)
    charger.transactions.clear()  # the reboot forgot it
    await charger.boot()
    await charger.status(1, "Available")
    await later(hass, freezer, seconds=59)
    central = init_integration.runtime_data.central
    connector = central.chargers["CP-1"].connectors[1]
    assert connector.transaction is not None  # its StopTransaction may still come
    await later(hass, freezer, seconds=1)
    await until(
        lambda: entity_state(hass, "sensor", "CP-1|1|power").state == "0",
        "the lost session ended, its entities showing it",
    )
    assert connector.transaction is None
    await hass.async_block_till_done()
    [record] = await init_integration.runtime_data.ledger.load_transactions_by_id([transaction_id])
    assert (record.meter_stop_wh, record.stopped_at, record.stop_reason) == (
        2_000,
        T0 + timedelta(minutes=10),
        "Reboot",
    )
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.energy_wh, bill.gross, bill.final) == (Decimal(2_000), Decimal("0.60"), True)
    reviews = await init_integration.runtime_data.ledger.open_reviews()
    assert [(r["kind"], r["transaction_id"]) for r in reviews] == [
        ("lost_in_reboot", transaction_id)
    ]
    await charger.stop_transaction(transaction_id, meter_stop=2_100)
    assert (await bill_of(init_integration, transaction_id)).gross == Decimal("0.60")


async def test_a_queued_stop_after_a_reboot_ends_the_session_as_usual(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The same reboot, but the charger sends its queued StopTransaction within the minute:
    an ordinary stop, nothing for review."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "T", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    await later(hass, freezer, minutes=20)
    await charger.boot()
    await charger.status(1, "Available")
    await later(hass, freezer, seconds=30)
    await charger.stop_transaction(
        transaction_id, meter_stop=3_000, reason="PowerLoss", timestamp=T0 + timedelta(minutes=15)
    )
    await later(hass, freezer, minutes=5)
    [record] = await init_integration.runtime_data.ledger.load_transactions_by_id([transaction_id])
    assert (record.meter_stop_wh, record.stop_reason) == (3_000, "PowerLoss")
    assert await init_integration.runtime_data.ledger.open_reviews() == []


# As the OCMF format (S.A.F.E. e.V.) lays a signed reading out: a header, the payload, the
# signature. Opaque to us: only kept and handed out.
OCMF_BEGIN = (
    'OCMF|{"FV":"1.0","GI":"EMH eHZ","GS":"1EMH0012345678","PG":"T1","IS":true,'
    '"RD":[{"TM":"2026-11-25T18:00:00,000+0000 S","TX":"B","RV":1000.0,"RI":"1-b:1.8.0",'
    '"RU":"kWh","ST":"G"}]}|{"SD":"3045022100A1"}'
)
OCMF_END = OCMF_BEGIN.replace('"TX":"B","RV":1000.0', '"TX":"E","RV":1002.5').replace("A1", "B2")


async def test_signed_meter_values_come_with_the_session(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A calibration-law meter's signed start and end readings are kept in the ledger and
    given with the session in the statement (JSON and CSV), never priced."""
    await set_vat(hass, init_integration, False, "0")
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "T", meter_start=1_000_000, timestamp=T0))[
        "transactionId"
    ]

    def signed(value: str, context: str, energy: int) -> list[dict[str, str]]:
        return [
            {"value": value, "format": "SignedData", "context": context, "measurand": ENERGY},
            {"value": str(energy), "context": context, "measurand": ENERGY, "unit": "Wh"},
        ]

    await charger.meter_values(
        1,
        transaction_id,
        power_w=0,
        timestamp=T0,
        sampled_value=signed(OCMF_BEGIN, "Transaction.Begin", 1_000_000),
    )
    await charger.stop_transaction(
        transaction_id,
        meter_stop=1_002_500,
        timestamp=T0 + timedelta(minutes=30),
        transaction_data=[
            {
                "timestamp": (T0 + timedelta(minutes=30)).isoformat(),
                "sampledValue": signed(OCMF_END, "Transaction.End", 1_002_500),
            }
        ],
    )
    await charger.status(1, "Available", timestamp=T0 + timedelta(minutes=31))
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.energy_wh, bill.gross) == (Decimal(2_500), Decimal("0.75"))
    answer = await hass.services.async_call(
        DOMAIN, "get_statement", {"month": "2026-11"}, blocking=True, return_response=True
    )
    assert isinstance(answer, dict)
    [line] = answer["sessions"]
    assert line["signed_meter_values"] == {
        "start_at": T0.isoformat(),
        "start": OCMF_BEGIN,
        "end_at": (T0 + timedelta(minutes=30)).isoformat(),
        "end": OCMF_END,
    }


# From the interoperability review.


async def idle_session(
    hass: HomeAssistant, entry: MockConfigEntry, make_charger: ChargerFactory
) -> tuple[Any, int]:
    """A charger with a session started at T0 under an idle-fee tariff (0.10/min, no grace)."""
    await set_vat(hass, entry, False, "0")
    await add_tariff(
        hass, entry, **{CONF_PRICE_PER_KWH: "0.30", CONF_IDLE_FEE: "0.10", CONF_IDLE_GRACE: 0}
    )
    charger = await make_charger("CP-1")
    transaction_id: int = (await charger.start_transaction(1, "T", meter_start=0, timestamp=T0))[
        "transactionId"
    ]
    await charger.status(1, "Charging", timestamp=T0)
    return charger, transaction_id


def at(minutes: float) -> datetime:
    """T0 and some minutes."""
    return T0 + timedelta(minutes=minutes)


async def test_a_status_stamped_1970_bills_no_idle_time(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that lost its clock mid-session reports SuspendedEV stamped 1970: that
    changes nothing; the idle time is the half hour between the stop and the unplugging."""
    charger, transaction_id = await idle_session(hass, init_integration, make_charger)
    await charger.meter_values(1, transaction_id, power_w=7000, energy_wh=5_000, timestamp=at(30))
    status = {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "SuspendedEV",
        "timestamp": "1970-01-01T00:00:00.740Z",
    }
    assert (await charger.call_raw([2, "s70", "StatusNotification", status]))[0] == 3
    await charger.stop_transaction(transaction_id, meter_stop=6_000, timestamp=at(60))
    await charger.status(1, "Available", timestamp=at(90))
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.idle_seconds, bill.final) == (Decimal(1800), True)


async def test_a_late_older_status_does_not_end_idle_time(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Charging stamped before the stop but arriving after it is history, not news."""
    charger, transaction_id = await idle_session(hass, init_integration, make_charger)
    await charger.stop_transaction(transaction_id, meter_stop=6_000, timestamp=at(60))
    await charger.status(1, "Charging", timestamp=at(55))
    await charger.status(1, "Available", timestamp=at(90))
    assert (await bill_of(init_integration, transaction_id)).idle_seconds == Decimal(1800)


async def test_a_fault_during_the_session_is_not_idle_time(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Faulted before the stop holds power back as the charger's own limit does."""
    charger, transaction_id = await idle_session(hass, init_integration, make_charger)
    await charger.meter_values(1, transaction_id, power_w=7000, energy_wh=3_000, timestamp=at(29))
    await charger.status(1, "Faulted", "GroundFailure", timestamp=at(30))
    for minute in (31, 45):
        await charger.meter_values(
            1, transaction_id, power_w=0, energy_wh=3_000, timestamp=at(minute)
        )
    await charger.stop_transaction(
        transaction_id, meter_stop=3_000, reason="Other", timestamp=at(60)
    )
    await charger.status(1, "Available", timestamp=at(60))
    assert (await bill_of(init_integration, transaction_id)).idle_seconds == 0


async def test_readings_after_the_stop_are_not_billed(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """meterStop closes the energy; a reading after it with the old transactionId neither
    adds energy nor ends idle time."""
    charger, transaction_id = await idle_session(hass, init_integration, make_charger)
    await charger.stop_transaction(transaction_id, meter_stop=10_000, timestamp=at(60))
    await charger.meter_values(1, transaction_id, power_w=3000, energy_wh=10_040, timestamp=at(61))
    await charger.status(1, "Available", timestamp=at(90))
    bill = await bill_of(init_integration, transaction_id)
    assert (bill.energy_wh, bill.idle_seconds) == (Decimal(10_000), Decimal(1800))


async def test_readings_without_a_transaction_id_belong_to_the_running_session(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """OCPP lets chargers leave the transactionId out: the running session's readings are
    priced with it (so a paid session's cap sees them)."""
    charger, transaction_id = await idle_session(hass, init_integration, make_charger)
    await charger.meter_values(1, None, power_w=7000, energy_wh=4_000, timestamp=at(40))
    bill = init_integration.runtime_data.central.cashier.live_bill(transaction_id)
    assert bill is not None
    assert bill.energy_wh == 4_000


async def test_a_meter_stop_rounded_down_is_no_rollback(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Readings in kWh with decimals, then meterStop in whole Wh a fraction lower."""
    charger, transaction_id = await idle_session(hass, init_integration, make_charger)
    await charger.meter_values(
        1,
        transaction_id,
        power_w=0,
        timestamp=at(30),
        sampled_value=[{"value": "0.2006", "measurand": ENERGY, "unit": "kWh"}],
    )
    await charger.stop_transaction(transaction_id, meter_stop=200, timestamp=at(40))
    await charger.status(1, "Available", timestamp=at(40))
    assert "register_rollback" not in (await bill_of(init_integration, transaction_id)).flags


async def test_energy_under_a_refused_tag_is_on_the_review_list(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger that charges on although its tag was refused: nobody is billed, a person
    looks."""
    charger = await make_charger("CP-1")
    started = await charger.start_transaction(1, "GONE", meter_start=0, timestamp=T0)
    assert started["idTagInfo"]["status"] == "Invalid"
    await charger.stop_transaction(started["transactionId"], meter_stop=10_000, timestamp=at(60))
    reviews = await init_integration.runtime_data.ledger.open_reviews()
    assert [(r["kind"], r["transaction_id"]) for r in reviews] == [
        ("unbilled_energy", started["transactionId"])
    ]


async def test_websocket_pings_stand_in_for_heartbeats(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """OCPP-J: with websocket pings, Heartbeat.req is not needed; such a charger is online."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    for _ in range(4):
        await later(hass, freezer, seconds=50)
        await charger._ws.ping()
        await until(
            lambda: (
                init_integration.runtime_data.central.chargers["CP-1"].last_seen == dt_util.utcnow()
            ),
            "the ping seen",
        )
    await later(hass, freezer, seconds=1)
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == "off"


async def test_sessions_around_a_reboot_are_not_taken_for_lost(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After a reboot: a session resumed (Charging) goes on; a new one started within the
    minute is not ended; a long queue of the old session's readings postpones the end until
    its real stop comes."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1", connectors=2)
    resumed = (await charger.start_transaction(1, "T", meter_start=0))["transactionId"]
    replaced = (await charger.start_transaction(2, "T", meter_start=0))["transactionId"]
    await later(hass, freezer, minutes=10)
    await charger.boot()
    await charger.status(1, "Preparing")
    await charger.status(1, "Charging")
    await charger.status(2, "Preparing")
    new = (await charger.start_transaction(2, "T", meter_start=100))["transactionId"]
    await later(hass, freezer, seconds=90)
    connectors = init_integration.runtime_data.central.chargers["CP-1"].connectors
    assert connectors[1].transaction is not None
    assert connectors[1].transaction.transaction_id == resumed
    assert connectors[2].transaction is not None
    assert connectors[2].transaction.transaction_id == new
    assert replaced != new
    assert "lost_in_reboot" not in {
        r["kind"] for r in await init_integration.runtime_data.ledger.open_reviews()
    }
