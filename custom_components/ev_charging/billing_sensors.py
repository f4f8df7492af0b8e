"""Billing sensors: what the session on a connector costs, and what a kWh costs now."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorEntityDescription

from .billing.cashier import Cashier
from .billing.money import decimals
from .csms.state import ChargerState
from .entity import ChargerEntity, ConnectorEntity


@dataclass(frozen=True, kw_only=True)
class BillingSensorDescription(SensorEntityDescription):
    """A billing sensor; the unit comes from Home Assistant's currency."""


SESSION_COST = BillingSensorDescription(
    key="session_cost",
    translation_key="session_cost",
    device_class=SensorDeviceClass.MONETARY,
)
ENERGY_PRICE = BillingSensorDescription(key="energy_price", translation_key="energy_price")


class SessionCostSensor(ConnectorEntity, SensorEntity):
    """The gross cost of the connector's session so far (final once unplugged)."""

    def __init__(
        self, charger: ChargerState, connector_id: int, cashier: Cashier, currency: str
    ) -> None:
        super().__init__(charger, connector_id, SESSION_COST)
        self.cashier = cashier
        self._attr_native_unit_of_measurement = currency
        self._attr_suggested_display_precision = decimals(currency)

    @property
    def available(self) -> bool:
        """A session's cost stands whether or not the charger is connected."""
        return True

    @property
    def native_value(self) -> Decimal | None:
        """The gross amount, rounded as it will be billed."""
        bill = self.cashier.bill_on(self.charger.charger_id, self.connector_id)
        return None if bill is None else bill.gross

    def state_fingerprint(self) -> tuple[Any, ...]:
        """The amount."""
        return (self.native_value,)


class EnergyPriceSensor(ChargerEntity, SensorEntity):
    """The kWh price a session on this charger pays now (time-of-use or dynamic)."""

    def __init__(self, charger: ChargerState, cashier: Cashier, currency: str) -> None:
        super().__init__(charger, ENERGY_PRICE, ENERGY_PRICE.key)
        self.cashier = cashier
        # Not monetary: that device class takes a plain currency unit, not a price per kWh.
        self._attr_native_unit_of_measurement = f"{currency}/kWh"

    @property
    def available(self) -> bool:
        """The price is known whether or not the charger is connected."""
        return True

    @property
    def native_value(self) -> Decimal | None:
        """The price now, from the tariff that applies to this charger."""
        found = self.cashier.kwh_price(self.charger.charger_id, self.cashier.now())
        return None if found is None else found[0]

    def state_fingerprint(self) -> tuple[Any, ...]:
        """The price."""
        return (self.native_value,)
