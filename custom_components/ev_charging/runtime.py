"""Runtime data of a config entry and the glue from the central system to Home Assistant."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigEntry
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import discovery_flow
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .const import (
    CONF_ACCOUNT,
    CONF_ALLOWED_CHARGERS,
    CONF_AUTO_ACCEPT,
    CONF_BLOCKED,
    CONF_CHARGER_ID,
    CONF_CHARGERS,
    CONF_DEGRADATION_REPEATS,
    CONF_EXPIRES,
    CONF_FAULT_DETECTION,
    CONF_FLAPPING_LIMIT,
    CONF_FLAPPING_MINUTES,
    CONF_FREE_CHARGING,
    CONF_HEARTBEAT_INTERVAL,
    CONF_ID_TAG,
    CONF_KEEP_CONFIGURATION,
    CONF_LENIENT,
    CONF_MAX_FRAME_KIB,
    CONF_MAX_POWER_KW,
    CONF_MAX_STRANGERS,
    CONF_MAX_TEMPERATURE,
    CONF_METER_VALUE_INTERVAL,
    CONF_MISSED_INTERVALS,
    CONF_OFFLINE_MULTIPLE,
    CONF_PARENT_ID_TAG,
    CONF_PASSWORDS,
    CONF_PING_INTERVAL,
    CONF_REMOTE_ID_TAG,
    CONF_REPAIR_AFTER_MINUTES,
    CONF_REPLACE_CONNECTION,
    CONF_STALLED_MINUTES,
    CONF_START_TRANSACTION_DELAY,
    CONF_UNKNOWN_TAGS,
    CONF_USER_ID,
    DEFAULT_AUTO_ACCEPT,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_FRAME_KIB,
    DEFAULT_MAX_STRANGERS,
    DEFAULT_METER_VALUE_INTERVAL,
    DOMAIN,
    SUBENTRY_ID_TAG,
)
from .csms.authorization import IdTag, TagList, UnknownTagPolicy
from .csms.central import CentralSystem
from .csms.commands import CommandError
from .csms.state import CentralSettings, ChargerQuirks, ChargerState
from .faults.detectors import Problem
from .faults.health import ProblemKey, Thresholds
from .health_reports import HealthReports
from .ledger import Ledger
from .tariffs import billing_settings


@dataclass
class EvChargingData:
    """What a loaded config entry holds at run time."""

    ledger: Ledger
    central: CentralSystem
    unfollow_prices: Callable[[], None] = lambda: None
    """Stops following the dynamic tariffs' price sensors."""
    before_ledger_closes: list[Callable[[], None]] = field(default_factory=list)
    """Stops the timers and listeners that write to the ledger. Home Assistant runs an
    entry's async_on_unload callbacks only after async_unload_entry, which closes it."""


type EvChargingConfigEntry = ConfigEntry[EvChargingData]


async def run_command(central: CentralSystem, charger_id: str, payload: Any, **options: Any) -> Any:
    """Send a command to a charger; failures become translated Home Assistant errors."""
    try:
        return await central.command(charger_id, payload, **options)
    except CommandError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=err.key,
            translation_placeholders={
                "charger": charger_id,
                "command": err.action,
                "detail": err.detail,
            },
        ) from err


ISSUE_NO_PASSWORD = "charger_without_password"
# A repair issue names this many chargers; a garage full of them is summed up.
LISTED_IN_ISSUE = 10


def _list_some(charger_ids: list[str]) -> str:
    shown = ", ".join(charger_ids[:LISTED_IN_ISSUE])
    more = len(charger_ids) - LISTED_IN_ISSUE
    return shown if more <= 0 else f"{shown} and {more} more"


def signal_charger_added(entry_id: str) -> str:
    """Dispatcher signal: an approved charger needs entities."""
    return f"{DOMAIN}_{entry_id}_charger_added"


def signal_accounts_changed(entry_id: str) -> str:
    """Dispatcher signal: accounts may have been added."""
    return f"{DOMAIN}_{entry_id}_accounts_changed"


def signal_connector_added(entry_id: str) -> str:
    """Dispatcher signal: a charger reported a new connector."""
    return f"{DOMAIN}_{entry_id}_connector_added"


