"""Normalising sampled values: units, phases, defaults, values we must not guess at."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from custom_components.ev_charging.csms.boot_configuration import changes_needed, heartbeat_interval
from custom_components.ev_charging.csms.measurands import (
    CURRENT,
    ENERGY_REGISTER,
    POWER,
    SOC,
    TEMPERATURE,
    VOLTAGE,
    normalise,
)

T = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sampled", "measurand", "value", "unit"),
    [
        ({"value": "12345"}, ENERGY_REGISTER, Decimal("12.345"), "kWh"),  # defaults: register, Wh
        (
            {"value": "12.5", "unit": "kWh", "measurand": ENERGY_REGISTER},
            ENERGY_REGISTER,
            Decimal("12.5"),
            "kWh",
        ),
        ({"value": "7400", "measurand": POWER, "unit": "W"}, POWER, Decimal("7.4"), "kW"),
        ({"value": "7.4", "measurand": POWER, "unit": "kW"}, POWER, Decimal("7.4"), "kW"),
        ({"value": "7400", "measurand": POWER}, POWER, Decimal("7.4"), "kW"),  # unit default W
        ({"value": "16.2", "measurand": CURRENT, "unit": "A"}, CURRENT, Decimal("16.2"), "A"),
        ({"value": "231", "measurand": VOLTAGE, "unit": "V"}, VOLTAGE, Decimal("231"), "V"),
        ({"value": "80", "measurand": SOC, "unit": "Percent"}, SOC, Decimal("80"), "%"),
        (
            {"value": "41", "measurand": TEMPERATURE, "unit": "Celsius"},
            TEMPERATURE,
            Decimal("41"),
            "°C",
        ),
        (
            {"value": "212", "measurand": TEMPERATURE, "unit": "Fahrenheit"},
            TEMPERATURE,
            Decimal("100"),
            "°C",
        ),
        (
            {"value": "300", "measurand": TEMPERATURE, "unit": "K"},
            TEMPERATURE,
            Decimal("26.85"),
            "°C",
        ),
    ],
)
def test_units_are_normalised(
    sampled: dict[str, str], measurand: str, value: Decimal, unit: str
) -> None:
    """Every unit a 1.6 charger may send comes out in one unit per quantity."""
    [sample] = normalise(T, [sampled]).samples
    assert (sample.measurand, sample.value, sample.unit) == (measurand, value, unit)


def test_phases_combine_by_quantity() -> None:
    """Power adds up over phases, current takes the highest phase, voltage the mean."""
    snapshot = normalise(
        T,
        [
            {"value": "3000", "measurand": POWER, "phase": "L1"},
            {"value": "3500", "measurand": POWER, "phase": "L2"},
            {"value": "4000", "measurand": POWER, "phase": "L3"},
            {"value": "13", "measurand": CURRENT, "phase": "L1"},
            {"value": "16", "measurand": CURRENT, "phase": "L2"},
            {"value": "15", "measurand": CURRENT, "phase": "L3"},
            {"value": "229", "measurand": VOLTAGE, "phase": "L1-N"},
            {"value": "231", "measurand": VOLTAGE, "phase": "L2-N"},
            {"value": "233", "measurand": VOLTAGE, "phase": "L3-N"},
            {"value": "400", "measurand": VOLTAGE, "phase": "L1-L2"},
        ],
    )
    assert snapshot.total(POWER) == Decimal("10.5")
    assert snapshot.highest(CURRENT) == Decimal(16)
    assert snapshot.mean(VOLTAGE) == Decimal(231)


def test_a_value_without_phase_wins_over_phases() -> None:
    """When a charger sends the total and the phases, the total is taken as sent."""
    snapshot = normalise(
        T,
        [
            {"value": "10000", "measurand": POWER},
            {"value": "3000", "measurand": POWER, "phase": "L1"},
        ],
    )
    assert snapshot.total(POWER) == Decimal(10)


@pytest.mark.parametrize(
    "sampled",
    [
        {"value": "AB12CD", "format": "SignedData"},
        {"value": "n/a"},
        {"value": "NaN"},
        {"value": "5", "measurand": "RPM", "unit": "RPM"},
    ],
)
def test_unusable_values_are_kept_aside(sampled: dict[str, str]) -> None:
    """Signed data, garbage and unknown units are kept, never guessed at."""
    snapshot = normalise(T, [sampled])
    assert snapshot.samples == []
    assert snapshot.skipped == [sampled]


def test_the_start_register_beside_the_current_one_is_not_now() -> None:
    """Project EV and Growatt firmware repeat the Transaction.Begin register (0 Wh) beside the
    periodic one at the same moment: the register now is the periodic figure."""
    snapshot = normalise(
        datetime(2025, 4, 23, 16, 59, tzinfo=UTC),
        [
            {"value": "646", "context": "Sample.Periodic", "measurand": ENERGY_REGISTER},
            {"value": "0", "context": "Transaction.Begin", "measurand": ENERGY_REGISTER},
        ],
    )
    assert snapshot.total(ENERGY_REGISTER) == Decimal("0.646")


def test_a_value_without_measurand_in_amps_is_not_energy() -> None:
    """No measurand means the energy register, but Alfen's value in A is not one."""
    snapshot = normalise(
        datetime(2025, 4, 23, 16, 59, tzinfo=UTC), [{"value": "15.630", "unit": "A"}]
    )
    assert snapshot.total(ENERGY_REGISTER) is None
    assert snapshot.skipped == [{"value": "15.630", "unit": "A"}]


@pytest.mark.parametrize(
    ("reported", "changes"),
    [
        # Nothing read: set what billing needs, as before.
        (
            None,
            {
                "MeterValueSampleInterval": "60",
                "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            },
        ),
        # All there: nothing to change.
        (
            {
                "MeterValueSampleInterval": "60",
                "MeterValuesSampledData": "Power.Active.Import, Energy.Active.Import.Register,SoC",
            },
            {},
        ),
        # Only what is missing is added; the charger's own measurands stay.
        (
            {
                "MeterValueSampleInterval": "60",
                "MeterValuesSampledData": "Voltage,Power.Active.Import",
            },
            {"MeterValuesSampledData": "Voltage,Power.Active.Import,Energy.Active.Import.Register"},
        ),
        # A charger that takes two at most: billing's first.
        (
            {
                "MeterValueSampleInterval": "30",
                "MeterValuesSampledData": "Voltage,SoC",
                "MeterValuesSampledDataMaxLength": "2",
            },
            {
                "MeterValueSampleInterval": "60",
                "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            },
        ),
        # Keys the charger does not know (None) or garbage.
        (
            {"MeterValueSampleInterval": None, "MeterValuesSampledData": None},
            {
                "MeterValueSampleInterval": "60",
                "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            },
        ),
    ],
)
def test_boot_configuration_adds_only_what_billing_lacks(
    reported: dict[str, str | None] | None, changes: dict[str, str]
) -> None:
    """The plan for a charger's meter value settings, from what it reported."""
    assert changes_needed(reported, 60) == changes


def test_heartbeat_interval_the_charger_reports() -> None:
    """Only a sensible positive whole number counts."""
    assert heartbeat_interval({"HeartbeatInterval": "150"}) == 150
    assert heartbeat_interval({"HeartbeatInterval": "0"}) is None
    assert heartbeat_interval({"HeartbeatInterval": "soon"}) is None
    assert heartbeat_interval(None) is None
