"""Statements: a month of sessions for three accounts, totals to the cent, CSV line by line."""

import asyncio
import csv
import io
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.ev_charging.billing.statements import (
    NO_ACCOUNT,
    Statement,
    StatementLine,
)
from custom_components.ev_charging.const import (
    CONF_PRICE_PER_KWH,
    CONF_SESSION_FEE,
    DOMAIN,
    SUBENTRY_ACCOUNT,
)
from custom_components.ev_charging.ledger import BillRecord, TransactionRecord
from custom_components.ev_charging.statements import EVENT_STATEMENT_READY

from .conftest import ChargerFactory
from .helpers import enable_early, entity_state, use_blueprint
from .test_billing import add_tariff, set_vat

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TAGS = {"A1": "Unit 1", "A2": "Unit 1", "B1": "Unit 2", "C1": "Unit 3"}


@pytest.fixture
async def november(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Home Assistant in Amsterdam on 20 November 2026, before the integration starts."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    freezer.move_to(datetime(2026, 11, 20, 12, 0, tzinfo=AMSTERDAM))


async def add_account(hass: HomeAssistant, entry: MockConfigEntry, name: str) -> None:
    """Add an account through its subentry flow."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ACCOUNT), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: name}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


def expected_gross(wh: int) -> Decimal:
    return (Decimal(wh) / 1000 * Decimal("0.3333") + Decimal("0.25")).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )


async def test_a_month_of_sessions(
    hass: HomeAssistant,
    november: None,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Statement totals equal the sum of their sessions; month end writes CSVs and says so."""
    entry = init_integration
    await set_vat(hass, entry, True, "21", electricity_price="0.10")
    await add_tariff(hass, entry, **{CONF_PRICE_PER_KWH: "0.3333", CONF_SESSION_FEE: "0.25"})
    for name in sorted(set(TAGS.values())):
        await add_account(hass, entry, name)
    for tag, account in TAGS.items():
        await hass.services.async_call(
            DOMAIN, "set_id_tag", {"id_tag": tag, "account": account}, blocking=True
        )
    await hass.async_block_till_done()
    enable_early(hass, entry, "sensor", "CP-1|margin", "CP-1|revenue")
    charger = await make_charger("CP-1")

    sessions: list[tuple[str, datetime, int]] = []
    register = 0
    # October 31 (another month), then every day from 1 to 19 November, each tag in turn.
    days = [datetime(2026, 10, 31, 20, 0, tzinfo=AMSTERDAM)]
    days += [datetime(2026, 11, day, 8, 0, tzinfo=AMSTERDAM) for day in range(1, 20)]
    for number, start in enumerate(days):
        for offset, tag in enumerate(TAGS):
            energy = 1_234 + 777 * ((number * 4 + offset) % 13)
            moment = start + timedelta(hours=offset * 3)
            started = await charger.start_transaction(
                1, tag, meter_start=register, timestamp=moment
            )
            register += energy
            await charger.stop_transaction(
                started["transactionId"], meter_stop=register, timestamp=moment + timedelta(hours=2)
            )
            await charger.status(1, "Available", timestamp=moment + timedelta(hours=2, minutes=5))
            # A session counts in the month it ended (the car unplugged).
            sessions.append((tag, moment + timedelta(hours=2, minutes=5), energy))

    answer: Any = await hass.services.async_call(
        DOMAIN, "get_statement", {"month": "2026-11"}, blocking=True, return_response=True
    )
    listed = answer["sessions"]
    november_sessions = [s for s in sessions if s[1].month == 11]
    # Three of 31 October's sessions end after midnight: they are on November's statement.
    assert len(listed) == len(november_sessions) == 19 * 4 + 3
    assert [Decimal(s["gross"]) for s in listed] == [
        expected_gross(wh) for _, _, wh in november_sessions
    ]
    assert Decimal(answer["totals"]["gross"]) == sum(Decimal(s["gross"]) for s in listed)
    for account in answer["accounts"]:
        mine = [s for s in listed if s["account"] == account["name"]]
        assert account["sessions"] == len(mine)
        for key in ("net", "tax", "gross"):
            assert Decimal(account[key]) == sum(Decimal(s[key]) for s in mine), key
        assert Decimal(account["net"]) + Decimal(account["tax"]) == Decimal(account["gross"])
    assert [a["name"] for a in answer["accounts"]] == ["Unit 1", "Unit 2", "Unit 3"]
    unit2: Any = await hass.services.async_call(
        DOMAIN,
        "get_statement",
        {"month": "2026-11", "account": "unit 2"},
        blocking=True,
        return_response=True,
    )
    assert unit2["totals"]["gross"] == answer["accounts"][1]["gross"]
    assert {s["account"] for s in unit2["sessions"]} == {"Unit 2"}

    # The account sensors say the same; the charger's revenue counts October too.
    def state(unique_id: str) -> Decimal:
        return Decimal(entity_state(hass, "sensor", unique_id).state)

    accounts = {s.title: s.subentry_id for s in entry.get_subentries_of_type(SUBENTRY_ACCOUNT)}
    for listed_account in answer["accounts"]:
        account = accounts[listed_account["name"]]
        assert state(f"account_{account}|cost_this_month") == Decimal(listed_account["gross"])
        assert state(f"account_{account}|energy_this_month") == Decimal(
            listed_account["energy_kwh"]
        )
    everything: Any = [bill for bill in await entry.runtime_data.ledger.load_bills() if bill.final]
    assert state("CP-1|revenue") == sum(b.gross for b in everything)
    assert state("CP-1|margin") == pytest.approx(
        sum(b.net - b.energy_wh / 1000 * Decimal("0.10") for b in everything)
    )
    unit1 = accounts["Unit 1"]
    lifetime = state(f"account_{unit1}|cost_lifetime")
    assert lifetime > state(f"account_{unit1}|cost_this_month")  # October counts here

    # Month end: CSV files for November and an event naming them.
    events: list[Event] = []
    hass.bus.async_listen(EVENT_STATEMENT_READY, events.append)
    first_of_december = datetime(2026, 12, 1, 0, 0, 1, tzinfo=AMSTERDAM)
    freezer.move_to(first_of_december)
    async_fire_time_changed(hass, first_of_december)
    await hass.async_block_till_done(wait_background_tasks=True)
    [event] = events
    # December starts at zero; lifetime totals stay.
    assert state(f"account_{unit1}|cost_this_month") == 0
    assert state(f"account_{unit1}|cost_lifetime") == lifetime
    assert (
        entity_state(hass, "sensor", f"account_{unit1}|cost_this_month").attributes["last_reset"]
        == "2026-12-01T00:00:00+01:00"
    )
    assert event.data["month"] == "2026-11"
    assert set(event.data["accounts"]) == {"Unit 1", "Unit 2", "Unit 3"}
    unit1_csv = await asyncio.to_thread(Path(event.data["accounts"]["Unit 1"]).read_text)
    lines = unit1_csv.splitlines()
    assert lines[0] == (
        "session,charger,connector,id_tag,started,stopped,energy_kwh,energy_cost,session_fee,"
        "idle_fee,net_EUR,tax_EUR,gross_EUR,tariff,flags,payment,signed_start,signed_end"
    )
    unit1 = [s for s in listed if s["account"] == "Unit 1"]
    assert len(lines) == len(unit1) + 2
    for line, session in zip(lines[1:-1], unit1, strict=True):
        assert line.split(",") == [
            str(session["transaction_id"]),
            "CP-1",
            "1",
            session["id_tag"],
            session["started_at"],
            session["stopped_at"],
            session["energy_kwh"],
            session["energy_cost"],
            session["session_fee"],
            session["idle_fee"],
            session["net"],
            session["tax"],
            session["gross"],
            "Residents v1",
            "",
            "",  # residents do not pay at the kiosk
            "",  # nor do these chargers sign their readings
            "",
        ]
    total = lines[-1].split(",")
    assert total[0] == "total"
    assert Decimal(total[12]) == Decimal(answer["accounts"][0]["gross"])
    summary = await asyncio.to_thread(Path(event.data["summary"]).read_text)
    assert summary.splitlines()[-1] == ",".join(
        [
            "total",
            str(len(listed)),
            answer["totals"]["energy_kwh"],
            answer["totals"]["net"],
            answer["totals"]["tax"],
            answer["totals"]["gross"],
        ]
    )


async def test_blueprint_sends_the_statements(hass: HomeAssistant, config_dir: Path) -> None:
    """The blueprint's automation sends the totals and attaches the files."""
    sent = async_mock_service(hass, "notify", "board_email")
    await use_blueprint(
        hass, config_dir, "send_monthly_statements.yaml", {"notify_action": "notify.board_email"}
    )
    hass.bus.async_fire(
        EVENT_STATEMENT_READY,
        {
            "month": "2026-11",
            "summary": "/config/ev_charging/statements/2026-11/summary.csv",
            "accounts": {"Unit 1": "/config/ev_charging/statements/2026-11/unit_1.csv"},
            "totals": {
                "sessions": 3,
                "energy_kwh": "21.5",
                "net": "5.33",
                "tax": "1.12",
                "gross": "6.45",
            },
        },
    )
    await hass.async_block_till_done()
    [call] = sent
    assert call.data["title"] == "Charging statements 2026-11"
    assert call.data["message"].startswith("3 sessions, 21.5 kWh, 6.45 (5.33 + VAT 1.12).")
    assert call.data["data"] == {
        "images": [
            "/config/ev_charging/statements/2026-11/summary.csv",
            "/config/ev_charging/statements/2026-11/unit_1.csv",
        ]
    }


async def test_formula_cells_reach_the_csv_as_text(
    hass: HomeAssistant,
    november: None,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A charger id and ID tags a spreadsheet would run as formulas (=, +, -, @ first) come in
    over OCPP; the month's CSV files have them as text (a leading single quote, OWASP's advice
    against CSV injection) and the amounts as plain numbers."""
    entry = init_integration
    await add_tariff(hass, entry, **{CONF_PRICE_PER_KWH: "0.40", CONF_SESSION_FEE: "0.25"})
    await add_account(hass, entry, "@Board")
    tags = ["@SUM(1+1)", "-2+3", "+CMD"]
    for tag in tags:
        await hass.services.async_call(
            DOMAIN, "set_id_tag", {"id_tag": tag, "account": "@Board"}, blocking=True
        )
    charger = await make_charger("=1+2")
    register = 0
    for day, tag in enumerate(tags, start=1):
        moment = datetime(2026, 11, day, 9, 0, tzinfo=AMSTERDAM)
        started = await charger.start_transaction(1, tag, meter_start=register, timestamp=moment)
        register += 2_500
        await charger.stop_transaction(
            started["transactionId"], meter_stop=register, timestamp=moment + timedelta(hours=1)
        )
        await charger.status(1, "Available", timestamp=moment + timedelta(hours=1, minutes=1))

    events: list[Event] = []
    hass.bus.async_listen(EVENT_STATEMENT_READY, events.append)
    first_of_december = datetime(2026, 12, 1, 0, 0, 1, tzinfo=AMSTERDAM)
    freezer.move_to(first_of_december)
    async_fire_time_changed(hass, first_of_december)
    await hass.async_block_till_done(wait_background_tasks=True)
    [event] = events
    board = await asyncio.to_thread(Path(event.data["accounts"]["@Board"]).read_text)
    header, *sessions, total = list(csv.reader(io.StringIO(board)))
    assert len(sessions) == 3
    for row, tag in zip(sessions, tags, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert (cells["charger"], cells["id_tag"]) == ("'=1+2", f"'{tag}")
        # 2.5 kWh at 0.40 and a 0.25 fee: numbers, with no quote in front.
        assert (cells["energy_kwh"], cells["gross_EUR"]) == ("2.5", "1.25")
    assert total[12] == "3.75"
    summary = await asyncio.to_thread(Path(event.data["summary"]).read_text)
    assert list(csv.reader(io.StringIO(summary)))[1][:2] == ["'@Board", "3"]


def test_statement_cells_a_spreadsheet_would_run_get_a_quote() -> None:
    """Every text cell starting with = + - @, a tab or a carriage return is quoted; numbers,
    negative ones too, are written as they are."""
    at = datetime(2026, 11, 2, 9, 0, tzinfo=AMSTERDAM)
    transaction = TransactionRecord(7, "@CP", 1, "-1+1", 0, at, 1000, at + timedelta(hours=1))
    bill = BillRecord(
        transaction_id=7,
        account=None,
        tariff={"name": "\tFree", "version": 1},
        energy_wh=Decimal(1000),
        energy_cost=Decimal("-0.50"),
        session_fee=Decimal(0),
        idle_seconds=Decimal(0),
        idle_fee=Decimal(0),
        net=Decimal("-0.50"),
        tax=Decimal(0),
        gross=Decimal("-0.50"),
        pieces=[],
        electricity_cost=Decimal(0),
        flags=frozenset({"\rnote"}),
        idle_clock={},
        unplugged_at=at + timedelta(hours=1),
        final=True,
        payment_reference="+pay",
    )
    statement = Statement(
        at, at + timedelta(days=30), "EUR", (StatementLine(transaction, bill),), {}
    )
    [_, row, total] = list(csv.reader(io.StringIO(statement.account_csv(NO_ACCOUNT))))
    assert row[1:4] == ["'@CP", "1", "'-1+1"]
    assert row[7] == row[10] == row[12] == "-0.50"
    assert row[13:16] == ["'\tFree v1", "'\rnote", "'+pay"]
    assert total[12] == "-0.50"
    assert list(csv.reader(io.StringIO(statement.summary_csv())))[1][0] == "No account"
