"""Fuzz cases: frames from the official OCPP 1.6 schemas (hypothesis-jsonschema), mutated.

Each case carries the answers the OCPP-J 1.6 error table (section 4.2.3) allows for the
one mutation applied, decided here from the mutation, never from the code under test:
a CALLRESULT that fits the official response schema, a CALLERROR of an allowed code, or
silence for a frame without a readable message id. InternalError is never allowed.
Used by `python -m bench.fuzz` (10,000 frames) and tests/test_fuzz.py (a few hundred).
"""

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any, cast

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft4Validator
from ocpp.v16.enums import Action

from simulator.charger import SimulatedCharger

from .official_schemas import CALL_ERROR_CODES_16

# What a charger sends to the central system in OCPP 1.6.
ACTIONS = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "MeterValues",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
)
# 1.6 actions the central system sends, never receives: recognised, not supported.
CENTRAL_ACTIONS = ("Reset", "RemoteStartTransaction", "GetConfiguration", "SendLocalList")
# Every action name 1.6 has (with the security extension's), from the ocpp library.
OCPP16_ACTIONS = frozenset(action.value for action in Action)
RESULT, DROPPED = "CallResult", "dropped"

FORMATION, PROTOCOL = "FormationViolation", "ProtocolError"
PROPERTY, OCCURRENCE = "PropertyConstraintViolation", "OccurenceConstraintViolation"
TYPE = "TypeConstraintViolation"
# A frame that fits the schema may still say something impossible (a year 9999, a
# connector 10^9): "syntactically correct but ... an invalid value".
SEMANTIC = frozenset({RESULT, PROPERTY})
# Frame shapes with a readable id: "not conform the PDU structure" or "incomplete".
MALFORMED = frozenset({FORMATION, PROTOCOL})
# Not JSON by RFC 8259 (NaN) or beyond the reader: may be dropped as unparsable.
UNPARSABLE_OR = frozenset({DROPPED})


@dataclass(frozen=True, slots=True)
class Case:
    """One frame to send, what was done to it, and the answers allowed."""

    frame: str
    message_id: Any
    """The id an answer must carry (None: no readable id)."""
    action: str
    mutation: str
    allowed: frozenset[str]


class Violation(AssertionError):
    """An answer the error table does not allow."""


