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

from custom_components.ev_charging.ledger import Ledger
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


# The table each transaction message's own write goes to.
WRITES = {
    "StartTransaction": "transactions",
    "MeterValues": "meter_readings",
    "StopTransaction": "transactions",
}


def payload_of(action: str, transaction_id: int) -> dict[str, object]:
    """A transaction message for the running session (a new one on connector 2 for a start).

    The MeterValues carries power only: no other write of its handler could stand in for the
    readings' own."""
    now = dt_util.utcnow().isoformat()
    return {
        "StartTransaction": {"connectorId": 2, "idTag": "T", "meterStart": 0, "timestamp": now},
        "MeterValues": {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": now,
                    "sampledValue": [{"value": "7000", "measurand": "Power.Active.Import"}],
                }
            ],
        },
        "StopTransaction": {"transactionId": transaction_id, "meterStop": 900, "timestamp": now},
    }[action]


async def charging(
    hass: HomeAssistant, make_charger: ChargerFactory
) -> tuple[SimulatedCharger, SimulatedCharger, int]:
    """A charger with a session running on connector 1, another charger, and the session's id."""
    await hass.services.async_call("ev_charging", "set_id_tag", {"id_tag": "T"}, blocking=True)
    charger = await make_charger("CP-1")
    other = await make_charger("CP-2")
    started = dt_util.utcnow() - timedelta(hours=1)
    answer = await charger.start_transaction(1, "T", meter_start=0, timestamp=started)
    return charger, other, answer["transactionId"]


@pytest.mark.parametrize("action", list(WRITES))
async def test_no_answer_leaves_before_its_commit(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    action: str,
) -> None:
    """With the commit of the message's own write held, the message gets no answer;
    released, the answer comes. One operation a commit, so the raw frame's commit (which
    goes first) cannot stand in for it."""
    charger, other, transaction_id = await charging(hass, make_charger)
    ledger = init_integration.runtime_data.ledger
    ledger.group_limit = 1
    ledger.hold_commits(touching=WRITES[action])
    try:
        await charger.send_raw(json.dumps([2, "held", action, payload_of(action, transaction_id)]))
        await until(ledger.commit_waiting.is_set, "a commit waiting")
        await settled(other)  # heartbeats need no ledger: they are answered meanwhile
        assert not replied(charger, "held")
    finally:
        ledger.release_commits()
    await until(lambda: replied(charger, "held"), "the answer after the commit")
    assert await stored(ledger, action, transaction_id) == 1


async def stored(ledger: Ledger, action: str, transaction_id: int) -> int:
    """How many times what the message wrote is in the ledger (read through the writer)."""
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
    return count


@pytest.mark.parametrize(
    ("action", "failing"),
    [(action, table) for action, table in WRITES.items()]
    + [(action, "raw_frames") for action in WRITES],
)
async def test_a_failed_commit_means_no_answer_and_the_retry_is_stored_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    action: str,
    failing: str,
) -> None:
    """Disk full at the commit of the message's own write, or of its raw frame: no answer
    (a CallError would make the charger give the message up); the charger sends it again
    and is answered; stored once, not twice."""
    charger, other, transaction_id = await charging(hass, make_charger)
    ledger = init_integration.runtime_data.ledger
    ledger.group_limit = 1
    frame = json.dumps([2, "retried", action, payload_of(action, transaction_id)])
    ledger.fail_next_commit(sqlite3.OperationalError("database or disk is full"), failing)
    await charger.send_raw(frame)
    await until(lambda: not ledger.failure_pending, "the commit failing")
    await settled(other)
    assert not replied(charger, "retried")
    answer = await charger.call_raw(frame)  # the charger's retry, same message
    assert answer[0] == 3
    assert await stored(ledger, action, transaction_id) == 1
    charger.frames.clear()  # the unanswered first attempt is not schema material


@pytest.mark.parametrize("action", list(WRITES))
async def test_a_failed_statement_means_no_answer_and_the_retry_is_stored_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    action: str,
) -> None:
    """The disk failing on the write itself, before any COMMIT: the same as a failed commit
    (an InternalError would make the charger give the message up)."""
    charger, other, transaction_id = await charging(hass, make_charger)
    ledger = init_integration.runtime_data.ledger
    frame = json.dumps([2, "refused", action, payload_of(action, transaction_id)])
    ledger.fail_next_write(WRITES[action])
    await charger.send_raw(frame)
    await until(lambda: not ledger.failure_pending, "the write failing")
    await settled(other)
    assert not replied(charger, "refused")
    answer = await charger.call_raw(frame)
    assert answer[0] == 3
    assert await stored(ledger, action, transaction_id) == 1
    charger.frames.clear()
