"""Crash torture: chargers queue transaction messages and resend them; SIGKILL loses nothing.

The short torture SIGKILLs a real Home Assistant ten times while six chargers charge (the
full run is ``python -m bench.torture --kills 100``). The expected values come from the
chargers' own account of what they metered and the price, never from the ledger or the
integration's pricing. The first tests check that account's sender: the simulator's queue
against the real integration in this process.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.torture import TortureSettings, torture
from bench.torture_oracle import expected_cost
from custom_components.ev_charging.ledger import Ledger
from simulator.charger import SimulatedCharger
from simulator.offline_queue import TRANSACTION_ACTIONS, TransactionQueue

from .conftest import ChargerFactory
from .helpers import until

pytestmark = pytest.mark.torture

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


@pytest.fixture
async def queued(
    init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> AsyncIterator[tuple[SimulatedCharger, TransactionQueue]]:
    """A booted charger whose transaction messages go through its queue."""
    charger = await make_charger("CP-Q")
    queue = TransactionQueue(charger, answer_timeout=10)
    queue.booted()
    delivering = asyncio.create_task(queue.run())
    yield charger, queue
    delivering.cancel()
    await asyncio.gather(delivering, return_exceptions=True)


def ledger_of(hass: HomeAssistant) -> Ledger:
    [entry] = hass.config_entries.async_entries("ev_charging")
    ledger: Ledger = entry.runtime_data.central.ledger
    return ledger


def sent_calls(charger: SimulatedCharger) -> list[tuple[str, dict[str, object]]]:
    calls = [frame.parsed for frame in charger.frames if frame.direction == "sent"]
    return [(c[2], c[3]) for c in calls if isinstance(c, list) and c[0] == 2]


async def test_offline_session_is_sent_in_order_after_the_reconnection(
    hass: HomeAssistant, queued: tuple[SimulatedCharger, TransactionQueue]
) -> None:
    """Metered while offline: nothing sent then; after the boot, start, reading and stop in
    that order, the reading and the stop with the id the start was answered with."""
    charger, queue = queued
    await charger.close()
    session = queue.start(1, "TAG", 10_000, T0)
    queue.meter_values(session, 10_100, 6_000.0, T0 + timedelta(minutes=1))
    queue.stop(session, 10_200, T0 + timedelta(minutes=2))
    with pytest.raises(ConnectionError):
        await charger.status(1, "Available")  # not a transaction message: not queued
    await asyncio.sleep(0)
    assert len(queue) == 3
    assert session.placeholder_id < 0

    before = len(sent_calls(charger))
    await charger.connect()
    await charger.boot()
    queue.booted()
    await until(lambda: len(queue) == 0, "the queue delivered")

    transaction_id = session.transaction_id
    assert transaction_id is not None
    assert transaction_id > 0
    after = [(a, p) for a, p in sent_calls(charger)[before:] if a in TRANSACTION_ACTIONS]
    assert [a for a, _ in after] == ["StartTransaction", "MeterValues", "StopTransaction"]
    assert after[1][1]["transactionId"] == after[2][1]["transactionId"] == transaction_id
    assert session.stop_answered
    ledger = ledger_of(hass)
    [stored] = await ledger.load_transactions("CP-Q")
    assert stored.transaction_id == transaction_id
    assert (stored.meter_start_wh, stored.meter_stop_wh) == (10_000, 10_200)
    readings = await ledger.load_meter_readings(transaction_id)
    assert [r.energy_wh for r in readings] == [10_100]


async def test_a_start_whose_answer_was_lost_is_sent_again_and_stored_once(
    hass: HomeAssistant, queued: tuple[SimulatedCharger, TransactionQueue]
) -> None:
    """The connection dies after the StartTransaction left and before its answer was read:
    the charger sends it again after the reconnection; one transaction, its id answered."""
    charger, queue = queued

    def stop_reading(raw: str) -> None:
        if json.loads(raw)[2] == "StartTransaction" and charger.on_frame_sent is not None:
            charger.on_frame_sent = None
            charger.go_half_open()  # the answer arrives, but is never read

    charger.on_frame_sent = stop_reading
    session = queue.start(1, "TAG", 20_000, T0)
    [entry] = hass.config_entries.async_entries("ev_charging")
    state = entry.runtime_data.central.chargers["CP-Q"]
    await until(
        lambda: 1 in state.connectors and state.connectors[1].transaction is not None,
        "the start stored",
    )
    await charger.close()
    assert session.transaction_id is None

    await charger.connect()
    await charger.boot()
    queue.booted()
    await until(lambda: len(queue) == 0, "the queue delivered")

    ledger = ledger_of(hass)
    frames = [f for f in await ledger.load_frames("CP-Q") if f["action"] == "StartTransaction"]
    assert len(frames) == 2  # both kept raw
    assert frames[0]["message_id"] != frames[1]["message_id"]
    [stored] = await ledger.load_transactions("CP-Q")
    assert session.transaction_id == stored.transaction_id
    assert queue.resent == 1


def test_expected_cost_rounds_half_up_to_the_cent() -> None:
    """The oracle's own rounding: 0.2975 EUR/kWh x 200 Wh = 0.0595 -> 0.06; 1 Wh -> 0.00."""
    price = Decimal("0.2975")
    assert expected_cost(200, price) == Decimal("0.06")
    assert expected_cost(1, price) == Decimal("0.00")
    assert expected_cost(16_000, price) == Decimal("4.76")  # exactly 4.7600
    assert expected_cost(1_680, price) == Decimal("0.50")  # 0.4998 up
    assert expected_cost(3_000, Decimal("0.0035")) == Decimal("0.01")  # 0.0105 half-up


async def test_ten_kills_lose_nothing_and_bill_exactly(
    tmp_path: Path, socket_enabled: None
) -> None:
    """Every session, reading and stop the chargers sent is in the ledger once; every bill
    is the energy times the price."""
    result = await torture(
        TortureSettings(
            kills=10,
            chargers=6,
            seed=16,
            # Mostly right after a message left or an answer came: the moments that matter.
            weights=(1, 4, 4, 1),
            pace=(0.05, 0.2),
            up=(0.2, 1.2),
            down=(0.0, 0.3),
            config_dir=tmp_path,
        )
    )
    verdict = result.verdict
    report = "\n".join(result.lines() + verdict.problems)
    assert sum(result.kills.values()) == 10
    assert verdict.sessions > 0, report
    assert verdict.readings > 0, report
    assert verdict.lost == 0, report
    assert verdict.duplicated == 0, report
    assert verdict.bills_equal == verdict.sessions, report
    assert not verdict.problems, report
