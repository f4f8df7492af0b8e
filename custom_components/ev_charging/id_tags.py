"""ID tags as config subentries: the form, its checks, and the service actions on them."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import probatio as vol
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.selector import (
    BooleanSelector,
    DateTimeSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .const import (
    CONF_ACCOUNT,
    CONF_ALLOWED_CHARGERS,
    CONF_BLOCKED,
    CONF_EXPIRES,
    CONF_ID_TAG,
    CONF_PARENT_ID_TAG,
    CONF_USER_ID,
    DOMAIN,
    SUBENTRY_ACCOUNT,
    SUBENTRY_ID_TAG,
)
from .csms.authorization import MAX_TAG_LENGTH, tag_key
from .runtime import EvChargingConfigEntry, id_tag_from_data

ATTR_CHARGERS = "chargers"


def tag_error(value: str) -> str | None:
    """A translation key if this cannot be an OCPP 1.6 ID tag (CiString20)."""
    if not value or len(value) > MAX_TAG_LENGTH or not value.isprintable() or not value.isascii():
        return "invalid_id_tag"
    return None


def parse_expiry(value: str | datetime) -> str:
    """An expiry (already validated by its selector or schema) as ISO in UTC; a time
    without zone is Home Assistant's local time."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = dt_util.parse_datetime(value, raise_on_error=True)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(moment).isoformat()


async def form_schema(
    hass: HomeAssistant, entry: EvChargingConfigEntry, current: Mapping[str, Any]
) -> vol.Schema:
    """The form adding or editing one tag."""
    users = [
        SelectOptionDict(value=user.id, label=user.name or user.id)
        for user in await hass.auth.async_get_users()
        if not user.system_generated and user.is_active
    ]
    central_chargers = (
        entry.runtime_data.central.chargers if entry.state is ConfigEntryState.LOADED else {}
    )
    chargers = sorted(
        {cid for cid, charger in central_chargers.items() if charger.approved}
        | set(current.get(CONF_ALLOWED_CHARGERS, ()))
    )
    return vol.Schema(
        {
            vol.Required(CONF_ID_TAG): TextSelector(),
            vol.Optional(CONF_NAME): TextSelector(),
            vol.Optional(CONF_USER_ID): SelectSelector(
                SelectSelectorConfig(options=users, mode=SelectSelectorMode.DROPDOWN)
            ),
            vol.Optional(CONF_EXPIRES): DateTimeSelector(),
            vol.Required(CONF_BLOCKED, default=False): BooleanSelector(),
            vol.Optional(CONF_PARENT_ID_TAG): TextSelector(),
            vol.Optional(CONF_ACCOUNT): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=account.subentry_id, label=account.title)
                        for account in entry.get_subentries_of_type(SUBENTRY_ACCOUNT)
                    ],
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            vol.Optional(CONF_ALLOWED_CHARGERS): SelectSelector(
                SelectSelectorConfig(
                    options=chargers,
                    multiple=True,
                    custom_value=True,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
        }
    )


def clean_tag_data(
    user_input: Mapping[str, Any], others: list[ConfigSubentry]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check a tag's fields; returns the subentry data and errors by field."""
    data: dict[str, Any] = {
        CONF_ID_TAG: str(user_input.get(CONF_ID_TAG, "")).strip(),
        CONF_BLOCKED: bool(user_input.get(CONF_BLOCKED, False)),
        CONF_ALLOWED_CHARGERS: sorted(set(user_input.get(CONF_ALLOWED_CHARGERS) or ())),
    }
    errors: dict[str, str] = {}
    if error := tag_error(data[CONF_ID_TAG]):
        errors[CONF_ID_TAG] = error
    elif any(other.unique_id == tag_key(data[CONF_ID_TAG]) for other in others):
        errors[CONF_ID_TAG] = "id_tag_exists"
    if name := str(user_input.get(CONF_NAME) or "").strip():
        data[CONF_NAME] = name
    if user_id := user_input.get(CONF_USER_ID):
        data[CONF_USER_ID] = user_id
    if account := user_input.get(CONF_ACCOUNT):
        data[CONF_ACCOUNT] = account
    if parent := str(user_input.get(CONF_PARENT_ID_TAG) or "").strip():
        if error := tag_error(parent):
            errors[CONF_PARENT_ID_TAG] = error
        data[CONF_PARENT_ID_TAG] = parent
    if expires := user_input.get(CONF_EXPIRES):
        data[CONF_EXPIRES] = parse_expiry(expires)
    return data, errors


def title_of(data: Mapping[str, Any]) -> str:
    """A tag's name in the list of subentries."""
    name = data.get(CONF_NAME)
    return f"{name} ({data[CONF_ID_TAG]})" if name else str(data[CONF_ID_TAG])


# Service actions.

SET_ID_TAG_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_ID_TAG): cv.string,
        vol.Optional(CONF_NAME): cv.string,
        vol.Optional(CONF_USER_ID): vol.Any(None, cv.string),
        vol.Optional(CONF_EXPIRES): vol.Any(None, cv.datetime),
        vol.Optional(CONF_BLOCKED): cv.boolean,
        vol.Optional(CONF_PARENT_ID_TAG): vol.Any(None, cv.string),
        vol.Optional(ATTR_CHARGERS): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(CONF_ACCOUNT): vol.Any(None, cv.string),
    }
)
REMOVE_ID_TAG_SCHEMA = vol.Schema({vol.Required(CONF_ID_TAG): cv.string})


