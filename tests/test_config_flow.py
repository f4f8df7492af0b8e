"""Config, reconfigure, options and charger-approval flows."""

import json
import re
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from homeassistant.config_entries import (
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.const import (
    CONF_AUTO_ACCEPT,
    CONF_CHARGER_ID,
    CONF_CHARGER_MAX_POWER_KW,
    CONF_CHARGERS,
    CONF_ELECTRICITY_PRICE,
    CONF_FREE_CHARGING,
    CONF_HEARTBEAT_INTERVAL,
    CONF_KEEP_CONFIGURATION,
    CONF_LENIENT,
    CONF_PING_INTERVAL,
    CONF_PRICE_PER_KWH,
    CONF_PRICES_INCLUDE_VAT,
    CONF_REMOTE_ID_TAG,
    CONF_REPLACE_CONNECTION,
    CONF_START_TRANSACTION_DELAY,
    CONF_TARIFF,
    CONF_UNKNOWN_TAGS,
    CONF_VAT_PERCENT,
    DOMAIN,
    SUBENTRY_ACCOUNT,
)

from .conftest import ChargerFactory, occupied
from .helpers import entity_state, until
from .test_billing import add_tariff

TRANSLATIONS = Path(__file__).parent.parent / "custom_components/ev_charging/translations"


def strings_of(tree: object) -> list[str]:
    """Every string in a translation file."""
    if isinstance(tree, dict):
        return [text for value in tree.values() for text in strings_of(value)]
    return [tree] if isinstance(tree, str) else []


def test_translations_carry_no_tags() -> None:
    """The frontend formats translations as ICU messages, where `<name>` is a tag it drops:
    `ws://<host>:<port>` reached users as `ws://:/`. Such text goes in placeholders."""
    for file in TRANSLATIONS.glob("*.json"):
        for text in strings_of(json.loads(file.read_text())):
            assert not re.search(r"<[A-Za-z/][^>]*>", text), f"{file.name}: {text[:80]}"


async def test_user_flow_creates_entry(hass: HomeAssistant, port: int) -> None:
    """The user picks address, port, heartbeat and approval policy; the server starts."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    # The charger URL the first step shows comes as a placeholder, whole.
    description = json.loads((TRANSLATIONS / "en.json").read_text())["config"]["step"]["user"][
        "description"
    ]
    shown = description.format(**result["description_placeholders"])
    assert "ws://<home-assistant-host>:<port>/<charger-id>" in shown
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            CONF_HEARTBEAT_INTERVAL: 120,
            CONF_AUTO_ACCEPT: False,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.data == {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    # Home Assistant's own ID tag for remote starts is made once and then kept.
    remote_id_tag = entry.options[CONF_REMOTE_ID_TAG]
    assert re.fullmatch(r"HA-[0-9A-F]{17}", remote_id_tag)  # 68 bits: not to be guessed
    assert entry.options == {
        CONF_HEARTBEAT_INTERVAL: 120,
        CONF_AUTO_ACCEPT: False,
        CONF_UNKNOWN_TAGS: "reject",
        CONF_REMOTE_ID_TAG: remote_id_tag,
    }
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert entry.options[CONF_REMOTE_ID_TAG] == remote_id_tag
    await hass.config_entries.async_unload(entry.entry_id)


async def test_user_flow_port_in_use(hass: HomeAssistant, port: int) -> None:
    """A port another program holds is refused with a clear error, then a free one works."""
    with occupied(port):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_HOST: "127.0.0.1",
                CONF_PORT: port,
                CONF_HEARTBEAT_INTERVAL: 60,
                CONF_AUTO_ACCEPT: True,
            },
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_PORT: "port_in_use"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            CONF_HEARTBEAT_INTERVAL: 60,
            CONF_AUTO_ACCEPT: True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_user_flow_invalid_host(hass: HomeAssistant, port: int) -> None:
    """An address this machine does not have is refused."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "no-such-host.invalid",
            CONF_PORT: port,
            CONF_HEARTBEAT_INTERVAL: 60,
            CONF_AUTO_ACCEPT: True,
        },
    )
    assert result["errors"] == {CONF_HOST: "invalid_host"}


async def test_only_one_central_system(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A second entry is refused."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def set_up_with_port_taken(
    hass: HomeAssistant, config_entry: MockConfigEntry, port: int
) -> None:
    """Set the entry up while another program holds its port."""
    with occupied(port):
        config_entry.add_to_hass(hass)
        await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()


async def test_setup_retries_when_port_taken(
    hass: HomeAssistant, config_entry: MockConfigEntry, port: int
) -> None:
    """If the port is taken at start-up the entry retries later instead of failing for good."""
    await set_up_with_port_taken(hass, config_entry, port)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert str(port) in (config_entry.reason or "")


async def test_reconfigure_moves_the_server(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    socket_enabled: None,
) -> None:
    """Reconfigure changes the port; the old one is freed and chargers connect to the new one."""
    old_port = init_integration.data[CONF_PORT]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        new_port = probe.getsockname()[1]
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: new_port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert init_integration.data[CONF_PORT] == new_port
    with socket.socket() as probe:  # the old port is free again
        probe.bind(("127.0.0.1", old_port))
    with socket.create_connection(("127.0.0.1", new_port)):
        pass


