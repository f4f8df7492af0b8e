"""The kiosk's money under failure: Stripe's replayed 500s, crashes around a capture, Home
Assistant gone as the card hold ends, amounts per currency, and the Stripe key's permissions.

"Charged once" is read from the fake Stripe's log of requests (what the kiosk sent, under
which idempotency key), not from the fake refusing a second capture."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe
from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.proc import free_ports
from custom_components.ev_charging.const import CONF_PRICE_PER_KWH
from fake_stripe.journal import Logged
from fake_stripe.server import FakeStripe
from kiosk.app import STORE, StartRefused, create_app
from kiosk.config import KioskConfig, StripeSettings
from kiosk.currencies import capture_units, hold_problem
from kiosk.store import CANCELLED, CAPTURED, CAPTURING, CHARGING, PaymentStore
from simulator.charger import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import until
from .kiosk_site import API_KEY, WEBHOOK_SECRET, Site, open_site
from .test_billing import add_tariff
from .test_payments import intent_of

# Every kiosk test charges 0.50 per kWh (prices include VAT by default), so 2 kWh cost 1.00.
PRICE = Decimal("0.50")


class KioskDied(BaseException):
    """The kiosk's process ends here (nothing in the kiosk catches a BaseException)."""


async def charging(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
    wh: int = 2000,
) -> tuple[SimulatedCharger, str]:
    """A paid session that has delivered `wh` (over 20 minutes: a plausible rate); the
    charger and the payment's id."""
    await add_tariff(hass, entry, **{CONF_PRICE_PER_KWH: str(PRICE)})
    charger = await make_charger("CP-1", owner_approved=True)
    charger.stalled.add(1)  # the readings are the test's own
    await charger.status(1, "Available")
    await hass.async_block_till_done()
    payment_id = await site.scan_and_pay()
    await until(lambda: 1 in charger.transactions, "the car charges")
    # Its own readings would carry its own (earlier) times with the test's register.
    charger.silent = True
    freezer.tick(timedelta(minutes=20))
    if wh:
        register = charger.energy_wh.get(1, charger.config.initial_energy_wh)
        await charger.meter_values(
            1, charger.transactions[1], power_w=7000, energy_wh=register + wh
        )
    await site.desk.reconcile()  # the kiosk sees the cost so far
    return charger, payment_id


async def unplugged(charger: SimulatedCharger) -> None:
    """The guest ends the session at the charger: the bill becomes final."""
    await charger.stop_transaction(charger.transactions[1], reason="EVDisconnected")
    await charger.status(1, "Available")


def cents(kwh: str) -> int:
    """What `kwh` costs at PRICE, in cents, computed here (not by the code under test)."""
    return int((Decimal(kwh) * PRICE * 100).to_integral_value(rounding=ROUND_DOWN))


def captures_of(log: list[Logged], intent_id: str) -> list[Logged]:
    """The capture requests the kiosk sent for a PaymentIntent."""
    return [r for r in log if r.method == "POST" and r.path.endswith(f"/{intent_id}/capture")]


def assert_charged_once(log: list[Logged], intent_id: str, amount: int) -> None:
    """From the requests alone: a capture under a new key only after Stripe stored a 500
    under the one before (it can never succeed) and then said the intent was still held;
    exactly one capture took money, `amount`."""
    key: str | None = None
    failed_for_good = confirmed_uncaptured = True  # nothing sent yet: a first key is free
    for request in log:
        if request.path == f"/v1/payment_intents/{intent_id}" and request.method == "GET":
            status = (request.answer or {}).get("status")
            confirmed_uncaptured = confirmed_uncaptured or status == "requires_capture"
        elif request in captures_of(log, intent_id):
            if request.idempotency_key != key:
                new = f"a capture under a new key {request.idempotency_key} while {key}"
                assert failed_for_good, f"{new} was not answered with a stored 500"
                assert confirmed_uncaptured, f"{new} may have taken money"
                key = request.idempotency_key
            failed_for_good = request.status >= 500
            confirmed_uncaptured = False
    taken = [
        r.params["amount_to_capture"]
        for r in captures_of(log, intent_id)
        if r.succeeded and not r.replayed
    ]
    assert taken == [str(amount)]


