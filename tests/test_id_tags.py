"""ID tags managed in Home Assistant: who may charge where, and the chargers' local lists."""

from datetime import timedelta
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.const import (
    CONF_ALLOWED_CHARGERS,
    CONF_BLOCKED,
    CONF_CHARGER_ID,
    CONF_EXPIRES,
    CONF_FREE_CHARGING,
    CONF_ID_TAG,
    CONF_LENIENT,
    CONF_PARENT_ID_TAG,
    CONF_PING_INTERVAL,
    CONF_REMOTE_ID_TAG,
    CONF_START_TRANSACTION_DELAY,
    CONF_UNKNOWN_TAGS,
    DOMAIN,
    SUBENTRY_ID_TAG,
)
from simulator import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import until


async def set_tag(hass: HomeAssistant, id_tag: str, **fields: Any) -> None:
    """Add or change a tag through the service action, and let the change apply."""
    await hass.services.async_call(
        DOMAIN, "set_id_tag", {CONF_ID_TAG: id_tag, **fields}, blocking=True
    )
    await hass.async_block_till_done()


def sent_lists(charger: SimulatedCharger) -> list[dict[str, Any]]:
    """The SendLocalList requests a simulated charger received."""
    return [payload for action, payload in charger.received_calls if action == "SendLocalList"]


async def synced(entry: MockConfigEntry, charger_id: str, version: int) -> None:
    """Wait until a charger holds (and the ledger recorded) this list version."""
    state = entry.runtime_data.central.chargers[charger_id]
    await until(lambda: state.local_list_version == version, f"{charger_id} list v{version}")


async def test_tag_added_and_edited_in_the_ui(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A tag is a subentry: added with every field, refused when invalid or taken, edited."""
    await make_charger("CP-1", owner_approved=True)
    entry = init_integration
    user = await hass.auth.async_create_user("Anna")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ID_TAG), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    card = {
        CONF_ID_TAG: "Card-1",
        CONF_NAME: "Anna's car",
        "user_id": user.id,
        CONF_EXPIRES: "2027-01-01 00:00:00",  # local time of the Home Assistant instance
        CONF_BLOCKED: False,
        CONF_PARENT_ID_TAG: "UNIT-4",
        CONF_ALLOWED_CHARGERS: ["CP-1"],
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], card)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    [subentry] = entry.get_subentries_of_type(SUBENTRY_ID_TAG)
    assert subentry.title == "Anna's car (Card-1)"
    assert subentry.unique_id == "card-1"
    expires = dt_util.as_utc(
        dt_util.parse_datetime("2027-01-01 00:00:00").replace(
            tzinfo=dt_util.get_default_time_zone()
        )
    )
    assert dict(subentry.data) == card | {CONF_EXPIRES: expires.isoformat()}
    await hass.async_block_till_done()
    tag = entry.runtime_data.central.settings.tags.find("CARD-1")
    assert tag is not None
    assert (tag.expires, tag.parent, tag.chargers) == (expires, "UNIT-4", {"CP-1"})

    # The same tag in other case, or something that cannot be a tag, is refused.
    for id_tag, error in (("CARD-1", "id_tag_exists"), ("X" * 21, "invalid_id_tag")):
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_ID_TAG), context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_ID_TAG: id_tag, CONF_BLOCKED: False}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_ID_TAG: error}

    # Editing: block the lost card.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ID_TAG),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], card | {CONF_BLOCKED: True}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    tag = entry.runtime_data.central.settings.tags.find("card-1")
    assert tag is not None
    assert tag.blocked


async def test_tags_decide_authorize_and_start_transaction(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Unknown, expired, blocked and not-allowed tags are refused; a valid tag charges."""
    garage = await make_charger("GARAGE", owner_approved=True)
    street = await make_charger("STREET", owner_approved=True)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, "GARAGE"), init_integration.entry_id
    )
    assert device is not None
    await set_tag(hass, "RESIDENT", chargers=[device.id])
    await set_tag(hass, "LOST", blocked=True)
    await set_tag(hass, "OLD", expires=dt_util.utcnow() - timedelta(days=1))

    async def status(charger: SimulatedCharger, id_tag: str) -> str:
        return str((await charger.authorize(id_tag))["idTagInfo"]["status"])

    assert await status(garage, "RESIDENT") == "Accepted"
    assert await status(garage, "resident") == "Accepted"
    # StartTransaction answers from the list too; a refused session is still recorded (the
    # charger ends it), so nothing it reports is lost.
    ledger = init_integration.runtime_data.ledger
    for charger, id_tag, expected in (
        (street, "RESIDENT", "Invalid"),
        (garage, "LOST", "Blocked"),
        (garage, "OLD", "Expired"),
        (garage, "STRANGER", "Invalid"),
    ):
        assert await status(charger, id_tag) == expected
        started = await charger.start_transaction(1, id_tag, meter_start=0)
        assert started["idTagInfo"]["status"] == expected, id_tag
        recorded = await ledger.load_transactions(charger.config.charger_id)
        assert started["transactionId"] in [t.transaction_id for t in recorded]
        await charger.stop_transaction(started["transactionId"], meter_stop=0)

    # The simulator stops at the refusal, as chargers do; the resident charges.
    with pytest.raises(PermissionError, match="Blocked"):
        await garage.run_session(1, "LOST", meter_values=1, sleep=_no_wait)
    transaction_id = await garage.run_session(1, "RESIDENT", meter_values=2, sleep=_no_wait)
    [*_, done] = await ledger.load_transactions("GARAGE")
    assert (done.transaction_id, done.id_tag, done.stopped_at is not None) == (
        transaction_id,
        "RESIDENT",
        True,
    )

    # The owner may let unknown tags charge; blocked ones stay refused.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "heartbeat_interval": 60,
            "auto_accept": False,
            "meter_value_interval": 60,
            CONF_REMOTE_ID_TAG: init_integration.options[CONF_REMOTE_ID_TAG],
            CONF_UNKNOWN_TAGS: "accept",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert await status(garage, "STRANGER") == "Accepted"
    assert await status(garage, "LOST") == "Blocked"


