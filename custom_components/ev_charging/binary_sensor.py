"""Binary sensors: whether each charger is connected to the central system."""

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.state import ChargerState
from .entity import ChargerEntity
from .runtime import EvChargingConfigEntry, signal_charger_added

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key="connected",
    translation_key="connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a connectivity sensor per charger, now and for chargers approved later."""

    @callback
    def add_charger(charger: ChargerState) -> None:
        async_add_entities([ConnectivitySensor(charger, CONNECTIVITY)])

    async_add_entities(
        ConnectivitySensor(charger, CONNECTIVITY)
        for charger in entry.runtime_data.central.chargers.values()
        if charger.approved
    )
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_charger_added(entry.entry_id), add_charger)
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
