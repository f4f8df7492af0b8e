"""Sensors: charger status and health, connector status and metering."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util
from ocpp.v16.enums import ChargePointStatus

from .billing_sensors import (
    ACCOUNT_TOTALS,
    CHARGER_TOTALS,
    AccountSensor,
    ChargerTotalsSensor,
    EnergyPriceSensor,
    SessionCostSensor,
)
from .const import GUEST_ACCOUNT, SUBENTRY_ACCOUNT
from .csms.state import ChargerState, ConnectorState
from .entity import ChargerEntity, ConnectorEntity, async_setup_charger_entities
from .health_sensors import UptimeSensor, health_sensors
from .runtime import EvChargingConfigEntry, signal_accounts_changed

# Entities only write state when their charger pushes an update.
PARALLEL_UPDATES = 0


def _option(status: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", status).lower()


def status_option(status: str | None) -> str | None:
    """An OCPP status as a translation-friendly option: SuspendedEVSE -> suspended_evse."""
    return None if status is None else _option(status)


STATUS_OPTIONS = [_option(status.value) for status in ChargePointStatus]


@dataclass(frozen=True, kw_only=True)
class ChargerSensorDescription(SensorEntityDescription):
    """A sensor of the charger as a whole."""

    value_fn: Callable[[ChargerState], StateType | datetime]
    always_available: bool = False


@dataclass(frozen=True, kw_only=True)
class ConnectorSensorDescription(SensorEntityDescription):
    """A sensor of one connector."""

    value_fn: Callable[[ConnectorState], StateType | Decimal | datetime]
    always_available: bool = False


def _session_minutes(connector: ConnectorState) -> Decimal | None:
    if (session := connector.session) is None:
        return None
    end = session.stopped_at or dt_util.utcnow()
    return Decimal((end - session.started_at).total_seconds()) / 60


CHARGER_SENSORS: tuple[ChargerSensorDescription, ...] = (
    ChargerSensorDescription(
        key="status",
        translation_key="charger_status",
        device_class=SensorDeviceClass.ENUM,
        options=STATUS_OPTIONS,
        # Connector 0: with one connector it repeats that connector's status. Off by default
        # keeps a garage of 1,000 chargers under Home Assistant's 10,000 enabled entities.
        entity_registry_enabled_default=False,
        value_fn=lambda charger: status_option(charger.connector(0).status),
    ),
    ChargerSensorDescription(
        key="last_heartbeat",
        translation_key="last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda charger: charger.last_heartbeat,
        always_available=True,
    ),
    ChargerSensorDescription(
        key="firmware",
        translation_key="firmware",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda charger: charger.firmware,
        always_available=True,
    ),
)

CONNECTOR_SENSORS: tuple[ConnectorSensorDescription, ...] = (
    ConnectorSensorDescription(
        key="status",
        translation_key="connector_status",
        device_class=SensorDeviceClass.ENUM,
        options=STATUS_OPTIONS,
        value_fn=lambda connector: status_option(connector.status),
    ),
    ConnectorSensorDescription(
        key="power",
        translation_key="power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=lambda connector: connector.power_kw,
    ),
    ConnectorSensorDescription(
        key="energy_register",
        translation_key="energy_register",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda connector: connector.energy_register_kwh,
        # The register keeps its last reading while the charger is away, so the energy
        # dashboard sees no gap and no spurious reset.
        always_available=True,
    ),
    ConnectorSensorDescription(
        key="session_energy",
        translation_key="session_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda connector: connector.session_energy_kwh,
    ),
    ConnectorSensorDescription(
        key="current",
        translation_key="current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
        value_fn=lambda connector: connector.current_a,
    ),
    ConnectorSensorDescription(
        key="voltage",
        translation_key="voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda connector: connector.voltage_v,
    ),
    ConnectorSensorDescription(
        key="session_duration",
        translation_key="session_duration",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=_session_minutes,
    ),
    ConnectorSensorDescription(
        key="soc",
        translation_key="soc",
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda connector: connector.soc_percent,
    ),
    ConnectorSensorDescription(
        key="temperature",
        translation_key="temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda connector: connector.temperature_c,
    ),
    ConnectorSensorDescription(
        key="id_tag",
        translation_key="id_tag",
        entity_registry_enabled_default=False,
        value_fn=lambda connector: (
            None if connector.transaction is None else connector.transaction.id_tag
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors for known chargers now and for new chargers and connectors as they come."""
    central = entry.runtime_data.central
    cashier, currency = central.cashier, hass.config.currency

    def charger_sensors(charger: ChargerState) -> list[SensorEntity]:
        sensors: list[SensorEntity] = [
            ChargerSensor(charger, description) for description in CHARGER_SENSORS
        ]
        sensors.append(EnergyPriceSensor(charger, cashier, currency))
        sensors.extend(health_sensors(central, charger))
        sensors.extend(
            ChargerTotalsSensor(charger, description, cashier, currency)
            for description in CHARGER_TOTALS
        )
        return sensors

    def connector_sensors(charger: ChargerState, connector_id: int) -> list[SensorEntity]:
        sensors: list[SensorEntity] = [
            ConnectorSensor(charger, connector_id, description) for description in CONNECTOR_SENSORS
        ]
        sensors.append(SessionCostSensor(charger, connector_id, cashier, currency))
        sensors.append(UptimeSensor(central, charger, connector_id))
        return sensors

    async_setup_charger_entities(
        hass, entry, async_add_entities, charger_sensors, connector_sensors
    )
    added: set[str] = set()

    @callback
    def add_accounts() -> None:
        """Sensors for each account (and the kiosk's guests) not yet given them."""
        accounts = [(GUEST_ACCOUNT, "Guests", None)] + [
            (subentry.subentry_id, subentry.title, subentry.subentry_id)
            for subentry in entry.get_subentries_of_type(SUBENTRY_ACCOUNT)
        ]
        for account, name, subentry_id in accounts:
            if account in added:
                continue
            added.add(account)
            async_add_entities(
                [
                    AccountSensor(account, name, description, cashier, currency)
                    for description in ACCOUNT_TOTALS
                ],
                config_subentry_id=subentry_id,
            )

    add_accounts()
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_accounts_changed(entry.entry_id), add_accounts)
    )


class ChargerSensor(ChargerEntity, SensorEntity):
    """A sensor of the charger as a whole."""

    entity_description: ChargerSensorDescription

    def __init__(self, charger: ChargerState, description: ChargerSensorDescription) -> None:
        super().__init__(charger, description, description.key)

    @property
    def available(self) -> bool:
        """Diagnostic facts stay readable while the charger is away."""
        return self.entity_description.always_available or super().available

    @property
    def native_value(self) -> StateType | datetime:
        """The value from the charger's state."""
        return self.entity_description.value_fn(self.charger)

    def state_fingerprint(self) -> tuple[Any, ...]:
        """Availability and value."""
        return (self.available, self.native_value)


class ConnectorSensor(ConnectorEntity, SensorEntity):
    """A sensor of one connector of a charger."""

    entity_description: ConnectorSensorDescription

    @property
    def available(self) -> bool:
        """Live figures only while the charger is connected; the register always."""
        return self.entity_description.always_available or super().available

    @property
    def native_value(self) -> StateType | Decimal | datetime:
        """The value from the connector's state."""
        value = self.entity_description.value_fn(self.connector)
        if isinstance(value, Decimal):
            # 5.000 kWh reads as 5; normalize() alone would write 1000 as 1E+3.
            return Decimal(format(value.normalize(), "f"))
        return value

    def state_fingerprint(self) -> tuple[Any, ...]:
        """Availability and value."""
        return (self.available, self.native_value)
