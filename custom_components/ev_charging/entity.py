"""The base entity: one charger's device, pushed updates, availability."""

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.state import ChargerState, ConnectorState
from .runtime import (
    EvChargingConfigEntry,
    device_identifier,
    signal_charger_added,
    signal_connector_added,
)


def entity_unique_id(charger_id: str, suffix: str) -> str:
    """charger id | suffix, the id quoted so that no charger id can imitate another's suffix."""
    return f"{quote(charger_id, safe='')}|{suffix}"


class ChargerEntity(Entity):
    """An entity of one charger; it updates only when its own charger changes."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _last_fingerprint: tuple[Any, ...] | None = None

    def __init__(self, charger: ChargerState, description: EntityDescription, suffix: str) -> None:
        self.charger = charger
        self.entity_description = description
        self._attr_unique_id = entity_unique_id(charger.charger_id, suffix)
        # Only the identity: the device's maker, model and firmware are kept current from
        # BootNotifications by the listener, and an entity added later must not blank them.
        self._attr_device_info = DeviceInfo(
            identifiers={device_identifier(charger.charger_id)}, name=charger.charger_id
        )

    @property
    def available(self) -> bool:
        """Live figures are only current while the charger is connected."""
        return self.charger.connected

    async def async_added_to_hass(self) -> None:
        """Write state whenever this entity's charger reports something new for it."""
        self.async_on_remove(self.charger.add_listener(self._charger_updated))

    @callback
    def _charger_updated(self) -> None:
        # Most messages change one or two figures of a charger: writing every entity's
        # unchanged state would cost more than the whole OCPP exchange.
        fingerprint = self.state_fingerprint()
        if fingerprint != self._last_fingerprint:
            self._last_fingerprint = fingerprint
            self.async_write_ha_state()

    def state_fingerprint(self) -> tuple[Any, ...]:
        """What this entity would write; a change means a state write is due."""
        return (self.available,)


class ConnectorEntity(ChargerEntity):
    """An entity of one connector (1 and up) of a charger."""

    def __init__(
        self, charger: ChargerState, connector_id: int, description: EntityDescription
    ) -> None:
        super().__init__(charger, description, f"{connector_id}|{description.key}")
        self.connector_id = connector_id
        self._attr_translation_placeholders = {"connector": str(connector_id)}

    @property
    def connector(self) -> ConnectorState:
        """This entity's connector."""
        return self.charger.connector(self.connector_id)


def async_setup_charger_entities(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    charger_entities: Callable[[ChargerState], Iterable[Entity]],
    connector_entities: Callable[[ChargerState, int], Iterable[Entity]] | None = None,
) -> None:
    """Add a platform's entities for known chargers now, and for new chargers and connectors
    as they appear (connector 0 stands for the charger itself and gets no connector entities).
    """

    def for_connector(charger: ChargerState, connector_id: int) -> list[Entity]:
        if connector_entities is None or connector_id == 0:
            return []
        return list(connector_entities(charger, connector_id))

    @callback
    def add_charger(charger: ChargerState) -> None:
        entities = list(charger_entities(charger))
        for connector_id in sorted(charger.connectors):
            entities.extend(for_connector(charger, connector_id))
        async_add_entities(entities)

    @callback
    def add_connector(charger: ChargerState, connector_id: int) -> None:
        if entities := for_connector(charger, connector_id):
            async_add_entities(entities)

    for charger in entry.runtime_data.central.chargers.values():
        if charger.approved:
            add_charger(charger)
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_charger_added(entry.entry_id), add_charger)
    )
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_connector_added(entry.entry_id), add_connector)
    )
