"""Real chargers' frames (tests/corpus) replayed against Home Assistant over a real websocket.

Each corpus file holds frames copied from a charger's published log and the outcome a
correct central system gives, worked out by hand from the frames (see its notes). The
central system's every frame back must match the official OCPP 1.6 JSON schemas that the
`ocpp` package ships.
"""

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.official_schemas import CALL_ERROR_CODES_16, validator
from custom_components.ev_charging.const import (
    CONF_AUTO_ACCEPT,
    CONF_DEFAULT,
    CONF_HEARTBEAT_INTERVAL,
    CONF_PRICE_PER_KWH,
    CONF_PRICES_INCLUDE_VAT,
    CONF_UNKNOWN_TAGS,
    CONF_VAT_PERCENT,
    DOMAIN,
    SUBENTRY_TARIFF,
)
from custom_components.ev_charging.entity import entity_unique_id
from simulator import SimulatedCharger
from simulator.__main__ import parse_args, run_replay
from simulator.replay import Exchange, Recording, load, prepare, replay

from .conftest import ChargerFactory
from .helpers import enable_early, until

CORPUS = Path(__file__).parent / "corpus"
PRICE_PER_KWH = "0.30"

# Cases that fail today, and why; strict, so a fix shows up as an unexpected pass.
KNOWN_FAILURES: dict[str, str] = {}


def _cases() -> list[Any]:
    cases = []
    for path in sorted(CORPUS.glob("*.json")):
        marks = []
        if (reason := KNOWN_FAILURES.get(path.stem)) is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        cases.append(pytest.param(path, id=path.stem, marks=marks))
    return cases


@pytest.fixture
def entry_options(auto_accept: bool) -> dict[str, Any]:
    """Strangers are let in and any tag may charge: a replayed charger's tags are its own.
    Prices include VAT, so the bill is the energy at the tariff's price."""
    return {
        CONF_HEARTBEAT_INTERVAL: 60,
        CONF_AUTO_ACCEPT: auto_accept,
        CONF_UNKNOWN_TAGS: "accept",
        CONF_PRICES_INCLUDE_VAT: True,
        CONF_VAT_PERCENT: "0",
    }


