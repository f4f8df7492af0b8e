"""Config, options, reconfigure and charger-approval flows."""

import asyncio
import socket
import ssl
from typing import Any

import probatio as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)

from .billing.tariff import parse_amount
from .const import (
    CONF_AUTO_ACCEPT,
    CONF_CHARGER_ID,
    CONF_CHARGER_MAX_POWER_KW,
    CONF_CHARGERS,
    CONF_DEGRADATION_REPEATS,
    CONF_ELECTRICITY_PRICE,
    CONF_ELECTRICITY_PRICE_SENSOR,
    CONF_FAULT_DETECTION,
    CONF_FLAPPING_LIMIT,
    CONF_FLAPPING_MINUTES,
    CONF_FREE_CHARGING,
    CONF_HEARTBEAT_INTERVAL,
    CONF_ID_TAG,
    CONF_KEEP_CONFIGURATION,
    CONF_KIOSK_KEY_HASH,
    CONF_LENIENT,
    CONF_MAX_FRAME_KIB,
    CONF_MAX_POWER_KW,
    CONF_MAX_STRANGERS,
    CONF_MAX_TEMPERATURE,
    CONF_METER_VALUE_INTERVAL,
    CONF_MISSED_INTERVALS,
    CONF_OFFLINE_MULTIPLE,
    CONF_PASSWORDS,
    CONF_PING_INTERVAL,
    CONF_PRICES_INCLUDE_VAT,
    CONF_REMOTE_ID_TAG,
    CONF_REMOVE_KIOSK_KEY,
    CONF_REMOVE_PASSWORD,
    CONF_REPAIR_AFTER_MINUTES,
    CONF_REPLACE_CONNECTION,
    CONF_SSL_CERTIFICATE,
    CONF_SSL_KEY,
    CONF_STALLED_MINUTES,
    CONF_START_TRANSACTION_DELAY,
    CONF_TARIFF,
    CONF_UNKNOWN_TAGS,
    CONF_VAT_PERCENT,
    CONF_VERSION,
    DEFAULT_AUTO_ACCEPT,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HOST,
    DEFAULT_MAX_FRAME_KIB,
    DEFAULT_MAX_STRANGERS,
    DEFAULT_METER_VALUE_INTERVAL,
    DEFAULT_PORT,
    DOMAIN,
    SUBENTRY_ACCOUNT,
    SUBENTRY_ID_TAG,
    SUBENTRY_TARIFF,
)
from .csms.authorization import UnknownTagPolicy, tag_key
from .csms.endpoint import valid_charger_id
from .csms.security import hash_password, new_kiosk_key, new_password, server_tls_context
from .faults.health import Thresholds
from .id_tags import clean_tag_data, form_schema, title_of
from .tariffs import clean_tariff_data, tariff_choices
from .tariffs import form_schema as tariff_form_schema

# Shown in the first step: where a charger points its backend URL.
CHARGER_URL_PATTERN = "ws://<home-assistant-host>:<port>/<charger-id>"
PORT_SELECTOR = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))


def _seconds_selector(*, maximum: float, step: float, minimum: float = 0) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement="s",
            mode=NumberSelectorMode.BOX,
        )
    )


SECONDS_SELECTOR = _seconds_selector(minimum=10, maximum=86400, step=1)


def _server_schema(host: str, port: int) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=host): TextSelector(),
            vol.Required(CONF_PORT, default=port): PORT_SELECTOR,
            vol.Optional(CONF_SSL_CERTIFICATE): TextSelector(),
            vol.Optional(CONF_SSL_KEY): TextSelector(),
        }
    )


async def _server_errors(
    hass: HomeAssistant, user_input: dict[str, Any], *, probe_port: bool
) -> tuple[dict[str, str], dict[str, Any]]:
    """Check address, port and TLS files; returns errors and the entry data."""
    host, port = user_input[CONF_HOST], int(user_input[CONF_PORT])
    data: dict[str, Any] = {CONF_HOST: host, CONF_PORT: port}
    if probe_port and (error := await _port_error(host, port)):
        return {CONF_PORT if error == "port_in_use" else CONF_HOST: error}, data
    certificate, key = user_input.get(CONF_SSL_CERTIFICATE), user_input.get(CONF_SSL_KEY)
    if bool(certificate) != bool(key):
        return {"base": "tls_incomplete"}, data
    if certificate and key:
        try:
            await hass.async_add_executor_job(server_tls_context, certificate, key)
        except OSError, ssl.SSLError:
            return {CONF_SSL_CERTIFICATE: "tls_unreadable"}, data
        data |= {CONF_SSL_CERTIFICATE: certificate, CONF_SSL_KEY: key}
    return {}, data


