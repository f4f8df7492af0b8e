"""The official OCPP 1.6 JSON schemas as the `ocpp` package ships them, read with jsonschema
directly: an oracle for frames that does not go through the code under test."""

import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

# The error codes a 1.6 CALLERROR may carry (OCPP-J 1.6, section 4.2.3).
CALL_ERROR_CODES_16 = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
_FORMATS = FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
def _is_date_time(value: object) -> bool:
    """RFC 3339, as the schemas' date-time means: a date, a time and a zone."""
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.tzinfo is not None and "T" in value


@cache
def validator(name: str) -> Draft4Validator:
    """The validator of one schema file (`Heartbeat`, `HeartbeatResponse`, ...)."""
    text = files("ocpp.v16").joinpath("schemas", f"{name}.json").read_text()
    # Decimals, as frames are read below: multipleOf 0.1 is exact then.
    return Draft4Validator(json.loads(text, parse_float=Decimal), format_checker=_FORMATS)


def frame_problems(frames: list[tuple[str, str]]) -> list[str]:
    """Every CALL and CALLRESULT of a conversation, in both directions, against its schema;
    CALLERRORs by their 1.6 shape. `frames` are (direction, raw text) in order."""
    asked: dict[tuple[str, Any], str] = {}  # (who asked, message id) -> action
    problems = []
    for direction, raw in frames:
        message = json.loads(raw, parse_float=Decimal)
        answering = "received" if direction == "sent" else "sent"
        match message:
            case [2, message_id, str(action), dict(payload)]:
                asked[(direction, json.dumps(message_id))] = action
                errors = list(validator(action).iter_errors(payload))
            case [3, message_id, dict(payload)]:
                answered = asked.get((answering, json.dumps(message_id)))
                if answered is None:
                    continue  # its CALL was cleared from the record by the test
                errors = list(validator(f"{answered}Response").iter_errors(payload))
            case [4, _, str(code), str(), dict()] if code in CALL_ERROR_CODES_16:
                errors = []
            case _:
                problems.append(f"{direction} not an OCPP 1.6 frame: {raw[:160]}")
                continue
        problems += [f"{direction} {raw[:120]}: {error.message}" for error in errors]
    return problems
