"""Buttons: restart a charger, unlock a connector."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from ocpp.v16 import call

from .csms.central import CentralSystem
from .csms.state import ChargerState
from .entity import ChargerEntity, ConnectorEntity, async_setup_charger_entities
from .runtime import EvChargingConfigEntry, run_command

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class CommandButtonDescription(ButtonEntityDescription):
    """A button that sends one command; payload_fn gets the connector id (0: the charger)."""

    payload_fn: Callable[[int], Any]


CHARGER_BUTTONS = (
    CommandButtonDescription(
        key="reset_soft",
        translation_key="reset_soft",
        entity_category=EntityCategory.CONFIG,
        # Maintenance controls stay off by default: 1,000 chargers must fit under Home
        # Assistant's 10,000 enabled entities per config entry.
        entity_registry_enabled_default=False,
        payload_fn=lambda connector_id: call.Reset(type="Soft"),
    ),
    CommandButtonDescription(
        key="reset_hard",
        translation_key="reset_hard",
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        payload_fn=lambda connector_id: call.Reset(type="Hard"),
    ),
)
CONNECTOR_BUTTONS = (
    CommandButtonDescription(
        key="unlock",
        translation_key="unlock",
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        payload_fn=lambda connector_id: call.UnlockConnector(connector_id=connector_id),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add restart buttons per charger and unlock buttons per connector."""
    central = entry.runtime_data.central
    async_setup_charger_entities(
        hass,
        entry,
        async_add_entities,
        lambda charger: (ChargerButton(central, charger, d) for d in CHARGER_BUTTONS),
        lambda charger, connector_id: (
            ConnectorButton(central, charger, connector_id, d) for d in CONNECTOR_BUTTONS
        ),
    )


class ChargerButton(ChargerEntity, ButtonEntity):
    """A command for the whole charger."""

    entity_description: CommandButtonDescription

    def __init__(
        self, central: CentralSystem, charger: ChargerState, description: CommandButtonDescription
    ) -> None:
        super().__init__(charger, description, description.key)
        self.central = central

    async def async_press(self) -> None:
        """Send the command; a failure is raised as a translated error."""
        await run_command(
            self.central, self.charger.charger_id, self.entity_description.payload_fn(0)
        )


class ConnectorButton(ConnectorEntity, ButtonEntity):
    """A command for one connector."""

    entity_description: CommandButtonDescription

    def __init__(
        self,
        central: CentralSystem,
        charger: ChargerState,
        connector_id: int,
        description: CommandButtonDescription,
    ) -> None:
        super().__init__(charger, connector_id, description)
        self.central = central

    async def async_press(self) -> None:
        """Send the command; a failure is raised as a translated error."""
        await run_command(
            self.central,
            self.charger.charger_id,
            self.entity_description.payload_fn(self.connector_id),
        )
