"""The base entity: one charger's device, pushed updates, availability."""

from typing import Any
from urllib.parse import quote

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .csms.state import ChargerState
from .runtime import device_identifier


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
