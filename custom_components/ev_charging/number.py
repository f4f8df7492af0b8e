"""Numbers: a current limit per charger, for load balancing or solar-surplus automations."""

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.central import CentralSystem
from .csms.charging_profiles import current_limit
from .csms.state import ChargerState
from .entity import ChargerEntity, async_setup_charger_entities
from .runtime import EvChargingConfigEntry, run_command

PARALLEL_UPDATES = 1

CURRENT_LIMIT = NumberEntityDescription(
    key="current_limit",
    translation_key="current_limit",
    device_class=NumberDeviceClass.CURRENT,
    native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
    native_min_value=0,
    native_max_value=80,
    native_step=1,
    mode=NumberMode.BOX,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a current limit per charger."""
    central = entry.runtime_data.central
    async_setup_charger_entities(
        hass, entry, async_add_entities, lambda charger: [CurrentLimit(central, charger)]
    )


class CurrentLimit(ChargerEntity, RestoreNumber):
    """The highest current the charger may draw (SetChargingProfile, ChargePointMaxProfile)."""

    def __init__(self, central: CentralSystem, charger: ChargerState) -> None:
        super().__init__(charger, CURRENT_LIMIT, CURRENT_LIMIT.key)
        self.central = central
        self._attr_native_value: float | None = None

    async def async_added_to_hass(self) -> None:
        """Show the last limit set, also after a restart."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_number_data()) is not None:
            self._attr_native_value = last.native_value

    async def async_set_native_value(self, value: float) -> None:
        """Send the limit; the entity shows it once the charger accepted it."""
        await run_command(self.central, self.charger.charger_id, current_limit(0, value))
        self._attr_native_value = value
        self.async_write_ha_state()
