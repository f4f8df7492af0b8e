"""Billing sensors: session cost, kWh price, a charger's revenue and margin, account totals."""

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
from homeassistant.const import UnitOfEnergy
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo

from .billing.book import Totals
from .billing.cashier import Cashier
from .billing.money import decimals
from .const import DOMAIN
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
# The price is the tariff's: most garages share one, so it is on only where wanted.
ENERGY_PRICE = BillingSensorDescription(
    key="energy_price", translation_key="energy_price", entity_registry_enabled_default=False
)


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


@dataclass(frozen=True, kw_only=True)
class TotalsSensorDescription(SensorEntityDescription):
    """A sensor showing one figure of a book's totals."""

    value_fn: Callable[[Totals], Decimal]
    monthly: bool = False


def _kwh(totals: Totals) -> Decimal:
    return totals.energy_wh / 1000


CHARGER_TOTALS: tuple[TotalsSensorDescription, ...] = (
    TotalsSensorDescription(
        key="revenue",
        translation_key="revenue",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        value_fn=lambda totals: totals.gross,
        # The accounts' sensors and statements carry the money; this keeps a charger at
        # nine enabled entities (Home Assistant enables at most 10,000 per config entry).
        entity_registry_enabled_default=False,
    ),
    TotalsSensorDescription(
        key="margin",
        translation_key="margin",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        value_fn=lambda totals: totals.margin,
        entity_registry_enabled_default=False,
    ),
)
ACCOUNT_TOTALS: tuple[TotalsSensorDescription, ...] = (
    TotalsSensorDescription(
        key="energy_this_month",
        translation_key="energy_this_month",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=_kwh,
        monthly=True,
    ),
    TotalsSensorDescription(
        key="cost_this_month",
        translation_key="cost_this_month",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        value_fn=lambda totals: totals.gross,
        monthly=True,
    ),
    TotalsSensorDescription(
        key="energy_lifetime",
        translation_key="energy_lifetime",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=_kwh,
    ),
    TotalsSensorDescription(
        key="cost_lifetime",
        translation_key="cost_lifetime",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        value_fn=lambda totals: totals.gross,
    ),
)


class _BookSensor(SensorEntity):
    """Shared by the totals sensors: pushed when the book changes."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: TotalsSensorDescription
    cashier: Cashier

    def _setup(self, description: TotalsSensorDescription, cashier: Cashier, currency: str) -> None:
        self.entity_description = description
        self.cashier = cashier
        if description.device_class is SensorDeviceClass.MONETARY:
            self._attr_native_unit_of_measurement = currency
            self._attr_suggested_display_precision = decimals(currency)

    def _totals(self) -> Totals:
        raise NotImplementedError

    @property
    def native_value(self) -> Decimal:
        """The figure from the book."""
        return self.entity_description.value_fn(self._totals())

    @property
    def last_reset(self) -> datetime | None:
        """Monthly totals start again on the first of each month."""
        return self.cashier.book.month_start if self.entity_description.monthly else None

    async def async_added_to_hass(self) -> None:
        """Write state whenever the book changes."""
        self.async_on_remove(self.cashier.add_book_listener(self.async_write_ha_state))


class ChargerTotalsSensor(_BookSensor, ChargerEntity):
    """Revenue of a charger, and its cost-recovery margin, over its lifetime."""

    def __init__(
        self,
        charger: ChargerState,
        description: TotalsSensorDescription,
        cashier: Cashier,
        currency: str,
    ) -> None:
        ChargerEntity.__init__(self, charger, description, description.key)
        self._setup(description, cashier, currency)

    @property
    def available(self) -> bool:
        """Totals stand whether or not the charger is connected."""
        return True

    def _totals(self) -> Totals:
        return self.cashier.book.charger_lifetime.get(self.charger.charger_id) or Totals()

    async def async_added_to_hass(self) -> None:
        """Book changes only: the charger's own messages do not move these."""
        await _BookSensor.async_added_to_hass(self)


class AccountSensor(_BookSensor):
    """An account's energy and cost, this month and over its lifetime."""

    def __init__(
        self,
        account: str,
        name: str,
        description: TotalsSensorDescription,
        cashier: Cashier,
        currency: str,
    ) -> None:
        self.account = account
        self._attr_unique_id = f"account_{account}|{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"account_{account}")},
            name=name,
            model="Account",
            entry_type=DeviceEntryType.SERVICE,
        )
        self._setup(description, cashier, currency)

    def _totals(self) -> Totals:
        book = self.cashier.book
        totals = book.account_month if self.entity_description.monthly else book.account_lifetime
        return totals.get(self.account) or Totals()
