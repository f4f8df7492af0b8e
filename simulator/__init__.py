"""Simulated OCPP 1.6J charge points for tests, the demo and the benchmark."""

from .charger import (
    ChargerConfig,
    Frame,
    SimChargePoint,
    SimulatedCharger,
    iso,
    many_chargers_session,
    sampled_values,
)

__all__ = [
    "ChargerConfig",
    "Frame",
    "SimChargePoint",
    "SimulatedCharger",
    "iso",
    "many_chargers_session",
    "sampled_values",
]
