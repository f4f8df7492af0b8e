"""Charger passwords (OCPP security profile 1) and the repair issue for chargers without one."""

import aiohttp
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.const import CONF_CHARGER_ID, CONF_PASSWORDS, DOMAIN
from custom_components.ev_charging.csms.security import (
    basic_auth_password,
    hash_password,
    new_password,
    password_matches,
)

from .conftest import ChargerFactory
from .helpers import until

ISSUE = "charger_without_password"


def test_password_hashing() -> None:
    """Hashes are salted, verify the right password only, and keep no plain text."""
    password = new_password()
    assert len(password) == 20
    stored = hash_password(password)
    assert password not in stored
    assert hash_password(password) != stored  # a new salt each time
    assert password_matches(password, stored)
    assert not password_matches(password + "x", stored)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic Q1AtMTpzZWNyZXQ=", "secret"),  # CP-1:secret
        ("Basic Q1AtMjpzZWNyZXQ=", None),  # another charger's user name
        ("Basic not-base64!", None),
        ("Bearer abc", None),
        (None, None),
    ],
)
def test_basic_auth_header(header: str | None, expected: str | None) -> None:
    """Only a Basic header whose user is the charger id gives a password."""
    assert basic_auth_password(header, "CP-1") == expected


async def give_password(hass: HomeAssistant, entry: MockConfigEntry, charger_id: str) -> str:
    """Go through the options flow; returns the password it showed once."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: charger_id}
    )
    assert result["step_id"] == "password_created"
    password = result["description_placeholders"]["password"]
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return str(password)


async def test_password_lets_in_only_the_right_charger(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a password set, no or a wrong password is refused (401) and nothing is recorded."""
    first = await make_charger("CP-1")
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, ISSUE) is not None
    password = await give_password(hass, init_integration, "CP-1")
    assert password not in str(init_integration.options)
    assert "CP-1" in init_integration.options[CONF_PASSWORDS]
    await first.close()
    central = init_integration.runtime_data.central
    await until(lambda: not central.connections, "the first connection closed")
    assert issues.async_get_issue(DOMAIN, ISSUE) is None

    for wrong in (None, "not-the-password"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await make_charger("CP-1", boot=False, password=wrong)
        assert refused.value.status == 401
    assert "Refused charger CP-1 from 127.0.0.1: no password" in caplog.text
    assert "Refused charger CP-1 from 127.0.0.1: wrong password" in caplog.text
    assert await init_integration.runtime_data.ledger.load_frames("CP-1") == []

    charger = await make_charger("CP-1", password=password)
    await charger.start_transaction(1, "TAG", meter_start=0)
    assert [
        f["action"] for f in await init_integration.runtime_data.ledger.load_frames("CP-1")
    ] == ["StartTransaction"]
    assert issues.async_get_issue(DOMAIN, ISSUE) is None


async def test_repair_issue_names_chargers_without_password(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The issue lists every connected charger without a password and goes when none is left."""
    first = await make_charger("CP-1")
    second = await make_charger("CP-2")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.translation_placeholders == {"chargers": "CP-1, CP-2"}
    await first.close()
    await second.close()
    central = init_integration.runtime_data.central
    await until(lambda: not central.connections, "both connections closed")
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE) is None


async def test_password_can_be_removed(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Removing a charger's password lets it connect without logging in again."""
    await make_charger("CP-1")
    await give_password(hass, init_integration, "CP-1")
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "CP-1", "remove_password": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_PASSWORDS] == {}
