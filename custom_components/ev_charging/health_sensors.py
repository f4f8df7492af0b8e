"""Health sensors: uptime per charger and connector, the last fault, reconnects."""

from dataclasses import replace
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory

from .csms.central import CentralSystem
from .csms.state import ChargerState
from .entity import ChargerEntity
from .faults.health import ProblemKind

UPTIME_PRECISION = Decimal("0.01")

CHARGER_UPTIME = SensorEntityDescription(
    key="uptime",
    translation_key="uptime",
    native_unit_of_measurement=PERCENTAGE,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=2,
    entity_registry_enabled_default=False,
)
CONNECTOR_UPTIME = replace(
    CHARGER_UPTIME, translation_key="connector_uptime", entity_registry_enabled_default=False
)
LAST_FAULT = SensorEntityDescription(
    key="last_fault",
    translation_key="last_fault",
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
)
RECONNECTS = SensorEntityDescription(
    key="reconnects",
    translation_key="reconnects",
    entity_category=EntityCategory.DIAGNOSTIC,
    state_class=SensorStateClass.TOTAL_INCREASING,
    entity_registry_enabled_default=False,
)


def health_sensors(central: CentralSystem, charger: ChargerState) -> list[SensorEntity]:
    """The health sensors of a charger."""
    return [
        UptimeSensor(central, charger, None),
        LastFaultSensor(charger, LAST_FAULT, LAST_FAULT.key),
        ReconnectsSensor(charger, RECONNECTS, RECONNECTS.key),
    ]


class UptimeSensor(ChargerEntity, SensorEntity):
    """Uptime % over the last 30 days, NEVI style: outages count, maintenance and Home
    Assistant's own downtime do not. Moves with the clock (refreshed every minute).
    A connector's uptime counts the charger's problems against it too."""

    def __init__(
        self, central: CentralSystem, charger: ChargerState, connector_id: int | None
    ) -> None:
        description = CHARGER_UPTIME if connector_id is None else CONNECTOR_UPTIME
        suffix = description.key if connector_id is None else f"{connector_id}|{description.key}"
        super().__init__(charger, description, suffix)
        self.central = central
        self.connector_id = connector_id
        if connector_id is not None:
            self._attr_translation_placeholders = {"connector": str(connector_id)}

    @property
    def available(self) -> bool:
        """Measured from our side, charger connected or not."""
        return True

    @property
    def native_value(self) -> Decimal | None:
        """The uptime %, to the hundredth."""
        uptime = self.central.uptime(self.charger, self.connector_id)
        return None if uptime is None else uptime.quantize(UPTIME_PRECISION)

    def state_fingerprint(self) -> tuple[Any, ...]:
        """The rounded value."""
        return (self.native_value,)


class LastFaultSensor(ChargerEntity, SensorEntity):
    """The latest fault's error code, kept after it cleared; where and when as attributes."""

    @property
    def available(self) -> bool:
        """History, readable while the charger is away."""
        return True

    @property
    def native_value(self) -> str | None:
        """The error code (or Faulted without one)."""
        if (last := self.charger.health.last_fault) is None:
            return None
        return dict(last[1].details).get("error_code")

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Connector, start, whether it still holds, vendor code and info."""
        if (last := self.charger.health.last_fault) is None:
            return {}
        connector_id, problem = last
        return {
            **dict(problem.details),
            "connector_id": connector_id,
            "since": problem.since.isoformat() if problem.since else None,
            "active": self.charger.health.problem(connector_id, ProblemKind.FAULT).active,
        }

    def state_fingerprint(self) -> tuple[Any, ...]:
        """The last fault and whether it still holds."""
        return (self.charger.health.last_fault, self.extra_state_attributes.get("active"))


class ReconnectsSensor(ChargerEntity, SensorEntity):
    """How often the charger connected again (network drops, reboots, our restarts)."""

    @property
    def available(self) -> bool:
        """A count kept in the ledger."""
        return True

    @property
    def native_value(self) -> int:
        """Reconnects since the charger was first seen."""
        return self.charger.health.reconnects

    def state_fingerprint(self) -> tuple[Any, ...]:
        """The count."""
        return (self.native_value,)
