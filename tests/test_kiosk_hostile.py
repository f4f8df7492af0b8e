"""The kiosk on a hostile network (issue 14): each attack as it was made, over real HTTP on
loopback against the real integration, the fake Stripe and the real `stripe` library."""

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network
from typing import Any

import aiohttp
import pytest
import stripe
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

import kiosk.qr
from custom_components.ev_charging.const import CONF_PRICE_PER_KWH
from kiosk.app import QR_CODES, create_app, server_options
from kiosk.bridge import BridgeError, IntegrationBridge
from kiosk.config import KioskConfig
from kiosk.store import CHARGING, CHECKOUT, RELEASED, REVIEW
from simulator.charger import SimulatedCharger, iso

from .conftest import ChargerFactory
from .helpers import until
from .kiosk_site import WEBHOOK_SECRET, Site
from .test_billing import add_tariff
from .test_kiosk_api import eventually
from .test_payments import payment_of
from .test_security import give_password

EVIL = "https://evil.example"
FAILED_LOGIN = "Login attempt or request with invalid authentication"


@pytest.fixture
async def kiosk_entry(hass: HomeAssistant, kiosk_entry: MockConfigEntry) -> MockConfigEntry:
    """conftest's, with Home Assistant's REST API loaded as in any installation: its
    /api/states answers a request with a wrong key as a failed login."""
    assert await async_setup_component(hass, "api", {})
    return kiosk_entry


@pytest.fixture
def notifications(hass: HomeAssistant) -> list[str]:
    """The ids of the persistent notifications Home Assistant raises during the test."""
    raised: list[str] = []

    def seen(kind: Any, changed: dict[str, Any]) -> None:
        if kind == persistent_notification.UpdateType.ADDED:
            raised.extend(changed)

    persistent_notification.async_register_callback(hass, seen)
    return raised


async def connectors_free(
    hass: HomeAssistant, entry: MockConfigEntry, make_charger: ChargerFactory, count: int
) -> SimulatedCharger:
    """CP-1 with `count` free connectors and a guest tariff."""
    await add_tariff(hass, entry, **{CONF_PRICE_PER_KWH: "0.50"})
    charger = await make_charger("CP-1", connectors=count, owner_approved=True)
    for connector in range(1, count + 1):
        await charger.status(connector, "Available")
    await hass.async_block_till_done()
    return charger


async def press_pay(site: Site, connector: int, **headers: str) -> ClientResponse:
    """The pay button of CP-1's connector (from the kiosk's own page unless headers say)."""
    return await site.post(f"/c/CP-1/{connector}/pay", **headers)


async def hold(site: Site, connector: int) -> str:
    """Press pay and get to Stripe's page; the payment's id."""
    response = await press_pay(site, connector)
    assert response.status == 303, await response.text()
    return await payment_of(site, response.headers["Location"].rsplit("/", 1)[1])


async def later(freezer: FrozenDateTimeFactory, charger: SimulatedCharger, minutes: float) -> None:
    """Time passes; the charger keeps in touch meanwhile, as it would (its heartbeat)."""
    freezer.tick(timedelta(minutes=minutes))
    await charger.heartbeat()


async def is_free(site: Site, connector: int) -> bool:
    """What the connector's page says to a guest."""
    page = await (await site.http.get(f"{site.url}/c/CP-1/{connector}")).text()
    return "Free: you can charge here now." in page


# 8: path tricks in the charger id.

BAD_ADDRESSES = [
    "/c/..%2F..%2F..%2F..%2F..%2Fapi%2Fstates/1",  # the attack: out of the kiosk API
    "/c/..%2Fconnectors%23/1",  # answered 500
    "/c/%2E%2E/1",
    "/c/%2E/1",
    "/c/CP-1%252F..%252F/1",  # encoded twice: decoded once, a % is left
    "/c/CP%5C1/1",
    "/c/CP%3F1/1",
    "/c/CP%201/1",
    "/c/CP%C3%A91/1",
    "/c/" + "C" * 49 + "/1",
    "/c/CP-1/0",
    "/c/CP-1/1000",
    "/c/CP-1/01",
    "/c/CP-1/-1",
    "/c/CP-1/%C2%B2",  # superscript two: str.isdigit() says yes
    "/c/CP-1/%D9%A1",  # Arabic-Indic one: int() reads it as 1
]


