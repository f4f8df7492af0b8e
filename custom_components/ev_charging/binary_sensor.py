"""Binary sensors: connectivity, and a problem sensor per fault detector.

Problem sensors (device class problem) give the automation editor its device triggers
("started detecting a problem") with no YAML.
"""

from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.state import ChargerState
from .entity import ChargerEntity, async_setup_charger_entities
from .faults.detectors import Problem
from .faults.health import CHARGER_WIDE, ProblemKind
from .runtime import EvChargingConfigEntry

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key="connected",
    translation_key="connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
    # The offline problem sensor says the same and more (a silent charger is offline too).
    entity_registry_enabled_default=False,
)


@dataclass(frozen=True, kw_only=True)
class ProblemSensorDescription(BinarySensorEntityDescription):
    """A problem sensor for one detector."""

    kind: ProblemKind
    device_class: BinarySensorDeviceClass = BinarySensorDeviceClass.PROBLEM


# Enabled by default: offline and fault, what every owner wants to know. The rest are one
# click away (Home Assistant enables at most 10,000 entities per config entry).
CHARGER_PROBLEMS = (
    ProblemSensorDescription(key="offline", translation_key="offline", kind=ProblemKind.OFFLINE),
    ProblemSensorDescription(
        key="flapping",
        translation_key="flapping",
        kind=ProblemKind.FLAPPING,
        entity_registry_enabled_default=False,
    ),
    ProblemSensorDescription(
        key="degradation",
        translation_key="degradation",
        kind=ProblemKind.DEGRADATION,
        entity_registry_enabled_default=False,
    ),
)
CONNECTOR_PROBLEMS = (
    ProblemSensorDescription(
        key="fault", translation_key="connector_fault", kind=ProblemKind.FAULT
    ),
    ProblemSensorDescription(
        key="stalled",
        translation_key="connector_stalled",
        kind=ProblemKind.STALLED,
        entity_registry_enabled_default=False,
    ),
    ProblemSensorDescription(
        key="meter_anomaly",
        translation_key="connector_meter_anomaly",
        kind=ProblemKind.METER_ANOMALY,
        entity_registry_enabled_default=False,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add connectivity and problem sensors per charger and connector, now and later."""

    def charger_sensors(charger: ChargerState) -> list[BinarySensorEntity]:
        sensors: list[BinarySensorEntity] = [ConnectivitySensor(charger, CONNECTIVITY)]
        sensors += [ProblemSensor(charger, CHARGER_WIDE, d) for d in CHARGER_PROBLEMS]
        return sensors

    def connector_sensors(charger: ChargerState, connector_id: int) -> list[BinarySensorEntity]:
        return [ProblemSensor(charger, connector_id, d) for d in CONNECTOR_PROBLEMS]

    async_setup_charger_entities(
        hass, entry, async_add_entities, charger_sensors, connector_sensors
    )


class ConnectivitySensor(ChargerEntity, BinarySensorEntity):
    """On while the charger holds a websocket connection to the central system."""

    def __init__(self, charger: ChargerState, description: BinarySensorEntityDescription) -> None:
        super().__init__(charger, description, description.key)

    @property
    def available(self) -> bool:
        """Always known: a disconnected charger is off, not unavailable."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether the charger is connected."""
        return self.charger.connected

    def state_fingerprint(self) -> tuple[bool, ...]:
        """Connected or not."""
        return (self.charger.connected,)


class ProblemSensor(ChargerEntity, BinarySensorEntity):
    """On while a detector sees its problem; what it saw and since when as attributes.

    A connector's fault sensor also turns on for a fault of the whole charger (connector 0).
    """

    entity_description: ProblemSensorDescription

    def __init__(
        self, charger: ChargerState, connector_id: int, description: ProblemSensorDescription
    ) -> None:
        suffix = (
            description.key if connector_id == CHARGER_WIDE else f"{connector_id}|{description.key}"
        )
        super().__init__(charger, description, suffix)
        self.connector_id = connector_id
        if connector_id != CHARGER_WIDE:
            self._attr_translation_placeholders = {"connector": str(connector_id)}

    @property
    def available(self) -> bool:
        """Known from our side even while the charger is away."""
        return True

    def _problem(self) -> tuple[int, Problem]:
        health, kind = self.charger.health, self.entity_description.kind
        if kind is ProblemKind.FAULT:
            return health.fault_of(self.connector_id)
        return self.connector_id, health.problem(self.connector_id, kind)

    @property
    def is_on(self) -> bool:
        """Whether the detector sees its problem."""
        return self._problem()[1].active

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Since when, where, and the detector's details (error code, vendor code, reason)."""
        connector_id, problem = self._problem()
        if not problem.active:
            return {}
        attributes: dict[str, Any] = dict(problem.details)
        attributes["since"] = problem.since.isoformat() if problem.since else None
        if connector_id != self.connector_id:
            attributes["connector_id"] = connector_id
        return attributes

    def state_fingerprint(self) -> tuple[Any, ...]:
        """The verdict."""
        return self._problem()
