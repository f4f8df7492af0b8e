"""The fake Stripe, driven by the real stripe library over loopback, webhooks checked by it too."""

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer
from stripe.params.checkout import SessionCreateParams

from fake_stripe.server import FakeStripe, unflatten

API_KEY = "sk_test_fake"
SECRET = "whsec_fake"


@dataclass
class Receiver:
    """The kiosk's side of webhooks: what arrived, verified by stripe.Webhook.construct_event."""

    events: list[stripe.Event] = field(default_factory=list)
    rejected: list[stripe.SignatureVerificationError] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        """Verify and keep one webhook."""
        payload = await request.read()
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("Stripe-Signature"), SECRET
            )
        except stripe.SignatureVerificationError as err:
            self.rejected.append(err)
            return web.Response(status=400)
        self.events.append(event)
        return web.Response()


@dataclass
class Env:
    """A fake Stripe on loopback, its clock, a webhook receiver and a client of the real library."""

    fake: FakeStripe
    clock: list[datetime]
    receiver: Receiver
    url: str
    client: stripe.StripeClient
    http: aiohttp.ClientSession

    def params(self, **changes: Any) -> SessionCreateParams:
        """What the kiosk sends to start a payment."""
        params: SessionCreateParams = {
            "mode": "payment",
            "allowed_payment_method_types": ["card"],
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 3000,
                        "product_data": {"name": "Charging", "description": "Connector 1"},
                    },
                    "quantity": 1,
                }
            ],
            "payment_intent_data": {"capture_method": "manual", "metadata": {"payment_id": "p1"}},
            "metadata": {"payment_id": "p1"},
            "client_reference_id": "p1",
            "success_url": "http://kiosk.test/paid?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://kiosk.test/cancelled",
            "expires_at": int((self.clock[0] + timedelta(minutes=31)).timestamp()),
        }
        return cast(SessionCreateParams, {**params, **changes})

    async def create(self, **changes: Any) -> stripe.checkout.Session:
        """A new Checkout Session."""
        return await self.client.v1.checkout.sessions.create_async(self.params(**changes))

    async def pay_on_page(self, session_id: str) -> aiohttp.ClientResponse:
        """The guest's browser submitting the hosted payment page."""
        async with self.http.post(
            f"{self.url}/pay/{session_id}", data={"email": "ann@example.org"}, allow_redirects=False
        ) as response:
            await response.read()
            return response


@pytest.fixture
async def env(port: int) -> AsyncGenerator[Env]:
    """Everything on loopback; the clock frozen at the real now, so signatures are recent."""
    receiver = Receiver()
    hook_app = web.Application()
    hook_app.router.add_post("/stripe/webhook", receiver.handle)
    hook_server = TestServer(hook_app, host="127.0.0.1")
    await hook_server.start_server()
    clock = [datetime.now(UTC).replace(microsecond=0)]
    url = f"http://127.0.0.1:{port}"
    fake = FakeStripe(
        API_KEY, SECRET, str(hook_server.make_url("/stripe/webhook")), url, lambda: clock[0]
    )
    server = TestServer(fake.app(), host="127.0.0.1", port=port)
    await server.start_server()
    stripe_http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        API_KEY, base_addresses={"api": url}, http_client=stripe_http, max_network_retries=0
    )
    async with aiohttp.ClientSession() as http:
        yield Env(fake, clock, receiver, url, client, http)
        await fake.settle()
    await stripe_http.close_async()  # type: ignore[no-untyped-call]
    await server.close()
    await hook_server.close()


def test_unflatten() -> None:
    """Bracketed form keys nest; numbered ones are kept as keys until checked against a spec."""
    assert unflatten([("a[b][0][c]", "1"), ("a[b][1][c]", "2"), ("e[]", "x"), ("e[]", "y")]) == {
        "a": {"b": {"0": {"c": "1"}, "1": {"c": "2"}}},
        "e": {"0": "x", "1": "y"},
    }


