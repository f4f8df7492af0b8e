"""The kiosk's narrow API: its own key made in the options, and what that key opens."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from ocpp.exceptions import NotSupportedError
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ev_charging.const import (
    CONF_IDLE_FEE,
    CONF_IDLE_GRACE,
    CONF_KIOSK_KEY_HASH,
    CONF_PRICE_PER_KWH,
    CONF_REMOVE_KIOSK_KEY,
    CONF_SESSION_FEE,
)
from custom_components.ev_charging.csms.security import password_matches
from custom_components.ev_charging.diagnostics import async_get_config_entry_diagnostics

from .conftest import ChargerFactory
from .helpers import WAIT_SECONDS, new_key, until, wall_clock
from .test_billing import add_tariff, set_vat

API = "/api/ev_charging/kiosk/v1"


async def test_key_is_shown_once_and_kept_hashed(
    hass: HomeAssistant, kiosk_entry: MockConfigEntry
) -> None:
    """The options keep only a salted hash; a new key replaces the old; it can be removed."""
    key = await new_key(hass, kiosk_entry)
    stored = kiosk_entry.options[CONF_KIOSK_KEY_HASH]
    assert key.startswith("evk_")
    assert len(key) > 40
    assert key not in str(kiosk_entry.options)
    assert password_matches(key, stored)
    diagnostics = await async_get_config_entry_diagnostics(hass, kiosk_entry)
    assert diagnostics["kiosk"] == {"key_set": True, "guest_sessions": {}}
    assert stored not in str(diagnostics)
    second = await new_key(hass, kiosk_entry)
    assert not password_matches(key, kiosk_entry.options[CONF_KIOSK_KEY_HASH])
    assert password_matches(second, kiosk_entry.options[CONF_KIOSK_KEY_HASH])
    result = await hass.config_entries.options.async_init(kiosk_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "kiosk_key"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_REMOVE_KIOSK_KEY: True}
    )
    assert CONF_KIOSK_KEY_HASH not in kiosk_entry.options


async def test_only_the_key_opens_the_api_and_nothing_else(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No key, a wrong key, or no key configured: 401; the key is no Home Assistant token."""
    assert await async_setup_component(hass, "api", {})
    client = await hass_client_no_auth()
    response = await client.get(f"{API}/connectors", headers={"Authorization": "Bearer evk_x"})
    assert response.status == 401  # no key configured yet
    key = await new_key(hass, kiosk_entry)
    for headers in ({}, {"Authorization": "Bearer evk_wrong"}, {"Authorization": key}):
        response = await client.get(f"{API}/connectors", headers=headers)
        assert response.status == 401
        assert await response.json() == {"error": "unauthorized"}
    assert "Kiosk API: refused a request" in caplog.text
    good = {"Authorization": f"Bearer {key}"}
    assert (await client.get(f"{API}/connectors", headers=good)).status == 200
    # The key opens nothing of Home Assistant itself.
    assert (await client.get("/api/states", headers=good)).status == 401
    assert (await client.get("/api/config", headers=good)).status == 401


