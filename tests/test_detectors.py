"""The fault detectors, as plain Python."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from custom_components.ev_charging.faults.detectors import (
    DegradationDetector,
    FaultDetector,
    FlappingDetector,
    MeterAnomalyDetector,
    OfflineDetector,
    StalledDetector,
)

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_fault_keeps_its_codes_and_start() -> None:
    """Faulted or an error code is a problem with its codes; NoError clears it."""
    fault = FaultDetector()
    assert not fault.status("Available", "NoError", at(0)).active
    problem = fault.status("Faulted", "GroundFailure", at(1), info="RCD", vendor_error_code="E12")
    assert (problem.active, problem.since) == (True, at(1))
    assert dict(problem.details) == {
        "error_code": "GroundFailure",
        "vendor_error_code": "E12",
        "info": "RCD",
    }
    # An error code while still Available is a problem too; the fault keeps its start.
    assert fault.status("Available", "HighTemperature", at(2)).since == at(1)
    assert not fault.status("Available", "NoError", at(3)).active


def test_offline_within_the_bound() -> None:
    """Silent for two heartbeat intervals is offline from exactly then; a close at once."""
    offline = OfflineDetector(multiple=2, heartbeat_interval=60)
    offline.connection(True, at(0))
    assert offline.due() == at(2)
    assert not offline.check(at(2) - timedelta(microseconds=1)).active
    problem = offline.check(at(2))
    assert (problem.active, problem.since, dict(problem.details)) == (
        True,
        at(2),
        {"reason": "no_messages"},
    )
    offline.message(at(3))
    assert not offline.check(at(3)).active
    offline.connection(False, at(4))
    assert offline.check(at(4)).since == at(4)
    assert offline.due() is None
    offline.connection(True, at(5))
    assert not offline.check(at(5)).active
    # After our restart: the same bound to come back, then offline since the bound ran out.
    offline.waiting(at(10))
    assert not offline.check(at(11)).active
    assert offline.check(at(12)).details == (("reason", "not_reconnected"),)
    offline.restore(at(20), "disconnected")
    assert offline.check(at(30)).since == at(20)


def test_stalled_session() -> None:
    """Charging at zero power, or without meter values, past the threshold."""
    stalled = StalledDetector(threshold=timedelta(minutes=10), meter_interval=60)
    stalled.status("Charging", at(0))
    stalled.reading(Decimal(7), at(1))
    stalled.reading(Decimal(0), at(2))
    assert not stalled.check(at(11)).active
    assert stalled.due() == at(12)
    problem = stalled.check(at(12))
    assert (problem.since, dict(problem.details)) == (at(2), {"reason": "no_power"})
    stalled.reading(Decimal(7), at(13))
    assert not stalled.check(at(13)).active
    # Silence: no meter values for longer than the threshold.
    assert stalled.check(at(23)).details == (("reason", "no_meter_values"),)
    stalled.status("Finishing", at(24))
    assert not stalled.check(at(60)).active


def test_meter_anomaly() -> None:
    """Backwards, or faster than 22 kW (with 20 % margin) can fill it, is an anomaly."""
    meter = MeterAnomalyDetector(max_power_kw=Decimal(22))
    assert not meter.reading(Decimal(1_000), at(0)).active
    assert not meter.reading(Decimal(1_000 + 440), at(1)).active  # 26.4 kW allowed for 1 min
    assert meter.reading(Decimal(1_440 + 500), at(2)).details == (("kind", "jump"),)
    assert meter.reading(Decimal(100), at(3)).details == (("kind", "backwards"),)
    assert not meter.reading(Decimal(200), at(4)).active


def test_flapping() -> None:
    """More than five connections in a quarter of an hour, until they age out."""
    flapping = FlappingDetector(limit=5, window=timedelta(minutes=15))
    for minute in range(6):
        flapping.event(at(minute))
    assert flapping.check(at(6)).since == at(0)
    assert flapping.due() == at(15)
    assert not flapping.check(at(15)).active


def test_degradation() -> None:
    """An error that comes back three times a day, or a connector running hot."""
    degradation = DegradationDetector(repeats=3, max_temperature_c=Decimal(70))
    for hour in range(3):
        degradation.status(1, "HighTemperature", at(hour * 60))
        degradation.status(2, "NoError", at(hour * 60 + 1))  # another connector: no clearing
        degradation.status(1, "HighTemperature", at(hour * 60 + 2))  # the same occurrence
        degradation.status(1, "NoError", at(hour * 60 + 5))
    problem = degradation.check(at(200))
    assert dict(problem.details) == {"reason": "recurring_error", "error_code": "HighTemperature"}
    assert not degradation.check(at(24 * 60 + 1)).active
    degradation.temperature(1, Decimal(75), at(2_000))
    degradation.temperature(2, Decimal(30), at(2_001))
    assert degradation.check(at(2_001)).since == at(2_000)
    degradation.temperature(1, Decimal(40), at(2_002))
    assert not degradation.check(at(2_003)).active