def _settings_schema(heartbeat_interval: int, auto_accept: bool, unknown_tags: str) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HEARTBEAT_INTERVAL, default=heartbeat_interval): SECONDS_SELECTOR,
            vol.Required(CONF_AUTO_ACCEPT, default=auto_accept): BooleanSelector(),
            vol.Required(CONF_UNKNOWN_TAGS, default=unknown_tags): SelectSelector(
                SelectSelectorConfig(
                    options=[policy.value for policy in UnknownTagPolicy],
                    translation_key=CONF_UNKNOWN_TAGS,
                    mode=SelectSelectorMode.LIST,
                )
            ),
        }
    )


def _bind(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


async def _port_error(host: str, port: int) -> str | None:
    """A translation key if the central system could not listen there."""
    try:
        await asyncio.get_running_loop().run_in_executor(None, _bind, host, port)
    except socket.gaierror:
        return "invalid_host"
    except OSError:
        return "port_in_use"
    return None


class EvChargingConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up the central system; approve chargers that ask to connect."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose where the central system listens and how chargers are let in."""
        await self.async_set_unique_id(DOMAIN)
        self._abort_if_unique_id_configured()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors, data = await _server_errors(self.hass, user_input, probe_port=True)
            if not errors:
                return self.async_create_entry(
                    title="EV Charging",
                    data=data,
                    options={
                        CONF_HEARTBEAT_INTERVAL: int(user_input[CONF_HEARTBEAT_INTERVAL]),
                        CONF_AUTO_ACCEPT: user_input[CONF_AUTO_ACCEPT],
                        CONF_UNKNOWN_TAGS: user_input[CONF_UNKNOWN_TAGS],
                    },
                )
        schema = _server_schema(DEFAULT_HOST, DEFAULT_PORT).extend(
            _settings_schema(
                DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_AUTO_ACCEPT, UnknownTagPolicy.REJECT
            ).schema
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            # Angle brackets in a translation are HTML to the frontend, which strips them.
            description_placeholders={"charger_url": CHARGER_URL_PATTERN},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the central system to another address or port."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            # Our own server holds the current port: only a new port can be probed.
            new_port = int(user_input[CONF_PORT]) != entry.data[CONF_PORT]
            errors, data = await _server_errors(self.hass, user_input, probe_port=new_port)
            if not errors:
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _server_schema(entry.data[CONF_HOST], entry.data[CONF_PORT]), entry.data
            ),
            errors=errors,
        )

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """An unknown charger connected: ask the owner whether to let it in."""
        self._charger_id = discovery_info[CONF_CHARGER_ID]
        await self.async_set_unique_id(f"charger_{self._charger_id}")
        self._abort_if_unique_id_configured()
        self.context["title_placeholders"] = {"charger_id": self._charger_id}
        return await self.async_step_approve()

    async def async_step_approve(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Approve the charger: it gets a device and its BootNotification is Accepted."""
        hub = self._hub_entry()
        if hub is None:
            return self.async_abort(reason="not_loaded")
        if user_input is not None:
            await hub.runtime_data.central.approve(self._charger_id)
            return self.async_abort(
                reason="charger_approved", description_placeholders={"charger_id": self._charger_id}
            )
        # Read when the owner opens the form: the BootNotification may come after discovery.
        charger = hub.runtime_data.central.chargers.get(self._charger_id)
        return self.async_show_form(
            step_id="approve",
            description_placeholders={
                "charger_id": self._charger_id,
                "vendor": (charger and charger.vendor) or "?",
                "model": (charger and charger.model) or "?",
            },
        )

    def _hub_entry(self) -> ConfigEntry | None:
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                return entry
        return None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """The options flow."""
        return EvChargingOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """ID tags are managed as subentries: one per card or token."""
        return {
            SUBENTRY_ID_TAG: IdTagFlow,
            SUBENTRY_TARIFF: TariffFlow,
            SUBENTRY_ACCOUNT: AccountFlow,
        }


class _SubentryForm(ConfigSubentryFlow):
    """Adds (user step) or edits (reconfigure step) one subentry through a single form."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add one."""
        return await self._form("user", None, user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Edit one."""
        return await self._form("reconfigure", self._get_reconfigure_subentry(), user_input)

    async def _schema(self, current: dict[str, Any]) -> vol.Schema:
        raise NotImplementedError

    def _clean(
        self, user_input: dict[str, Any], subentry: ConfigSubentry | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The subentry's data and the errors by field."""
        raise NotImplementedError

    def _title(self, data: dict[str, Any]) -> str:
        return str(data[CONF_NAME])

    def _unique_id(self, data: dict[str, Any]) -> str | None:
        return None

    async def _form(
        self, step_id: str, subentry: ConfigSubentry | None, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = self._clean(user_input, subentry)
            if not errors:
                title, unique_id = self._title(data), self._unique_id(data)
                if subentry is None:
                    return self.async_create_entry(title=title, data=data, unique_id=unique_id)
                return self.async_update_and_abort(
                    self._get_entry(), subentry, title=title, data=data, unique_id=unique_id
                )
        current = user_input if user_input is not None else dict(subentry.data if subentry else {})
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(await self._schema(current), current),
            errors=errors,
        )


class AccountFlow(_SubentryForm):
    """An account: who pays for the sessions of the tags that name it."""

    async def _schema(self, current: dict[str, Any]) -> vol.Schema:
        return vol.Schema(
            {
                vol.Required(CONF_NAME): TextSelector(),
                vol.Optional(CONF_TARIFF): SelectSelector(
                    SelectSelectorConfig(
                        options=tariff_choices(self._get_entry()), mode=SelectSelectorMode.DROPDOWN
                    )
                ),
            }
        )

    def _clean(
        self, user_input: dict[str, Any], subentry: ConfigSubentry | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        data = {CONF_NAME: str(user_input[CONF_NAME]).strip()}
        if tariff := user_input.get(CONF_TARIFF):
            data[CONF_TARIFF] = tariff
        return data, {} if data[CONF_NAME] else {CONF_NAME: "invalid_name"}


class TariffFlow(_SubentryForm):
    """A tariff; an edit makes a new version, for sessions that start later."""

    async def _schema(self, current: dict[str, Any]) -> vol.Schema:
        return tariff_form_schema()

    def _clean(
        self, user_input: dict[str, Any], subentry: ConfigSubentry | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        version = 1 if subentry is None else int(subentry.data.get(CONF_VERSION, 1)) + 1
        return clean_tariff_data(user_input, version)


class IdTagFlow(_SubentryForm):
    """An ID tag: who it belongs to, until when, on which chargers."""

    async def _schema(self, current: dict[str, Any]) -> vol.Schema:
        return await form_schema(self.hass, self._get_entry(), current)

    def _clean(
        self, user_input: dict[str, Any], subentry: ConfigSubentry | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        others = [
            other
            for other in self._get_entry().get_subentries_of_type(SUBENTRY_ID_TAG)
            if subentry is None or other.subentry_id != subentry.subentry_id
        ]
        return clean_tag_data(user_input, others)

    def _title(self, data: dict[str, Any]) -> str:
        return title_of(data)

    def _unique_id(self, data: dict[str, Any]) -> str | None:
        return tag_key(data[CONF_ID_TAG])


class EvChargingOptionsFlow(OptionsFlow):
    """Change settings live: heartbeat, approval policy, per-charger quirks."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose what to change."""
        return self.async_show_menu(
            step_id="init",
            menu_options=[
                "settings",
                "billing",
                "fault_detection",
                "charger",
                "password",
                "kiosk_key",
            ],
        )

    async def async_step_kiosk_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new key for the guest payment kiosk (the old one stops working), or none."""
        if user_input is not None:
            if user_input[CONF_REMOVE_KIOSK_KEY]:
                options = dict(self.config_entry.options)
                options.pop(CONF_KIOSK_KEY_HASH, None)
                return self.async_create_entry(data=options)
            self._kiosk_key = new_kiosk_key()
            return await self.async_step_kiosk_key_created()
        return self.async_show_form(
            step_id="kiosk_key",
            data_schema=vol.Schema(
                {vol.Required(CONF_REMOVE_KIOSK_KEY, default=False): BooleanSelector()}
            ),
            description_placeholders={
                "state": "set" if CONF_KIOSK_KEY_HASH in self.config_entry.options else "none"
            },
        )

    async def async_step_kiosk_key_created(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the new key once; only its hash is kept."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    **self.config_entry.options,
                    CONF_KIOSK_KEY_HASH: hash_password(self._kiosk_key),
                }
            )
        return self.async_show_form(
            step_id="kiosk_key_created", description_placeholders={"key": self._kiosk_key}
        )

    async def async_step_fault_detection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The detectors' thresholds; they apply at once."""
        options = self.config_entry.options
        if user_input is not None:
            return self.async_create_entry(data={**options, CONF_FAULT_DETECTION: user_input})
        current = options.get(CONF_FAULT_DETECTION, {})
        default = Thresholds()
        fields: list[tuple[str, float, float, float, float, str]] = [
            # key, default, min, max, step, unit
            (CONF_OFFLINE_MULTIPLE, default.offline_multiple, 1.5, 10, 0.5, "x"),
            (CONF_STALLED_MINUTES, default.stalled_after.total_seconds() / 60, 1, 240, 1, "min"),
            (CONF_MISSED_INTERVALS, default.missed_intervals, 1, 20, 1, "x"),
            (CONF_MAX_POWER_KW, float(default.max_power_kw), 1, 1000, 0.1, "kW"),
            (CONF_FLAPPING_LIMIT, default.flapping_limit, 1, 100, 1, "x"),
            (
                CONF_FLAPPING_MINUTES,
                default.flapping_window.total_seconds() / 60,
                1,
                1440,
                1,
                "min",
            ),
            (CONF_DEGRADATION_REPEATS, default.degradation_repeats, 2, 100, 1, "x"),
            (CONF_MAX_TEMPERATURE, float(default.max_temperature_c), 30, 150, 1, "°C"),
            (
                CONF_REPAIR_AFTER_MINUTES,
                default.repair_after.total_seconds() / 60,
                1,
                10080,
                1,
                "min",
            ),
        ]
        return self.async_show_form(
            step_id="fault_detection",
            data_schema=vol.Schema(
                {
                    vol.Required(key, default=current.get(key, value)): NumberSelector(
                        NumberSelectorConfig(
                            min=low,
                            max=high,
                            step=step,
                            unit_of_measurement=unit,
                            mode=NumberSelectorMode.BOX,
                        )
                    )
                    for key, value, low, high, step, unit in fields
                }
            ),
        )

    async def async_step_billing(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Whether tariff prices include VAT, and its rate (for net and tax on statements)."""
        options = self.config_entry.options
        errors: dict[str, str] = {}
        if user_input is not None:
            amounts: dict[str, str] = {}
            for key in (CONF_VAT_PERCENT, CONF_ELECTRICITY_PRICE):
                try:
                    amounts[key] = str(parse_amount(str(user_input.get(key) or "0")))
                except ValueError:
                    errors[key] = "invalid_amount"
            if not errors:
                return self.async_create_entry(
                    data={
                        **options,
                        CONF_PRICES_INCLUDE_VAT: user_input[CONF_PRICES_INCLUDE_VAT],
                        **amounts,
                        CONF_ELECTRICITY_PRICE_SENSOR: user_input.get(
                            CONF_ELECTRICITY_PRICE_SENSOR
                        ),
                    }
                )
        return self.async_show_form(
            step_id="billing",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_PRICES_INCLUDE_VAT,
                        default=options.get(CONF_PRICES_INCLUDE_VAT, True),
                    ): BooleanSelector(),
                    vol.Required(
                        CONF_VAT_PERCENT, default=options.get(CONF_VAT_PERCENT, "0")
                    ): TextSelector(),
                    vol.Optional(
                        CONF_ELECTRICITY_PRICE,
                        default=options.get(CONF_ELECTRICITY_PRICE, "0"),
                    ): TextSelector(),
                    vol.Optional(
                        CONF_ELECTRICITY_PRICE_SENSOR,
                        description={"suggested_value": options.get(CONF_ELECTRICITY_PRICE_SENSOR)},
                    ): EntitySelector(EntitySelectorConfig(domain=["sensor", "input_number"])),
                }
            ),
            errors=errors,
        )

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Heartbeat and meter intervals, approval policy, Home Assistant's ID tag."""
        options = self.config_entry.options
        if user_input is not None:
            return self.async_create_entry(
                data={
                    **options,
                    CONF_HEARTBEAT_INTERVAL: int(user_input[CONF_HEARTBEAT_INTERVAL]),
                    CONF_AUTO_ACCEPT: user_input[CONF_AUTO_ACCEPT],
                    CONF_METER_VALUE_INTERVAL: int(user_input[CONF_METER_VALUE_INTERVAL]),
                    CONF_REMOTE_ID_TAG: user_input[CONF_REMOTE_ID_TAG],
                    CONF_UNKNOWN_TAGS: user_input[CONF_UNKNOWN_TAGS],
                    CONF_MAX_FRAME_KIB: int(user_input[CONF_MAX_FRAME_KIB]),
                    CONF_MAX_STRANGERS: int(user_input[CONF_MAX_STRANGERS]),
                }
            )
        schema = _settings_schema(
            options.get(CONF_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL),
            options.get(CONF_AUTO_ACCEPT, DEFAULT_AUTO_ACCEPT),
            options.get(CONF_UNKNOWN_TAGS, UnknownTagPolicy.REJECT),
        ).extend(
            {
                vol.Required(
                    CONF_METER_VALUE_INTERVAL,
                    default=options.get(CONF_METER_VALUE_INTERVAL, DEFAULT_METER_VALUE_INTERVAL),
                ): _seconds_selector(minimum=5, maximum=3600, step=1),
                vol.Required(
                    CONF_REMOTE_ID_TAG, default=options.get(CONF_REMOTE_ID_TAG, "")
                ): vol.All(str, vol.Length(min=1, max=20)),
                vol.Required(
                    CONF_MAX_STRANGERS,
                    default=options.get(CONF_MAX_STRANGERS, DEFAULT_MAX_STRANGERS),
                ): NumberSelector(
                    NumberSelectorConfig(min=1, max=10000, step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Required(
                    CONF_MAX_FRAME_KIB,
                    default=options.get(CONF_MAX_FRAME_KIB, DEFAULT_MAX_FRAME_KIB),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=4,
                        max=1024,
                        step=1,
                        unit_of_measurement="KiB",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(step_id="settings", data_schema=schema)

    def _approved_chargers(self) -> list[str]:
        return sorted(
            charger_id
            for charger_id, charger in self.config_entry.runtime_data.central.chargers.items()
            if charger.approved
        )

    def _cannot_choose_charger(self) -> ConfigFlowResult | None:
        """An abort saying why no charger can be chosen, or None."""
        if self.config_entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        return None

    def _charger_schema(self) -> vol.Schema:
        # Any id may be typed: a charger can get its password (and settings) before it
        # first connects, so nobody can pose as it in between.
        return vol.Schema(
            {
                vol.Required(CONF_CHARGER_ID): SelectSelector(
                    SelectSelectorConfig(
                        options=self._approved_chargers(),
                        custom_value=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                )
            }
        )

    def _charger_id_errors(self, user_input: dict[str, Any]) -> dict[str, str]:
        if valid_charger_id(user_input[CONF_CHARGER_ID]):
            return {}
        return {CONF_CHARGER_ID: "invalid_charger_id"}

    async def async_step_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the charger whose quirks to change."""
        if (cannot := self._cannot_choose_charger()) is not None:
            return cannot
        errors = {} if user_input is None else self._charger_id_errors(user_input)
        if user_input is not None and not errors:
            self._charger_id = user_input[CONF_CHARGER_ID]
            return await self.async_step_quirks()
        return self.async_show_form(
            step_id="charger", data_schema=self._charger_schema(), errors=errors
        )

    async def async_step_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Give a charger a new password (OCPP security profile 1), or take its password away."""
        if (cannot := self._cannot_choose_charger()) is not None:
            return cannot
        errors = {} if user_input is None else self._charger_id_errors(user_input)
        if user_input is not None and not errors:
            self._charger_id = user_input[CONF_CHARGER_ID]
            if user_input[CONF_REMOVE_PASSWORD]:
                return self._save_password_hash(None)
            self._password = new_password()
            return await self.async_step_password_created()
        return self.async_show_form(
            step_id="password",
            data_schema=self._charger_schema().extend(
                {vol.Required(CONF_REMOVE_PASSWORD, default=False): BooleanSelector()}
            ),
            errors=errors,
        )

    async def async_step_password_created(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the new password once; only its hash is kept."""
        if user_input is not None:
            return self._save_password_hash(hash_password(self._password))
        return self.async_show_form(
            step_id="password_created",
            description_placeholders={"charger_id": self._charger_id, "password": self._password},
        )

    def _save_password_hash(self, password_hash: str | None) -> ConfigFlowResult:
        hashes: dict[str, str] = dict(self.config_entry.options.get(CONF_PASSWORDS, {}))
        if password_hash is None:
            hashes.pop(self._charger_id, None)
        else:
            hashes[self._charger_id] = password_hash
        return self.async_create_entry(data={**self.config_entry.options, CONF_PASSWORDS: hashes})

    async def async_step_quirks(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Workarounds for one charger's firmware."""
        options = self.config_entry.options
        all_quirks: dict[str, dict[str, Any]] = dict(options.get(CONF_CHARGERS, {}))
        if user_input is not None:
            all_quirks[self._charger_id] = {
                CONF_PING_INTERVAL: float(user_input[CONF_PING_INTERVAL]),
                CONF_START_TRANSACTION_DELAY: float(user_input[CONF_START_TRANSACTION_DELAY]),
                CONF_LENIENT: user_input[CONF_LENIENT],
                CONF_REPLACE_CONNECTION: user_input[CONF_REPLACE_CONNECTION],
                CONF_KEEP_CONFIGURATION: user_input[CONF_KEEP_CONFIGURATION],
                CONF_FREE_CHARGING: user_input[CONF_FREE_CHARGING],
            }
            if (power := user_input.get(CONF_CHARGER_MAX_POWER_KW)) is not None:
                all_quirks[self._charger_id][CONF_CHARGER_MAX_POWER_KW] = float(power)
            if tariff := user_input.get(CONF_TARIFF):
                all_quirks[self._charger_id][CONF_TARIFF] = tariff
            return self.async_create_entry(data={**options, CONF_CHARGERS: all_quirks})
        current = all_quirks.get(self._charger_id, {})
        return self.async_show_form(
            step_id="quirks",
            description_placeholders={"charger_id": self._charger_id},
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_PING_INTERVAL, default=current.get(CONF_PING_INTERVAL, 0)
                    ): _seconds_selector(maximum=3600, step=1),
                    vol.Required(
                        CONF_START_TRANSACTION_DELAY,
                        default=current.get(CONF_START_TRANSACTION_DELAY, 0),
                    ): _seconds_selector(maximum=30, step=0.1),
                    vol.Required(
                        CONF_LENIENT, default=current.get(CONF_LENIENT, False)
                    ): BooleanSelector(),
                    vol.Required(
                        CONF_REPLACE_CONNECTION,
                        default=current.get(CONF_REPLACE_CONNECTION, False),
                    ): BooleanSelector(),
                    vol.Required(
                        CONF_KEEP_CONFIGURATION,
                        default=current.get(CONF_KEEP_CONFIGURATION, False),
                    ): BooleanSelector(),
                    vol.Optional(
                        CONF_CHARGER_MAX_POWER_KW,
                        description={"suggested_value": current.get(CONF_CHARGER_MAX_POWER_KW)},
                    ): NumberSelector(
                        NumberSelectorConfig(
                            min=1,
                            max=1000,
                            step=0.1,
                            unit_of_measurement="kW",
                            mode=NumberSelectorMode.BOX,
                        )
                    ),
                    vol.Required(
                        CONF_FREE_CHARGING, default=current.get(CONF_FREE_CHARGING, False)
                    ): BooleanSelector(),
                    vol.Optional(
                        CONF_TARIFF,
                        description={"suggested_value": current.get(CONF_TARIFF)},
                    ): SelectSelector(
                        SelectSelectorConfig(
                            options=tariff_choices(self.config_entry),
                            mode=SelectSelectorMode.DROPDOWN,
                        )
                    ),
                }
            ),
        )