async def test_connectors_with_their_state_and_guest_price(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """What the kiosk's pages show: each connector's state and the full price, exact."""
    await set_vat(hass, kiosk_entry, True, "21")
    await add_tariff(
        hass,
        kiosk_entry,
        **{
            CONF_PRICE_PER_KWH: "0.45",
            CONF_SESSION_FEE: "1.00",
            CONF_IDLE_FEE: "0.10",
            CONF_IDLE_GRACE: 15,
        },
    )
    key = await new_key(hass, kiosk_entry)
    client = await hass_client_no_auth()
    headers = {"Authorization": f"Bearer {key}"}

    async def connectors() -> list[dict[str, Any]]:
        response = await client.get(f"{API}/connectors", headers=headers)
        assert response.status == 200
        return list((await response.json())["connectors"])

    garage = await make_charger("GARAGE", connectors=2, owner_approved=True)
    await garage.status(1, "Available")
    await garage.status(2, "Available")
    street = await make_charger("STREET", owner_approved=True)
    await street.status(1, "Available")
    await hass.async_block_till_done()
    listed = await connectors()
    assert [(c["charger_id"], c["connector_id"], c["state"]) for c in listed] == [
        ("GARAGE", 1, "available"),
        ("GARAGE", 2, "available"),
        ("STREET", 1, "available"),
    ]
    assert listed[0]["price"] == {
        "name": "Residents",
        "currency": hass.config.currency,
        "price_per_kwh": "0.45",
        "price_per_kwh_now": "0.45",
        "session_fee": "1.00",
        "idle_fee_per_minute": "0.10",
        "idle_grace_minutes": "15",
        "time_of_use": [],
        "follows_market_price": False,
        "prices_include_vat": True,
        "vat_percent": "21",
    }

    await garage.status(1, "Charging")
    await garage.fault(2, "GroundFailure")
    await street.close()
    central = kiosk_entry.runtime_data.central
    await until(lambda: not central.chargers["STREET"].connected, "STREET gone")
    await hass.async_block_till_done()
    assert [c["state"] for c in await connectors()] == ["occupied", "faulted", "offline"]

    response = await client.get(f"{API}/connectors/GARAGE/1", headers=headers)
    assert (await response.json())["state"] == "occupied"
    for path in ("GARAGE/3", "GARAGE/0", "NOPE/1", "GARAGE/x"):
        response = await client.get(f"{API}/connectors/{path}", headers=headers)
        assert response.status == 404, path


class Kiosk:
    """The kiosk's side of the API: requests with its key."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The status and the JSON answer."""
        response = await self.client.request(
            method, f"{API}{path}", json=body, headers=self.headers
        )
        return response.status, await response.json()


@pytest.fixture
async def kiosk(
    hass: HomeAssistant, kiosk_entry: MockConfigEntry, hass_client_no_auth: ClientSessionGenerator
) -> Kiosk:
    """The kiosk, holding its key."""
    key = await new_key(hass, kiosk_entry)
    return Kiosk(await hass_client_no_auth(), key)


async def test_hold_with_a_reservation_then_release(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The charger reserves the connector for the guest's one-time tag; a second guest is
    refused; releasing cancels the reservation and the connector is free again."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    status, hold = await kiosk.call(
        "POST", "/holds", {"charger_id": "CP-1", "connector_id": 1, "minutes": 35}
    )
    assert status == 201
    assert (hold["method"], hold["connector_id"]) == ("reservation", 1)
    await charger.idle()
    await hass.async_block_till_done()
    reserve = next(payload for action, payload in charger.received_calls if action == "ReserveNow")
    assert reserve["idTag"].startswith("G")
    assert len(reserve["idTag"]) == 20
    assert charger.reservations[1][1] == reserve["idTag"]
    status, again = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    assert (status, again) == (409, {"error": "not_available", "state": "reserved"})
    assert (await kiosk.call("GET", f"/holds/{hold['hold_id']}"))[0] == 200

    status, _ = await kiosk.call("DELETE", f"/holds/{hold['hold_id']}")
    assert status == 200
    await charger.idle()
    await hass.async_block_till_done()
    assert 1 not in charger.reservations
    assert ("CancelReservation", {"reservationId": reserve["reservationId"]}) in (
        charger.received_calls
    )
    assert (await kiosk.call("GET", "/connectors/CP-1/1"))[1]["state"] == "available"
    assert (await kiosk.call("DELETE", f"/holds/{hold['hold_id']}"))[0] == 404


async def test_hold_without_reservations_is_kept_by_us(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger without the Reservation profile: the hold is ours alone, and still exclusive."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    charger.answers["ReserveNow"] = NotSupportedError(description="no reservations")
    status, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    assert (status, hold["method"]) == (201, "kiosk")
    assert (await kiosk.call("GET", "/connectors/CP-1/1"))[1]["state"] == "reserved"
    status, _ = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    assert status == 409
    assert (await kiosk.call("DELETE", f"/holds/{hold['hold_id']}"))[0] == 200
    assert (await kiosk.call("GET", "/connectors/CP-1/1"))[1]["state"] == "available"


async def test_holds_refused(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Busy, faulted or unknown connectors, bad requests, and a charger that says no."""
    charger = await make_charger("CP-1", connectors=2, owner_approved=True)
    await charger.status(1, "Charging")
    await charger.fault(2, "GroundFailure")
    await hass.async_block_till_done()
    body = {"charger_id": "CP-1", "connector_id": 1}
    await charger.status(1, "Available")
    assert await kiosk.call("POST", "/holds", body) == (409, {"error": "no_tariff"})
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    await charger.status(1, "Charging")
    for connector, state in ((1, "occupied"), (2, "faulted")):
        status, answer = await kiosk.call(
            "POST", "/holds", {"charger_id": "CP-1", "connector_id": connector}
        )
        assert (status, answer) == (409, {"error": "not_available", "state": state})
    assert (await kiosk.call("POST", "/holds", {"charger_id": "X", "connector_id": 1}))[0] == 404
    for body in ({"charger_id": "CP-1"}, {"charger_id": "CP-1", "connector_id": 0}, "junk"):
        assert (await kiosk.call("POST", "/holds", body))[0] == 400
    await charger.status(2, "Available")
    charger.answers["ReserveNow"] = {"status": "Occupied"}
    status, answer = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 2})
    assert (status, answer) == (409, {"error": "not_available", "state": "charger_occupied"})
    assert (await kiosk.call("GET", "/connectors/CP-1/2"))[1]["state"] == "available"


async def test_a_hold_on_a_charger_no_longer_trusted_starts_nothing(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The owner removes a charger while a guest pays at it, and a stranger connects under its
    id (accepted automatically): the paid start is refused, the hold let go, and the stranger
    gets no guest tag."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    await kiosk_entry.runtime_data.central.forget("CP-1")
    await charger.wait_closed()
    stranger = await make_charger("CP-1")
    await stranger.status(1, "Available")
    assert (await kiosk.call("GET", "/connectors"))[1] == {"connectors": []}
    body = {"hold_id": hold["hold_id"], "cap": "20.00", "reference": "p1"}
    assert await kiosk.call("POST", "/sessions", body) == (409, {"error": "not_available"})
    assert (await kiosk.call("GET", f"/holds/{hold['hold_id']}"))[0] == 404
    assert not [a for a, _ in stranger.received_calls if a == "RemoteStartTransaction"]


async def test_two_guests_at_once_get_one_hold(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Two guests paying for one connector at the same moment: one holds it, one is refused."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    body = {"charger_id": "CP-1", "connector_id": 1}
    answers = await asyncio.gather(
        kiosk.call("POST", "/holds", body), kiosk.call("POST", "/holds", body)
    )
    assert sorted(status for status, _ in answers) == [201, 409]
    assert [name for name, _ in charger.received_calls].count("ReserveNow") == 1


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll while the simulator charges in real time (its meter interval is a second here).

    Bounded by wall-clock time, as `until` is.
    """
    give_up = wall_clock() + WAIT_SECONDS
    while not await condition():
        if wall_clock() > give_up:
            raise AssertionError(f"never happened within {WAIT_SECONDS:g} s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Meter values every second, so a paid session reaches its cap in a few seconds."""
    return {"heartbeat_interval": 60, "auto_accept": True, "meter_value_interval": 1}


async def test_paid_session_is_stopped_at_its_cap(
    hass: HomeAssistant,
    kiosk: Kiosk,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
) -> None:
    """Hold, pay, charge: the integration stops the session before its cost passes the cap;
    the bill is on the Guests account with the payment's reference; the tag was one-time."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "100.00"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    status, session = await kiosk.call(
        "POST", "/sessions", {"hold_id": hold["hold_id"], "cap": "1.00", "reference": "pay_123"}
    )
    assert (status, session["state"], session["cap"]) == (201, "waiting", "1.00")
    # The kiosk retrying its request gets the same session, not a second start; another
    # payment cannot use the same hold.
    body = {"hold_id": hold["hold_id"], "cap": "1.00", "reference": "pay_123"}
    status, again = await kiosk.call("POST", "/sessions", body)
    assert (status, again["session_id"]) == (201, session["session_id"])
    body["reference"] = "pay_456"
    assert await kiosk.call("POST", "/sessions", body) == (409, {"error": "hold_used"})
    path = f"/sessions/{session['session_id']}"

    async def state_is(state: str) -> bool:
        return (await kiosk.call("GET", path))[1]["state"] == state

    await eventually(lambda: state_is("charging"), "charging")
    await eventually(lambda: state_is("finished"), "stopped at the cap")
    assert any(action == "RemoteStopTransaction" for action, _ in charger.received_calls)
    starts = [a for a, _ in charger.received_calls if a == "RemoteStartTransaction"]
    assert len(starts) == 1

    async def final() -> bool:
        return bool((await kiosk.call("GET", path))[1]["final"])

    await eventually(final, "the bill is final once the car is unplugged")
    _, done = await kiosk.call("GET", path)
    assert Decimal(0) < Decimal(done["cost"]) <= Decimal("1.00")
    assert done["flags"] == []  # nothing for a person to look at: the kiosk may capture
    [bill] = await kiosk_entry.runtime_data.ledger.load_bills(transaction_id=done["transaction_id"])
    assert (bill.account, bill.payment_reference, bill.gross) == (
        "guest",
        "pay_123",
        Decimal(done["cost"]),
    )
    # The hold was used by the session; the one-time tag charges nowhere any more.
    assert (await kiosk.call("GET", f"/holds/{hold['hold_id']}"))[0] == 404
    assert (await charger.authorize(bill_tag(charger)))["idTagInfo"]["status"] == "Invalid"


def bill_tag(charger: Any) -> str:
    """The guest tag the simulator charged with."""
    return next(
        p["idTag"] for action, p in charger.received_calls if action == "RemoteStartTransaction"
    )


async def test_paid_session_stopped_by_the_guest_or_never_started(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The stop button ends a running session; a session not started yet is cancelled and its
    connector released; unknown ids and a start without a hold are refused."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    charger.answers["RemoteStartTransaction"] = {"status": "Accepted"}  # but no car comes
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    _, session = await kiosk.call(
        "POST", "/sessions", {"hold_id": hold["hold_id"], "cap": "20.00", "reference": "p1"}
    )
    status, stopped = await kiosk.call("POST", f"/sessions/{session['session_id']}/stop")
    assert (status, stopped["state"]) == (200, "cancelled")

    async def available() -> bool:
        # The charger reports the ended reservation with a StatusNotification of its own.
        return (await kiosk.call("GET", "/connectors/CP-1/1"))[1]["state"] == "available"

    await eventually(available, "the connector free again")
    assert (await kiosk.call("POST", "/sessions/nope/stop"))[0] == 404
    assert (await kiosk.call("GET", "/sessions/nope"))[0] == 404
    body = {"hold_id": "nope", "cap": "20.00", "reference": "p2"}
    assert (await kiosk.call("POST", "/sessions", body))[0] == 404
    for cap in (20.0, "-1", "abc", "0"):
        body = {"hold_id": hold["hold_id"], "cap": cap, "reference": "p3"}
        assert (await kiosk.call("POST", "/sessions", body))[0] == 400, cap

    del charger.answers["RemoteStartTransaction"]
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    _, session = await kiosk.call(
        "POST", "/sessions", {"hold_id": hold["hold_id"], "cap": "20.00", "reference": "p4"}
    )
    path = f"/sessions/{session['session_id']}"

    async def charging() -> bool:
        return (await kiosk.call("GET", path))[1]["state"] == "charging"

    await eventually(charging, "charging")
    status, _ = await kiosk.call("POST", f"{path}/stop")
    assert status == 200

    async def finished() -> bool:
        return (await kiosk.call("GET", path))[1]["state"] == "finished"

    await eventually(finished, "stopped by the guest")


async def test_a_stop_pressed_before_the_charger_heard_its_start_answer_waits_for_it(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The session shows charging once its start is stored, a moment before the answer to
    StartTransaction is on the wire. A stop pressed then goes after that answer: a charger
    refuses a RemoteStopTransaction naming a transaction id it has not heard yet."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    other = await make_charger("CP-2", owner_approved=True)
    await charger.status(1, "Available")
    charger.answers["RemoteStartTransaction"] = {"status": "Accepted"}  # the car comes below
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    _, session = await kiosk.call(
        "POST", "/sessions", {"hold_id": hold["hold_id"], "cap": "20.00", "reference": "p5"}
    )
    connection = kiosk_entry.runtime_data.central.connections["CP-1"]
    answer_waiting, answer_goes = asyncio.Event(), asyncio.Event()
    calls: list[str] = []
    send, call = connection._send, connection.call

    async def slow_send(message: str) -> None:
        if message.startswith("[3,") and '"idTagInfo"' in message and '"transactionId"' in message:
            answer_waiting.set()
            await answer_goes.wait()
        await send(message)

    async def noted_call(payload: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(payload).__name__)
        return await call(payload, *args, **kwargs)

    connection._send = slow_send  # type: ignore[method-assign]
    connection.call = noted_call  # type: ignore[method-assign]
    starting = asyncio.create_task(charger.start_transaction(1, bill_tag(charger), meter_start=0))
    path = f"/sessions/{session['session_id']}"
    try:
        await until(answer_waiting.is_set, "the start's answer about to leave")
        assert (await kiosk.call("GET", path))[1]["state"] == "charging"
        stopping = asyncio.create_task(kiosk.call("POST", f"{path}/stop"))
        await until(lambda: "RemoteStopTransaction" in calls, "the stop on its way")
        for _ in range(5):  # a stop sent now would reach the charger meanwhile
            await other.heartbeat()
        assert not any(a == "RemoteStopTransaction" for a, _ in charger.received_calls)
    finally:
        answer_goes.set()
    await starting
    status, _ = await stopping
    assert status == 200
    await until(lambda: 1 not in charger.transactions, "stopped by the guest")


def later(minutes: int) -> datetime:
    """A reading's time: a charger cannot deliver kilowatt-hours within milliseconds."""
    return dt_util.utcnow() + timedelta(minutes=minutes)


async def test_paid_session_and_its_cap_survive_a_restart(
    hass: HomeAssistant,
    kiosk: Kiosk,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
) -> None:
    """After a restart of Home Assistant the guest's session is known and its cap enforced."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "1.00"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    charger.answers["RemoteStartTransaction"] = {"status": "Accepted"}  # the car comes below
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    _, session = await kiosk.call(
        "POST", "/sessions", {"hold_id": hold["hold_id"], "cap": "5.00", "reference": "p9"}
    )
    tag = bill_tag(charger)
    started = await charger.start_transaction(1, tag, meter_start=0)
    assert started["idTagInfo"]["status"] == "Accepted"
    await charger.meter_values(
        1, started["transactionId"], power_w=7000, energy_wh=1_000, timestamp=later(10)
    )

    # After the restart the central system asks for fresh readings: the simulator's would
    # be stamped now, before this test's (stamped minutes ahead), an impossible timeline
    # that held the energy out of the bill when they crossed (1 run in 6 under load).
    charger.answers["TriggerMessage"] = {"status": "Rejected"}
    assert await hass.config_entries.async_reload(kiosk_entry.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    await charger.connect()
    path = f"/sessions/{session['session_id']}"
    status, progress = await kiosk.call("GET", path)
    assert (status, progress["state"], progress["cost"]) == (200, "charging", "1.00")
    # 4.5 kWh: 4.50, and the last interval (3.50) leaves no room under 5.00.
    await charger.meter_values(
        1, started["transactionId"], power_w=7000, energy_wh=4_500, timestamp=later(40)
    )
    await charger.idle()
    await until(
        lambda: any(a == "RemoteStopTransaction" for a, _ in charger.received_calls), "stopped"
    )


async def test_a_hold_survives_a_restart(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Home Assistant restarts while the guest pays: the hold (and the charger's reservation)
    is still there, and the payment starts the session with it; a started session is found
    again by its payment's reference even though its hold is used up."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    assert await hass.config_entries.async_reload(kiosk_entry.entry_id)
    await hass.async_block_till_done()
    await charger.wait_closed()
    await charger.connect()
    assert (await kiosk.call("GET", f"/holds/{hold['hold_id']}"))[0] == 200
    assert (await kiosk.call("GET", "/connectors/CP-1/1"))[1]["state"] == "reserved"
    body = {"hold_id": hold["hold_id"], "cap": "10.00", "reference": "p1"}
    status, session = await kiosk.call("POST", "/sessions", body)
    assert (status, session["state"]) == (201, "waiting")
    await until(lambda: 1 in charger.transactions, "the car charges")
    assert (await kiosk.call("GET", f"/holds/{hold['hold_id']}"))[0] == 404  # used
    status, again = await kiosk.call("POST", "/sessions", body)
    assert (status, again["session_id"]) == (201, session["session_id"])
    assert [r["hold_id"] for r in await kiosk_entry.runtime_data.ledger.load_holds()] == []


async def test_a_stop_the_charger_could_not_take_is_sent_when_it_is_back(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The guest stops while the charger is offline: refused for now, but kept (over a
    restart of Home Assistant too) and sent once the charger is back."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    body = {"hold_id": hold["hold_id"], "cap": "20.00", "reference": "p1"}
    _, session = await kiosk.call("POST", "/sessions", body)
    path = f"/sessions/{session['session_id']}"

    async def charging() -> bool:
        return (await kiosk.call("GET", path))[1]["state"] == "charging"

    await eventually(charging, "charging")
    await charger.close()
    status, refused = await kiosk.call("POST", f"{path}/stop")
    assert (status, refused["error"]) == (409, "not_stopped")
    assert not any(a == "RemoteStopTransaction" for a, _ in charger.received_calls)
    assert await hass.config_entries.async_reload(kiosk_entry.entry_id)
    await hass.async_block_till_done()
    await charger.connect()
    await until(
        lambda: any(a == "RemoteStopTransaction" for a, _ in charger.received_calls),
        "the stop, once the charger is back",
    )


async def test_cap_stop_is_sent_again_and_holds_stay_with_their_guest(
    hass: HomeAssistant,
    kiosk: Kiosk,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
) -> None:
    """A refused stop at the cap is sent again with the next reading; a hold used by a paid
    session cannot be deleted; stopping an old cancelled session leaves the next guest's hold."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "1.00"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    charger.answers["RemoteStartTransaction"] = {"status": "Accepted"}  # the car comes below

    # A first guest gives up before the car comes: cancelled, the connector free again.
    _, first_hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    body = {"hold_id": first_hold["hold_id"], "cap": "5.00", "reference": "p1"}
    _, first = await kiosk.call("POST", "/sessions", body)
    assert await kiosk.call("DELETE", f"/holds/{first_hold['hold_id']}") == (
        409,
        {"error": "hold_used"},
    )
    assert (await kiosk.call("POST", f"/sessions/{first['session_id']}/stop"))[0] == 200

    # The second guest's hold survives the first guest pressing stop again.
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    assert (await kiosk.call("POST", f"/sessions/{first['session_id']}/stop"))[0] == 200
    assert (await kiosk.call("GET", f"/holds/{hold['hold_id']}"))[0] == 200

    body = {"hold_id": hold["hold_id"], "cap": "5.00", "reference": "p2"}
    _, session = await kiosk.call("POST", "/sessions", body)
    tag = [p["idTag"] for a, p in charger.received_calls if a == "RemoteStartTransaction"][-1]
    started = await charger.start_transaction(1, tag, meter_start=0)
    transaction_id = started["transactionId"]
    await charger.meter_values(
        1, transaction_id, power_w=7000, energy_wh=1_000, timestamp=later(10)
    )
    charger.answers["RemoteStopTransaction"] = {"status": "Rejected"}
    await charger.meter_values(
        1, transaction_id, power_w=7000, energy_wh=3_000, timestamp=later(30)
    )
    guest = kiosk_entry.runtime_data.central.guests.sessions[session["session_id"]]
    await until(lambda: guest.must_stop and not guest.stopping, "the first stop, refused")
    assert [a for a, _ in charger.received_calls].count("RemoteStopTransaction") == 1
    del charger.answers["RemoteStopTransaction"]
    await charger.meter_values(
        1, transaction_id, power_w=7000, energy_wh=3_500, timestamp=later(40)
    )
    await until(
        lambda: [a for a, _ in charger.received_calls].count("RemoteStopTransaction") == 2,
        "the stop sent again",
    )
    await until(lambda: guest.state == "finished", "the charger stopped the session")
    _, done = await kiosk.call("GET", f"/sessions/{session['session_id']}")
    assert done["state"] == "finished"


async def test_a_car_that_never_comes_ends_the_session_and_its_tag(
    hass: HomeAssistant,
    kiosk: Kiosk,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Paid, but nobody plugs in within 5 minutes: cancelled, the tag refused."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.30"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    charger.answers["RemoteStartTransaction"] = {"status": "Accepted"}  # but no car comes
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    body = {"hold_id": hold["hold_id"], "cap": "20.00", "reference": "p1"}
    _, session = await kiosk.call("POST", "/sessions", body)
    tag = bill_tag(charger)
    assert (await charger.authorize(tag))["idTagInfo"]["status"] == "Accepted"
    freezer.tick(timedelta(minutes=6))
    assert (await charger.authorize(tag))["idTagInfo"]["status"] == "Invalid"
    _, stale = await kiosk.call("GET", f"/sessions/{session['session_id']}")
    assert stale["state"] == "cancelled"


async def test_a_reading_acts_only_on_its_own_chargers_paid_session(
    hass: HomeAssistant, kiosk: Kiosk, kiosk_entry: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Another charger's MeterValues naming a paid session's transaction neither prices it nor
    takes its stop: when the stop at the cap was refused, the retry goes to the session's own
    charger with its next reading, never to the charger that sent the foreign one."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "1.00"})
    charger = await make_charger("CP-1", owner_approved=True)
    other = await make_charger("CP-2")
    await charger.status(1, "Available")
    charger.answers["RemoteStartTransaction"] = {"status": "Accepted"}
    _, hold = await kiosk.call("POST", "/holds", {"charger_id": "CP-1", "connector_id": 1})
    body = {"hold_id": hold["hold_id"], "cap": "5.00", "reference": "p7"}
    _, session = await kiosk.call("POST", "/sessions", body)
    started = await charger.start_transaction(1, bill_tag(charger), meter_start=0)
    transaction_id = started["transactionId"]
    central = kiosk_entry.runtime_data.central
    await other.meter_values(
        1, transaction_id, power_w=7000, energy_wh=100_000, timestamp=later(60)
    )
    bill = central.cashier.live_bill(transaction_id)
    assert bill is not None
    assert bill.energy_wh == 0
    assert "foreign_readings" not in bill.flags  # the sender is on the review list instead

    # At the cap; the charger refuses the first stop.
    charger.answers["RemoteStopTransaction"] = {"status": "Rejected"}
    await charger.meter_values(
        1, transaction_id, power_w=7000, energy_wh=6_000, timestamp=later(60)
    )
    guest = central.guests.sessions[session["session_id"]]
    await until(lambda: guest.must_stop and not guest.stopping, "the first stop, refused")
    await other.meter_values(
        1, transaction_id, power_w=7000, energy_wh=100_001, timestamp=later(61)
    )
    await hass.async_block_till_done()
    assert not [a for a, _ in other.received_calls if a == "RemoteStopTransaction"]
    del charger.answers["RemoteStopTransaction"]
    await charger.meter_values(
        1, transaction_id, power_w=7000, energy_wh=6_100, timestamp=later(62)
    )
    await until(
        lambda: [a for a, _ in charger.received_calls].count("RemoteStopTransaction") == 2,
        "the stop sent again, to the session's own charger",
    )
    assert not [a for a, _ in other.received_calls if a == "RemoteStopTransaction"]