@cache
def request_schema(action: str) -> dict[str, Any]:
    """An official schema (a request, or with `Response` its answer) as `ocpp` ships it."""
    text = files("ocpp.v16").joinpath("schemas", f"{action}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def validator(name: str) -> Draft4Validator:
    """The official schema `name` (e.g. HeartbeatResponse) read with jsonschema directly."""
    return Draft4Validator(request_schema(name))


@cache
def _valid_payloads(action: str) -> st.SearchStrategy[dict[str, Any]]:
    # Every 1.6 request schema describes an object.
    return cast(st.SearchStrategy[dict[str, Any]], from_schema(request_schema(action)))


@dataclass(frozen=True, slots=True)
class Slot:
    """A value present in a payload: where, its schema, whether its parent requires it."""

    path: tuple[str | int, ...]
    schema: dict[str, Any]
    required: bool


def slots(
    schema: dict[str, Any],
    value: Any,
    path: tuple[str | int, ...] = (),
    required: bool = False,
) -> Iterator[Slot]:
    """Every value in a payload with its schema (the payload itself first)."""
    yield Slot(path, schema, required)
    if isinstance(value, dict) and "properties" in schema:
        needed = set(schema.get("required", ()))
        for key, item in value.items():
            if (sub := schema["properties"].get(key)) is not None:
                yield from slots(sub, item, (*path, key), key in needed)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from slots(schema["items"], item, (*path, index))


def _set(payload: Any, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        payload = payload[part]
    payload[path[-1]] = value


def _get(payload: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        payload = payload[part]
    return payload


_SENTINEL = "\x00raw-token\x00"
"""Stands in a payload for a token json.dumps cannot write (NaN, a 5,000-digit number)."""

REALISTIC_TIMES = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
# Not RFC 3339 date-times: the 1.6 schemas' format, so PropertyConstraintViolation.
BAD_DATES = (
    "yesterday",
    "",
    "2026-02-30T10:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01",
    "2026-01-01T10:00:00",
    "2026-01-01T10:00:00+25:00",
    "99999-01-01T00:00:00Z",
    "2026-01-01T10:00:00Zjunk",
)
# RFC 3339 but from clocks no charger should have: accepted or refused as invalid values.
ODD_DATES = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999-12:00",
    "1970-01-01T00:00:00Z",
    "2100-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
)
HUGE_INTEGERS = (2**31, -(2**31) - 1, 2**63, -(2**63), 2**64, 10**30, -1, 10**15, -(10**15))
# Sampled values are strings in 1.6: numbers no meter shows, and text that is no number.
ODD_SAMPLES = (
    "NaN",
    "-Infinity",
    "sNaN",
    "1e999999999",
    "-1E+400",
    "1e-999999999",
    "0.000000000000000000000000000000001",
    "-0",
    "",
    " 12 ",
    "1_000",
    "0x10",
    "١٢٣",
    "9" * 5000,
    "0." + "0" * 5000 + "1",
)
# Tokens only a raw frame can carry; a reader may refuse them (not JSON) or read them.
RAW_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 5000, "-0.0e-0")
WRONG_TYPES: dict[str, tuple[Any, ...]] = {
    "string": (0, 1.5, True, None, [], {}, ["x"]),
    "integer": ("1", 1.5, True, False, None, [], {}, 1e300, -0.5),
    "number": ("1", True, None, [], {}),
    "array": ("x", 0, {}, None, True),
    "object": ("x", 0, [], None, True),
}
MESSAGE_TYPES: tuple[Any, ...] = (0, 1, 5, 9, -2, 2**64, "2", None, True, [2], {})


def _dump(frame: list[Any], raw: str | None = None) -> str:
    text = json.dumps(frame, separators=(",", ":"))
    return text if raw is None else text.replace(json.dumps(_SENTINEL), raw)


@st.composite
def valid_payloads(draw: st.DrawFn, action: str) -> dict[str, Any]:
    """A payload the official schema accepts, mostly with plausible times and connectors
    (else nearly every one is refused for its year 0003 and never reaches the handlers)."""
    payload = draw(_valid_payloads(action))
    if draw(st.integers(0, 3)):
        for slot in list(slots(request_schema(action), payload)):
            if slot.schema.get("format") == "date-time":
                _set(payload, slot.path, draw(REALISTIC_TIMES))
            elif slot.path[-1:] == ("connectorId",):
                _set(payload, slot.path, draw(st.integers(0, 3)))
    return payload


message_ids = st.text(min_size=1, max_size=36)


def _is_integer(slot: Slot) -> bool:
    return slot.schema.get("type") == "integer"


def _is_date(slot: Slot) -> bool:
    return slot.schema.get("format") == "date-time"


# Each mutation and the values it may apply to (None: the frame as a whole).
MUTATIONS: dict[str, Callable[[Slot], bool] | None] = {
    "none": None,
    "missing_required": lambda slot: slot.required,
    "extra_field": lambda slot: slot.schema.get("type") == "object",
    "wrong_type": lambda slot: slot.schema.get("type") in WRONG_TYPES and slot.path != (),
    "huge_integer": _is_integer,
    "raw_number": _is_integer,
    "bad_date": _is_date,
    "odd_date": _is_date,
    "odd_sample": lambda slot: slot.path[-1:] == ("value",),
    "unknown_action": None,
    "central_action": None,
    "message_type": None,
    "shape": None,
    "action_type": None,
    "not_a_list": None,
    "message_id": None,
}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A frame from the schemas with at most one mutation, and the answers allowed."""
    action = draw(st.sampled_from(ACTIONS))
    payload = draw(valid_payloads(action))
    message_id: Any = draw(message_ids)
    schema = request_schema(action)
    present = list(slots(schema, payload))
    kinds = [
        mutation
        for mutation, target in MUTATIONS.items()
        if target is None or any(target(slot) for slot in present)
    ]
    kinds += ["transaction_id"] * ("transactionId" in schema["properties"])
    # Unmutated frames three times as often (they reach the handlers), odd meter values too.
    kinds += ["none", "none"] + [kind for kind in kinds if kind == "odd_sample"] * 4
    mutation = draw(st.sampled_from(kinds))
    frame: list[Any] = [2, message_id, action, payload]

    def case(
        allowed: frozenset[str], raw: str | None = None, *, answer_id: Any = message_id
    ) -> Case:
        return Case(_dump(frame, raw), answer_id, action, mutation, allowed)

    def pick() -> Slot:
        target = MUTATIONS[mutation]
        assert target is not None
        return draw(st.sampled_from([slot for slot in present if target(slot)]))

    match mutation:
        case "none":
            return case(SEMANTIC)
        case "missing_required":
            slot = pick()
            del _get(payload, slot.path[:-1])[slot.path[-1]]
            return case(frozenset({OCCURRENCE, PROTOCOL}))
        case "extra_field":
            slot = pick()
            known = slot.schema["properties"]
            target = _get(payload, slot.path)
            name = draw(st.text(min_size=1, max_size=20).filter(lambda n: n not in known))
            target[name] = draw(st.sampled_from((1, "x", None, [], {}, True)))
            return case(frozenset({FORMATION, OCCURRENCE}))
        case "wrong_type":
            slot = pick()
            _set(payload, slot.path, draw(st.sampled_from(WRONG_TYPES[slot.schema["type"]])))
            return case(frozenset({TYPE, FORMATION}))
        case "huge_integer":
            slot = pick()
            huge = st.sampled_from(HUGE_INTEGERS) | st.integers(-(2**80), 2**80)
            _set(payload, slot.path, draw(huge))
            return case(SEMANTIC)
        case "transaction_id":
            # Small ids name the sessions earlier frames started; others name none.
            payload["transactionId"] = draw(st.integers(1, 20) | st.integers(-(2**40), 2**40))
            return case(SEMANTIC)
        case "raw_number":
            slot = pick()
            token = draw(st.sampled_from(RAW_NUMBERS))
            _set(payload, slot.path, _SENTINEL)
            # NaN and 1e400 read as floats (not integers); a 5,000-digit integer as itself.
            allowed = SEMANTIC if token.isdigit() else frozenset({TYPE, FORMATION, PROPERTY})
            return case(allowed | UNPARSABLE_OR, token)
        case "bad_date":
            slot = pick()
            _set(payload, slot.path, draw(st.sampled_from(BAD_DATES)))
            return case(frozenset({PROPERTY}))
        case "odd_date":
            slot = pick()
            _set(payload, slot.path, draw(st.sampled_from(ODD_DATES)))
            return case(SEMANTIC)
        case "odd_sample":
            slot = pick()
            _set(payload, slot.path, draw(st.sampled_from(ODD_SAMPLES)))
            return case(SEMANTIC)
        case "unknown_action":
            frame[2] = draw(st.text(max_size=40).filter(lambda name: name not in OCPP16_ACTIONS))
            return case(frozenset({"NotImplemented"}))
        case "central_action":
            frame[2] = draw(st.sampled_from(CENTRAL_ACTIONS))
            return case(frozenset({"NotSupported", "NotImplemented"}))
        case "message_type":
            frame[0] = draw(st.sampled_from(MESSAGE_TYPES))
            return case(MALFORMED | {DROPPED})
        case "shape":
            frame = draw(
                st.sampled_from(
                    (
                        frame[:3],
                        frame[:2],
                        [*frame, {}],
                        [2, message_id, action, []],
                        [2, message_id, action, "x"],
                        [2, message_id, action, None],
                    )
                )
            )
            return case(MALFORMED)
        case "action_type":
            frame[2] = draw(st.sampled_from((42, None, [], {}, True)))
            return case(MALFORMED | {"NotImplemented"})
        case "not_a_list":
            text = draw(
                st.sampled_from(("", "null", "42", '"x"', "{", "[", "not json", "[]", "[2]"))
                | st.just(json.dumps({"messageTypeId": 2, "payload": payload}))
            )
            return Case(text, None, action, mutation, frozenset({DROPPED}))
        case "message_id":
            odd: Any = draw(
                st.sampled_from((None, 1.5, True, [], {}, 7, -(2**70)))
                | st.text(min_size=37, max_size=200)
                | st.just("")
            )
            frame[1] = odd
            if isinstance(odd, str):  # readable; longer than 36 or empty: may be refused
                return case(SEMANTIC | MALFORMED, answer_id=odd)
            if isinstance(odd, int) and not isinstance(odd, bool):
                return case(MALFORMED | {DROPPED}, answer_id=odd)
            return case(frozenset({DROPPED}), answer_id=None)
    raise AssertionError(mutation)  # pragma: no cover


def judge(case: Case, answers: list[list[Any]]) -> str:
    """The kind of answer (CallResult, a CallError code, dropped); raises Violation when
    the error table does not allow it for the mutation made."""
    if not answers:
        kind = DROPPED
    elif len(answers) > 1:
        raise Violation(f"{len(answers)} answers to one frame: {answers!r:.300}")
    else:
        answer = answers[0]
        if answer[1] != case.message_id or type(answer[1]) is not type(case.message_id):
            raise Violation(f"answer with id {answer[1]!r:.60}, sent {case.message_id!r:.60}")
        match answer:
            case [3, _, dict(payload)]:
                kind = RESULT
                errors = [
                    e.message for e in validator(f"{case.action}Response").iter_errors(payload)
                ]
                if errors:
                    raise Violation(f"CallResult does not fit {case.action}Response: {errors}")
            case [4, _, str(code), str(), dict()] if code in CALL_ERROR_CODES_16:
                kind = code
            case _:
                raise Violation(f"not an OCPP 1.6 answer: {answer!r:.300}")
    if kind not in case.allowed:
        raise Violation(
            f"{case.mutation}: answered {kind}, allowed {sorted(case.allowed)}; frame {case.frame!r:.400}"
        )
    return kind


async def exchange(charger: SimulatedCharger, case: Case) -> list[list[Any]]:
    """Send a case's frame, then a Heartbeat; the answers to the frame (frames are answered
    in order, so any answer came before the Heartbeat's). Raises if the Heartbeat is not
    answered: the connection did not survive."""
    charger.frames.clear()
    await charger.send_raw(case.frame)
    await charger.heartbeat()
    answers = []
    for frame in charger.frames:
        if frame.direction != "received":
            continue
        message = json.loads(frame.raw)
        if isinstance(message, list) and message[:1] in ([3], [4]):
            answers.append(message)
    charger.frames.clear()  # fuzz frames are not schema material for the fixture's check
    return answers[:-1]  # the last is the Heartbeat's


def drive(
    loop: asyncio.AbstractEventLoop,
    examples: int,
    check: Callable[[Case], Coroutine[Any, Any, None]],
) -> None:
    """Run the hypothesis engine (in this thread) over `examples` cases; each is checked on
    `loop`, where the charger's connection lives, one at a time."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def run(case: Case) -> None:
        asyncio.run_coroutine_threadsafe(check(case), loop).result(timeout=120)

    run()
