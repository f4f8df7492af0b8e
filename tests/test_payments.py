"""Guest payments end to end: the kiosk with the real `stripe` library against the fake Stripe,
the real integration in Home Assistant, and the simulator charging."""

import asyncio
import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from custom_components.ev_charging.const import (
    CONF_IDLE_FEE,
    CONF_IDLE_GRACE,
    CONF_PRICE_PER_KWH,
    CONF_SESSION_FEE,
)
from custom_components.ev_charging.ledger import BillRecord
from kiosk.app import STORE
from kiosk.bridge import BridgeError
from kiosk.store import CANCELLED, CAPTURED, CAPTURING, CHARGING, CHECKOUT, RELEASED, Payment
from simulator.charger import SimulatedCharger

from .conftest import SCREENSHOTS, ChargerFactory
from .helpers import until
from .kiosk_site import Site
from .test_billing import add_tariff
from .test_kiosk_api import eventually


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Meter values every second, so sessions cost something within seconds."""
    return {"heartbeat_interval": 60, "auto_accept": True, "meter_value_interval": 1}


async def charger_ready(
    hass: HomeAssistant, entry: MockConfigEntry, make_charger: ChargerFactory, **tariff: str
) -> SimulatedCharger:
    """A charger with a guest tariff (0.50 per kWh unless said), connector 1 free."""
    await add_tariff(hass, entry, **{CONF_PRICE_PER_KWH: "0.50", **tariff})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    await hass.async_block_till_done()
    return charger


def minor(amount: str | Decimal) -> int:
    """Cents."""
    return int(Decimal(amount) * 100)


async def bill_of(entry: MockConfigEntry, payment_id: str) -> BillRecord:
    """The session's bill in the integration's ledger, found by the payment's reference."""
    [bill] = [
        bill
        for bill in await entry.runtime_data.ledger.load_bills()
        if bill.payment_reference == payment_id
    ]
    return bill


async def costs_something(site: Site, payment_id: str) -> bool:
    """The session has cost at least a cent so far."""
    found = await site.desk.progress(payment_id)
    assert found is not None
    session = found[1]
    return session is not None and Decimal(session["cost"] or 0) > 0


def intent_of(site: Site, payment: Payment) -> dict[str, Any]:
    """The fake Stripe's PaymentIntent for a payment."""
    assert payment.intent_id is not None
    return site.fake.intent(payment.intent_id)


