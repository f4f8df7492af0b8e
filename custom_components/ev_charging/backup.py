"""Backups get a consistent copy of the ledger, while chargers keep being answered."""

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
    """Checkpoint the ledger and keep its main file unchanged until the backup is done."""
    for entry in _loaded_entries(hass):
        await entry.runtime_data.ledger.freeze_for_backup()


async def async_post_backup(hass: HomeAssistant) -> None:
    """Let the ledger checkpoint again."""
    for entry in _loaded_entries(hass):
        await entry.runtime_data.ledger.thaw_after_backup()
