"""Diagnostics download: the central system's view of every charger, secrets redacted."""

from collections import Counter
from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_KIOSK_KEY_HASH
from .runtime import EvChargingConfigEntry

TO_REDACT = {
    "serial_number",
    "id_tag",
    "host",
    "remote_id_tag",
    "password_hashes",
    CONF_KIOSK_KEY_HASH,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: EvChargingConfigEntry
) -> dict[str, Any]:
    """Settings, chargers, connectors and error counters."""
    central = entry.runtime_data.central
    tags = central.settings.tags
    now = central.now()
    statuses = [status for tag in tags.tags.values() if (status := tags.status(tag.id_tag, now))]
    chargers = {}
    for charger_id, charger in central.chargers.items():
        chargers[charger_id] = {
            "approved": charger.approved,
            "approved_by_owner": charger.approved_by_owner,
            "connected": charger.connected,
            "booted": charger.booted,
            "vendor": charger.vendor,
            "model": charger.model,
            "serial_number": charger.serial_number,
            "firmware": charger.firmware,
            "firmware_status": charger.firmware_status,
            "diagnostics_status": charger.diagnostics_status,
            "configuration_results": dict(charger.configuration_results),
            "local_list_version": charger.local_list_version,
            "local_list_status": charger.local_list_status,
            "free_charging": charger_id in central.settings.tags.free_charging,
            "last_seen": charger.last_seen,
            "last_heartbeat": charger.last_heartbeat,
            "unreadable_frames": charger.unreadable_frames,
            "unexpected_replies": charger.unexpected_replies,
            "call_errors": dict(charger.call_errors),
            "quirks": asdict(central.settings.quirks_for(charger_id)),
            "health": {
                "problems": {
                    f"{connector_id}|{kind}": {"since": problem.since, **dict(problem.details)}
                    for (connector_id, kind), problem in charger.health.verdicts.items()
                    if problem.active
                },
                "uptime_percent": central.uptime(charger),
                "reconnects": charger.health.reconnects,
                "next_check": charger.health.due(now),
            },
            "connectors": {
                connector_id: {
                    "status": connector.status,
                    "error_code": connector.error_code,
                    "energy_register_kwh": connector.energy_register_kwh,
                    "register_offset_wh": connector.register_offset_wh,
                    "power_kw": connector.power_kw,
                    "transaction": None
                    if connector.transaction is None
                    else asdict(connector.transaction),
                }
                for connector_id, connector in charger.connectors.items()
            },
        }
    return async_redact_data(
        {
            "data": dict(entry.data),
            "options": dict(entry.options),
            "ledger": str(entry.runtime_data.ledger.path.name),
            # Counts only: the tags themselves identify people.
            "id_tags": {status: statuses.count(status) for status in sorted(set(statuses))},
            "unknown_tags": tags.unknown_tags.value,
            "billing": {
                "tariffs": [
                    {"name": t.name, "version": t.version, "dynamic": t.dynamic is not None}
                    for t in central.settings.billing.tariffs.values()
                ],
                "open_bills": len(central.cashier.open),
                "reviews_waiting": len(await entry.runtime_data.ledger.open_reviews()),
            },
            "fault_detection": asdict(central.settings.faults),
            "kiosk": {
                "key_set": CONF_KIOSK_KEY_HASH in entry.options,
                "guest_sessions": dict(
                    Counter(session.state for session in central.guests.sessions.values())
                ),
            },
            "downtime": central.downtime,
            "chargers": chargers,
        },
        TO_REDACT,
    )
