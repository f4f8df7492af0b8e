"""Binary sensors: whether each charger is connected to the central system."""

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.state import ChargerState
from .entity import ChargerEntity, async_setup_charger_entities
from .runtime import EvChargingConfigEntry

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
    async_setup_charger_entities(
        hass, entry, async_add_entities, lambda charger: [ConnectivitySensor(charger, CONNECTIVITY)]
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