async def test_a_replayed_500_on_capture_is_read_from_the_intent_then_retried_under_a_new_key(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Stripe answers the capture with a 500 and replays it to that key: the kiosk reads the
    PaymentIntent, finds it still held, and captures under a new key: paid, once."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    site.fake.fail_next(r"^POST /v1/payment_intents/pi_\w+/capture$")
    await unplugged(charger)
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert payment.state == CAPTURING
    assert payment.intent_id is not None
    [failed] = captures_of(site.fake.log, payment.intent_id)
    assert failed.status == 500
    for _ in range(2):  # the same key gets the same 500 (as Stripe does): a new key is needed
        await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CAPTURED, Decimal("1.00"))
    assert intent_of(site, payment)["amount_received"] == cents("2")
    assert site.fake.captures(payment.intent_id) == 1
    assert_charged_once(site.fake.log, payment.intent_id, cents("2"))


async def test_a_500_after_stripe_captured_is_recorded_as_captured(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The money moved but the answer is a 500: the intent says captured, so that is what is
    recorded; nothing is sent again."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    site.fake.fail_next(r"/capture$", after=True)
    await unplugged(charger)
    await site.desk.reconcile()
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert payment.state == CAPTURED
    assert payment.intent_id is not None
    assert len(captures_of(site.fake.log, payment.intent_id)) == 1
    assert intent_of(site, payment)["amount_received"] == cents("2")


async def test_a_replayed_500_on_cancel_is_read_then_retried_under_a_new_key(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The same for releasing a hold: a 500, a look at the intent, a new key, released."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer, wh=0)
    site.fake.fail_next(r"/cancel$")
    await unplugged(charger)
    await site.desk.reconcile()
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert payment.state == CANCELLED
    assert payment.intent_id is not None
    cancels = [r for r in site.fake.log if r.path.endswith(f"{payment.intent_id}/cancel")]
    assert [r.status for r in cancels] == [500, 200]
    assert cancels[0].idempotency_key != cancels[1].idempotency_key
    assert intent_of(site, payment)["status"] == "canceled"


async def crash_at(site: Site, point: str) -> list[str]:
    """Make the kiosk die at its next capture: "before" it is sent, or "after" it is sent but
    before the answer is read. The payment's state in the database at that moment."""
    gateway = site.desk._gateway
    send = gateway.capture
    states: list[str] = []

    async def dying(intent_id: str, amount: int, payment_id: str, attempt: int = 0) -> Any:
        found = await site.payment(payment_id)
        states.append(f"{found.state} {found.captured}")
        if point == "after":
            await send(intent_id, amount, payment_id, attempt)
        raise KioskDied

    gateway.capture = dying  # type: ignore[method-assign]
    return states


async def test_a_capture_that_times_out_is_sent_again_under_the_same_key(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No answer (a timeout) while the request is still on its way: the intent still reads
    held, but the first request may land yet, so the retry keeps its key; when the late one
    lands, Stripe replays the answer instead of taking money twice."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    gateway = site.desk._gateway
    send = gateway.capture
    on_the_way: list[asyncio.Task[Any]] = []
    landing = asyncio.Event()

    async def late(intent_id: str, amount: int, payment_id: str, attempt: int = 0) -> Any:
        await landing.wait()
        with contextlib.suppress(stripe.StripeError):
            await send(intent_id, amount, payment_id, attempt)

    async def timing_out(intent_id: str, amount: int, payment_id: str, attempt: int = 0) -> Any:
        if not on_the_way:
            on_the_way.append(asyncio.create_task(late(intent_id, amount, payment_id, attempt)))
            raise stripe.APIConnectionError("Request timed out")
        return await send(intent_id, amount, payment_id, attempt)

    gateway.capture = timing_out  # type: ignore[method-assign]
    await unplugged(charger)
    await site.desk.reconcile()  # sent, no answer; the intent reads still held
    await site.desk.reconcile()  # sent again
    landing.set()
    await on_the_way[0]  # the first request lands after all
    payment = await site.payment(payment_id)
    assert payment.state == CAPTURED
    assert payment.intent_id is not None
    assert len({r.idempotency_key for r in captures_of(site.fake.log, payment.intent_id)}) == 1
    assert_charged_once(site.fake.log, payment.intent_id, cents("2"))


@pytest.mark.parametrize("point", ["before", "after"])
async def test_a_kiosk_that_dies_around_a_capture_charges_the_guest_once(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
    point: str,
) -> None:
    """The kiosk dies between writing the capture down and sending it, or after sending it
    and before reading the answer; the restarted kiosk (a new desk on the same database)
    settles it: one capture of the exact cost, never two keys in flight."""
    charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    states = await crash_at(site, point)
    await unplugged(charger)
    with pytest.raises(KioskDied):
        await site.desk.reconcile()
    assert states == [f"{CAPTURING} 1.00"]  # written down before anything was sent
    await site.stop()
    await site.start()  # reconciles on start
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CAPTURED, Decimal("1.00"))
    assert payment.intent_id is not None
    assert intent_of(site, payment)["amount_received"] == cents("2")
    assert_charged_once(site.fake.log, payment.intent_id, cents("2"))
    keys = {r.idempotency_key for r in captures_of(site.fake.log, payment.intent_id)}
    assert len(keys) == 1  # nothing said the first might have failed: the same key again


async def test_home_assistant_gone_as_the_hold_ends_takes_the_last_known_cost(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant stops answering; an hour before the card's capture_before the kiosk
    takes what Home Assistant last said the session cost (not a minute sooner)."""
    _, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
    [dead_port] = free_ports(1)
    site.desk._bridge._base = f"http://127.0.0.1:{dead_port}/api"  # nothing listens there
    assert site.kiosk is not None
    deadline = site.desk.now() + timedelta(hours=1, minutes=1)
    await site.kiosk.app[STORE].update(payment_id, capture_before=deadline)
    await site.desk.reconcile()
    assert (await site.payment(payment_id)).state == CHARGING
    freezer.tick(timedelta(minutes=2))
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CAPTURED, Decimal("1.00"))
    assert intent_of(site, payment)["amount_received"] == cents("2")


async def test_home_assistant_gone_as_the_hold_ends_with_no_energy_seen_releases(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nothing was ever delivered (as far as the kiosk saw): the hold is released in time."""
    _, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer, wh=0)
    [dead_port] = free_ports(1)
    site.desk._bridge._base = f"http://127.0.0.1:{dead_port}/api"
    assert site.kiosk is not None
    deadline = site.desk.now() + timedelta(minutes=59)
    await site.kiosk.app[STORE].update(payment_id, capture_before=deadline)
    await site.desk.reconcile()
    payment = await site.payment(payment_id)
    assert (payment.state, payment.captured) == (CANCELLED, None)
    assert intent_of(site, payment)["status"] == "canceled"


@contextlib.asynccontextmanager
async def kiosk_refused(config: KioskConfig, fake: FakeStripe, key: str) -> AsyncIterator[None]:
    """Expect the kiosk not to start with this Stripe key (StartRefused)."""
    [stripe_port, kiosk_port] = free_ports(2)
    server = TestServer(fake.app(), host="127.0.0.1", port=stripe_port)
    await server.start_server()
    config = replace(
        config,
        stripe=StripeSettings(key, WEBHOOK_SECRET, f"http://127.0.0.1:{stripe_port}"),
    )
    kiosk = TestServer(create_app(config), host="127.0.0.1", port=kiosk_port)
    try:
        yield
        await kiosk.start_server()
    finally:
        await kiosk.close()
        await server.close()


NEEDED = ("rak_checkout_session_write", "rak_payment_intent_write", "rak_charge_read")


@pytest.mark.parametrize("missing", NEEDED)
async def test_a_key_without_a_needed_permission_is_refused_at_start(
    kiosk_config: KioskConfig, tmp_path: Path, socket_enabled: None, missing: str
) -> None:
    """A restricted key without one of the permissions the kiosk needs: no start, and the
    message names the permission."""
    fake = FakeStripe(API_KEY, WEBHOOK_SECRET, None, "http://127.0.0.1")
    key = "rk_test_" + "k" * 24
    fake.restricted_key(key, set(NEEDED) - {missing})
    config = replace(kiosk_config, database=tmp_path / "kiosk.sqlite3")
    with pytest.raises(StartRefused, match=f"lacks the '{missing}' permission"):
        async with kiosk_refused(config, fake, key):
            pass


async def test_a_restricted_key_with_the_needed_permissions_takes_a_whole_payment(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    kiosk_config: KioskConfig,
    tmp_path: Path,
    socket_enabled: None,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Only the three permissions: the kiosk starts, holds, follows and captures."""
    key = "rk_test_" + "r" * 24
    async with open_site(kiosk_config, tmp_path) as site:
        site.fake.restricted_key(key, NEEDED)
        await site.stop()
        site.config = replace(
            site.config, stripe=StripeSettings(key, WEBHOOK_SECRET, site.fake.public_url)
        )
        await site.start()
        charger, payment_id = await charging(hass, kiosk_entry, make_charger, site, freezer)
        await unplugged(charger)
        await site.desk.reconcile()
        payment = await site.payment(payment_id)
        assert (payment.state, payment.captured) == (CAPTURED, Decimal("1.00"))
        assert all(r.status != 403 for r in site.fake.log)


async def test_a_hold_below_stripes_minimum_for_the_tariffs_currency_is_refused_at_start(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    kiosk_config: KioskConfig,
    tmp_path: Path,
    socket_enabled: None,
) -> None:
    """Stripe charges at least 0.50 EUR (docs.stripe.com/currencies): a 0.49 hold is refused
    at start, saying why; 0.50 starts."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.50"})
    charger = await make_charger("CP-1", owner_approved=True)
    await charger.status(1, "Available")
    await hass.async_block_till_done()
    fake = FakeStripe(API_KEY, WEBHOOK_SECRET, None, "http://127.0.0.1")
    config = replace(kiosk_config, database=tmp_path / "kiosk.sqlite3", hold=Decimal("0.49"))
    with pytest.raises(StartRefused, match=r"below Stripe's minimum charge of 0\.50 EUR"):
        async with kiosk_refused(config, fake, API_KEY):
            pass
    async with open_site(replace(kiosk_config, hold=Decimal("0.50")), tmp_path) as site:
        assert site.kiosk is not None


# Stripe's figures from https://docs.stripe.com/currencies: "enter 1000 to charge 10 USD",
# "10 to charge 10 JPY", "5.124 KWD must be rounded to 5120 or 5130" (the kiosk rounds down:
# never more than the cost), "to charge 5 ISK, provide an amount value of 500".
@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("10", "usd", 1000),
        ("10", "JPY", 10),
        ("5.124", "KWD", 5120),
        ("5.129", "KWD", 5120),
        ("5.13", "BHD", 5130),
        ("0.009", "OMR", 0),
        ("5", "ISK", 500),
        ("5.99", "ISK", 500),
        ("12.34", "EUR", 1234),
    ],
)
def test_a_capture_is_in_the_units_and_steps_stripe_takes(
    amount: str, currency: str, units: int
) -> None:
    """Minor units per currency, three-decimal ones in tens, never rounded up."""
    assert capture_units(Decimal(amount), currency) == units


