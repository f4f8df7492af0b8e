"""Every failure timer of the kiosk, both sides of its boundary, by time travel: a moment
before nothing has happened; a moment after the hold is released, or exactly what was
delivered is taken (computed here from the tariff and the energy).

The offline charger with nothing delivered (30 minutes) is test_payments'
test_a_charger_lost_before_any_energy_releases_the_hold."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from kiosk.app import STORE
from kiosk.store import CANCELLED, CANCELLING, CAPTURED, CHARGING, CHECKOUT, RELEASED
from simulator.charger import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import until
from .kiosk_site import Site
from .test_kiosk_money import KioskDied, cents, charging
from .test_payments import charger_ready, intent_of

MOMENT = timedelta(seconds=1)


async def settled_after(
    site: Site,
    freezer: FrozenDateTimeFactory,
    charger: SimulatedCharger,
    payment_id: str,
    limit: timedelta,
) -> None:
    """The kiosk sees the failure now; a moment before `limit` nothing is settled."""
    await site.desk.reconcile()
    freezer.tick(limit - MOMENT)
    if charger.connected:
        await charger.heartbeat()  # a charger in touch keeps in touch
    await site.desk.reconcile()
    assert (await site.payment(payment_id)).state == CHARGING
    freezer.tick(2 * MOMENT)
    await site.desk.reconcile()


async def assert_released(site: Site, payment_id: str) -> None:
    """The whole hold released, nothing taken."""
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CANCELLED, None)
    assert intent_of(site, payment)["status"] == "canceled"


async def assert_taken(site: Site, payment_id: str, kwh: str) -> None:
    """Exactly what `kwh` cost taken, once."""
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CAPTURED, Decimal(cents(kwh)) / 100)
    intent = intent_of(site, payment)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", cents(kwh))


@pytest.mark.parametrize("status", ["Faulted", "Unavailable"])
async def test_out_of_order_with_nothing_delivered_releases_after_two_minutes(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
    status: str,
) -> None:
    """A connector Faulted or Unavailable on a charger in touch, nothing delivered: 2 min."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer, wh=0)
    await charger.status(1, status, "GroundFailure" if status == "Faulted" else "NoError")
    await settled_after(site, freezer, charger, payment_id, timedelta(minutes=2))
    await assert_released(site, payment_id)


@pytest.mark.parametrize("status", ["Faulted", "Unavailable"])
async def test_out_of_order_after_energy_takes_it_after_thirty_minutes(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
    status: str,
) -> None:
    """Out of order after 2 kWh: what they cost is taken after 30 minutes."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    await charger.status(1, status, "GroundFailure" if status == "Faulted" else "NoError")
    await settled_after(site, freezer, charger, payment_id, timedelta(minutes=30))
    await assert_taken(site, payment_id, "2")


async def test_offline_after_energy_takes_it_after_an_hour(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The charger goes offline after 2 kWh (it may still be charging): an hour, then what
    was reported is taken and the session is to be stopped when the charger is back."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    await charger.close()
    central = kiosk_entry.runtime_data.central
    await until(lambda: not central.chargers["CP-1"].connected, "offline")
    await settled_after(site, freezer, charger, payment_id, timedelta(hours=1))
    await assert_taken(site, payment_id, "2")
    payment = await site.payment(payment_id)
    assert payment.guest_session_id is not None
    assert central.guests.sessions[payment.guest_session_id].must_stop


async def hold_ends_in(site: Site, payment_id: str, left: timedelta) -> None:
    """The card's capture_before is `left` from now."""
    assert site.kiosk is not None
    await site.kiosk.app[STORE].update(payment_id, capture_before=site.desk.now() + left)


def stops(charger: SimulatedCharger) -> list[Any]:
    """The stops the charger was sent."""
    return [a for a, _ in charger.received_calls if a == "RemoteStopTransaction"]