async def test_scan_pay_charge_stop_capture_the_exact_cost(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """The whole guest journey: the hold, the session, the stop button, the exact capture."""
    await charger_ready(hass, kiosk_entry, make_charger, **{CONF_SESSION_FEE: "1.00"})
    checkout_id = await site.open_checkout()
    checkout = site.fake.session(checkout_id)
    assert checkout["amount_total"] == 3000
    assert checkout["metadata"]["payment_id"] == checkout["client_reference_id"]
    connector = await (await site.http.get(f"{site.url}/c/CP-1/1")).text()
    assert "Reserved for a guest who is paying." in connector

    payment_id = await site.pay(checkout_id)
    payment = await site.payment(payment_id)
    assert payment.state == CHARGING
    intent = intent_of(site, payment)
    assert (intent["status"], intent["capture_method"], intent["amount"]) == (
        "requires_capture",
        "manual",
        3000,
    )
    assert intent["metadata"] == {"payment_id": payment_id}
    assert len(payment_id) >= 32  # the session page's address cannot be guessed

    async def charged() -> bool:
        return "Charging." in (page := await site.page(payment_id)) and (
            Decimal(re.search(r"id='energy'>([0-9.]+)", page)[1]) > 0  # type: ignore[index]
        )

    await eventually(charged, "energy on the session page")
    stopped = await site.post(f"/s/{payment_id}/stop")
    assert stopped.status == 303

    async def receipt() -> bool:
        return "Receipt" in await site.page(payment_id)

    await eventually(receipt, "the receipt")
    payment = await site.payment(payment_id)
    bill = await bill_of(kiosk_entry, payment_id)
    assert bill.final
    assert (payment.state, payment.captured, payment.cost) == (CAPTURED, bill.gross, bill.gross)
    intent = intent_of(site, payment)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", minor(bill.gross))
    page = await site.page(payment_id)
    assert f"{bill.gross:.2f} EUR" in page
    assert f"{Decimal('30.00') - bill.gross:.2f} EUR of the 30.00 held" in page
    assert "guest@example.org" in page
    # Seen again (and reconciled again), nothing more is taken.
    await site.desk.reconcile()
    assert site.fake.captures(payment.intent_id) == 1  # type: ignore[arg-type]


async def test_never_plugged_in_releases_the_hold(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Paid, but no car starts charging within 5 minutes: the whole hold is released."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    charger.answers["RemoteStartTransaction"] = {"status": "Accepted"}  # but no car comes
    payment_id = await site.scan_and_pay()
    assert "Plug in your car now" in await site.page(payment_id)
    freezer.tick(timedelta(minutes=4))
    await site.desk.reconcile()
    assert (await site.payment(payment_id)).state == CHARGING
    freezer.tick(timedelta(minutes=2))
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CANCELLED, None)
    assert intent_of(site, payment)["status"] == "canceled"
    page = await site.page(payment_id)
    assert "No car started charging; nothing was charged." in page
    assert (
        "Free: you can charge here now."
        in await (await site.http.get(f"{site.url}/c/CP-1/1")).text()
    )


async def test_fault_mid_session_captures_what_was_delivered(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """The charger faults and ends the transaction: the energy delivered until then is paid."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    payment_id = await site.scan_and_pay()

    await eventually(lambda: costs_something(site, payment_id), "energy delivered")
    await charger.fault(1, "GroundFailure")
    await charger.stop_transaction(charger.transactions[1], reason="Other")

    async def settled() -> bool:
        await site.desk.reconcile()
        return (await site.payment(payment_id)).state in (CAPTURED, CANCELLED)

    await eventually(settled, "settled after the fault")
    payment = await site.payment(payment_id)
    bill = await bill_of(kiosk_entry, payment_id)
    assert bill.final
    assert bill.energy_wh > 0
    assert (payment.state, payment.captured) == (CAPTURED, bill.gross)
    assert intent_of(site, payment)["amount_received"] == minor(bill.gross)


async def test_cost_cap_stops_the_session_below_the_hold(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """A small hold and a dear kWh: the integration stops the session before the cost passes
    the hold, and the capture stays within the authorisation."""
    await site.stop()
    site.config = replace(site.config, hold=Decimal("1.00"))
    await site.start()
    charger = await charger_ready(hass, kiosk_entry, make_charger, **{CONF_PRICE_PER_KWH: "100"})
    payment_id = await site.scan_and_pay()

    async def settled() -> bool:
        await site.desk.reconcile()
        return (await site.payment(payment_id)).state == CAPTURED

    await eventually(settled, "stopped at the cap and captured")
    assert any(action == "RemoteStopTransaction" for action, _ in charger.received_calls)
    payment = await site.payment(payment_id)
    intent = intent_of(site, payment)
    assert intent["amount"] == 100
    assert 0 < intent["amount_received"] <= 100
    assert payment.captured == (await bill_of(kiosk_entry, payment_id)).gross


async def test_forged_and_replayed_webhooks_change_nothing(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event with a wrong signature, none, or an old one: 400 and nothing starts; the
    real event twice: handled once."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    checkout_id = await site.open_checkout()
    forged = {
        "id": "evt_forged",
        "object": "event",
        "type": "checkout.session.completed",
        "created": 1,
        "livemode": False,
        "data": {
            "object": {
                **site.fake.session(checkout_id),
                "status": "complete",
                "payment_intent": "pi_x",
            }
        },
    }
    assert await site.fake.deliver(forged, secret="whsec_not_ours") == 400
    unsigned = await site.http.post(f"{site.url}/stripe/webhook", json=forged)
    assert unsigned.status == 400
    assert "Refused a Stripe webhook" in caplog.text
    [payment] = await site.kiosk.app[STORE].open_payments()  # type: ignore[union-attr]
    assert payment.state == CHECKOUT
    assert not any(a == "RemoteStartTransaction" for a, _ in charger.received_calls)

    payment_id = await site.pay(checkout_id)
    [completed] = [e for e in site.fake.events if e["type"] == "checkout.session.completed"]
    assert await site.fake.deliver(completed) == 200
    # Signed with the right secret, but long ago: a captured request replayed later.
    assert await site.fake.deliver(completed, timestamp=1_000_000_000) == 400
    starts = [a for a, _ in charger.received_calls if a == "RemoteStartTransaction"]
    assert len(starts) == 1
    assert (await site.payment(payment_id)).state == CHARGING
    assert "already handled" in caplog.text


async def test_two_guests_at_once_one_pays_the_other_is_refused(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """Both press pay at the same moment: one goes to Checkout, the other is told no and
    nothing is asked of their card."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    first, second = await asyncio.gather(site.post("/c/CP-1/1/pay"), site.post("/c/CP-1/1/pay"))
    assert sorted((first.status, second.status)) == [303, 409]
    refused = first if first.status == 409 else second
    assert "Cannot pay here now" in await refused.text()
    assert len(site.fake.checkout_ids()) == 1
    # Nor can anyone pay at a faulted connector, or follow a session that is not theirs.
    await charger.fault(1, "GroundFailure")
    await hass.async_block_till_done()
    connector = await (await site.http.get(f"{site.url}/c/CP-1/1")).text()
    assert "Pay by card" not in connector
    assert (await site.post("/c/CP-1/1/pay")).status == 409
    assert (await site.http.get(f"{site.url}/s/not-a-payment")).status == 404


async def test_guest_gives_up_or_checkout_expires_the_connector_is_released(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """Back from Checkout, the guest cancels: the kiosk expires the session and lets the
    connector go; Stripe expiring it by itself does the same; a payment after the hold was
    lost is undone. (Each time another guest: one may not hold the same connector again at
    once, see test_kiosk_hostile.)"""
    await charger_ready(hass, kiosk_entry, make_charger)
    checkout_id = await site.open_checkout()
    back = await site.http.get(f"{site.fake.public_url}/pay/{checkout_id}/back")
    assert "You left the payment page: nothing was charged." in await back.text()
    payment_id = await payment_of(site, checkout_id)
    assert (await site.payment(payment_id)).state == CHECKOUT  # following a link changes nothing
    cancelled = await site.post(f"/s/{payment_id}/cancel")
    assert cancelled.headers["Location"] == f"/s/{payment_id}"
    assert "You cancelled the payment; nothing was charged." in await site.page(payment_id)
    assert site.fake.session(checkout_id)["status"] == "expired"
    await site.fake.settle()
    assert (await site.payment(payment_id)).state == RELEASED

    async with site.guest_at("127.0.0.2"):
        checkout_id = await site.open_checkout()
    site.fake.expire(checkout_id)
    await site.fake.settle()
    assert (await site.payment(await payment_of(site, checkout_id))).state == RELEASED

    # The integration restarted while the guest paid: the hold is gone, the card is released.
    async with site.guest_at("127.0.0.3"):
        checkout_id = await site.open_checkout()
    assert await hass.config_entries.async_reload(kiosk_entry.entry_id)
    await hass.async_block_till_done()
    payment_id = await site.pay(checkout_id)
    payment = await site.payment(payment_id)
    assert payment.state == CANCELLED
    assert payment.note == "The charger could not start; nothing was charged."
    assert intent_of(site, payment)["status"] == "canceled"


async def payment_of(site: Site, checkout_id: str) -> str:
    """The payment of a Checkout Session."""
    assert site.kiosk is not None
    payment = await site.kiosk.app[STORE].by_checkout(checkout_id)
    assert payment is not None
    return payment.payment_id


async def test_kiosk_restart_between_stop_and_capture_captures_once(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """The car is unplugged while the kiosk is down: the kiosk captures on start, once; a
    crash after Stripe captured but before the kiosk wrote it down does not capture again."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    payment_id = await site.scan_and_pay()

    await eventually(lambda: costs_something(site, payment_id), "energy delivered")
    await site.stop()
    await charger.stop_transaction(charger.transactions[1], reason="EVDisconnected")
    await charger.status(1, "Available")

    async def final() -> bool:
        return (await bill_of(kiosk_entry, payment_id)).final

    await eventually(final, "the bill is final")
    await site.start()  # reconciles on start
    payment = await site.payment(payment_id)
    gross = (await bill_of(kiosk_entry, payment_id)).gross
    assert (payment.state, payment.captured) == (CAPTURED, gross)
    assert payment.intent_id is not None
    assert site.fake.captures(payment.intent_id) == 1

    # Crash between Stripe's answer and the kiosk's record: the capture is still to be sent.
    assert site.kiosk is not None
    await site.kiosk.app[STORE].update(payment_id, state=CAPTURING)
    await site.stop()
    await site.start()
    assert (await site.payment(payment_id)).state == CAPTURED
    assert site.fake.captures(payment.intent_id) == 1
    assert intent_of(site, payment)["amount_received"] == minor(gross)


async def test_a_guest_pays_and_charges_on_a_phone(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    browser: webdriver.Chrome,
) -> None:
    """In Chromium: the sticker's page, pay, Stripe's page, the session page, stop, receipt."""
    await charger_ready(hass, kiosk_entry, make_charger)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def pay() -> str:
        wait = WebDriverWait(browser, 20)
        browser.get(f"{site.url}/c/CP-1/1")
        browser.find_element(By.ID, "pay").click()
        wait.until(expected_conditions.url_contains("/pay/cs_test_"))  # Stripe's page
        browser.find_element(By.ID, "email").send_keys("guest@example.org")
        browser.save_screenshot(str(SCREENSHOTS / "checkout.png"))
        browser.find_element(By.ID, "pay").click()
        wait.until(expected_conditions.url_contains("/s/"))
        return str(browser.current_url)

    session_url = await asyncio.to_thread(pay)
    assert session_url.startswith(f"{site.url}/s/")
    payment_id = session_url.rsplit("/", 1)[1]
    await site.fake.settle()
    await eventually(lambda: costs_something(site, payment_id), "charging")

    def look(shot: str) -> str:
        browser.get(session_url)
        browser.save_screenshot(str(SCREENSHOTS / shot))
        return str(browser.find_element(By.TAG_NAME, "body").text)

    charging = await asyncio.to_thread(look, "session-charging.png")
    assert "Charging." in charging
    assert "EUR so far (at most 30.00)" in charging
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "stop").click())

    async def captured() -> bool:
        await site.desk.reconcile()
        return (await site.payment(payment_id)).state == CAPTURED

    await eventually(captured, "captured")
    receipt = await asyncio.to_thread(look, "receipt.png")
    payment = await site.payment(payment_id)
    assert "Receipt" in receipt
    assert f"{payment.captured:.2f} EUR" in receipt
    assert (SCREENSHOTS / "receipt.png").stat().st_size > 1000


async def test_a_charger_lost_before_any_energy_releases_the_hold(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The car started, nothing flowed, the charger went offline: half an hour later the hold
    is released (not days later), and the session is to be stopped when the charger is back."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    charger.stalled.add(1)  # charging, but no power
    payment_id = await site.scan_and_pay()
    await until(lambda: 1 in charger.transactions, "the transaction")
    await charger.close()
    await until(lambda: not kiosk_entry.runtime_data.central.chargers["CP-1"].connected, "offline")
    await site.desk.reconcile()
    assert (await site.payment(payment_id)).state == CHARGING
    # An offline charger may still be charging and tell later: it gets half an hour.
    freezer.tick(timedelta(minutes=29))
    await site.desk.reconcile()
    assert (await site.payment(payment_id)).state == CHARGING
    freezer.tick(timedelta(minutes=2))
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert payment.state == CANCELLED
    assert payment.note == "The charger failed before delivering energy; nothing was charged."
    assert intent_of(site, payment)["status"] == "canceled"
    assert payment.guest_session_id is not None
    guest = kiosk_entry.runtime_data.central.guests.sessions[payment.guest_session_id]
    assert guest.must_stop  # sent with the charger's next reading


async def test_a_charger_offline_when_the_card_hold_ends_is_settled_in_time(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """The card's capture_before is near and the charger is unreachable (the stop cannot
    reach it): what was delivered is captured anyway, before the hold lapses."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    payment_id = await site.scan_and_pay()
    await eventually(lambda: costs_something(site, payment_id), "energy delivered")
    await charger.close()
    assert site.kiosk is not None
    soon = site.desk.now() + timedelta(minutes=30)
    await site.kiosk.app[STORE].update(payment_id, capture_before=soon)
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert payment.state == CAPTURED
    assert payment.captured is not None
    assert payment.captured > 0
    assert intent_of(site, payment)["amount_received"] == minor(payment.captured)


async def test_lost_answers_and_webhooks_do_not_cost_the_guest(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """No webhook arrives: the success page asks Stripe and the session starts. The answer to
    the start is lost: asking again finds the session (its hold used up), and the card is not
    released while the car charges."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    site.fake.webhook_url = None
    bridge = site.desk._bridge
    start = bridge.start_session

    async def answer_lost(hold_id: str, cap: Decimal, reference: str) -> dict[str, Any]:
        await start(hold_id, cap, reference)
        raise BridgeError(0, "TimeoutError")

    bridge.start_session = answer_lost  # type: ignore[method-assign]
    payment_id = await site.scan_and_pay()
    assert "Your card is held. Starting the charger" in await site.page(payment_id)
    await until(lambda: 1 in charger.transactions, "the car charges")
    bridge.start_session = start  # type: ignore[method-assign]
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert payment.state == CHARGING
    assert intent_of(site, payment)["status"] == "requires_capture"
    starts = [a for a, _ in charger.received_calls if a == "RemoteStartTransaction"]
    assert len(starts) == 1


async def test_a_disconnect_after_the_stop_ends_the_idle_fee(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Stopped, still plugged in, then the charger drops off: after ten minutes gone the bill
    is final, idle time counted until it went; a brief drop ends nothing."""
    charger = await charger_ready(
        hass, kiosk_entry, make_charger, **{CONF_IDLE_FEE: "1", CONF_IDLE_GRACE: 0}
    )
    payment_id = await site.scan_and_pay()
    await until(lambda: 1 in charger.transactions, "the car charges")
    freezer.tick(timedelta(minutes=20))  # 2 kWh takes a while (sooner is flagged, not taken)
    register = charger.energy_wh.get(1, charger.config.initial_energy_wh)
    await charger.meter_values(1, charger.transactions[1], power_w=7000, energy_wh=register + 2_000)
    await charger.stop_transaction(charger.transactions[1], reason="Local")
    await charger.status(1, "Finishing")
    freezer.tick(timedelta(minutes=3))  # 3 idle minutes
    await charger.close()
    central = kiosk_entry.runtime_data.central
    await until(lambda: not central.chargers["CP-1"].connected, "offline")
    freezer.tick(timedelta(minutes=9))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not (await bill_of(kiosk_entry, payment_id)).final  # 9 minutes: may come back
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    bill = await bill_of(kiosk_entry, payment_id)
    assert bill.final
    assert Decimal(3) <= bill.idle_fee < Decimal("3.01")  # until it went, not 8 minutes more
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CAPTURED, bill.gross)


async def test_a_warning_while_charging_is_no_failure(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Charging with an error code (a hot cable, say) is not out of order: the session runs
    on and nothing is settled early."""
    charger = await charger_ready(hass, kiosk_entry, make_charger)
    payment_id = await site.scan_and_pay()
    await until(lambda: 1 in charger.transactions, "the car charges")
    await charger.status(1, "Charging", "HighTemperature")
    await site.desk.reconcile()
    freezer.tick(timedelta(hours=2))
    await site.desk.reconcile()
    assert (await site.payment(payment_id)).state == CHARGING
    assert not any(a == "RemoteStopTransaction" for a, _ in charger.received_calls)