def id_tag_from_data(data: Mapping[str, Any]) -> IdTag:
    """An ID tag from its config subentry's data."""
    expires = data.get(CONF_EXPIRES)
    return IdTag(
        id_tag=data[CONF_ID_TAG],
        name=data.get(CONF_NAME, ""),
        user_id=data.get(CONF_USER_ID),
        expires=datetime.fromisoformat(expires) if expires else None,
        blocked=data.get(CONF_BLOCKED, False),
        parent=data.get(CONF_PARENT_ID_TAG) or None,
        chargers=frozenset(data.get(CONF_ALLOWED_CHARGERS, ())),
        account=data.get(CONF_ACCOUNT) or None,
    )


def thresholds_from_options(options: Mapping[str, Any]) -> Thresholds:
    """The fault detection thresholds; defaults for what the owner left alone."""
    default = Thresholds()
    return Thresholds(
        offline_multiple=float(options.get(CONF_OFFLINE_MULTIPLE, default.offline_multiple)),
        stalled_after=_minutes(options, CONF_STALLED_MINUTES, default.stalled_after),
        missed_intervals=int(options.get(CONF_MISSED_INTERVALS, default.missed_intervals)),
        max_power_kw=Decimal(str(options.get(CONF_MAX_POWER_KW, default.max_power_kw))),
        flapping_limit=int(options.get(CONF_FLAPPING_LIMIT, default.flapping_limit)),
        flapping_window=_minutes(options, CONF_FLAPPING_MINUTES, default.flapping_window),
        degradation_repeats=int(options.get(CONF_DEGRADATION_REPEATS, default.degradation_repeats)),
        max_temperature_c=Decimal(
            str(options.get(CONF_MAX_TEMPERATURE, default.max_temperature_c))
        ),
        repair_after=_minutes(options, CONF_REPAIR_AFTER_MINUTES, default.repair_after),
    )


def _minutes(options: Mapping[str, Any], key: str, default: timedelta) -> timedelta:
    return timedelta(minutes=float(options[key])) if key in options else default


def settings_from_entry(hass: HomeAssistant, entry: EvChargingConfigEntry) -> CentralSettings:
    """The central system's live settings from the entry's options, ID tags and tariffs."""
    options = entry.options
    chargers: Mapping[str, Mapping[str, Any]] = options.get(CONF_CHARGERS, {})
    remote_id_tag = options.get(CONF_REMOTE_ID_TAG)
    tags = TagList.of(
        (
            id_tag_from_data(subentry.data)
            for subentry in entry.get_subentries_of_type(SUBENTRY_ID_TAG)
        ),
        unknown_tags=UnknownTagPolicy(options.get(CONF_UNKNOWN_TAGS, UnknownTagPolicy.REJECT)),
        always_accepted=[remote_id_tag] if remote_id_tag else [],
        free_charging=[
            charger_id
            for charger_id, settings in chargers.items()
            if settings.get(CONF_FREE_CHARGING, False)
        ],
    )
    return CentralSettings(
        billing=billing_settings(hass, entry),
        faults=thresholds_from_options(options.get(CONF_FAULT_DETECTION, {})),
        tags=tags,
        remote_id_tag=remote_id_tag,
        heartbeat_interval=options.get(CONF_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL),
        auto_accept=options.get(CONF_AUTO_ACCEPT, DEFAULT_AUTO_ACCEPT),
        meter_value_interval=options.get(CONF_METER_VALUE_INTERVAL, DEFAULT_METER_VALUE_INTERVAL),
        password_hashes=dict(options.get(CONF_PASSWORDS, {})),
        max_frame_bytes=1024 * int(options.get(CONF_MAX_FRAME_KIB, DEFAULT_MAX_FRAME_KIB)),
        max_strangers=int(options.get(CONF_MAX_STRANGERS, DEFAULT_MAX_STRANGERS)),
        quirks={
            charger_id: ChargerQuirks(
                ping_interval=quirks.get(CONF_PING_INTERVAL, 0.0),
                start_transaction_delay=quirks.get(CONF_START_TRANSACTION_DELAY, 0.0),
                lenient=quirks.get(CONF_LENIENT, False),
                replace_connection=quirks.get(CONF_REPLACE_CONNECTION, False),
                keep_configuration=quirks.get(CONF_KEEP_CONFIGURATION, False),
            )
            for charger_id, quirks in chargers.items()
        },
    )


