"""Each row of the OCPP 1.6 error table, over a real websocket; the connection survives all."""

import json
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.official_schemas import frame_problems
from custom_components.ev_charging.const import (
    CONF_CHARGERS,
    CONF_LENIENT,
    CONF_PING_INTERVAL,
    CONF_START_TRANSACTION_DELAY,
)
from custom_components.ev_charging.diagnostics import async_get_config_entry_diagnostics

from .conftest import ChargerFactory
from .helpers import entity_state

STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param([2, "m1", "Heartbeat"], "FormationViolation", id="call-without-payload"),
        pytest.param([2, "m2", "Heartbeat", []], "FormationViolation", id="payload-not-object"),
        pytest.param([9, "m3", "Heartbeat", {}], "FormationViolation", id="unknown-message-type"),
        pytest.param([2, "m4", 42, {}], "FormationViolation", id="action-not-text"),
        pytest.param([2, 5, "Heartbeat", {}], "FormationViolation", id="message-id-not-text"),
        pytest.param([2, "m5", "FlyToTheMoon", {}], "NotImplemented", id="unknown-action"),
        pytest.param([2, "m6", "Reset", {"type": "Soft"}], "NotSupported", id="unhandled-action"),
        pytest.param(
            [2, "m7", "StatusNotification", {"connectorId": 1, "errorCode": "NoError"}],
            "OccurenceConstraintViolation",
            id="required-field-missing",
        ),
        pytest.param(
            [2, "m8", "StatusNotification", {**STATUS, "connectorId": "one"}],
            "TypeConstraintViolation",
            id="wrong-type",
        ),
        pytest.param(
            [2, "m9", "StatusNotification", {**STATUS, "status": "Sleeping"}],
            "PropertyConstraintViolation",
            id="enum-value-not-allowed",
        ),
        pytest.param(
            [2, "m10", "Authorize", {"idTag": "X" * 21}],
            "PropertyConstraintViolation",
            id="too-long",
        ),
        pytest.param(
            [2, "m11", "StatusNotification", {**STATUS, "timestamp": "yesterday"}],
            "PropertyConstraintViolation",
            id="not-a-date",
        ),
        pytest.param(
            [2, "m12", "Heartbeat", {"battery": 3}], "FormationViolation", id="extra-field"
        ),
        pytest.param(
            [2, "m14", "StatusNotification", {**STATUS, "connectorId": -1}],
            "PropertyConstraintViolation",
            id="negative-connector",
        ),
        pytest.param(
            [2, "m13", "StatusNotification", {**STATUS, "status": "charging"}],
            "PropertyConstraintViolation",
            id="wrong-case-enum-strict",
        ),
    ],
)
async def test_call_errors(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    frame: list[Any],
    code: str,
) -> None:
    """A frame with a readable id that breaks a rule gets the 1.6 CallError, and life goes on."""
    charger = await make_charger("CP-1")
    reply = await charger.call_raw(frame)
    assert reply[0] == 4
    assert reply[1] == frame[1]
    assert reply[2] == code
    assert isinstance(reply[3], str)
    assert isinstance(reply[4], dict)
    charger.frames.clear()  # the malformed frame and its error are not schema material
    assert (await charger.heartbeat())["currentTime"]


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 60_000,  # deeper than json can read, within the frame size limit
        "this is not json",
        '{"messageTypeId": 2}',
        "[]",
        "[2]",
        '"text"',
        '[2, null, "Heartbeat", {}]',
    ],
)
async def test_unreadable_frames_are_counted_not_answered(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory, raw: str
) -> None:
    """Without a message id no answer is possible: logged, counted, connection kept."""
    charger = await make_charger("CP-1")
    charger.frames.clear()
    await charger.send_raw(raw)
    # The heartbeat's answer is the first reply: nothing was sent back for the bad frame.
    assert (await charger.heartbeat())["currentTime"]
    replies = [f for f in charger.frames if f.direction == "received"]
    assert len(replies) == 1
    charger.frames.clear()
    diagnostics = await async_get_config_entry_diagnostics(hass, init_integration)
    assert diagnostics["chargers"]["CP-1"]["unreadable_frames"] == 1


