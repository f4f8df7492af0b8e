"""An event entity per charger: faults raised and cleared, offline and online, sessions."""

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.state import ChargerState
from .entity import ChargerEntity, async_setup_charger_entities
from .health_reports import signal_charger_event
from .runtime import EvChargingConfigEntry

PARALLEL_UPDATES = 0

EVENT_TYPES = [
    "fault_raised",
    "fault_cleared",
    "offline",
    "online",
    "problem_raised",
    "problem_cleared",
    "session_started",
    "session_stopped",
]

# Disabled by default like the uptime sensors (Home Assistant enables at most 10,000 entities
# per config entry); automations can use the bus event ev_charging_charger_event instead.
CHARGER_EVENTS = EventEntityDescription(
    key="events",
    translation_key="charger_events",
    event_types=EVENT_TYPES,
    entity_registry_enabled_default=False,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the event entity of each charger, now and for chargers approved later."""
    async_setup_charger_entities(
        hass,
        entry,
        async_add_entities,
        lambda charger: [ChargerEventEntity(entry.entry_id, charger)],
    )


class ChargerEventEntity(ChargerEntity, EventEntity):
    """Shows the charger's events as they happen (the same go out as bus events)."""

    def __init__(self, entry_id: str, charger: ChargerState) -> None:
        super().__init__(charger, CHARGER_EVENTS, CHARGER_EVENTS.key)
        self._signal = signal_charger_event(entry_id, charger.charger_id)

    @property
    def available(self) -> bool:
        """Events about an offline charger are news too."""
        return True

    async def async_added_to_hass(self) -> None:
        """Listen for this charger's events."""
        await super().async_added_to_hass()
        self.async_on_remove(async_dispatcher_connect(self.hass, self._signal, self._event))

    @callback
    def _event(self, event_type: str, data: dict[str, Any]) -> None:
        self._trigger_event(event_type, data)
        self.async_write_ha_state()
