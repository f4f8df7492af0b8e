"""Small helpers shared by the tests."""

import asyncio
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ev_charging.const import CONF_REMOVE_KIOSK_KEY, DOMAIN


def entity_state(hass: HomeAssistant, platform: str, unique_id: str) -> State:
    """The state of the integration's entity with this unique id."""
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, f"no {platform} entity with unique id {unique_id}"
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} has no state"
    return state


# Generous: a slow disk (an fsync per ledger commit) or a loaded machine must not fail a test.
WAIT_SECONDS = 60.0


def wall_clock() -> float:
    """Seconds on the machine's monotonic clock, which time-travel fixtures do not move."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let real network I/O on loopback happen until condition holds.

    Bounded by wall-clock time, not by event-loop turns (a loop waiting on an fsync turns
    slowly) nor by the test's clock (tests that freeze it use this too).
    """
    give_up = wall_clock() + WAIT_SECONDS
    while not condition():
        if wall_clock() > give_up:
            raise AssertionError(f"never happened within {WAIT_SECONDS:g} s: {what}")
        # Let ready callbacks run; now and then yield to I/O for a moment.
        await asyncio.sleep(0)
        await asyncio.sleep(0)


def enable_early(hass: HomeAssistant, entry: ConfigEntry, platform: str, *unique_ids: str) -> None:
    """Register entities that are disabled by default as enabled, before they are created."""
    registry = er.async_get(hass)
    for unique_id in unique_ids:
        registry.async_get_or_create(platform, DOMAIN, unique_id, config_entry=entry)


BLUEPRINTS = Path(__file__).parent.parent / "blueprints/automation/ev_charging"


async def use_blueprint(
    hass: HomeAssistant, config_dir: Path, name: str, inputs: dict[str, Any]
) -> None:
    """Install one of the repository's automation blueprints and an automation using it."""
    target = config_dir / "blueprints/automation/ev_charging"
    await asyncio.to_thread(target.mkdir, parents=True)
    await asyncio.to_thread(shutil.copy, BLUEPRINTS / name, target)
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": {"use_blueprint": {"path": f"ev_charging/{name}", "input": inputs}}},
    )


async def new_key(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """Make a kiosk key through the options flow, as the owner does; returns it."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "kiosk_key"}
    )
    assert result["description_placeholders"]["state"] in ("none", "set")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_REMOVE_KIOSK_KEY: False}
    )
    assert result["step_id"] == "kiosk_key_created"
    key: str = result["description_placeholders"]["key"]
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return key


async def later(hass: HomeAssistant, freezer: FrozenDateTimeFactory, **delta: float) -> None:
    """Let time pass: Home Assistant's timers due by then run."""
    freezer.tick(timedelta(**delta))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