async def test_create_and_retrieve(env: Env) -> None:
    """A session as Stripe makes it; an idempotency key replays it, or refuses other params."""
    options: stripe.RequestOptions = {"idempotency_key": "k1"}
    created = await env.client.v1.checkout.sessions.create_async(env.params(), options)
    again = await env.client.v1.checkout.sessions.create_async(env.params(), options)
    assert again.id == created.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        await env.client.v1.checkout.sessions.create_async(
            env.params(client_reference_id="p2"), options
        )

    now = int(env.clock[0].timestamp())
    assert created.id.startswith("cs_test_")
    assert created.object == "checkout.session"
    assert (created.amount_total, created.amount_subtotal, created.currency) == (3000, 3000, "eur")
    assert (created.status, created.payment_status, created.payment_intent) == (
        "open",
        "unpaid",
        None,
    )
    assert (created.created, created.expires_at) == (now, now + 31 * 60)
    assert created.url == f"{env.url}/pay/{created.id}"
    assert created.to_dict()["metadata"] == {"payment_id": "p1"}
    assert created.client_reference_id == "p1"
    assert created.payment_method_types == created.allowed_payment_method_types == ["card"]
    assert created.livemode is False
    assert created.customer_details is None

    retrieved = await env.client.v1.checkout.sessions.retrieve_async(created.id)
    assert retrieved.to_dict() == created.to_dict() == env.fake.session(created.id)
    default = await env.create(expires_at=None)
    assert default.expires_at == now + 24 * 60 * 60


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"expires_at": "soon"}, "expires_at"),
        ({"success_url": None}, "success_url"),
        ({"mode": "subscription"}, "mode"),
        ({"surprise": 1}, "surprise"),
        ({"payment_method_types": ["card"]}, "payment_method_types"),  # gone since 2026-09-30
        (
            {"payment_intent_data": {"capture_method": "later"}},
            "payment_intent_data[capture_method]",
        ),
        (
            {"line_items": [{"price_data": {"currency": "eur"}, "quantity": 1}]},
            "line_items[0][price_data][unit_amount]",
        ),
    ],
)
async def test_bad_params(env: Env, changes: dict[str, Any], param: str) -> None:
    """Stripe's answer to parameters it does not take."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await env.create(**changes)
    assert caught.value.param == param
    assert caught.value.http_status == 400


async def test_expiry_window(env: Env) -> None:
    """expires_at between 30 minutes and 24 hours from now, as Stripe requires."""
    now = env.clock[0]
    for too in (now + timedelta(minutes=29), now + timedelta(hours=24, seconds=1)):
        with pytest.raises(stripe.InvalidRequestError, match="expires_at") as caught:
            await env.create(expires_at=int(too.timestamp()))
        assert caught.value.param == "expires_at"
    await env.create(expires_at=int((now + timedelta(hours=24)).timestamp()))


async def test_keys_and_ids(env: Env) -> None:
    """A wrong key is refused; unknown ids and URLs are Stripe's 404s."""
    http_client = stripe.AIOHTTPClient()
    wrong = stripe.StripeClient(
        "sk_test_wrong", base_addresses={"api": env.url}, http_client=http_client
    )
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key"):
        await wrong.v1.checkout.sessions.create_async(env.params())
    await http_client.close_async()  # type: ignore[no-untyped-call]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await env.client.v1.payment_intents.retrieve_async("pi_nothing")
    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
    async with env.http.get(
        f"{env.url}/v1/nothing", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as r:
        assert r.status == 404
        assert (await r.json())["error"]["type"] == "invalid_request_error"


async def test_pay_and_capture_part(env: Env) -> None:
    """Paid on the hosted page: an authorization, a verified webhook, a partial capture."""
    session = await env.create()
    async with env.http.get(f"{env.url}/pay/{session.id}") as page:
        text = await page.text()
    assert page.status == 200
    for element in ('id="email"', 'id="pay"', 'id="back"', "30.00 EUR", "Charging"):
        assert element in text
    async with env.http.get(f"{env.url}/pay/{session.id}/back", allow_redirects=False) as back:
        assert (back.status, back.headers["Location"]) == (303, "http://kiosk.test/cancelled")

    paid = await env.pay_on_page(session.id)
    assert paid.status == 303
    assert paid.headers["Location"] == f"http://kiosk.test/paid?session={session.id}"
    await env.fake.settle()
    [event] = env.receiver.events
    assert event.type == "checkout.session.completed"
    assert event.api_version == stripe.api_version
    completed = event.data.object
    assert (completed["id"], completed["status"], completed["payment_status"]) == (
        session.id,
        "complete",
        "unpaid",
    )
    assert completed["customer_details"]["email"] == "ann@example.org"
    assert env.fake.deliveries == [(event.id, 200)]

    expanded = await env.client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    intent = expanded.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.id == completed["payment_intent"]
    assert (intent.status, intent.amount, intent.amount_capturable, intent.amount_received) == (
        "requires_capture",
        3000,
        3000,
        0,
    )
    assert (intent.capture_method, intent.to_dict()["metadata"]) == ("manual", {"payment_id": "p1"})
    intent = await env.client.v1.payment_intents.retrieve_async(
        intent.id, {"expand": ["latest_charge"]}
    )
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert (charge.captured, charge.amount, charge.payment_intent) == (False, 3000, intent.id)
    card = charge.payment_method_details.card  # type: ignore[union-attr]
    assert card is not None
    assert card.capture_before == int(env.clock[0].timestamp()) + 7 * 24 * 60 * 60

    captured = await env.client.v1.payment_intents.capture_async(
        intent.id, {"amount_to_capture": 1234, "expand": ["latest_charge"]}
    )
    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded",
        1234,
        0,
    )
    charge = captured.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert (charge.captured, charge.amount_captured, charge.amount_refunded) == (True, 1234, 1766)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await env.client.v1.payment_intents.capture_async(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await env.client.v1.payment_intents.cancel_async(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError, match="can be expired"):
        await env.client.v1.checkout.sessions.expire_async(session.id)
    again = await env.pay_on_page(session.id)
    assert again.status == 410


async def test_capture_bounds(env: Env) -> None:
    """Capturing nothing or more than was authorized is refused and changes nothing."""
    intent = env.fake.pay((await env.create()).id)
    for amount in (0, 3001):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await env.client.v1.payment_intents.capture_async(
                intent["id"], {"amount_to_capture": amount}
            )
        assert caught.value.param == "amount_to_capture"
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        await env.client.v1.payment_intents.capture_async(intent["id"], {"expand": ["customer"]})
    assert env.fake.intent(intent["id"])["status"] == "requires_capture"
    captured = await env.client.v1.payment_intents.capture_async(intent["id"])
    assert captured.amount_received == 3000


async def test_cancel(env: Env) -> None:
    """A cancelled authorization cannot be captured."""
    intent = env.fake.pay((await env.create()).id)
    canceled = await env.client.v1.payment_intents.cancel_async(
        intent["id"], {"cancellation_reason": "abandoned"}
    )
    assert (canceled.status, canceled.cancellation_reason, canceled.amount_capturable) == (
        "canceled",
        "abandoned",
        0,
    )
    assert canceled.canceled_at == int(env.clock[0].timestamp())
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await env.client.v1.payment_intents.capture_async(intent["id"])
    assert caught.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError):
        await env.client.v1.payment_intents.cancel_async(intent["id"])


