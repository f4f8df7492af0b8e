"""Write before answer, proven (issue 16, item 1): no CALLRESULT to a transaction message
leaves while its commit is pending, it leaves right after; a commit that fails means no
answer, and the charger's retry is answered once the ledger works again, stored once."""

import json
import sqlite3
from datetime import timedelta

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulator.charger import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import until


def replied(charger: SimulatedCharger, message_id: str) -> bool:
    """Whether the central system answered this message id."""
    return any(
        frame.direction == "received"
        and isinstance(frame.parsed, list)
        and frame.parsed[0] in (3, 4)
        and frame.parsed[1] == message_id
        for frame in charger.frames
    )


async def settled(other: SimulatedCharger) -> None:
    """Round trips on another connection: by then the event loop has run the first
    connection's handler as far as it can go (a handler that answered early would have)."""
    for _ in range(5):
        await other.heartbeat()


async def test_the_ledger_commits_durably(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """WAL and synchronous=FULL on the connection the writer really uses."""
    ledger = init_integration.runtime_data.ledger
    assert await ledger.submit(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    assert await ledger.submit(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2


@pytest.mark.parametrize("action", ["StartTransaction", "MeterValues", "StopTransaction"])
async def test_no_answer_leaves_before_its_commit(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    action: str,
) -> None:
    """With the ledger's commits held, the transaction message gets no answer; released,
    the answer comes. (The MeterValues carries power only: no other write of its handler
    could stand in for the readings' own.)"""
    await hass.services.async_call("ev_charging", "set_id_tag", {"id_tag": "T"}, blocking=True)
    charger = await make_charger("CP-1")
    other = await make_charger("CP-2")
    now = dt_util.utcnow()
    transaction_id = (
        await charger.start_transaction(1, "T", meter_start=0, timestamp=now - timedelta(hours=1))
    )["transactionId"]
    payload = {
        "StartTransaction": {
            "connectorId": 2,
            "idTag": "T",
            "meterStart": 0,
            "timestamp": now.isoformat(),
        },
        "MeterValues": {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": now.isoformat(),
                    "sampledValue": [{"value": "7000", "measurand": "Power.Active.Import"}],
                }
            ],
        },
        "StopTransaction": {
            "transactionId": transaction_id,
            "meterStop": 900,
            "timestamp": now.isoformat(),
        },
    }[action]
    ledger = init_integration.runtime_data.ledger
    ledger.hold_commits()
    try:
        await charger.send_raw(json.dumps([2, "held", action, payload]))
        await until(ledger.commit_waiting.is_set, "a commit waiting")
        await settled(other)  # heartbeats need no ledger: they are answered meanwhile
        assert not replied(charger, "held")
    finally:
        ledger.release_commits()
    await until(lambda: replied(charger, "held"), "the answer after the commit")
    assert await _was_committed(ledger, action, transaction_id)


async def _was_committed(ledger: object, action: str, transaction_id: int) -> bool:
    """What the message wrote is in the ledger (read through the same writer)."""
    assert hasattr(ledger, "submit")
    query = {
        "StartTransaction": ("SELECT COUNT(*) FROM transactions WHERE connector_id = 2", ()),
        "MeterValues": (
            "SELECT COUNT(*) FROM meter_readings WHERE transaction_id = ?"
            " AND CAST(power_w AS REAL) = 7000",
            (transaction_id,),
        ),
        "StopTransaction": (
            "SELECT COUNT(*) FROM transactions WHERE transaction_id = ? AND meter_stop_wh = 900",
            (transaction_id,),
        ),
    }[action]
    count: int = await ledger.submit(lambda c: c.execute(*query).fetchone()[0])
    return count == 1


async def test_a_failed_commit_means_no_answer_and_the_retry_is_stored_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Disk full at the commit: no answer (a CallError would make the charger give the
    message up); the charger sends it again and is answered; one transaction, not two."""
    await hass.services.async_call("ev_charging", "set_id_tag", {"id_tag": "T"}, blocking=True)
    charger = await make_charger("CP-1")
    other = await make_charger("CP-2")
    ledger = init_integration.runtime_data.ledger
    frame = json.dumps(
        [
            2,
            "start-1",
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "T",
                "meterStart": 0,
                "timestamp": dt_util.utcnow().isoformat(),
            },
        ]
    )
    ledger.fail_next_commit(sqlite3.OperationalError("database or disk is full"))
    await charger.send_raw(frame)
    await settled(other)
    assert not replied(charger, "start-1")
    answer = await charger.call_raw(frame)  # the charger's retry, same message
    assert answer[0] == 3
    count = await ledger.submit(
        lambda c: c.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
    )
    assert count == 1
    charger.frames.clear()  # the unanswered first attempt is not schema material
