"""Tariffs as config subentries: the form, its checks, and the tariffs the cashier uses."""

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import probatio as vol
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    TextSelector,
    TextSelectorConfig,
)

from .billing.cashier import BillingSettings
from .billing.tariff import DynamicPrice, Tariff, parse_amount, parse_bands
from .const import (
    CONF_CHARGER_MAX_POWER_KW,
    CONF_CHARGERS,
    CONF_DEFAULT,
    CONF_ELECTRICITY_PRICE,
    CONF_ELECTRICITY_PRICE_SENSOR,
    CONF_FAULT_DETECTION,
    CONF_IDLE_FEE,
    CONF_IDLE_GRACE,
    CONF_MAX_POWER_KW,
    CONF_PRICE_FACTOR,
    CONF_PRICE_MARKUP,
    CONF_PRICE_PER_KWH,
    CONF_PRICE_SENSOR,
    CONF_PRICES_INCLUDE_VAT,
    CONF_SESSION_FEE,
    CONF_TARIFF,
    CONF_TIME_OF_USE,
    CONF_VAT_PERCENT,
    CONF_VERSION,
    SUBENTRY_ACCOUNT,
    SUBENTRY_TARIFF,
)

# Amounts are typed as text and kept as text: money never passes through a float.
AMOUNT_FIELDS = (CONF_PRICE_PER_KWH, CONF_SESSION_FEE, CONF_IDLE_FEE, CONF_PRICE_MARKUP)
DEFAULT_VAT_PERCENT = "0"


def form_schema() -> vol.Schema:
    """The form adding or editing one tariff."""
    text = TextSelector()
    return vol.Schema(
        {
            vol.Required(CONF_NAME): text,
            vol.Required(CONF_PRICE_PER_KWH, default="0"): text,
            vol.Optional(CONF_SESSION_FEE, default="0"): text,
            vol.Optional(CONF_IDLE_FEE, default="0"): text,
            vol.Optional(CONF_IDLE_GRACE, default=0): NumberSelector(
                NumberSelectorConfig(
                    min=0, max=1440, step=1, unit_of_measurement="min", mode=NumberSelectorMode.BOX
                )
            ),
            vol.Optional(CONF_TIME_OF_USE): TextSelector(TextSelectorConfig(multiline=True)),
            vol.Optional(CONF_PRICE_SENSOR): EntitySelector(
                EntitySelectorConfig(domain=["sensor", "input_number"])
            ),
            vol.Optional(CONF_PRICE_FACTOR, default="1"): text,
            vol.Optional(CONF_PRICE_MARKUP, default="0"): text,
            vol.Required(CONF_DEFAULT, default=False): BooleanSelector(),
        }
    )


