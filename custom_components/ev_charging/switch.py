"""Switches: charge on a connector (remote start/stop), keep a connector available."""

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from ocpp.v16 import call

from .const import CONF_REMOTE_ID_TAG, DOMAIN
from .csms.central import CentralSystem
from .csms.state import ChargerState
from .entity import ConnectorEntity, async_setup_charger_entities
from .runtime import EvChargingConfigEntry, run_command

PARALLEL_UPDATES = 1

CHARGING = SwitchEntityDescription(key="charging", translation_key="charging")
AVAILABLE = SwitchEntityDescription(
    key="available",
    translation_key="available",
    entity_category=EntityCategory.CONFIG,
    entity_registry_enabled_default=False,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a charging and an availability switch per connector."""
    central = entry.runtime_data.central
    async_setup_charger_entities(
        hass,
        entry,
        async_add_entities,
        lambda charger: (),
        lambda charger, connector_id: (
            ChargingSwitch(entry, central, charger, connector_id),
            AvailableSwitch(central, charger, connector_id),
        ),
    )


class ChargingSwitch(ConnectorEntity, SwitchEntity):
    """On while a session runs; turning it on or off asks the charger to start or stop one."""

    def __init__(
        self,
        entry: EvChargingConfigEntry,
        central: CentralSystem,
        charger: ChargerState,
        connector_id: int,
    ) -> None:
        super().__init__(charger, connector_id, CHARGING)
        self.entry = entry
        self.central = central

    @property
    def is_on(self) -> bool:
        """Whether a transaction is open on this connector."""
        return self.connector.transaction is not None

    def state_fingerprint(self) -> tuple[Any, ...]:
        """Availability and whether a session runs."""
        return (self.available, self.is_on)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start a session with Home Assistant's own ID tag (RemoteStartTransaction)."""
        await run_command(
            self.central,
            self.charger.charger_id,
            call.RemoteStartTransaction(
                id_tag=self.entry.options[CONF_REMOTE_ID_TAG], connector_id=self.connector_id
            ),
        )

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop the running session (RemoteStopTransaction)."""
        if (transaction := self.connector.transaction) is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_transaction",
                translation_placeholders={"connector": str(self.connector_id)},
            )
        await run_command(
            self.central,
            self.charger.charger_id,
            call.RemoteStopTransaction(transaction_id=transaction.transaction_id),
        )


class AvailableSwitch(ConnectorEntity, SwitchEntity):
    """Off makes the connector Inoperative (ChangeAvailability): how an owner marks maintenance."""

    def __init__(self, central: CentralSystem, charger: ChargerState, connector_id: int) -> None:
        super().__init__(charger, connector_id, AVAILABLE)
        self.central = central

    @property
    def is_on(self) -> bool | None:
        """Available unless the charger reports the connector Unavailable."""
        if self.connector.status is None:
            return None
        return self.connector.status != "Unavailable"

    def state_fingerprint(self) -> tuple[Any, ...]:
        """Availability and the connector's availability."""
        return (self.available, self.is_on)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Make the connector Operative."""
        await self._change("Operative")

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Make the connector Inoperative."""
        await self._change("Inoperative")

    async def _change(self, kind: str) -> None:
        await run_command(
            self.central,
            self.charger.charger_id,
            call.ChangeAvailability(connector_id=self.connector_id, type=kind),
        )
