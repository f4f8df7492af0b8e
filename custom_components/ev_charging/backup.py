"""Backups get a consistent copy of the ledger: writes wait, checkpointed, while one runs."""

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .runtime import EvChargingConfigEntry


def _loaded_entries(hass: HomeAssistant) -> list[EvChargingConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


async def async_pre_backup(hass: HomeAssistant) -> None:
    """Checkpoint the ledger and hold writes until the backup is done."""
    for entry in _loaded_entries(hass):
        await entry.runtime_data.ledger.pause()


async def async_post_backup(hass: HomeAssistant) -> None:
    """Let ledger writes continue."""
    for entry in _loaded_entries(hass):
        entry.runtime_data.ledger.resume()
