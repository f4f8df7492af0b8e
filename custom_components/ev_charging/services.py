"""Service actions: OCPP commands from Home Assistant to a charger."""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import probatio as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger

from .const import DOMAIN
from .csms.central import CentralSystem
from .csms.charging_profiles import current_limit
from .id_tags import async_setup_id_tag_services
from .runtime import EvChargingConfigEntry, run_command
from .statements import async_setup_statement_service

ATTR_DEVICE_ID = "device_id"
ATTR_CONNECTOR_ID = "connector_id"

BASE_SCHEMA = {vol.Required(ATTR_DEVICE_ID): cv.string}
CONNECTOR = vol.All(vol.Coerce(int), vol.Range(min=0))


@dataclass(frozen=True, kw_only=True)
class CommandService:
    """One service: its fields, the OCPP payload it sends, what it answers."""

    name: str
    fields: dict[Any, Any]
    payload: Callable[[CentralSystem, str, dict[str, Any]], Any]
    response: SupportsResponse = SupportsResponse.NONE


def _open_transaction_id(central: CentralSystem, charger_id: str, data: dict[str, Any]) -> int:
    connector = central.chargers[charger_id].connectors.get(data[ATTR_CONNECTOR_ID])
    if connector is None or connector.transaction is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_transaction",
            translation_placeholders={"connector": str(data[ATTR_CONNECTOR_ID])},
        )
    return connector.transaction.transaction_id


def _iso(value: datetime) -> str:
    return dt_util.as_utc(value).isoformat()


SERVICES: tuple[CommandService, ...] = (
    CommandService(
        name="remote_start_transaction",
        fields={
            vol.Optional(ATTR_CONNECTOR_ID, default=1): CONNECTOR,
            vol.Required("id_tag"): vol.All(cv.string, vol.Length(min=1, max=20)),
        },
        payload=lambda central, charger_id, data: call.RemoteStartTransaction(
            id_tag=data["id_tag"], connector_id=data[ATTR_CONNECTOR_ID] or None
        ),
    ),
    CommandService(
        name="remote_stop_transaction",
        fields={vol.Optional(ATTR_CONNECTOR_ID, default=1): CONNECTOR},
        payload=lambda central, charger_id, data: call.RemoteStopTransaction(
            transaction_id=_open_transaction_id(central, charger_id, data)
        ),
    ),
    CommandService(
        name="set_current_limit",
        fields={
            vol.Optional(ATTR_CONNECTOR_ID, default=0): CONNECTOR,
            vol.Required("current"): vol.All(vol.Coerce(float), vol.Range(min=0, max=1000)),
        },
        payload=lambda central, charger_id, data: current_limit(
            data[ATTR_CONNECTOR_ID], data["current"]
        ),
    ),
    CommandService(
        name="clear_charging_profile",
        fields={vol.Optional(ATTR_CONNECTOR_ID): CONNECTOR},
        payload=lambda central, charger_id, data: call.ClearChargingProfile(
            connector_id=data.get(ATTR_CONNECTOR_ID)
        ),
    ),
    CommandService(
        name="change_availability",
        fields={
            vol.Optional(ATTR_CONNECTOR_ID, default=0): CONNECTOR,
            vol.Required("available"): cv.boolean,
        },
        payload=lambda central, charger_id, data: call.ChangeAvailability(
            connector_id=data[ATTR_CONNECTOR_ID],
            type="Operative" if data["available"] else "Inoperative",
        ),
    ),
    CommandService(
        name="reset",
        fields={vol.Optional("type", default="soft"): vol.In(["soft", "hard"])},
        payload=lambda central, charger_id, data: call.Reset(type=data["type"].capitalize()),
    ),
    CommandService(
        name="unlock_connector",
        fields={vol.Optional(ATTR_CONNECTOR_ID, default=1): vol.All(CONNECTOR, vol.Range(min=1))},
        payload=lambda central, charger_id, data: call.UnlockConnector(
            connector_id=data[ATTR_CONNECTOR_ID]
        ),
    ),
    CommandService(
        name="get_configuration",
        fields={vol.Optional("keys"): vol.All(cv.ensure_list, [cv.string])},
        payload=lambda central, charger_id, data: call.GetConfiguration(key=data.get("keys")),
        response=SupportsResponse.ONLY,
    ),
    CommandService(
        name="change_configuration",
        fields={
            vol.Required("key"): vol.All(cv.string, vol.Length(max=50)),
            vol.Required("value"): vol.All(cv.string, vol.Length(max=500)),
        },
        payload=lambda central, charger_id, data: call.ChangeConfiguration(
            key=data["key"], value=data["value"]
        ),
        response=SupportsResponse.OPTIONAL,
    ),
    CommandService(
        name="trigger_message",
        fields={
            vol.Required("message"): vol.In([trigger.value for trigger in MessageTrigger]),
            vol.Optional(ATTR_CONNECTOR_ID): CONNECTOR,
        },
        payload=lambda central, charger_id, data: call.TriggerMessage(
            requested_message=data["message"], connector_id=data.get(ATTR_CONNECTOR_ID)
        ),
    ),
    CommandService(
        name="reserve_now",
        fields={
            vol.Optional(ATTR_CONNECTOR_ID, default=1): CONNECTOR,
            vol.Required("id_tag"): vol.All(cv.string, vol.Length(min=1, max=20)),
            vol.Required("expiry"): cv.datetime,
            vol.Required("reservation_id"): vol.All(vol.Coerce(int), vol.Range(min=0)),
        },
        payload=lambda central, charger_id, data: call.ReserveNow(
            connector_id=data[ATTR_CONNECTOR_ID],
            expiry_date=_iso(data["expiry"]),
            id_tag=data["id_tag"],
            reservation_id=data["reservation_id"],
        ),
    ),
    CommandService(
        name="cancel_reservation",
        fields={vol.Required("reservation_id"): vol.All(vol.Coerce(int), vol.Range(min=0))},
        payload=lambda central, charger_id, data: call.CancelReservation(
            reservation_id=data["reservation_id"]
        ),
    ),
    CommandService(
        name="data_transfer",
        fields={
            vol.Required("vendor_id"): vol.All(cv.string, vol.Length(max=255)),
            vol.Optional("message_id"): vol.All(cv.string, vol.Length(max=50)),
            vol.Optional("data"): cv.string,
        },
        payload=lambda central, charger_id, data: call.DataTransfer(
            vendor_id=data["vendor_id"], message_id=data.get("message_id"), data=data.get("data")
        ),
        response=SupportsResponse.ONLY,
    ),
)


