"""EV Charging: an OCPP central system for Home Assistant."""

import secrets
import ssl
from datetime import datetime
from pathlib import Path

from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    EVENT_CORE_CONFIG_UPDATE,
    EVENT_HOMEASSISTANT_STOP,
    Platform,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from .const import (
    ALIVE_INTERVAL,
    CONF_REMOTE_ID_TAG,
    CONF_SSL_CERTIFICATE,
    CONF_SSL_KEY,
    DOMAIN,
    LEDGER_FILENAME,
    PRUNE_INTERVAL,
    RAW_FRAME_RETENTION,
)
from .csms.central import CentralSystem
from .csms.security import server_tls_context
from .kiosk_api import async_register_kiosk_api
from .ledger import Ledger
from .price_sensors import async_follow_price_sensors
from .runtime import (
    EvChargingConfigEntry,
    EvChargingData,
    HomeAssistantListener,
    async_update_review_issue,
    settings_from_entry,
    signal_accounts_changed,
)
from .services import async_setup_services
from .statements import async_schedule_month_end, month_bounds
from .usage_statistics import async_track_usage_statistics

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the service actions, which work on any loaded charger."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: EvChargingConfigEntry) -> bool:
    """Open the ledger, bring back known chargers and start listening for chargers."""
    if CONF_REMOTE_ID_TAG not in entry.options:
        # Home Assistant's own ID tag for sessions it starts: made once, then kept.
        hass.config_entries.async_update_entry(
            entry,
            options={
                **entry.options,
                CONF_REMOTE_ID_TAG: f"HA-{secrets.token_hex(9).upper()[:17]}",
            },
        )
    ledger = Ledger(Path(hass.config.path(LEDGER_FILENAME)))
    await ledger.open()
    listener = HomeAssistantListener(hass, entry)
    central = CentralSystem(ledger, settings_from_entry(hass, entry), listener, dt_util.utcnow)
    listener.health.central = central
    entry.async_on_unload(listener.health.unload)
    try:
        tls = None
        if CONF_SSL_CERTIFICATE in entry.data:
            tls = await _tls_context(hass, entry)
        await central.load()
        await central.start(entry.data[CONF_HOST], entry.data[CONF_PORT], tls)
    except OSError as err:
        await central.stop()
        await ledger.close()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="port_unavailable",
            translation_placeholders={"port": str(entry.data[CONF_PORT]), "error": str(err)},
        ) from err
    except BaseException:
        await central.stop()
        await ledger.close()
        raise
    entry.runtime_data = data = EvChargingData(ledger, central)
    await central.cashier.open_book(month_bounds(None, dt_util.utcnow())[0])
    data.unfollow_prices = async_follow_price_sensors(hass, central)
    stop_first = data.before_ledger_closes.append
    stop_first(lambda: data.unfollow_prices())
    stop_first(entry.add_update_listener(_async_options_updated))

    async def prune_frames(now: datetime) -> None:
        await ledger.prune_frames(now - RAW_FRAME_RETENTION)

    stop_first(async_track_time_interval(hass, prune_frames, PRUNE_INTERVAL))
    stop_first(async_schedule_month_end(hass, entry))
    stop_first(async_track_usage_statistics(hass, entry))

    async def core_config_updated(event: Event) -> None:
        # Tariffs read time-of-use bands in Home Assistant's time zone, in its currency.
        await _async_options_updated(hass, entry)

    stop_first(hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, core_config_updated))

    async def stop_with_home_assistant(event: Event) -> None:
        # Home Assistant does not unload entries when it stops: without this, chargers heard
        # nothing (no close frame), the last alive mark was not written and the ledger's
        # writer died with the process.
        await _async_stop_central(entry)
        await ledger.close()

    stop_first(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, stop_with_home_assistant))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Sessions flagged before a restart still wait for review.
    await async_update_review_issue(hass, entry)

    async def alive(now: datetime) -> None:
        # The gaps between runs are downtime; uptime sensors move with the clock.
        await central.mark_alive()
        for charger in central.chargers.values():
            charger.notify()

    stop_first(async_track_time_interval(hass, alive, ALIVE_INTERVAL))
    async_register_kiosk_api(hass)
    # Problems from before the restart: their timers and repair issues.
    for charger in central.chargers.values():
        central.check_health(charger)
    return True


async def _tls_context(hass: HomeAssistant, entry: EvChargingConfigEntry) -> ssl.SSLContext:
    try:
        return await hass.async_add_executor_job(
            server_tls_context, entry.data[CONF_SSL_CERTIFICATE], entry.data[CONF_SSL_KEY]
        )
    except (OSError, ssl.SSLError) as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="tls_unreadable",
            translation_placeholders={"error": str(err)},
        ) from err


async def async_unload_entry(hass: HomeAssistant, entry: EvChargingConfigEntry) -> bool:
    """Stop the central system (sockets closed, port freed) and close the ledger."""
    # Chargers first: none may be approved, and get entities, while the platforms go away.
    await _async_stop_central(entry)
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    await entry.runtime_data.ledger.close()
    return unloaded


async def _async_stop_central(entry: EvChargingConfigEntry) -> None:
    """Stop what writes to the ledger and the central system (chargers hear "going away");
    once, whether Home Assistant stops or the entry is unloaded first."""
    data = entry.runtime_data
    stops, data.before_ledger_closes = data.before_ledger_closes, []
    if not stops:
        return  # stopped already
    for stop in stops:
        stop()
    await data.central.stop()


async def _async_options_updated(hass: HomeAssistant, entry: EvChargingConfigEntry) -> None:
    # Options apply live: restarting the server would drop every charger. Accounts may have
    # been added: their sensors are added by the sensor platform.
    async_dispatcher_send(hass, signal_accounts_changed(entry.entry_id))
    data = entry.runtime_data
    data.central.apply_settings(settings_from_entry(hass, entry))
    # Tariffs may now follow other price sensors.
    data.unfollow_prices()
    data.unfollow_prices = async_follow_price_sensors(hass, data.central)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: EvChargingConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the owner delete a charger that is not connected; its history stays in the ledger."""
    central = entry.runtime_data.central
    for domain, charger_id in device.identifiers:
        if domain != DOMAIN:
            continue
        charger = central.chargers.get(charger_id)
        if charger is not None and charger.connected:
            return False
        await central.forget(charger_id)
    return True
