"""A charger's health and uptime as plain Python: changes, timers, repairs, NEVI uptime."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from custom_components.ev_charging.faults.detectors import Problem
from custom_components.ev_charging.faults.health import ChargerHealth, ProblemKind, Thresholds
from custom_components.ev_charging.faults.uptime import (
    intersection,
    merged,
    total,
    uptime_percent,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_changes_come_once_and_name_their_event() -> None:
    """A fault raised and cleared is reported once each way, and logged as an interval."""
    health = ChargerHealth(heartbeat_interval=3600)
    health.connected(at(0), again=False)
    assert health.evaluate(at(0)) == []
    health.status(1, "Faulted", "GroundFailure", at(1), vendor_error_code="E7")
    [change] = health.evaluate(at(1))
    assert (change.kind, change.connector_id, change.event_type) == (
        ProblemKind.FAULT,
        1,
        "fault_raised",
    )
    health.status(1, "Faulted", "GroundFailure", at(2))
    assert health.evaluate(at(2)) == []  # the same fault again
    health.status(1, "Available", "NoError", at(3))
    [cleared] = health.evaluate(at(3))
    assert cleared.event_type == "fault_cleared"
    assert [(e.kind, e.opened, e.at) for e in health.log.drain()] == [
        ("fault", True, at(1)),
        ("fault", False, at(3)),
    ]
    assert health.last_fault is not None
    # The last fault is what the charger said last while faulted: GroundFailure, no code.
    assert dict(health.last_fault[1].details) == {"error_code": "GroundFailure"}
    assert health.last_fault[1].since == at(1)


def test_due_points_at_the_offline_bound_and_the_repair_moment() -> None:
    """One timer suffices: due() is the silence bound, then the moment a problem lasts."""
    health = ChargerHealth(Thresholds(repair_after=timedelta(minutes=30)), heartbeat_interval=60)
    health.connected(at(0), again=False)
    assert health.due(at(0)) == at(2)
    [offline] = health.evaluate(at(2))
    assert (offline.event_type, offline.problem.since) == ("offline", at(2))
    assert health.due(at(2)) == at(32)
    assert health.lasting(at(31)) == {}
    assert list(health.lasting(at(32))) == [(0, ProblemKind.OFFLINE)]
    assert health.due(at(32)) is None
    health.message(at(33))
    [online] = health.evaluate(at(33))
    assert online.event_type == "online"


def test_thresholds_apply_live() -> None:
    """A longer offline multiple moves the bound of a charger already connected."""
    health = ChargerHealth()
    health.connected(at(0), again=False)
    health.configure(Thresholds(offline_multiple=3), heartbeat_interval=60, meter_interval=60)
    assert health.due(at(0)) == at(3)


def test_restored_problems_are_not_reported_again() -> None:
    """After a restart an open fault is the verdict already: no second fault_raised."""
    health = ChargerHealth()
    problem = Problem(True, at(5), (("error_code", "GroundFailure"),))
    health.restore(1, ProblemKind.FAULT, problem)
    health.restore(0, ProblemKind.OFFLINE, Problem(True, at(6), (("reason", "disconnected"),)))
    assert health.evaluate(at(10)) == []
    assert health.problem(0, ProblemKind.OFFLINE).since == at(6)


def test_interval_arithmetic() -> None:
    """Clipping, joining overlaps, intersecting, open intervals up to the end."""
    joined = merged([(at(10), at(20)), (at(15), at(30)), (at(50), None)], at(0), at(60))
    assert joined == [(at(10), at(30)), (at(50), at(60))]
    assert intersection(joined, [(at(25), at(55))]) == [(at(25), at(30)), (at(50), at(55))]
    assert total(joined) == timedelta(minutes=30)


def test_nevi_uptime() -> None:
    """(period - (outage - excluded)) / period: maintenance inside an outage is forgiven."""
    outages = [(at(0), at(60))]
    excluded = [(at(30), at(90))]  # overlaps 30 of the 60 outage minutes
    assert uptime_percent(at(0), at(600), outages, excluded) == Decimal(95)


def test_connector_and_charger_uptime() -> None:
    """The charger is out only while every connector is; maintenance and downtime excluded."""
    health = ChargerHealth()
    health.status(1, "Faulted", "GroundFailure", at(0))
    health.evaluate(at(0))
    health.status(1, "Available", "NoError", at(60))
    health.evaluate(at(60))
    health.status(2, "Faulted", "GroundFailure", at(30))
    health.evaluate(at(30))
    health.status(2, "Available", "NoError", at(90))
    health.evaluate(at(90))
    health.maintenance(2, inoperative=True, at=at(100))
    health.status(2, "Unavailable", "NoError", at(100))
    health.maintenance(2, inoperative=False, at=at(160))
    health.status(2, "Available", "NoError", at(160))
    downtime = [(at(40), at(50))]
    end = at(1000)
    # Connector 1: 60 min fault, 10 of it while HA was down.
    assert health.connector_uptime(1, T0, end, downtime) == Decimal(100) - Decimal(50) / 10
    # Connector 2: 60 min fault (10 in downtime) + 60 min maintenance (all excluded).
    assert health.connector_uptime(2, T0, end, downtime) == Decimal(95)
    # The charger: both out from 30 to 60 (30 min), 10 of them in downtime.
    assert health.charger_uptime([1, 2], T0, end, downtime) == Decimal(98)