def _resolve(hass: HomeAssistant, device_id: str) -> tuple[CentralSystem, str]:
    """The central system and charger id behind a device."""
    device = dr.async_get(hass).async_get(device_id)
    charger_id = next(
        (
            identifier
            for domain, identifier in (device.identifiers if device else ())
            if domain == DOMAIN
        ),
        None,
    )
    if device is None or charger_id is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_device",
            translation_placeholders={"device_id": device_id},
        )
    for entry_id in device.config_entries:
        entry: EvChargingConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
        if entry is not None and entry.domain == DOMAIN and entry.state is ConfigEntryState.LOADED:
            return entry.runtime_data.central, charger_id
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")


def _handler(service: CommandService) -> Callable[[ServiceCall], Any]:
    async def handle(call_: ServiceCall) -> ServiceResponse:
        central, charger_id = _resolve(call_.hass, call_.data[ATTR_DEVICE_ID])
        payload = service.payload(central, charger_id, dict(call_.data))
        answer = await run_command(
            central,
            charger_id,
            payload,
            require_agreement=service.response is not SupportsResponse.ONLY,
        )
        if service.response is SupportsResponse.NONE:
            return None
        return {key: value for key, value in asdict(answer).items() if value is not None}

    return handle


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the command services (once, for the integration)."""
    for service in SERVICES:
        hass.services.async_register(
            DOMAIN,
            service.name,
            _handler(service),
            schema=vol.Schema({**BASE_SCHEMA, **service.fields}),
            supports_response=service.response,
        )
    async_setup_id_tag_services(hass)
    async_setup_statement_service(hass)