async def test_options_apply_live(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Settings and one charger's quirks change without dropping connected chargers."""
    charger = await make_charger("CP-1")
    bystander = await make_charger("CP-2")
    central = init_integration.runtime_data.central

    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_HEARTBEAT_INTERVAL: 300, CONF_AUTO_ACCEPT: True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert central.settings.heartbeat_interval == 300
    assert (await charger.boot())["interval"] == 300
    assert central.connections["CP-1"].charger.connected

    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "charger"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "CP-1"}
    )
    assert result["step_id"] == "quirks"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_PING_INTERVAL: 30,
            CONF_START_TRANSACTION_DELAY: 0.5,
            CONF_LENIENT: True,
            CONF_REPLACE_CONNECTION: True,
            CONF_CHARGER_MAX_POWER_KW: 11,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_CHARGERS] == {
        "CP-1": {
            CONF_PING_INTERVAL: 30.0,
            CONF_START_TRANSACTION_DELAY: 0.5,
            CONF_LENIENT: True,
            CONF_REPLACE_CONNECTION: True,
            CONF_KEEP_CONFIGURATION: False,
            CONF_CHARGER_MAX_POWER_KW: 11.0,
            CONF_FREE_CHARGING: False,
        }
    }
    assert central.settings.quirks_for("CP-1").replace_connection
    assert central.cashier.settings.charger_max_power_kw == {"CP-1": Decimal(11)}
    # A new ping interval needs a new connection: only that charger is asked to reconnect.
    await charger.wait_closed()
    assert bystander.connected
    assert (await bystander.heartbeat())["currentTime"]
    quirks = central.settings.quirks_for("CP-1")
    assert (quirks.ping_interval, quirks.start_transaction_delay, quirks.lenient) == (
        30.0,
        0.5,
        True,
    )


@pytest.mark.parametrize("auto_accept", [False])
async def test_unknown_charger_waits_for_approval(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """An unknown charger is Pending and shows as discovered; approving lets it in."""
    charger = await make_charger("CP-NEW", vendor="Acme", model="X1")
    assert charger.frames[-1].parsed[2]["status"] == "Pending"
    assert entity_state_missing(hass, "CP-NEW")
    early = [
        2,
        "early",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    ]
    assert (await charger.call_raw(early))[2] == "SecurityError"
    charger.frames[:] = [f for f in charger.frames if f.parsed[1] != "early"]

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["title_placeholders"] == {"charger_id": "CP-NEW"}
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "charger_approved"
    # The charger is asked to boot again, and this time it is Accepted.
    await until(
        lambda: any(a == "TriggerMessage" for a, _ in charger.received_calls), "TriggerMessage sent"
    )
    assert ("TriggerMessage", {"requestedMessage": "BootNotification"}) in charger.received_calls
    assert (await charger.boot())["status"] == "Accepted"
    await hass.async_block_till_done()
    assert entity_state(hass, "binary_sensor", "CP-NEW|offline").state == "off"


def entity_state_missing(hass: HomeAssistant, charger_id: str) -> bool:
    """No entity of this charger exists."""
    return not any(
        entry.unique_id.startswith(f"{charger_id}|")
        for entry in er.async_get(hass).entities.values()
        if entry.platform == DOMAIN
    )


async def test_reconfigure_same_port_other_address(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Changing only the address is not refused because our own server holds the port."""
    port = init_integration.data[CONF_PORT]
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "0.0.0.0", CONF_PORT: port}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.data[CONF_HOST] == "0.0.0.0"


async def test_charger_options_need_a_running_central_system(
    hass: HomeAssistant, config_entry: MockConfigEntry, port: int
) -> None:
    """While the entry waits to retry, the charger options say why they cannot be shown."""
    await set_up_with_port_taken(hass, config_entry, port)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "charger"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"


async def test_billing_options_refuse_amounts_that_are_not_numbers(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A VAT rate or electricity price that is not a number is a form error on that field."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "billing"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_PRICES_INCLUDE_VAT: True, CONF_VAT_PERCENT: "twenty", CONF_ELECTRICITY_PRICE: "x"},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {
        CONF_VAT_PERCENT: "invalid_amount",
        CONF_ELECTRICITY_PRICE: "invalid_amount",
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_PRICES_INCLUDE_VAT: True, CONF_VAT_PERCENT: "21", CONF_ELECTRICITY_PRICE: "0.25"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_VAT_PERCENT] == "21"


async def test_password_options_need_a_running_central_system(
    hass: HomeAssistant, config_entry: MockConfigEntry, port: int
) -> None:
    """While the entry waits to retry, the password step says why it cannot be shown."""
    await set_up_with_port_taken(hass, config_entry, port)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "not_loaded")


async def test_approval_needs_a_running_central_system(
    hass: HomeAssistant, config_entry: MockConfigEntry, port: int
) -> None:
    """A charger found while the central system was up, approved once it is not: the flow
    says so rather than failing."""
    await set_up_with_port_taken(hass, config_entry, port)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={CONF_CHARGER_ID: "CP-NEW"},
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "not_loaded")


async def test_account_and_charger_take_a_tariff(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """An account (a resident) and a charger can each be given their own tariff."""
    tariff_id = await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_ACCOUNT), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Unit 4", CONF_TARIFF: tariff_id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    [account] = init_integration.get_subentries_of_type(SUBENTRY_ACCOUNT)
    assert dict(account.data) == {CONF_NAME: "Unit 4", CONF_TARIFF: tariff_id}

    await make_charger("CP-1")
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "charger"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "CP-1"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_PING_INTERVAL: 0,
            CONF_START_TRANSACTION_DELAY: 0,
            CONF_LENIENT: False,
            CONF_REPLACE_CONNECTION: False,
            CONF_TARIFF: tariff_id,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_CHARGERS]["CP-1"][CONF_TARIFF] == tariff_id