async def test_twelve_hours_before_the_hold_ends_a_running_session_is_stopped(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Still charging 12 hours before capture_before: stopped (not a moment sooner), then
    what it delivered is taken."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    await hold_ends_in(site, payment_id, timedelta(hours=12) + MOMENT)
    await site.desk.reconcile()
    assert not stops(charger)
    freezer.tick(2 * MOMENT)
    await site.desk.reconcile()
    assert len(stops(charger)) == 1
    await until(lambda: 1 not in charger.transactions, "the charger stops")

    async def settled() -> bool:
        await site.desk.reconcile()
        return (await site.payment(payment_id)).state != CHARGING

    for _ in range(100):  # the stop's StopTransaction makes the bill final
        if await settled():
            break
    await assert_taken(site, payment_id, "2")


async def test_an_hour_before_the_hold_ends_what_it_cost_so_far_is_taken(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A session that cannot be stopped (the charger refuses) an hour before capture_before:
    what it cost so far is taken, not a moment sooner."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    charger.answers["RemoteStopTransaction"] = {"status": "Rejected"}
    await hold_ends_in(site, payment_id, timedelta(hours=1) + MOMENT)
    await site.desk.reconcile()
    assert (await site.payment(payment_id)).state == CHARGING
    freezer.tick(2 * MOMENT)
    await site.desk.reconcile()
    await assert_taken(site, payment_id, "2")
    assert 1 in charger.transactions  # still running: taken all the same


async def test_a_payment_whose_checkout_was_never_stored_is_let_go_after_ten_minutes(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The kiosk died between holding the connector and storing its Checkout Session: the
    orphan keeps the connector 10 minutes (Stripe's client may still be retrying), then it is
    released."""
    await charger_ready(hass, kiosk_entry, make_charger)

    async def dies(*args: Any, **kwargs: Any) -> Any:
        raise KioskDied

    site.desk._gateway.open_checkout = dies  # type: ignore[method-assign]
    with pytest.raises(KioskDied):
        await site.desk.begin("CP-1", 1)
    assert site.kiosk is not None
    [orphan] = await site.kiosk.app[STORE].open_payments()
    assert (orphan.state, orphan.checkout_id) == (CHECKOUT, None)
    freezer.tick(timedelta(minutes=10) - MOMENT)
    await site.desk.reconcile()
    assert (await site.payment(orphan.payment_id)).state == CHECKOUT
    freezer.tick(2 * MOMENT)
    await site.desk.reconcile()
    assert (await site.payment(orphan.payment_id)).state == RELEASED
    page = await (await site.http.get(f"{site.url}/c/CP-1/1")).text()
    assert "Free: you can charge here now." in page


async def test_a_guest_who_pays_for_a_payment_already_let_go_gets_the_hold_released(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The kiosk died after Stripe opened the Checkout but before storing its id: released
    as an orphan after 10 minutes, then paid all the same. The card hold is released, and
    a 500 on that release (replayed by Stripe to its key) does not leave it held."""
    await charger_ready(hass, kiosk_entry, make_charger)
    opened: list[str] = []
    open_checkout = site.desk._gateway.open_checkout

    async def dies_after(*args: Any, **kwargs: Any) -> Any:
        checkout_id, _ = await open_checkout(*args, **kwargs)
        opened.append(checkout_id)
        raise KioskDied

    site.desk._gateway.open_checkout = dies_after  # type: ignore[method-assign]
    with pytest.raises(KioskDied):
        await site.desk.begin("CP-1", 1)
    freezer.tick(timedelta(minutes=10) + MOMENT)
    await site.desk.reconcile()
    assert site.kiosk is not None
    assert await site.kiosk.app[STORE].open_payments() == []  # released as an orphan
    site.fake.fail_next(r"/cancel$")
    payment_id = await site.pay(opened[0])
    payment = await site.payment(payment_id)
    assert payment.state == CANCELLING
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert payment.state == CANCELLED
    assert intent_of(site, payment)["status"] == "canceled"


async def test_a_checkout_never_completed_is_ended_when_its_time_is_up(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No payment and no webhook: at the Checkout Session's expires_at (31 minutes) the
    kiosk ends it at Stripe and lets the connector go, not a moment sooner."""
    await charger_ready(hass, kiosk_entry, make_charger)
    site.fake.webhook_url = None  # only the kiosk's own look-ups
    checkout_id = await site.open_checkout()
    payment = await site.kiosk.app[STORE].by_checkout(checkout_id)  # type: ignore[union-attr]
    assert payment is not None
    # Looked up at most every 10 seconds (test_kiosk_hostile): 11 s before, then 1 s after.
    freezer.tick(timedelta(minutes=31) - 11 * MOMENT)
    await site.desk.reconcile()
    assert (await site.payment(payment.payment_id)).state == CHECKOUT
    assert site.fake.session(checkout_id)["status"] == "open"
    freezer.tick(12 * MOMENT)
    await site.desk.reconcile()
    assert (await site.payment(payment.payment_id)).state == RELEASED
    assert site.fake.session(checkout_id)["status"] == "expired"
