"""Reading what a charger sent: timestamps, registers, ids and meter values within the
bounds no real charger passes, each refused with the CallError OCPP 1.6 prescribes."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError

from .log_safety import shown

EARLIEST_YEAR, LATEST_YEAR = 1970, 2100
"""Timestamps a charger may send (its clock may be reset to 1970)."""
MAX_SAMPLED_VALUES = 500
"""Sampled values in one message: real chargers send a few dozen."""
# No meter's register reaches this many Wh (a petawatt-hour); SQLite's integers end at 2^63.
MAX_REGISTER_WH = 10**15


def transaction_id_of(value: int | None) -> int | None:
    """A transactionId a charger sent: ours are 32-bit, but anything SQLite can hold is kept
    (a charger's own ids from elsewhere); beyond that it is refused."""
    return _stored_integer(value, "transactionId")


def reservation_id_of(value: int | None) -> int | None:
    """A reservationId a charger sent with StartTransaction: kept if SQLite can hold it."""
    return _stored_integer(value, "reservationId")


def _stored_integer(value: int | None, name: str) -> int | None:
    if value is not None and abs(value) >= 2**63:
        raise PropertyConstraintViolationError(description=f"{name} is out of range")
    return value


def register_wh(value: int) -> int:
    """meterStart or meterStop; beyond any real register (and the ledger's integers) it is
    refused, the raw frame kept."""
    if abs(value) >= MAX_REGISTER_WH:
        raise PropertyConstraintViolationError(description="The meter value is beyond any meter")
    return value


def times_thousand(value: Decimal | None) -> Decimal | None:
    """kWh or kW back to Wh or W, as the ledger keeps them."""
    return None if value is None else value * 1000


def by_moment(meter_values: list[dict[str, Any]]) -> dict[datetime, list[dict[str, Any]]]:
    """Sampled values by timestamp; raises PropertyConstraintViolation for an unreadable one.

    Chargers may split one moment over several elements (energy in one, power in another):
    merged, each moment becomes one reading with every figure.
    """
    if sum(len(meter_value["sampled_value"]) for meter_value in meter_values) > MAX_SAMPLED_VALUES:
        raise PropertyConstraintViolationError(
            description=f"More than {MAX_SAMPLED_VALUES} sampled values in one message"
        )
    moments: dict[datetime, list[dict[str, Any]]] = {}
    for meter_value in meter_values:
        timestamp = timestamp_of(meter_value["timestamp"])
        assert timestamp is not None
        moments.setdefault(timestamp, []).extend(meter_value["sampled_value"])
    return moments


def or_else(value: Decimal | None, fallback: Decimal | None) -> Decimal | None:
    return fallback if value is None else value


def timestamp_of(value: str | None) -> datetime | None:
    """Read an OCPP dateTime; a charger sending garbage gets PropertyConstraintViolation."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise PropertyConstraintViolationError(
            description=f"Not a dateTime: {shown(value, 40)!r}"
        ) from err
    if parsed.tzinfo is None:
        raise PropertyConstraintViolationError(
            description=f"dateTime without time zone: {shown(value, 40)!r}"
        )
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError as err:
        raise PropertyConstraintViolationError(description="dateTime out of range") from err
    if not EARLIEST_YEAR <= in_utc.year <= LATEST_YEAR:
        # Clocks in 1970 are real (a charger that lost its time); year 9999 is not, and
        # arithmetic on it overflows.
        raise PropertyConstraintViolationError(
            description=f"dateTime must be from {EARLIEST_YEAR} to {LATEST_YEAR}"
        )
    return parsed