ISSUE_REVIEW = "sessions_need_review"
ISSUE_TAG_LIST_WITHHELD = "tag_list_withheld"


async def async_update_review_issue(hass: HomeAssistant, entry: EvChargingConfigEntry) -> None:
    """A fixable repair issue while sessions wait for review; the fix marks them reviewed."""
    reviews = await entry.runtime_data.ledger.open_reviews()
    if not reviews:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_REVIEW)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_REVIEW,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_REVIEW,
        translation_placeholders={"count": str(len(reviews))},
        data={"entry_id": entry.entry_id},
    )


def device_identifier(charger_id: str) -> tuple[str, str]:
    """The device registry identifier of a charger."""
    return (DOMAIN, charger_id)


class HomeAssistantListener:
    """Turns the central system's news into devices, entities and discovery flows."""

    def __init__(self, hass: HomeAssistant, entry: EvChargingConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.health = HealthReports(hass, entry.entry_id)

    @callback
    def charger_added(self, charger: ChargerState) -> None:
        """Create the device and entities of a newly approved charger."""
        self.charger_booted(charger)
        async_dispatcher_send(self.hass, signal_charger_added(self.entry.entry_id), charger)

    @callback
    def connector_added(self, charger: ChargerState, connector_id: int) -> None:
        """Create the entities of a connector seen for the first time."""
        async_dispatcher_send(
            self.hass, signal_connector_added(self.entry.entry_id), charger, connector_id
        )

    @callback
    def charger_booted(self, charger: ChargerState) -> None:
        """Keep the device's manufacturer, model, serial number and firmware current."""
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={device_identifier(charger.charger_id)},
            name=charger.charger_id,
            manufacturer=charger.vendor,
            model=charger.model,
            serial_number=charger.serial_number,
            sw_version=charger.firmware,
        )

    @callback
    def charger_event(self, charger: ChargerState, event_type: str, data: dict[str, Any]) -> None:
        """A bus event, and the charger's event entity shows it."""
        self.health.charger_event(charger, event_type, data)

    @callback
    def lasting_problems(self, charger: ChargerState, problems: dict[ProblemKey, Problem]) -> None:
        """Repair issues for the charger's lasting problems."""
        self.health.lasting_problems(charger, problems)

    @callback
    def check_health_at(self, charger: ChargerState, when: datetime | None) -> None:
        """A timer for the charger's detectors."""
        self.health.check_at(charger, when)

    @callback
    def review_needed(self) -> None:
        """A session was flagged for review: the repair issue says how many wait (while the
        entry is still being set up, its setup brings the issue up to date)."""
        if hasattr(self.entry, "runtime_data"):
            self.hass.async_create_task(async_update_review_issue(self.hass, self.entry))

    @callback
    def insecure_chargers(self, charger_ids: list[str]) -> None:
        """A repair issue lists the chargers connected without a password, while there are any."""
        self._chargers_issue(ISSUE_NO_PASSWORD, charger_ids, fixable=False)

    @callback
    def tag_list_withheld(self, charger_ids: list[str]) -> None:
        """A fixable repair issue names the chargers that get no tag list; the fix trusts them."""
        self._chargers_issue(ISSUE_TAG_LIST_WITHHELD, charger_ids, fixable=True)

    def _chargers_issue(self, issue_id: str, charger_ids: list[str], *, fixable: bool) -> None:
        """A repair issue naming some chargers, while there are any."""
        if not charger_ids:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=fixable,
            severity=ir.IssueSeverity.WARNING,
            translation_key=issue_id,
            translation_placeholders={"chargers": _list_some(charger_ids)},
            data={"entry_id": self.entry.entry_id} if fixable else None,
        )

    @callback
    def charger_pending(self, charger: ChargerState) -> None:
        """Ask the owner, through a discovered flow, whether this charger may connect."""
        discovery_flow.async_create_flow(
            self.hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={CONF_CHARGER_ID: charger.charger_id},
        )
