"""Fuzzing the central system over a real websocket: frames from the official OCPP 1.6
schemas, mutated (bench/fuzz.py), each answered as the OCPP-J 1.6 error table says."""

import asyncio
import json
import logging
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from hypothesis import given, settings
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.fuzz_cases import (
    DROPPED,
    RESULT,
    Case,
    Violation,
    cases,
    drive,
    exchange,
    judge,
)
from bench.official_schemas import validator
from custom_components.ev_charging.const import (
    CONF_AUTO_ACCEPT,
    CONF_HEARTBEAT_INTERVAL,
    CONF_UNKNOWN_TAGS,
)

from .conftest import ChargerFactory

# A few hundred frames in CI; `python -m bench.fuzz --frames 10000` sends more.
EXAMPLES = 300


def _tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """Log records Home Assistant or the integration wrote with a traceback, or as errors."""
    return [
        f"{record.name}: {record.getMessage()[:300]}"
        for record in records
        if (record.exc_info and record.exc_info[0] is not None)
        or (record.levelno >= logging.ERROR and not record.name.startswith("simulator"))
    ]


@pytest.fixture(params=["reject", "accept"])
def entry_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Unknown tags refused, or accepted: then fuzzed sessions run and are billed."""
    return {CONF_HEARTBEAT_INTERVAL: 60, CONF_AUTO_ACCEPT: True, CONF_UNKNOWN_TAGS: request.param}


async def test_fuzzed_frames_are_answered_as_the_error_table_says(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every frame gets a CallResult that fits the official response schema, a CallError of
    a code its mutation allows (never InternalError), or, without a readable id, silence;
    the connection survives each (a Heartbeat after it is answered) and nothing is logged
    with a traceback."""
    charger = await make_charger("FUZZ-1")
    kinds: Counter[str] = Counter()

    async def check(case: Case) -> None:
        logged = len(caplog.records)
        answers = await exchange(charger, case)
        kinds[judge(case, answers)] += 1
        assert not (problems := _tracebacks(caplog.records[logged:])), (case.frame, problems)

    await asyncio.to_thread(drive, asyncio.get_running_loop(), EXAMPLES, check)
    # The generator reaches the handlers and each family of errors.
    for kind in (RESULT, DROPPED, "FormationViolation", "TypeConstraintViolation"):
        assert kinds[kind] > 0, kinds
    for kind in ("OccurenceConstraintViolation", "PropertyConstraintViolation"):
        assert kinds[kind] > 0, kinds
    assert kinds["NotImplemented"] + kinds["NotSupported"] > 0, kinds


@pytest.mark.parametrize("reservation_id", [2**63, -(2**63), 2**64, 2**63 - 1])
async def test_a_reservation_id_beyond_the_ledger_is_refused_not_a_crash(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
    reservation_id: int,
) -> None:
    """Found by `python -m bench.fuzz`: a reservationId SQLite cannot hold made the ledger
    raise OverflowError, answered InternalError. The schema allows any integer: an invalid
    value, so PropertyConstraintViolation (or accepted, where it fits)."""
    charger = await make_charger("FUZZ-1")
    start = {
        "connectorId": 1,
        "idTag": "TAG",
        "meterStart": 0,
        "timestamp": "2026-01-01T00:00:00Z",
        "reservationId": reservation_id,
    }
    reply = await charger.call_raw([2, "r1", "StartTransaction", start])
    charger.frames.clear()
    fits = abs(reservation_id) < 2**63
    assert reply[0] == 3 if fits else reply[2] == "PropertyConstraintViolation", reply
    assert not _tracebacks(caplog.records)
    assert (await charger.heartbeat())["currentTime"]


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(cases())
def test_unmutated_frames_fit_the_official_schemas(case: Case) -> None:
    """The generator's own check: an unmutated frame is valid by the official schema."""
    if case.mutation == "none":
        message = json.loads(case.frame, parse_float=Decimal)
        assert not list(validator(message[2]).iter_errors(message[3]))


def _case(**fields: object) -> Case:
    base: dict[str, object] = {
        "frame": '[2,"m","Heartbeat",{}]',
        "message_id": "m",
        "action": "Heartbeat",
        "mutation": "none",
        "allowed": frozenset({RESULT, "PropertyConstraintViolation"}),
    }
    return Case(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answers", "why"),
    [
        ([[4, "m", "InternalError", "", {}]], "InternalError is never allowed"),
        ([[3, "m", {}]], "a Heartbeat.conf needs currentTime"),
        ([[3, "m", {"currentTime": "2026-01-01T00:00:00Z", "x": 1}]], "no extra fields"),
        ([[3, "other", {"currentTime": "2026-01-01T00:00:00Z"}]], "the id must match"),
        ([[4, "m", "Oops", "", {}]], "not a 1.6 error code"),
        ([[4, "m", "PropertyConstraintViolation", ""]], "a CallError has five elements"),
        ([], "silence for a frame with a readable id"),
    ],
)
def test_the_oracle_refuses_bad_answers(answers: list[list[object]], why: str) -> None:
    """Negative test of the oracle: what it must not let through."""
    with pytest.raises(Violation):
        judge(_case(), answers)


def test_the_oracle_accepts_the_error_tables_answers() -> None:
    assert judge(_case(), [[3, "m", {"currentTime": "2026-01-01T00:00:00Z"}]]) == RESULT
    dropped = _case(message_id=None, allowed=frozenset({DROPPED}))
    assert judge(dropped, []) == DROPPED
    with pytest.raises(Violation):
        judge(dropped, [[4, None, "FormationViolation", "", {}]])