async def test_authorization_lapses(env: Env) -> None:
    """Seven days uncaptured and Stripe cancels the intent itself."""
    intent = env.fake.pay((await env.create()).id)
    env.clock[0] += timedelta(days=7)
    lapsed = await env.client.v1.payment_intents.retrieve_async(intent["id"])
    assert (lapsed.status, lapsed.cancellation_reason) == ("canceled", "automatic")
    with pytest.raises(stripe.InvalidRequestError):
        await env.client.v1.payment_intents.capture_async(intent["id"])


async def test_expire(env: Env) -> None:
    """Expired by the API or by time: an event, and the page no longer takes payment."""
    session = await env.create()
    expired = await env.client.v1.checkout.sessions.expire_async(session.id)
    assert expired.status == "expired"
    await env.fake.settle()
    assert [e.type for e in env.receiver.events] == ["checkout.session.expired"]
    assert env.receiver.events[0].data.object["status"] == "expired"
    async with env.http.get(f"{env.url}/pay/{session.id}") as page:
        assert page.status == 410
    assert (await env.pay_on_page(session.id)).status == 410

    due = await env.create()
    env.clock[0] += timedelta(minutes=31)
    assert (await env.pay_on_page(due.id)).status == 410
    async with env.http.post(f"{env.url}/_fake/expire_due") as response:
        assert await response.json() == {"expired": [due.id]}
    await env.fake.settle()
    assert [e.type for e in env.receiver.events][-1] == "checkout.session.expired"
    assert env.fake.session(due.id)["status"] == "expired"


