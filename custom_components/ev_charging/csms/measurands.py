"""Normalising OCPP 1.6 sampled values: units to kWh, kW, A, V, %, °C; phases kept."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"
TEMPERATURE = "Temperature"

_CAR_SIDE = (None, "Outlet")
TRANSACTION_BEGIN = "Transaction.Begin"
_ANY_LOCATION = frozenset({SOC, TEMPERATURE})
_REGISTER_UNITS = frozenset({"Wh", "kWh"})
# OCPP 1.6 defaults: an absent measurand is the import energy register, an absent unit Wh.
DEFAULT_MEASURAND = ENERGY_REGISTER
_DEFAULT_UNITS = {
    "Energy": "Wh",
    "Power": "W",
    "Current": "A",
    "Voltage": "V",
    "SoC": "Percent",
    "Temperature": "Celsius",
    "Frequency": "Hz",
    "RPM": "RPM",
}
_THOUSAND = Decimal(1000)
MAX_DIGITS = 12
"""No real meter shows a figure of more than twelve digits before the point (a register of
10^12 Wh is a terawatt-hour): a larger one is kept raw, never used."""
# unit as sent -> (normalised unit, factor)
_SCALE = {
    "Wh": ("kWh", 1 / _THOUSAND),
    "kWh": ("kWh", Decimal(1)),
    "varh": ("kvarh", 1 / _THOUSAND),
    "kvarh": ("kvarh", Decimal(1)),
    "W": ("kW", 1 / _THOUSAND),
    "kW": ("kW", Decimal(1)),
    "VA": ("kVA", 1 / _THOUSAND),
    "kVA": ("kVA", Decimal(1)),
    "var": ("kvar", 1 / _THOUSAND),
    "kvar": ("kvar", Decimal(1)),
    "A": ("A", Decimal(1)),
    "V": ("V", Decimal(1)),
    "Percent": ("%", Decimal(1)),
    "Celsius": ("°C", Decimal(1)),
    "Hz": ("Hz", Decimal(1)),
    "Factor": ("", Decimal(1)),  # power factor: a plain ratio
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled value, normalised."""

    measurand: str
    value: Decimal
    unit: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the ledger."""
        out: dict[str, Any] = {
            "measurand": self.measurand,
            "value": str(self.value),
            "unit": self.unit,
        }
        for key in ("phase", "location", "context"):
            if (value := getattr(self, key)) is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class MeterSnapshot:
    """The figures one MeterValue element gives for a connector."""

    timestamp: datetime
    samples: list[Sample] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    absurd: int = 0
    """How many of the skipped values were numbers no meter can show."""

    def total(self, measurand: str) -> Decimal | None:
        """The value without phase, else the sum over phases (energy and power add up)."""
        return _combine(self._matching(measurand), sum)

    def highest(self, measurand: str) -> Decimal | None:
        """The value without phase, else the highest phase (what loads a fuse)."""
        return _combine(self._matching(measurand), max)

    def mean(self, measurand: str) -> Decimal | None:
        """The value without phase, else the mean of the phase-to-neutral readings."""
        samples = [
            s
            for s in self._matching(measurand)
            if s.phase is None or s.phase.endswith("-N") or s.phase in ("L1", "L2", "L3")
        ]
        return _combine(samples, lambda values: sum(values) / len(values))

    def _matching(self, measurand: str) -> list[Sample]:
        """The samples that stand for the connector: energy, power, current and voltage only
        where the car is (Outlet, the default); the grid side (Inlet) of a charger that
        balances its own load is kept in the ledger but never mixed in. State of charge
        (EV) and temperature (Body, Cable) come from wherever they are measured."""
        anywhere = measurand in _ANY_LOCATION
        found = [
            s
            for s in self.samples
            if s.measurand == measurand and (anywhere or s.location in _CAR_SIDE)
        ]
        # Some firmware repeats the register at the transaction's start beside the current
        # one (or alone, in a later message): that is the start's figure, not now's.
        return [s for s in found if s.context != TRANSACTION_BEGIN]


def _combine(samples: list[Sample], combine: Any) -> Decimal | None:
    if not samples:
        return None
    whole = [s.value for s in samples if s.phase is None]
    if whole:
        return whole[-1]
    return Decimal(combine([s.value for s in samples]))


def _default_unit(measurand: str) -> str:
    if measurand == "Power.Factor":
        return "Factor"
    return _DEFAULT_UNITS.get(measurand.split(".")[0], "")


def normalise(timestamp: datetime, sampled_values: Iterable[dict[str, Any]]) -> MeterSnapshot:
    """Turn a MeterValue's sampledValue list into normalised samples.

    Values that are not numbers (signed data) or in units we do not know are kept aside
    in `skipped`, not guessed at.
    """
    snapshot = MeterSnapshot(timestamp)
    for raw in sampled_values:
        measurand = raw.get("measurand") or DEFAULT_MEASURAND
        unit = raw.get("unit") or _default_unit(measurand)
        if "measurand" not in raw and unit not in _REGISTER_UNITS:
            # No measurand means the energy register, but a value in amps or volts is not
            # one: what it is cannot be known, so it is kept aside.
            snapshot.skipped.append(raw)
            continue
        if raw.get("format") == "SignedData":
            snapshot.skipped.append(raw)
            continue
        try:
            value = Decimal(str(raw["value"]).strip())
        except InvalidOperation, KeyError:
            snapshot.skipped.append(raw)
            continue
        if not value.is_finite() or value.adjusted() >= MAX_DIGITS:
            # Kept raw and counted, never priced: "1e999999999" must not reach arithmetic.
            snapshot.skipped.append(raw)
            snapshot.absurd += 1
            continue
        if unit == "Fahrenheit":
            unit, value = "°C", (value - 32) * 5 / 9
        elif unit == "K":
            unit, value = "°C", value - Decimal("273.15")
        elif unit in _SCALE:
            unit, factor = _SCALE[unit]
            value *= factor
        else:
            snapshot.skipped.append(raw)
            continue
        snapshot.samples.append(
            Sample(
                measurand,
                value,
                unit,
                raw.get("phase"),
                raw.get("location"),
                raw.get("context"),
            )
        )
    return snapshot