async def test_path_tricks_in_a_charger_id_never_reach_home_assistant(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    kiosk_config: KioskConfig,
    make_charger: ChargerFactory,
    site: Site,
    notifications: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charger id or connector number outside the rule is a 404 before any request to Home
    Assistant: no failed login there (which a ban threshold turns into a banned kiosk), no
    500; and every id the kiosk sends is one quoted path segment."""
    await connectors_free(hass, kiosk_entry, make_charger, 1)
    for path in BAD_ADDRESSES:
        url = URL(f"{site.url}{path}", encoded=True)
        response = await site.http.get(url)
        assert response.status == 404, path
        assert "Unknown connector" in await response.text()
        paying = await site.http.post(
            URL(f"{site.url}{path}/pay", encoded=True),
            headers={"Origin": site.url},
            allow_redirects=False,
        )
        assert paying.status == 404, path
    assert site.fake.checkout_ids() == []
    # Logged briefly, never whole.
    assert "Refused a connector address" in caplog.text
    assert "C" * 40 not in caplog.text

    # Ids from Home Assistant or the kiosk's database go out as one segment each, too.
    async with ClientSession() as http:
        bridge = IntegrationBridge(http, kiosk_config.ha_url, kiosk_config.kiosk_key)
        with pytest.raises(BridgeError) as refused:
            await bridge.session("../../../../../api/states")
        # Home Assistant refuses the path (its filter, or the kiosk API): no 401 from /api/.
        assert refused.value.status in (400, 404)
        with pytest.raises(BridgeError):
            await bridge.stop_session("..")
        assert await bridge.connector("../connectors#", 1) is None
        assert (await bridge.connector("CP-1", 1) or {}).get("state") == "available"

    await hass.async_block_till_done()
    assert FAILED_LOGIN not in caplog.text
    assert "http-login" not in notifications


# 9: cross-site forms, holds without end, headers.


async def test_forms_from_another_site_change_nothing(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """Three POSTs from evil.example's page (its visitors' browsers send them) hold nothing:
    403, no Checkout, no ReserveNow. Nor does a form without its origin, nor following
    Stripe's back link; the guest's own pages still work (Origin, or only a Referer)."""
    charger = await connectors_free(hass, kiosk_entry, make_charger, 3)
    attack = await asyncio.gather(*(press_pay(site, n, Origin=EVIL) for n in (1, 2, 3)))
    assert [response.status for response in attack] == [403, 403, 403]
    assert "Not done" in await attack[0].text()
    for headers in (
        {"Origin": "null"},  # a sandboxed frame, a redirect across sites
        {"Origin": site.url.replace("http://", "https://")},
        {"Origin": f"{site.url}.evil.example"},
        {"Origin": EVIL, "Referer": f"{site.url}/c/CP-1/1"},  # a wrong Origin stays wrong
        {"Origin": "", "Referer": f"{EVIL}/c/CP-1/1"},
        {"Origin": "", "Referer": ""},  # both kept back
    ):
        assert (await press_pay(site, 1, **headers)).status == 403, headers
    assert site.fake.checkout_ids() == []
    assert not any(action == "ReserveNow" for action, _ in charger.received_calls)
    assert all([await is_free(site, n) for n in (1, 2, 3)])

    # A browser that sends only the Referer (its own page) may pay.
    assert (await press_pay(site, 1, Origin="", Referer=f"{site.url}/c/CP-1/1")).status == 303
    payment_id = await hold(site, 2)
    # Stripe's back link asks; only the page's own button cancels.
    question = await site.http.get(f"{site.url}/s/{payment_id}/cancel")
    assert question.status == 200
    assert f"action='/s/{payment_id}/cancel'" in await question.text()
    assert (await site.payment(payment_id)).state == CHECKOUT
    for action in ("cancel", "stop"):
        response = await site.post(f"/s/{payment_id}/{action}", Origin=EVIL)
        assert response.status == 403, action
    assert (await site.payment(payment_id)).state == CHECKOUT
    assert (await site.post(f"/s/{payment_id}/cancel")).status == 303
    assert (await site.payment(payment_id)).state == RELEASED
    assert await is_free(site, 2)


async def test_every_answer_carries_the_security_headers(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """Pages, redirects, errors, the stylesheet and JSON: none may be framed or sniffed, and
    no page sends its address (the session page's is its key) to another site."""
    await connectors_free(hass, kiosk_entry, make_charger, 2)
    payment_id = await hold(site, 2)
    answers = [
        await site.http.get(f"{site.url}{path}", allow_redirects=False)
        for path in (
            "/c/CP-1/1",
            "/stickers",
            "/style.css",
            "/healthz",
            f"/s/{payment_id}",
            f"/s/{payment_id}/cancel",
            "/c/CP-1/9",
            "/nowhere",
        )
    ]
    answers += [
        await press_pay(site, 1, Origin=EVIL),
        await press_pay(site, 1),
        await site.http.post(f"{site.url}/stripe/webhook", data="{}"),
    ]
    assert sorted({answer.status for answer in answers}) == [200, 303, 400, 403, 404]
    for answer in answers:
        policy = answer.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy, answer.url
        assert "frame-ancestors 'none'" in policy, answer.url
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", answer.url
        assert answer.headers.get("Referrer-Policy") == "same-origin", answer.url
    # So nothing inline: the style is a file of its own.
    page = await answers[0].text()
    assert "<style" not in page
    assert "<link rel='stylesheet' href='/style.css'>" in page


async def test_one_address_holds_two_connectors_and_not_the_same_one_again_at_once(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """By default an address holds at most 2 connectors it has not paid for; a connector whose
    hold ran out unpaid is not held by the same address again for 15 minutes (so it cannot be
    kept held for ever); another address is not affected."""
    charger = await connectors_free(hass, kiosk_entry, make_charger, 3)
    # Three presses at once (the attack took 80 ms): two holds, one refused.
    answers = await asyncio.gather(*(press_pay(site, n) for n in (1, 2, 3)))
    presses = dict(zip((1, 2, 3), answers, strict=True))
    assert sorted(press.status for press in presses.values()) == [303, 303, 429]
    [spare] = [n for n, press in presses.items() if press.status == 429]
    assert "You have begun paying at other connectors already" in await presses[spare].text()
    assert len(site.fake.checkout_ids()) == 2
    assert await is_free(site, spare)
    async with site.guest_at("127.0.0.2"):
        await hold(site, spare)

    # A hold runs out unpaid: its connector is free, but not for the same address.
    lapsed = min(n for n in presses if n != spare)
    checkout_id = presses[lapsed].headers["Location"].rsplit("/", 1)[1]
    site.fake.expire(checkout_id)
    await site.fake.settle()
    assert (await site.payment(await payment_of(site, checkout_id))).state == RELEASED
    assert await is_free(site, lapsed)
    again = await press_pay(site, lapsed)
    assert again.status == 429
    assert "Your last payment for this connector was not finished" in await again.text()
    assert await is_free(site, lapsed)
    await later(freezer, charger, 14)
    assert (await press_pay(site, lapsed)).status == 429
    await later(freezer, charger, 2)
    await hold(site, lapsed)


async def test_one_address_begins_at_most_six_holds_an_hour(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Holding and cancelling in turn (each a ReserveNow and its cancellation at the charger)
    stops at 6 holds begun in an hour; an hour after the first, the address may again."""
    charger = await connectors_free(hass, kiosk_entry, make_charger, 4)

    async def hold_and_cancel(connector: int) -> None:
        payment_id = await hold(site, connector)
        assert (await site.post(f"/s/{payment_id}/cancel")).status == 303

    for connector in (1, 2, 3, 4):
        await hold_and_cancel(connector)
    await later(freezer, charger, 16)  # past the cooldown of each
    for connector in (1, 2):
        await hold_and_cancel(connector)
    await later(freezer, charger, 16)
    refused = await press_pay(site, 3)
    assert refused.status == 429
    assert "try again later" in await refused.text()
    await later(freezer, charger, 29)  # 61 minutes after the first
    await hold(site, 3)


async def test_addresses_forwarded_by_a_trusted_proxy_count_apart(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """Behind a reverse proxy named in the settings, each guest is the address it forwarded
    for; an X-Forwarded-For from anyone else is ignored (it would escape the limits)."""
    await site.stop()
    site.config = replace(site.config, trusted_proxies=(ip_network("127.0.0.1/32"),))
    await site.start()
    await connectors_free(hass, kiosk_entry, make_charger, 6)

    async def pay_as(connector: int, forwarded_for: str) -> int:
        return (await press_pay(site, connector, **{"X-Forwarded-For": forwarded_for})).status

    assert [await pay_as(n, "198.51.100.7") for n in (1, 2, 3)] == [303, 303, 429]
    assert await pay_as(3, "198.51.100.8") == 303  # another guest behind the same proxy
    async with site.guest_at("127.0.0.2"):  # not a proxy: what it claims does not count
        statuses = [await pay_as(n, f"198.51.100.{n + 5}") for n in (4, 5, 6)]
    assert statuses == [303, 303, 429]


# 10: a webhook signed for later.


async def test_a_webhook_signed_ahead_of_time_is_refused(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """Signed with the right secret but dated an hour ahead: 400, like one an hour old; the
    same tolerance (5 minutes) either way, and within it the event is taken."""
    await connectors_free(hass, kiosk_entry, make_charger, 1)
    site.fake.webhook_url = None  # the test delivers the event itself
    payment_id = await hold(site, 1)
    checkout_id = (await site.payment(payment_id)).checkout_id
    assert checkout_id is not None
    site.fake.pay(checkout_id)
    [completed] = [e for e in site.fake.events if e["type"] == "checkout.session.completed"]
    payload = json.dumps(completed)

    async def deliver(offset: int) -> int:
        header = stripe.WebhookSignature.generate_signature_header(
            payload, WEBHOOK_SECRET, int(time.time()) + offset
        )
        async with site.http.post(
            f"{site.url}/stripe/webhook",
            data=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        ) as response:
            return response.status

    for offset in (3600, 310, -310, -3600):
        assert await deliver(offset) == 400, offset
    assert (await site.payment(payment_id)).state == CHECKOUT
    assert await deliver(240) == 200
    assert (await site.payment(payment_id)).state == CHARGING


# 12: half-open connections.


async def what_was_said(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closed the connection. A close with our bytes still
    unread on its side is a reset (a loaded machine reads them late): closed all the same."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


async def test_connections_without_their_headers_are_closed(socket_enabled: None) -> None:
    """150 connections that never finish their headers (or send nothing) are closed after
    the header timeout (0.5 s here, 5 s by default); the kiosk still answers."""
    config = KioskConfig(
        ha_url="http://127.0.0.1:9",
        kiosk_key="evk_" + "x" * 40,
        public_url="https://charge.example.org",
        header_timeout=0.5,
    )
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server(**server_options(config))
    try:
        streams = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(150)]
        for number, (_, writer) in enumerate(streams):
            if number % 3:
                writer.write(b"GET /c/CP-1/1 HTTP/1.1\r\nHost: kiosk\r\nX-Slow: ")
                await writer.drain()
        # Bounded: far longer than the timeout, far shorter than keeping them (75 s before).
        async with asyncio.timeout(10):
            answers = await asyncio.gather(*(what_was_said(reader) for reader, _ in streams))
        assert answers == [b""] * 150  # closed, with nothing said
        for _, writer in streams:
            writer.close()
        async with aiohttp.ClientSession() as http:
            assert (await http.get(server.make_url("/healthz"))).status == 200
    finally:
        await server.close()


# 13: a flood of sticker page views.


async def test_a_sticker_flood_draws_each_code_once_while_webhooks_answer(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hundred sticker sheets at once while a guest pays: each QR code is drawn once, off
    the event loop; the Stripe webhook is answered and the session starts; a new connector
    gets its code."""
    drawn_in: list[int] = []
    draw: Callable[[str], str] = kiosk.qr.qr_svg

    def drawing(data: str) -> str:
        drawn_in.append(threading.get_ident())
        return draw(data)

    monkeypatch.setattr(kiosk.qr, "qr_svg", drawing)
    await connectors_free(hass, kiosk_entry, make_charger, 3)
    checkout_id = (await site.payment(await hold(site, 1))).checkout_id
    assert checkout_id is not None

    async def sheet() -> str:
        async with site.http.get(f"{site.url}/stickers") as response:
            assert response.status == 200
            return await response.text()

    async def pay() -> None:
        await site.http.post(f"{site.fake.public_url}/pay/{checkout_id}", allow_redirects=False)
        await site.fake.settle()

    *sheets, _ = await asyncio.gather(*(sheet() for _ in range(100)), pay())
    assert len(set(sheets)) == 1
    assert sheets[0].count("<svg") == 3
    assert site.kiosk is not None
    codes = site.kiosk.app[QR_CODES]
    assert codes.renders == len(drawn_in) == 3
    assert threading.get_ident() not in drawn_in  # drawn in the kiosk's drawing thread
    assert site.fake.deliveries
    assert all(status == 200 for _, status in site.fake.deliveries)
    assert (await site.payment(await payment_of(site, checkout_id))).state == CHARGING

    second = await make_charger("CP-2", owner_approved=True)
    await second.status(1, "Available")
    await hass.async_block_till_done()
    assert (await sheet()).count("<svg") == 4
    assert codes.renders == len(drawn_in) == 4


# The attacker review's second round: a stranger's charger, a thrashed QR cache, a Stripe
# call per page view, a log flooded through wrong keys.


async def offered_ids(bridge: IntegrationBridge) -> set[str]:
    """The chargers the kiosk API offers guests."""
    return {found["charger_id"] for found in await bridge.connectors()}


async def test_a_charger_accepted_automatically_is_not_offered_to_guests(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
) -> None:
    """With automatic acceptance on, a stranger connects as SIM-0O2 (before the owner's
    SIM-002, so no look-alike rule stops it): the kiosk has no page, sticker, hold or payment
    for it (the attack had a guest pay for it and sent it the guest's tag), and the kiosk API
    does not know it. A charger with a password, or one a person approved, is offered."""
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.50"})
    stranger = await make_charger("SIM-0O2")
    own = await make_charger("SIM-002", owner_approved=True)
    for charger in (own, stranger):
        await charger.status(1, "Available")
    await hass.async_block_till_done()
    central = kiosk_entry.runtime_data.central
    assert central.chargers["SIM-0O2"].approved  # let in, by automatic acceptance

    sheet = await (await site.http.get(f"{site.url}/stickers")).text()
    assert "/c/SIM-002/1" in sheet
    assert "SIM-0O2" not in sheet
    page = await site.http.get(f"{site.url}/c/SIM-0O2/1")
    assert page.status == 404
    assert "Unknown connector" in await page.text()
    paying = await site.post("/c/SIM-0O2/1/pay")
    assert paying.status == 404
    assert "does not belong to a charger here" in await paying.text()
    assert site.fake.checkout_ids() == []

    # The kiosk API itself, asked with the kiosk's key.
    async with ClientSession() as http:
        bridge = IntegrationBridge(http, site.config.ha_url, site.config.kiosk_key)
        assert await offered_ids(bridge) == {"SIM-002"}
        assert await bridge.connector("SIM-0O2", 1) is None
        with pytest.raises(BridgeError) as refused:
            await bridge.hold("SIM-0O2", 1, 35)
        assert (refused.value.status, refused.value.error) == (404, "unknown_connector")
        assert not [
            a for a, _ in stranger.received_calls if a in ("ReserveNow", "RemoteStartTransaction")
        ]

        # The owner's charger is paid for as ever.
        payment_id = await site.scan_and_pay("SIM-002")
        assert (await site.payment(payment_id)).state == CHARGING
        assert not [a for a, _ in stranger.received_calls if a == "RemoteStartTransaction"]

        # A charger that logs in with its password is the owner's; so is one a person
        # approves.
        password = await give_password(hass, kiosk_entry, "SIM-007")
        keyed = await make_charger("SIM-007", password=password)
        await keyed.status(1, "Available")
        await central.trust(["SIM-0O2"])
        await hass.async_block_till_done()
        assert await offered_ids(bridge) == {"SIM-002", "SIM-007", "SIM-0O2"}
        assert (await bridge.connector("SIM-0O2", 1) or {}).get("state") == "available"


async def flagged_session(
    site: Site, charger: SimulatedCharger, bridge: IntegrationBridge, connector: int, flag: str
) -> str:
    """A guest pays at CP-1's connector; the charger reports what cannot be (`flag`) and
    stops; the payment's id once its bill is final."""
    payment_id = await site.scan_and_pay("CP-1", connector)
    await until(lambda: connector in charger.transactions, "the car charges")
    transaction_id = charger.transactions[connector]
    if flag == "implausible_energy":
        # 60 kWh the moment the session began: what the attack's charger reported.
        register = charger.energy_wh[connector] + 60_000
        await charger.meter_values(connector, transaction_id, power_w=7000, energy_wh=register)
    else:
        reading = {"value": "NaN", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        reply = await charger.call_raw(
            [
                2,
                "absurd",
                "MeterValues",
                {
                    "connectorId": connector,
                    "transactionId": transaction_id,
                    "meterValue": [{"timestamp": iso(), "sampledValue": [reading]}],
                },
            ]
        )
        assert reply[0] == 3, reply
    await charger.stop_transaction(transaction_id, reason="EVDisconnected")
    await charger.status(connector, "Available")
    guest_session = (await site.payment(payment_id)).guest_session_id
    assert guest_session is not None

    async def final() -> bool:
        return bool((await bridge.session(guest_session))["final"])

    await eventually(final, "the bill is final")
    assert flag in (await bridge.session(guest_session))["flags"]
    return payment_id


async def test_a_bill_with_impossible_readings_is_held_for_the_owner(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charger reports more energy than it can have delivered, or a reading no meter can
    show: the session's JSON carries the flag, and the kiosk takes nothing (the attack's
    kiosk captured what the charger claimed) and releases nothing: the card stays held for the
    owner, the guest is told the charge is being checked, and reconciling changes nothing."""
    charger = await connectors_free(hass, kiosk_entry, make_charger, 2)
    charger.stalled.update((1, 2))  # the readings are the test's own
    async with ClientSession() as http:
        bridge = IntegrationBridge(http, site.config.ha_url, site.config.kiosk_key)
        payments = [
            await flagged_session(site, charger, bridge, connector, flag)
            for connector, flag in ((1, "implausible_energy"), (2, "absurd_reading"))
        ]
    for payment_id in payments:
        for _ in range(2):
            await site.desk.reconcile()
        payment = await site.payment(payment_id)
        assert (payment.state, payment.captured) == (REVIEW, None)
        assert payment.intent_id is not None
        intent = site.fake.intent(payment.intent_id)
        assert (intent["status"], intent["amount_received"]) == ("requires_capture", 0)
        assert site.fake.captures(payment.intent_id) == 0
        page = await site.page(payment_id)
        assert "The charge is being checked; nothing beyond the hold is taken." in page
        assert "http-equiv='refresh'" not in page
        assert f"{payment_id}: the bill of CP-1/" in caplog.text
    assert not [path for path in site.fake.requests if path.endswith(("/capture", "/cancel"))]


async def test_a_sticker_sheet_of_many_connectors_draws_each_code_once(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More than 1,024 connectors (the old cache's size): five views at once and more after
    draw each code once (the attack: every view drew every code, 24 s for five); a new
    connector gets its code and nothing else is drawn again."""
    drawn: list[str] = []

    def drawing(data: str) -> str:
        drawn.append(data)
        return f"<svg>{data}</svg>"  # what a drawing costs is not the point here

    monkeypatch.setattr(kiosk.qr, "qr_svg", drawing)
    await add_tariff(hass, kiosk_entry, **{CONF_PRICE_PER_KWH: "0.50"})
    chargers = [
        await make_charger(f"BAY-{number:02}", connectors=100, owner_approved=True)
        for number in range(11)
    ]
    for charger in chargers:
        for connector in range(1, 101):
            await charger.status(connector, "Available")
    await hass.async_block_till_done()

    async def sheet() -> str:
        async with site.http.get(f"{site.url}/stickers") as response:
            assert response.status == 200
            return await response.text()

    sheets = await asyncio.gather(*(sheet() for _ in range(5)))
    sheets += [await sheet() for _ in range(3)]
    assert len(set(sheets)) == 1
    assert sheets[0].count("<svg>") == 1100
    assert len(drawn) == len(set(drawn)) == 1100
    assert site.kiosk is not None
    assert site.kiosk.app[QR_CODES].renders == 1100

    added = await make_charger("BAY-11", owner_approved=True)  # the list changes: one code
    await added.status(1, "Available")
    await hass.async_block_till_done()
    for _ in range(3):
        assert (await sheet()).count("<svg>") == 1101
    assert len(drawn) == 1101
    assert drawn[-1].endswith("/c/BAY-11/1")


async def test_session_page_views_do_not_each_ask_stripe(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    make_charger: ChargerFactory,
    site: Site,
    freezer: FrozenDateTimeFactory,
) -> None:
    """300 views of a session page still in Checkout: one look-up at Stripe (the attack: one
    each); another only 10 seconds later; the webhook still starts the session."""
    charger = await connectors_free(hass, kiosk_entry, make_charger, 1)
    payment_id = await hold(site, 1)
    checkout_id = (await site.payment(payment_id)).checkout_id
    assert checkout_id is not None
    lookup = f"GET /v1/checkout/sessions/{checkout_id}"
    pages = await asyncio.gather(*(site.page(payment_id) for _ in range(150)))
    pages += [await site.page(payment_id) for _ in range(150)]
    assert all("Waiting for your payment to be confirmed" in page for page in pages)
    assert site.fake.requests[lookup] == 1
    await site.desk.reconcile()
    freezer.tick(timedelta(seconds=9))
    await site.page(payment_id)
    assert site.fake.requests[lookup] == 1
    freezer.tick(timedelta(seconds=2))
    await site.page(payment_id)
    await site.page(payment_id)
    assert site.fake.requests[lookup] == 2

    await site.pay(checkout_id)
    assert (await site.payment(payment_id)).state == CHARGING
    await until(lambda: 1 in charger.transactions, "the car charges")
    assert site.fake.requests[lookup] == 2


async def test_wrong_kiosk_keys_do_not_flood_the_log(
    hass: HomeAssistant,
    kiosk_entry: MockConfigEntry,
    kiosk_config: KioskConfig,
    caplog: pytest.LogCaptureFixture,
    freezer: FrozenDateTimeFactory,
) -> None:
    """2,000 requests with wrong kiosk keys: the integration's own warning 10 times a minute,
    the rest counted (the attack: a warning each, +776 kB of log); Home Assistant's own
    failed-login handling sees every one, as before."""
    url = f"{kiosk_config.ha_url}/api/ev_charging/kiosk/v1/connectors"

    async def wrong_keys(count: int) -> None:
        async with ClientSession() as http:
            for number in range(count):
                headers = {"Authorization": f"Bearer evk_wrong_{number}"}
                async with http.get(url, headers=headers) as response:
                    assert response.status == 401

    def ours() -> list[str]:
        return [
            record.getMessage()
            for record in caplog.records
            if record.name == "custom_components.ev_charging.kiosk_api"
            and "wrong key" in record.getMessage()
        ]

    await wrong_keys(2000)
    await hass.async_block_till_done()
    assert len(ours()) == 10
    assert caplog.text.count(FAILED_LOGIN) == 2000
    freezer.tick(timedelta(seconds=61))
    await wrong_keys(1)
    assert len(ours()) == 11
    assert ours()[-1].endswith("wrong key (1990 similar lines left out)")
