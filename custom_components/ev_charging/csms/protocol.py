"""Reading OCPP 1.6J frames and checking them against the official schemas.

The `ocpp` library ships the schemas but answers schema violations with OCPP 2.0 error
codes; this module maps them to the codes OCPP 1.6 prescribes and implements the
per-charger "lenient" mode for known-harmless deviations of old firmware.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import fastjsonschema
from jsonschema.exceptions import ValidationError as SchemaError
from ocpp.exceptions import (
    FormationViolationError,
    NotSupportedError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)
from ocpp.messages import MessageType, get_validator
from ocpp.v16.enums import Action

from .log_safety import shown, untrusted_logger

_LOGGER = untrusted_logger(__name__)

OCPP_VERSION = "1.6"
_fast_checks: dict[str, Callable[[Any], Any]] = {}
KNOWN_ACTIONS = frozenset(action.value for action in Action)

# When several rules are broken, the answer names the most structural one.
_ERROR_ORDER: tuple[type[OCPPError], ...] = (
    FormationViolationError,
    OccurenceConstraintViolationError,
    TypeConstraintViolationError,
    PropertyConstraintViolationError,
)


class UnreadableFrame(Exception):
    """A frame without a readable message id: no answer is possible."""


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A CALL from a charger: [2, messageId, action, payload]."""

    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IncomingReply:
    """A CALLRESULT or CALLERROR answering one of our CALLs; the ocpp library matches it."""

    message_id: str | int
    raw: str


@dataclass(frozen=True, slots=True)
class FrameError(Exception):
    """A frame with a readable id that must be answered with a CallError."""

    message_id: str | int
    action: str | None
    error: OCPPError


@dataclass(slots=True)
class Validated:
    """A payload that passed the schema, with the fixes lenient mode made to it."""

    payload: dict[str, Any]
    fixes: list[str] = field(default_factory=list)


def parse_frame(raw: str | bytes) -> IncomingCall | IncomingReply:
    """Read a frame's envelope; raises UnreadableFrame or FrameError."""
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise UnreadableFrame(f"not JSON: {err}") from err
    if not isinstance(frame, list) or len(frame) < 2:
        raise UnreadableFrame("not an OCPP array")
    message_type, message_id = frame[0], frame[1]
    if isinstance(message_id, bool) or not isinstance(message_id, (str, int)):
        raise UnreadableFrame("no readable message id")
    text = raw if isinstance(raw, str) else raw.decode(errors="replace")
    if message_type in (MessageType.CallResult, MessageType.CallError):
        return IncomingReply(message_id, text)
    if isinstance(message_id, int):
        # Readable, so answerable (echoed as sent), but OCPP-J message ids are strings.
        raise FrameError(
            message_id,
            frame[2] if len(frame) > 2 and isinstance(frame[2], str) else None,
            FormationViolationError(description="The message id must be a string"),
        )
    action = frame[2] if len(frame) > 2 and isinstance(frame[2], str) else None
    if message_type != MessageType.Call or len(frame) != 4 or action is None:
        raise FrameError(
            message_id,
            action,
            FormationViolationError(description="A CALL is [2, messageId, action, payload]"),
        )
    if not isinstance(frame[3], dict):
        raise FrameError(
            message_id, action, FormationViolationError(description="The payload must be an object")
        )
    return IncomingCall(message_id, action, frame[3])


def check_action(action: str, handled: frozenset[str]) -> None:
    """Raise the CallError for an action we cannot answer."""
    if action not in KNOWN_ACTIONS:
        raise OcppNotImplementedError(description=f"OCPP 1.6 has no action {shown(action, 40)!r}")
    if action not in handled:
        raise NotSupportedError(description=f"{action} is not supported by this central system")


def compile_fast_check(action: str) -> None:
    """Compile the happy-path check for an action's CALL schema (blocking: run in an executor)."""
    schema = get_validator(MessageType.Call, action, OCPP_VERSION).schema
    _fast_checks[action] = fastjsonschema.compile(schema)


def _passes_fast_check(action: str, payload: dict[str, Any]) -> bool:
    check = _fast_checks.get(action)
    if check is None:
        return False
    try:
        check(payload)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def validate_call(action: str, payload: dict[str, Any], *, lenient: bool) -> Validated:
    """Check a CALL payload against the 1.6 schema; raises the 1.6 CallError for a violation."""
    # Nearly every frame is valid: a compiled check answers that ten times faster than
    # jsonschema, which is kept for the rare invalid frame to name exactly what is wrong.
    if _passes_fast_check(action, payload):
        return Validated(payload)
    validator = get_validator(MessageType.Call, action, OCPP_VERSION)
    result = Validated(payload)
    if lenient:
        # Fixing one error may reveal another; the schemas are shallow, so a few rounds do.
        for _ in range(8):
            errors = list(validator.iter_errors(result.payload))
            if not errors or not _fix(result, errors):
                break
    errors = list(validator.iter_errors(result.payload))
    if errors:
        raise min((_to_ocpp_error(error) for error in errors), key=_rank)
    return result


def validate_result(action: str, payload: dict[str, Any]) -> None:
    """Check our own CALLRESULT payload; a violation is our bug."""
    get_validator(MessageType.CallResult, action, OCPP_VERSION).validate(payload)