async def add_tariff(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """A flat 0.30 EUR/kWh, no fees, through the tariff flow as the UI adds it."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TARIFF), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: "Corpus", CONF_DEFAULT: True, CONF_PRICE_PER_KWH: PRICE_PER_KWH},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()


# What an expectation may say; anything else is a typo that would be silently unchecked.
EXPECTATIONS = frozenset(
    {
        "answers",
        "answer_payloads",
        "same_transaction_id",
        "charger",
        "connectors",
        "sampled_data_includes",
        "reviews",
        "raw_frames",
        "transactions",
    }
)
CONNECTOR_EXPECTATIONS = frozenset(
    {"status", "energy_register_kwh", "power_kw", "voltage_v", "fault", "fault_attributes"}
)
TRANSACTION_EXPECTATIONS = frozenset(
    {"connector", "id_tag", "meter_start", "meter_stop", "started_at", "stopped_at"}
    | {"stop_reason", "bill"}
)


def test_corpus_is_broad() -> None:
    """At least 15 chargers' recordings, each saying where its frames come from and what a
    correct central system makes of every frame."""
    recordings = [load(path) for path in sorted(CORPUS.glob("*.json"))]
    assert len(recordings) >= 15
    assert len({(r.vendor, r.model, r.firmware) for r in recordings}) >= 15
    for recording in recordings:
        expect, name = recording.expect, recording.name
        assert recording.source.startswith("https://"), name
        assert len(expect["answers"]) == len(recording.frames), name
        assert all(0 <= i < len(recording.frames) for i in recording.glue), name
        assert set(expect) <= EXPECTATIONS, name
        for connector in expect.get("connectors", {}).values():
            assert set(connector) <= CONNECTOR_EXPECTATIONS, name
        for transaction in expect.get("transactions", ()):
            assert set(transaction) <= TRANSACTION_EXPECTATIONS, name


@pytest.mark.parametrize("path", _cases())
async def test_replay(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    path: Path,
) -> None:
    """The charger's frames, replayed, give the outcome written by hand in its file."""
    recording = load(path)
    expect = recording.expect
    await add_tariff(hass, init_integration)
    for number, connector in expect.get("connectors", {}).items():
        if "voltage_v" in connector:
            enable_early(hass, init_integration, "sensor", _unique(recording, number, "voltage"))
    charger = await make_charger(recording.charger_id, boot=False, connectors=recording.connectors)
    prepare(charger, recording)
    exchanges = await replay(charger, recording)
    runtime = init_integration.runtime_data
    state = runtime.central.chargers[recording.charger_id]
    if state.booted:
        # The configuration and tag list an accepted boot asks for: let them finish.
        await until(lambda: state.local_list_status is not None, "boot follow-up")
    await hass.async_block_till_done()

    assert_central_frames_match_official_schemas(charger)
    charger.frames.clear()  # the charger's own frames are as recorded, valid or not

    assert [exchange.outcome for exchange in exchanges] == expect["answers"]
    for index, wanted in expect.get("answer_payloads", {}).items():
        reply = exchanges[int(index)].reply
        assert reply is not None
        assert _subset(reply[2], wanted), f"answer to frame {index}: {reply[2]}"
    if (same := expect.get("same_transaction_id")) is not None:
        assert len({_answered_id(exchanges[i]) for i in same}) == 1
    if (wanted_charger := expect.get("charger")) is not None:
        assert {
            "vendor": state.vendor,
            "model": state.model,
            "firmware": state.firmware,
        } == wanted_charger
    for number, wanted_connector in expect.get("connectors", {}).items():
        assert_connector(hass, recording, state, int(number), wanted_connector)
    if (measurands := expect.get("sampled_data_includes")) is not None:
        sampled = set(charger.configuration["MeterValuesSampledData"].split(","))
        assert set(measurands) <= sampled, sampled
    if (reviews := expect.get("reviews")) is not None:
        assert [
            [review["kind"], review["transaction_id"]]
            for review in await runtime.ledger.open_reviews()
        ] == reviews
    if (raw_frames := expect.get("raw_frames")) is not None:
        kept = [
            [f["action"], f["outcome"]] for f in await runtime.ledger.load_frames(state.charger_id)
        ]
        for frame in raw_frames:
            assert frame in kept, kept
    await assert_transactions(init_integration, recording)


async def test_replay_from_the_command_line(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """python -m simulator --replay FILE plays a recording and says whether each answer is
    the kind its file expects."""
    recording = CORPUS / "chargebyte_charge_control_c_0.5.0.json"
    args = parse_args(["--url", f"ws://127.0.0.1:{port}", "--replay", str(recording)])
    assert await run_replay(args) == 0
    await hass.async_block_till_done()
    printed = capsys.readouterr().out
    assert '< [3, "5c9dcc97-0722-4a3f-9b7b-4da03a402e42", {' in printed
    assert printed.rstrip().endswith("2 frames replayed, 0 answers not as expected")
    state = init_integration.runtime_data.central.chargers[load(recording).charger_id]
    assert (state.vendor, state.firmware) == ("chargebyte", "0.5.0")


def assert_connector(
    hass: HomeAssistant,
    recording: Recording,
    state: Any,
    number: int,
    wanted: dict[str, Any],
) -> None:
    """Status, energy register, power, voltage and fault of one connector, as entities show
    them (connector 0, the charger as a whole, from the central system's state)."""
    connector = state.connectors.get(number)
    where = f"{recording.name} connector {number}"
    if "status" in wanted:
        assert (None if connector is None else connector.status) == wanted["status"], where
        if number > 0 and wanted["status"] is not None:
            # The entity shows it as an enum option: SuspendedEVSE -> suspended_evse.
            option = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", wanted["status"]).lower()
            assert _state(hass, "sensor", _unique(recording, number, "status")) == option, where
    for key, suffix in (
        ("energy_register_kwh", "energy_register"),
        ("power_kw", "power"),
        ("voltage_v", "voltage"),
    ):
        if key in wanted:
            shown = _state(hass, "sensor", _unique(recording, number, suffix))
            value = None if shown in (None, "unknown") else Decimal(shown)
            expected = None if wanted[key] is None else Decimal(wanted[key])
            assert value == expected, f"{where} {key}: {shown}"
    if "fault" in wanted:
        fault = hass.states.get(
            _entity_id(hass, "binary_sensor", _unique(recording, number, "fault"))
        )
        assert fault is not None, where
        assert fault.state == ("on" if wanted["fault"] else "off"), where
        for name, value in wanted.get("fault_attributes", {}).items():
            assert fault.attributes.get(name) == value, f"{where} {name}: {fault.attributes}"


async def assert_transactions(entry: MockConfigEntry, recording: Recording) -> None:
    """The ledger's transactions of the charger and their bills, field by field as written."""
    wanted = recording.expect.get("transactions")
    if wanted is None:
        return
    ledger = entry.runtime_data.ledger
    transactions = await ledger.load_transactions(recording.charger_id)
    assert len(transactions) == len(wanted), transactions
    for transaction, expected in zip(transactions, wanted, strict=True):
        actual = {
            "connector": transaction.connector_id,
            "id_tag": transaction.id_tag,
            "meter_start": transaction.meter_start_wh,
            "meter_stop": transaction.meter_stop_wh,
            "started_at": _iso(transaction.started_at),
            "stopped_at": _iso(transaction.stopped_at),
            "stop_reason": transaction.stop_reason,
        }
        assert {key: actual[key] for key in expected if key != "bill"} == {
            key: value for key, value in expected.items() if key != "bill"
        }
        if "bill" not in expected:
            continue
        bills = await ledger.load_bills(transaction_id=transaction.transaction_id)
        if expected["bill"] is None:
            assert bills == []
            continue
        [bill] = bills
        shown = {
            "energy_wh": str(bill.energy_wh.normalize()),
            "gross": str(bill.gross),
            "final": bill.final,
            "flags": sorted(bill.flags),
        }
        assert {key: shown[key] for key in expected["bill"]} == expected["bill"]


# The official schemas, as the ocpp package ships them.


def test_official_schemas_check_times() -> None:
    """The schema check is strict where the schemas are: a currentTime must carry its zone."""
    heartbeat = validator("HeartbeatResponse")
    assert not list(heartbeat.iter_errors({"currentTime": "2026-12-02T13:35:53.88+00:00"}))
    assert list(heartbeat.iter_errors({"currentTime": "2026-12-02T13:35:53"}))
    assert list(heartbeat.iter_errors({"currentTime": "yesterday"}))


def assert_central_frames_match_official_schemas(charger: SimulatedCharger) -> None:
    """Every frame the central system sent: its CALLs against <Action>.json, its answers to
    the charger's CALLs against <Action>Response.json, its CALLERRORs by their 1.6 shape."""
    asked: dict[str, str] = {}  # the charger's CALLs by message id, the latest one
    problems = []
    for frame in charger.frames:
        message = json.loads(frame.raw)
        if frame.direction == "sent":
            if message[0] == 2:
                asked[message[1]] = message[2]
            continue
        match message:
            case [2, str(), str(action), dict(payload)]:
                errors = validator(action).iter_errors(payload)
            case [3, message_id, dict(payload)] if message_id in asked:
                errors = validator(f"{asked[message_id]}Response").iter_errors(payload)
            case [4, str(), str(code), str(), dict()] if code in CALL_ERROR_CODES_16:
                errors = iter(())
            case _:
                problems.append(f"not an OCPP 1.6 frame: {frame.raw[:200]}")
                continue
        problems += [f"{frame.raw[:160]}: {error.message}" for error in errors]
    assert not problems, "\n".join(problems)


def _subset(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and _subset(actual[key], value) for key, value in wanted.items()
        )
    return bool(actual == wanted)


def _answered_id(exchange: Exchange) -> int:
    assert exchange.reply is not None
    transaction_id: int = exchange.reply[2]["transactionId"]
    return transaction_id


def _unique(recording: Recording, connector: int | str, key: str) -> str:
    return entity_unique_id(recording.charger_id, f"{connector}|{key}")


def _entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, f"no {platform} entity {unique_id}"
    return entity_id


def _state(hass: HomeAssistant, platform: str, unique_id: str) -> str | None:
    """An entity's state; None if the connector has no such entity (it never reported)."""
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    if entity_id is None:
        return None
    state = hass.states.get(entity_id)
    return None if state is None else state.state


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