def account_id(entry: EvChargingConfigEntry, name_or_id: str) -> str:
    """An account's id from its id or its name (case-insensitive)."""
    for account in entry.get_subentries_of_type(SUBENTRY_ACCOUNT):
        if name_or_id == account.subentry_id or account.title.casefold() == name_or_id.casefold():
            return account.subentry_id
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_account",
        translation_placeholders={"value": name_or_id},
    )


def loaded_entry(hass: HomeAssistant) -> EvChargingConfigEntry:
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            return entry
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")


def _find(entry: EvChargingConfigEntry, id_tag: str) -> ConfigSubentry | None:
    key = tag_key(id_tag)
    return next(
        (s for s in entry.get_subentries_of_type(SUBENTRY_ID_TAG) if s.unique_id == key), None
    )


def _charger_ids(hass: HomeAssistant, device_ids: list[str]) -> list[str]:
    registry = dr.async_get(hass)
    charger_ids = []
    for device_id in device_ids:
        device = registry.async_get(device_id)
        found = [i for d, i in (device.identifiers if device else ()) if d == DOMAIN]
        if not found:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_device",
                translation_placeholders={"device_id": device_id},
            )
        charger_ids.extend(found)
    return charger_ids


async def async_set_id_tag(call: ServiceCall) -> ServiceResponse:
    """Add a tag, or change the given fields of a tag already in the list."""
    hass = call.hass
    entry = loaded_entry(hass)
    existing = _find(entry, call.data[CONF_ID_TAG])
    merged: dict[str, Any] = dict(existing.data) if existing else {}
    merged |= {key: value for key, value in call.data.items() if key != ATTR_CHARGERS}
    if ATTR_CHARGERS in call.data:
        merged[CONF_ALLOWED_CHARGERS] = _charger_ids(hass, call.data[ATTR_CHARGERS])
    if account := call.data.get(CONF_ACCOUNT):
        merged[CONF_ACCOUNT] = account_id(entry, account)
    if (user_id := call.data.get(CONF_USER_ID)) and await hass.auth.async_get_user(user_id) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_user",
            translation_placeholders={"value": user_id},
        )
    others = [s for s in entry.get_subentries_of_type(SUBENTRY_ID_TAG) if s is not existing]
    data, errors = clean_tag_data(merged, others)
    if errors:
        field, error = next(iter(errors.items()))
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=error,
            translation_placeholders={"field": field, "value": str(merged.get(field))},
        )
    unique_id = tag_key(data[CONF_ID_TAG])
    if existing is None:
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=data,  # type: ignore[arg-type]  # stored as a read-only mapping
                subentry_type=SUBENTRY_ID_TAG,
                title=title_of(data),
                unique_id=unique_id,
            ),
        )
    else:
        hass.config_entries.async_update_subentry(
            entry, existing, data=data, title=title_of(data), unique_id=unique_id
        )
    return None


async def async_remove_id_tag(call: ServiceCall) -> ServiceResponse:
    """Take a tag out of the list; chargers drop it from their local lists."""
    entry = loaded_entry(call.hass)
    existing = _find(entry, call.data[CONF_ID_TAG])
    if existing is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_id_tag",
            translation_placeholders={"value": call.data[CONF_ID_TAG]},
        )
    call.hass.config_entries.async_remove_subentry(entry, existing.subentry_id)
    return None


async def async_list_id_tags(call: ServiceCall) -> ServiceResponse:
    """Every tag with its settings and what it is answered right now."""
    entry = loaded_entry(call.hass)
    central = entry.runtime_data.central
    now = central.now()
    tags: list[dict[str, Any]] = []
    for subentry in entry.get_subentries_of_type(SUBENTRY_ID_TAG):
        tag = id_tag_from_data(subentry.data)
        tags.append(
            {
                CONF_ID_TAG: tag.id_tag,
                CONF_NAME: tag.name,
                CONF_USER_ID: tag.user_id,
                CONF_ACCOUNT: tag.account,
                CONF_EXPIRES: subentry.data.get(CONF_EXPIRES),
                CONF_BLOCKED: tag.blocked,
                CONF_PARENT_ID_TAG: tag.parent,
                ATTR_CHARGERS: sorted(tag.chargers),
                "status": central.settings.tags.status(tag.id_tag, now),
            }
        )
    tags.sort(key=lambda tag: tag_key(tag[CONF_ID_TAG]))
    return {"id_tags": cast(list[JsonValueType], tags)}


def async_setup_id_tag_services(hass: HomeAssistant) -> None:
    """Register the ID tag actions."""
    hass.services.async_register(DOMAIN, "set_id_tag", async_set_id_tag, SET_ID_TAG_SCHEMA)
    hass.services.async_register(DOMAIN, "remove_id_tag", async_remove_id_tag, REMOVE_ID_TAG_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        "list_id_tags",
        async_list_id_tags,
        vol.Schema({}),
        supports_response=SupportsResponse.ONLY,
    )