async def _no_wait(seconds: float) -> None:
    """A session's pauses, skipped."""


async def test_local_list_follows_the_tags(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Full list at boot, then differential updates with rising versions; kept over restarts."""
    await set_tag(hass, "A")
    await set_tag(hass, "B")
    charger = await make_charger("CP-1", owner_approved=True)
    await synced(init_integration, "CP-1", 1)
    assert ("GetLocalListVersion", {}) in charger.received_calls
    [full] = sent_lists(charger)
    assert (full["updateType"], full["listVersion"]) == ("Full", 1)
    assert set(charger.local_list) == {"a", "b"}

    await set_tag(hass, "C", parent_id_tag="A")
    await synced(init_integration, "CP-1", 2)
    assert sent_lists(charger)[-1] == {
        "listVersion": 2,
        "updateType": "Differential",
        "localAuthorizationList": [
            {"idTag": "C", "idTagInfo": {"status": "Accepted", "parentIdTag": "A"}}
        ],
    }
    await set_tag(hass, "A", blocked=True)
    await synced(init_integration, "CP-1", 3)
    await hass.services.async_call(DOMAIN, "remove_id_tag", {CONF_ID_TAG: "b"}, blocking=True)
    await synced(init_integration, "CP-1", 4)
    assert sent_lists(charger)[-1]["localAuthorizationList"] == [{"idTag": "B"}]
    assert charger.local_list == {
        "a": ("A", {"status": "Blocked"}),
        # A blocked parent holds back the tags under it, offline too.
        "c": ("C", {"status": "Blocked", "parentIdTag": "A"}),
    }

    # While the charger cannot reach Home Assistant, it authorizes from that list.
    await charger.close()
    assert (await charger.authorize("a"))["idTagInfo"]["status"] == "Blocked"
    assert (await charger.authorize("STRANGER"))["idTagInfo"]["status"] == "Invalid"

    # After a restart the ledger knows the charger is in step: nothing is sent again.
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    sent_before = len(sent_lists(charger))
    await charger.connect()
    await until(
        lambda: (
            init_integration.runtime_data.central.chargers["CP-1"].local_list_status is not None
        ),
        "list checked after the reconnect",
    )
    assert len(sent_lists(charger)) == sent_before

    # A charger that lost its list (reset to factory settings) gets it whole again.
    charger.local_list, charger.local_list_version = {}, 0
    await charger.boot()
    await synced(init_integration, "CP-1", 5)
    assert sent_lists(charger)[-1]["updateType"] == "Full"
    assert set(charger.local_list) == {"a", "c"}


async def test_local_list_in_parts_and_offline_charging(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger taking two tags a message gets three in two parts; offline it accepts them."""
    for id_tag in ("R1", "R2", "R3"):
        await set_tag(hass, id_tag)
    charger = await make_charger("CP-1", boot=False, owner_approved=True)
    charger.configuration["SendLocalListMaxLength"] = "2"
    await charger.boot()
    await synced(init_integration, "CP-1", 2)
    assert [(p["updateType"], len(p["localAuthorizationList"])) for p in sent_lists(charger)] == [
        ("Full", 2),
        ("Differential", 1),
    ]
    await charger.close()
    for id_tag in ("R1", "R2", "R3"):
        assert (await charger.authorize(id_tag))["idTagInfo"]["status"] == "Accepted"


@pytest.mark.parametrize(
    ("answer", "status"),
    [({"listVersion": -1}, "NotSupported"), (OcppNotImplementedError(), "command_not_supported")],
)
async def test_charger_without_local_list(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    answer: Any,
    status: str,
) -> None:
    """A charger without a local list is left alone; charging still works online."""
    await set_tag(hass, "A")
    charger = await make_charger("CP-1", boot=False, owner_approved=True)
    charger.answers["GetLocalListVersion"] = answer
    await charger.boot()
    state = init_integration.runtime_data.central.chargers["CP-1"]
    await until(lambda: state.local_list_status is not None, "list checked")
    assert state.local_list_status == status
    assert sent_lists(charger) == []
    assert (await charger.authorize("A"))["idTagInfo"]["status"] == "Accepted"


async def test_free_charging_starts_when_a_car_is_plugged_in(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """On a free-charging charger any tag is accepted and plugging in starts a session."""
    charger = await make_charger("HOME", owner_approved=True)
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "charger"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "HOME"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_PING_INTERVAL: 0,
            CONF_START_TRANSACTION_DELAY: 0,
            CONF_LENIENT: False,
            CONF_FREE_CHARGING: True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert (await charger.authorize("ANYONE"))["idTagInfo"]["status"] == "Accepted"

    await charger.status(1, "Preparing")
    await until(lambda: 1 in charger.transactions, "a session started by plugging in")
    remote_tag = init_integration.options[CONF_REMOTE_ID_TAG]
    assert ("RemoteStartTransaction", {"connectorId": 1, "idTag": remote_tag}) in (
        charger.received_calls
    )
    ledger = init_integration.runtime_data.ledger
    await until(lambda: charger.connector_status.get(1) == "Charging", "charging")
    [transaction] = await ledger.load_transactions("HOME")
    assert transaction.id_tag == remote_tag
    # Only one start was asked for, though the charger reported Preparing twice.
    starts = [a for a, _ in charger.received_calls if a == "RemoteStartTransaction"]
    assert len(starts) == 1


async def test_tags_by_service(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """set_id_tag changes only the given fields; list_id_tags says each tag's status now."""
    await set_tag(hass, "A", name="Unit 1", expires=dt_util.utcnow() + timedelta(days=1))
    await set_tag(hass, "a", blocked=True)  # the same tag: case does not matter
    await set_tag(hass, "B", expires=dt_util.utcnow() - timedelta(days=1))
    answer = await hass.services.async_call(
        DOMAIN, "list_id_tags", {}, blocking=True, return_response=True
    )
    assert answer is not None
    tags = answer["id_tags"]
    assert [(t[CONF_ID_TAG], t[CONF_NAME], t["status"]) for t in tags] == [
        ("a", "Unit 1", "Blocked"),
        ("B", "", "Expired"),
    ]
    with pytest.raises(ServiceValidationError) as err:
        await set_tag(hass, "far-too-long-for-an-id-tag")
    assert err.value.translation_key == "invalid_id_tag"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "remove_id_tag", {CONF_ID_TAG: "NOPE"}, blocking=True
        )
    assert err.value.translation_key == "unknown_id_tag"
    with pytest.raises(ServiceValidationError) as err:
        await set_tag(hass, "C", chargers=["not-a-device"])
    assert err.value.translation_key == "unknown_device"
    with pytest.raises(ServiceValidationError) as err:
        await set_tag(hass, "C", user_id="no-such-user")
    assert err.value.translation_key == "unknown_user"
    user = await hass.auth.async_create_user("Resident")
    await set_tag(hass, "C", user_id=user.id)
    [subentry] = [s for s in init_integration.subentries.values() if s.unique_id == "c"]
    assert subentry.data["user_id"] == user.id