async def test_handler_bug_is_internal_error(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in our handler answers InternalError, is logged, and the connection survives."""
    charger = await make_charger("CP-1")
    central = init_integration.runtime_data.central

    def broken(*args: Any) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(central, "heartbeat", broken)
    reply = await charger.call_raw([2, "bug-1", "Heartbeat", {}])
    assert reply[:3] == [4, "bug-1", "InternalError"]
    assert "ZeroDivisionError" in caplog.text
    monkeypatch.undo()
    charger.frames.clear()
    assert (await charger.heartbeat())["currentTime"]


async def test_rejected_transaction_message_is_kept_raw(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A StopTransaction we must refuse is on disk before the charger hears the error."""
    charger = await make_charger("CP-1")
    bad_stop = [
        2,
        "stop-1",
        "StopTransaction",
        {"transactionId": 7, "timestamp": "2026-11-25T18:00:00Z"},
    ]
    reply = await charger.call_raw(bad_stop)
    assert reply[2] == "OccurenceConstraintViolation"
    charger.frames.clear()
    frames = await init_integration.runtime_data.ledger.load_frames("CP-1")
    assert [(f["action"], f["message_id"], f["outcome"]) for f in frames] == [
        ("StopTransaction", "stop-1", "OccurenceConstraintViolation")
    ]
    assert json.loads(frames[0]["frame"]) == bad_stop


async def test_lenient_charger_accepts_harmless_deviations(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the lenient quirk, extra fields and wrong-case enums pass with a warning."""
    hass.config_entries.async_update_entry(
        init_integration,
        options={
            **init_integration.options,
            CONF_CHARGERS: {
                "CP-1": {CONF_PING_INTERVAL: 0, CONF_START_TRANSACTION_DELAY: 0, CONF_LENIENT: True}
            },
        },
    )
    await hass.async_block_till_done()
    charger = await make_charger("CP-1")
    frame = [2, "l1", "StatusNotification", {**STATUS, "status": "charging", "vendorField": 1}]
    reply = await charger.call_raw(frame)
    assert reply == [3, "l1", {}]
    charger.frames.clear()
    await hass.async_block_till_done()
    assert entity_state(hass, "sensor", "CP-1|1|status").state == "charging"
    assert "accepted StatusNotification leniently" in caplog.text
    assert er.async_get(hass).async_get_entity_id("sensor", "ev_charging", "CP-1|1|power")


async def test_unstored_transaction_message_is_not_answered(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If the ledger cannot store a StartTransaction, silence makes the charger retry it."""
    charger = await make_charger("CP-1")
    await init_integration.runtime_data.ledger.close()
    start = [
        2,
        "s1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-11-25T18:00:00Z"},
    ]
    with pytest.raises(TimeoutError):
        await charger.call_raw(start, timeout=0.3)
    assert "frame not handled" in caplog.text
    charger.frames.clear()
    assert (await charger.heartbeat())["currentTime"]


def test_the_schema_oracle_fails_on_a_bad_frame() -> None:
    """The check every test's frames go through catches what it must: a CALL against its
    schema, an answer against its Response schema, and a frame that is no OCPP at all."""
    good = [
        ("sent", '[2,"1","Heartbeat",{}]'),
        ("received", '[3,"1",{"currentTime":"2026-12-02T12:00:00+00:00"}]'),
    ]
    assert frame_problems(good) == []
    assert frame_problems([("sent", '[2,"1","Authorize",{}]')])  # idTag missing
    assert frame_problems(
        [("sent", '[2,"1","Heartbeat",{}]'), ("received", '[3,"1",{"currentTime":"noon"}]')]
    )
    assert frame_problems([("received", '[3,"x"]')])
    assert frame_problems([("received", '[4,"1","NoSuchCode","",{}]')])