def _rank(error: OCPPError) -> int:
    return next(i for i, kind in enumerate(_ERROR_ORDER) if isinstance(error, kind))


def _to_ocpp_error(error: SchemaError) -> OCPPError:
    """The CallError for a schema violation: it names the field and the rule broken, never
    the value sent (a charger's 1 MB value must not come back in the answer or the log)."""
    where = "/".join(shown(part, 40) for part in error.absolute_path) or "payload"
    rule = str(error.validator)
    details = {"path": where, "rule": rule}
    match rule:
        case "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            return OccurenceConstraintViolationError(
                description=f"{where}: required field {', '.join(missing)} missing",
                details=details,
            )
        case "type":
            return TypeConstraintViolationError(
                description=f"{where}: must be of type {error.validator_value}", details=details
            )
        case "additionalProperties":
            allowed = set(error.schema.get("properties", {}))
            extra = [shown(key, 40) for key in error.instance if key not in allowed][:5]
            return FormationViolationError(
                description=f"{where}: unknown field {', '.join(extra)}", details=details
            )
        case _:
            # enum, maxLength, minimum, maximum, format, pattern ...
            return PropertyConstraintViolationError(
                description=f"{where}: {_RULE_TEXT.get(rule, 'breaks the rule')} {_limit(error)}",
                details=details,
            )


_RULE_TEXT = {
    "enum": "is not one of",
    "maxLength": "is longer than",
    "minLength": "is shorter than",
    "maximum": "is above",
    "minimum": "is below",
    "exclusiveMaximum": "is not below",
    "exclusiveMinimum": "is not above",
    "multipleOf": "is not a multiple of",
    "format": "is not of format",
    "pattern": "does not match",
    "maxItems": "has more items than",
    "minItems": "has fewer items than",
}


def _limit(error: SchemaError) -> str:
    """The schema's side of a broken rule (the limit or the allowed values): ours to show."""
    value = error.validator_value
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return shown(value, 100) if error.validator != "pattern" else "its pattern"


def _fix(result: Validated, errors: list[SchemaError]) -> bool:
    """Repair what lenient mode tolerates; True if anything changed."""
    changed = False
    for error in errors:
        container = _resolve(result.payload, list(error.absolute_path))
        if error.validator == "additionalProperties" and isinstance(container, dict):
            allowed = set(error.schema.get("properties", {}))
            for key in [k for k in container if k not in allowed]:
                del container[key]
                result.fixes.append(f"dropped unknown field {_path(error, key)}")
                changed = True
        elif error.validator == "enum" and isinstance(error.instance, str):
            canonical = next(
                (v for v in error.validator_value if str(v).lower() == error.instance.lower()), None
            )
            parent = _resolve(result.payload, list(error.absolute_path)[:-1])
            key = error.absolute_path[-1] if error.absolute_path else None
            if canonical is not None and key is not None and isinstance(parent, (dict, list)):
                parent[key] = canonical
                result.fixes.append(
                    f"{_path(error)}: {shown(error.instance, 40)!r} read as {canonical!r}"
                )
                changed = True
    return changed


def _resolve(document: Any, path: list[Any]) -> Any:
    for part in path:
        document = document[part]
    return document


def _path(error: SchemaError, *extra: Any) -> str:
    return "/".join(shown(part, 40) for part in (*error.absolute_path, *extra))


# Schemas with decimal precision rules (multipleOf 0.1): the ocpp library reads these, and
# their payloads, with Decimal floats; a validator is cached per action, so do the same.
_DECIMAL_SCHEMAS = frozenset(
    {
        (MessageType.Call, "SetChargingProfile"),
        (MessageType.Call, "RemoteStartTransaction"),
        (MessageType.CallResult, "GetCompositeSchedule"),
    }
)


def result_error(action: str, payload: Any) -> OCPPError | None:
    """The CallError a charger's CALLRESULT to our `action` deserves (it names the field and
    the rule, not the value), or None when the answer fits the schema."""
    if not isinstance(payload, dict):
        return FormationViolationError(description=f"The answer to {action} is not an object")
    if (MessageType.CallResult, action) in _DECIMAL_SCHEMAS:
        payload = json.loads(json.dumps(payload), parse_float=Decimal)
        validator = get_validator(MessageType.CallResult, action, OCPP_VERSION, parse_float=Decimal)
    else:
        validator = get_validator(MessageType.CallResult, action, OCPP_VERSION)
    errors = [_to_ocpp_error(error) for error in validator.iter_errors(payload)]
    return min(errors, key=_rank) if errors else None


def iter_schema_errors(message_type: int, action: str, payload: dict[str, Any]) -> Iterator[str]:
    """Every schema violation of a payload, as text (for tests and diagnostics)."""
    if (message_type, action) in _DECIMAL_SCHEMAS:
        payload = json.loads(json.dumps(payload), parse_float=Decimal)
        validator = get_validator(message_type, action, OCPP_VERSION, parse_float=Decimal)
    else:
        validator = get_validator(message_type, action, OCPP_VERSION)
    for error in validator.iter_errors(payload):
        yield f"{_path(error)}: {error.message}"