def clean_tariff_data(
    user_input: Mapping[str, Any], version: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check a tariff's fields; returns the subentry data and errors by field."""
    data: dict[str, Any] = {
        CONF_NAME: str(user_input[CONF_NAME]).strip(),
        CONF_IDLE_GRACE: int(user_input.get(CONF_IDLE_GRACE) or 0),
        CONF_DEFAULT: bool(user_input.get(CONF_DEFAULT, False)),
        CONF_VERSION: version,
    }
    errors: dict[str, str] = {}
    for key in (*AMOUNT_FIELDS, CONF_PRICE_FACTOR):
        raw = str(user_input.get(key) or ("1" if key == CONF_PRICE_FACTOR else "0"))
        try:
            data[key] = str(parse_amount(raw))
        except ValueError:
            errors[key] = "invalid_amount"
    if bands := str(user_input.get(CONF_TIME_OF_USE) or "").strip():
        try:
            parse_bands(bands)
        except ValueError:
            errors[CONF_TIME_OF_USE] = "invalid_time_of_use"
        data[CONF_TIME_OF_USE] = bands
    if sensor := user_input.get(CONF_PRICE_SENSOR):
        data[CONF_PRICE_SENSOR] = sensor
    if not data[CONF_NAME]:
        errors[CONF_NAME] = "invalid_name"
    return data, errors


def tariff_of(
    tariff_id: str, data: Mapping[str, Any], hass: HomeAssistant, options: Mapping[str, Any]
) -> Tariff:
    """A tariff subentry as the cashier prices with it."""
    sensor = data.get(CONF_PRICE_SENSOR)
    return Tariff(
        tariff_id=tariff_id,
        version=int(data.get(CONF_VERSION, 1)),
        name=data[CONF_NAME],
        currency=hass.config.currency,
        price_per_kwh=Decimal(data[CONF_PRICE_PER_KWH]),
        session_fee=Decimal(data.get(CONF_SESSION_FEE, "0")),
        idle_fee_per_minute=Decimal(data.get(CONF_IDLE_FEE, "0")),
        idle_grace=timedelta(minutes=int(data.get(CONF_IDLE_GRACE, 0))),
        bands=parse_bands(data.get(CONF_TIME_OF_USE, "")),
        dynamic=None
        if not sensor
        else DynamicPrice(
            sensor,
            Decimal(data.get(CONF_PRICE_FACTOR, "1")),
            Decimal(data.get(CONF_PRICE_MARKUP, "0")),
        ),
        prices_include_vat=options.get(CONF_PRICES_INCLUDE_VAT, True),
        vat_percent=Decimal(str(options.get(CONF_VAT_PERCENT, DEFAULT_VAT_PERCENT))),
        time_zone=hass.config.time_zone,
    )


def billing_settings(hass: HomeAssistant, entry: ConfigEntry) -> BillingSettings:
    """The tariffs and which applies where, from the entry's subentries and options."""
    subentries = entry.get_subentries_of_type(SUBENTRY_TARIFF)
    tariffs = {
        subentry.subentry_id: tariff_of(subentry.subentry_id, subentry.data, hass, entry.options)
        for subentry in subentries
    }
    marked = [s.subentry_id for s in subentries if s.data.get(CONF_DEFAULT)]
    # With a single tariff, that one is the default without being marked.
    default = marked[0] if marked else (subentries[0].subentry_id if len(subentries) == 1 else None)
    chargers: Mapping[str, Mapping[str, Any]] = entry.options.get(CONF_CHARGERS, {})
    electricity_price = entry.options.get(CONF_ELECTRICITY_PRICE)
    max_power_kw = entry.options.get(CONF_FAULT_DETECTION, {}).get(CONF_MAX_POWER_KW)
    return BillingSettings(
        max_power_kw=BillingSettings().max_power_kw
        if max_power_kw is None
        else Decimal(str(max_power_kw)),
        charger_max_power_kw={
            charger_id: Decimal(str(settings[CONF_CHARGER_MAX_POWER_KW]))
            for charger_id, settings in chargers.items()
            if settings.get(CONF_CHARGER_MAX_POWER_KW)
        },
        electricity_price=None if not electricity_price else Decimal(electricity_price),
        electricity_price_sensor=entry.options.get(CONF_ELECTRICITY_PRICE_SENSOR) or None,
        account_tariffs={
            account.subentry_id: account.data[CONF_TARIFF]
            for account in entry.get_subentries_of_type(SUBENTRY_ACCOUNT)
            if account.data.get(CONF_TARIFF)
        },
        tariffs=tariffs,
        default_tariff=default,
        charger_tariffs={
            charger_id: settings[CONF_TARIFF]
            for charger_id, settings in chargers.items()
            if settings.get(CONF_TARIFF)
        },
    )


def tariff_choices(entry: ConfigEntry) -> list[SelectOptionDict]:
    """Tariffs to pick from (for a charger), by subentry id."""
    return [
        SelectOptionDict(value=subentry.subentry_id, label=subentry.title)
        for subentry in entry.get_subentries_of_type(SUBENTRY_TARIFF)
    ]