# Stripe's minimum charge amounts (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
@pytest.mark.parametrize(
    ("currency", "least"),
    [
        ("EUR", "0.50"),
        ("USD", "0.50"),
        ("GBP", "0.30"),
        ("HKD", "4.00"),
        ("HUF", "175.00"),
        ("JPY", "50"),
        ("MXN", "10"),
        ("CZK", "15.00"),
        ("THB", "10"),
    ],
)
def test_a_hold_below_stripes_minimum_is_refused(currency: str, least: str) -> None:
    """The least Stripe charges is a fine hold; one unit less is not."""
    assert hold_problem(Decimal(least), currency) is None
    below = Decimal(least) - (Decimal(1) if currency == "JPY" else Decimal("0.01"))
    assert f"below Stripe's minimum charge of {least} {currency}" in str(
        hold_problem(below, currency)
    )


@pytest.mark.parametrize(
    ("hold", "currency"), [("30.50", "JPY"), ("30.005", "KWD"), ("30.001", "BHD"), ("30.5", "ISK")]
)
def test_a_hold_stripe_cannot_write_in_its_units_is_refused(hold: str, currency: str) -> None:
    """Half a yen, a fils off the tens, a fraction of a króna: no such hold."""
    assert "is not a whole number of" in str(hold_problem(Decimal(hold), currency))


async def test_the_kiosks_payments_are_written_durably(tmp_path: Path) -> None:
    """WAL and synchronous=FULL on the store's own connection: a capture written down
    before it is sent survives a power cut."""
    store = PaymentStore(tmp_path / "kiosk.db")
    await store.open()
    try:
        pragmas = await store._run(
            lambda db: [
                db.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous")
            ]
        )
    finally:
        await store.close()
    assert pragmas == ["wal", 2]