async def test_deliver(env: Env, port: int) -> None:
    """Replays verify; a wrong secret does not; an unreachable URL is a status 0, not an error."""
    env.fake.pay((await env.create()).id, "bob@example.org")
    await env.fake.settle()
    [event] = env.fake.events
    assert event["data"]["object"]["customer_details"] == {"email": "bob@example.org"}
    assert await env.fake.deliver(event) == 200
    assert await env.fake.deliver(event, secret="whsec_wrong") == 400
    assert [e.id for e in env.receiver.events] == [event["id"], event["id"]]
    assert len(env.receiver.rejected) == 1
    env.fake.webhook_url = f"http://127.0.0.1:{port}/nothing-here"
    assert await env.fake.deliver(event) == 404
    env.fake.webhook_url = "http://127.0.0.1:9/"
    assert await env.fake.deliver(event) == 0
    assert [status for _, status in env.fake.deliveries] == [200, 200, 400, 404, 0]


async def test_a_500_is_kept_for_its_idempotency_key_and_replayed(env: Env) -> None:
    """As Stripe: the first answer to a key, a 500 too, is the answer to every retry with
    it; a new key is a new request. The log has every request with its key and answer."""
    intent = env.fake.pay((await env.create()).id)
    env.fake.fail_next(r"/capture$")
    options: stripe.RequestOptions = {"idempotency_key": "capture-1"}
    for _ in range(2):
        with pytest.raises(stripe.APIError) as caught:
            await env.client.v1.payment_intents.capture_async(intent["id"], options=options)
        assert caught.value.http_status == 500
    assert env.fake.intent(intent["id"])["status"] == "requires_capture"
    captured = await env.client.v1.payment_intents.capture_async(
        intent["id"], options={"idempotency_key": "capture-2"}
    )
    assert captured.status == "succeeded"
    captures = [r for r in env.fake.log if r.path.endswith("/capture")]
    assert [(r.idempotency_key, r.status, r.replayed) for r in captures] == [
        ("capture-1", 500, False),
        ("capture-1", 500, True),
        ("capture-2", 200, False),
    ]
    assert captures[0].answer == {
        "error": {"type": "api_error", "message": "An unknown error occurred"}
    }


async def test_a_500_after_the_effect_took_the_money(env: Env) -> None:
    """`after`: the capture happened, its answer (and every replay) is a 500."""
    intent = env.fake.pay((await env.create()).id)
    env.fake.fail_next(r"/capture$", after=True)
    with pytest.raises(stripe.APIError):
        await env.client.v1.payment_intents.capture_async(
            intent["id"], options={"idempotency_key": "k"}
        )
    assert env.fake.intent(intent["id"])["status"] == "succeeded"
    assert env.fake.captures(intent["id"]) == 1


async def test_a_restricted_key_is_refused_what_it_lacks_before_any_lookup(env: Env) -> None:
    """A restricted key without a permission: 403 (stripe.PermissionError) in Stripe's words,
    on objects that exist or not; with it, a missing object is a 404. Write includes read;
    an expanded object needs read on its kind."""
    key = "rk_test_" + "x" * 24
    env.fake.restricted_key(key, ["rak_payment_intent_write", "rak_checkout_session_write"])
    http_client = stripe.AIOHTTPClient()
    restricted = stripe.StripeClient(key, base_addresses={"api": env.url}, http_client=http_client)
    try:
        with pytest.raises(stripe.PermissionError) as caught:
            await restricted.v1.charges.list_async({"limit": 1})
        assert caught.value.http_status == 403
        assert "does not have the required permissions for this endpoint" in str(caught.value)
        assert "Having the 'rak_charge_read' permission" in str(caught.value)
        assert key not in str(caught.value)  # masked
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await restricted.v1.payment_intents.update_async("pi_probe_nonexistent")
        assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
        intent = env.fake.pay((await restricted.v1.checkout.sessions.create_async(env.params())).id)
        read = await restricted.v1.payment_intents.retrieve_async(intent["id"])  # write: read
        assert read.status == "requires_capture"
        with pytest.raises(stripe.PermissionError, match="rak_charge_read"):
            await restricted.v1.payment_intents.retrieve_async(
                intent["id"], {"expand": ["latest_charge"]}
            )
        env.fake.restricted_key(key, ["rak_charge_read"])
        with pytest.raises(stripe.PermissionError, match="rak_payment_intent_write"):
            await restricted.v1.payment_intents.capture_async("pi_nothing")
        listed = await restricted.v1.charges.list_async({"limit": 1})
        assert [charge.payment_intent for charge in listed.data] == [intent["id"]]
    finally:
        await http_client.close_async()  # type: ignore[no-untyped-call]
