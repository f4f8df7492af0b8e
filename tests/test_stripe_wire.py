"""The Stripe wire check: what the kiosk's gateway sends, as the real `stripe` library puts it
on the wire, checked against the library's own typed parameters and its resource classes.

The oracle is the library (the TypedDicts it generates from Stripe's OpenAPI spec, and the
URLs its resource classes request), never the gateway nor the fake: a parameter Stripe
renames, drops or narrows in a later API version fails here, not at a guest's card.
"""

import inspect
import re
import typing
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from urllib.parse import parse_qsl

import aiohttp
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer
from stripe.params import (
    ChargeListParams,
    PaymentIntentCancelParams,
    PaymentIntentCaptureParams,
    PaymentIntentRetrieveParams,
    PaymentIntentUpdateParams,
)
from stripe.params.checkout import SessionCreateParams, SessionExpireParams, SessionRetrieveParams
from typing_extensions import is_typeddict

from fake_stripe import params as accepted
from fake_stripe.server import FakeStripe, unflatten
from kiosk.stripe_gateway import StripeGateway

from .stripe_params import (
    Form,
    alternatives,
    decode_form,
    fields,
    is_map,
    join_path,
    object_problems,
    type_name,
)

API_KEY = "sk_test_wire"
SESSION_ID, INTENT_ID, CHARGE_ID = "cs_test_wire", "pi_wire", "ch_wire"
ANY_ID = "id_placeholder"  # the object id the library's resource classes are asked about

# A recording Stripe on loopback: plausible objects, every request kept as sent.


@dataclass(frozen=True)
class Sent:
    """One HTTP request as it reached the server."""

    method: str
    path: str
    raw: str
    """The form: the body of a POST, the query string of a GET."""
    content_type: str


def _answer(method: str, path: str, raw: str) -> dict[str, Any]:
    try:
        expand = set(_array(decode_form(raw).get("expand", {})))
    except ValueError:
        expand = set()
    parts = path.strip("/").split("/")[1:]  # without "v1"
    rest = parts[2:] if parts[0] == "checkout" else parts[1:]  # [id, action], either optional
    action = rest[1] if len(rest) > 1 else ""
    charge = {
        "id": CHARGE_ID,
        "object": "charge",
        "payment_method_details": {"type": "card", "card": {"capture_before": 1_900_000_000}},
    }
    if parts[:2] == ["checkout", "sessions"]:
        status = {"": "complete" if rest else "open", "expire": "expired"}.get(action, "open")
        return {
            "id": SESSION_ID,
            "object": "checkout.session",
            "status": status,
            "url": f"https://checkout.stripe.test/{SESSION_ID}",
            "payment_intent": INTENT_ID,
        }
    if parts[0] == "payment_intents":
        status = {"capture": "succeeded", "cancel": "canceled"}.get(action, "requires_capture")
        return {
            "id": INTENT_ID,
            "object": "payment_intent",
            "status": status,
            "amount": 3000,
            "amount_received": 3000 if status == "succeeded" else 0,
            "latest_charge": charge if "latest_charge" in expand else CHARGE_ID,
        }
    if parts == ["charges"] and method == "GET":
        return {"object": "list", "data": [charge], "has_more": False, "url": path}
    if parts[0] == "charges":
        return charge
    # An endpoint the gateway did not use before: the test names it (no case yet).
    return {"id": parts[-1], "object": parts[0].rstrip("s")}


def _array(value: Form) -> list[Form]:
    return [value[key] for key in sorted(value, key=int)] if isinstance(value, dict) else [value]


class Recorder:
    """An aiohttp app that answers any request with a plausible object and records it."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def handle(self, request: web.Request) -> web.Response:
        """Record, then answer."""
        raw = await request.text() if request.method == "POST" else request.rel_url.raw_query_string
        self.sent.append(Sent(request.method, request.path, raw, request.content_type))
        return web.json_response(_answer(request.method, request.path, raw))


@dataclass(frozen=True)
class Wire:
    """The recorder, and a gateway of the kiosk talking to it."""

    recorder: Recorder
    gateway: StripeGateway


@pytest.fixture
async def wire(socket_enabled: None, monkeypatch: pytest.MonkeyPatch) -> AsyncGenerator[Wire]:
    """A recording server on loopback; the library's global settings aimed at it too, so its
    resource classes (stripe.PaymentIntent.capture_async, ...) can be asked for their URLs."""
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        monkeypatch.setattr(stripe, "api_base", url)
        monkeypatch.setattr(stripe, "api_key", API_KEY)
        monkeypatch.setattr(stripe, "max_network_retries", 0)
        monkeypatch.setattr(stripe, "default_http_client", stripe.AIOHTTPClient(session=http))
        yield Wire(recorder, StripeGateway(API_KEY, url, http))
    await server.close()


# What each gateway method is meant to do, in the library's terms.


@dataclass(frozen=True)
class Action:
    """A Stripe API action as the library's resource class names it, with the params type
    the library's client (StripeClient, which the gateway uses) declares for it."""

    resource: type[stripe.StripeObject]
    name: str
    params: type
    on_object: bool = True
    """Whether the action is on one object (its id in the URL) or on the collection."""

    async def request(self, recorder: Recorder) -> Sent:
        """The request the resource class sends for this action (its method and URL), about
        the object ANY_ID."""
        before = len(recorder.sent)
        call = getattr(self.resource, f"{self.name}_async")
        await (call(ANY_ID) if self.on_object else call())
        (sent,) = recorder.sent[before:]
        return sent

    def __str__(self) -> str:
        return f"{self.resource.__name__}.{self.name}"


CREATE_SESSION = Action(stripe.checkout.Session, "create", SessionCreateParams, on_object=False)
RETRIEVE_SESSION = Action(stripe.checkout.Session, "retrieve", SessionRetrieveParams)
EXPIRE_SESSION = Action(stripe.checkout.Session, "expire", SessionExpireParams)
RETRIEVE_INTENT = Action(stripe.PaymentIntent, "retrieve", PaymentIntentRetrieveParams)
UPDATE_INTENT = Action(stripe.PaymentIntent, "modify", PaymentIntentUpdateParams)
CAPTURE_INTENT = Action(stripe.PaymentIntent, "capture", PaymentIntentCaptureParams)
CANCEL_INTENT = Action(stripe.PaymentIntent, "cancel", PaymentIntentCancelParams)
LIST_CHARGES = Action(stripe.Charge, "list", ChargeListParams, on_object=False)
ACTIONS = (
    CREATE_SESSION,
    RETRIEVE_SESSION,
    EXPIRE_SESSION,
    RETRIEVE_INTENT,
    UPDATE_INTENT,
    CAPTURE_INTENT,
    CANCEL_INTENT,
    LIST_CHARGES,
)


@dataclass(frozen=True)
class Case:
    """One call of a gateway method and the actions it must take, in order."""

    method: str
    call: Callable[[StripeGateway], Awaitable[object]]
    actions: tuple[Action, ...]
    label: str = ""


def _open(currency: str, amount: str) -> Callable[[StripeGateway], Awaitable[object]]:
    return lambda gateway: gateway.open_checkout(
        "pay-1",
        amount=Decimal(amount),
        currency=currency,
        product="Charging at Ann's",
        description="Connector 1 & 2, up to 30 kWh",
        success_url="https://kiosk.test/paid?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://kiosk.test/cancelled?a=1&b=2",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


CASES = (
    Case("open_checkout", _open("EUR", "30.00"), (CREATE_SESSION,), "EUR"),
    Case("open_checkout", _open("JPY", "4500"), (CREATE_SESSION,), "JPY"),
    Case("open_checkout", _open("KWD", "9.250"), (CREATE_SESSION,), "KWD"),
    Case("checkout", lambda gateway: gateway.checkout(SESSION_ID), (RETRIEVE_SESSION,)),
    Case("expire_checkout", lambda g: g.expire_checkout(SESSION_ID), (EXPIRE_SESSION,)),
    Case("authorisation", lambda g: g.authorisation(INTENT_ID), (RETRIEVE_INTENT,)),
    Case("capture", lambda g: g.capture(INTENT_ID, 1234, "pay-1"), (CAPTURE_INTENT,)),
    Case("cancel", lambda g: g.cancel(INTENT_ID, "pay-1"), (CANCEL_INTENT,)),
    Case(
        "check_access",
        lambda gateway: gateway.check_access(),
        (EXPIRE_SESSION, UPDATE_INTENT, LIST_CHARGES),
    ),
)


def test_every_gateway_method_has_a_case() -> None:
    """A gateway method added later (a permission probe, a re-read) fails here until its
    requests are checked too."""
    public = {
        name
        for name, member in inspect.getmembers(StripeGateway, inspect.isfunction)
        if not name.startswith("_")
    }
    covered = {case.method for case in CASES}
    assert not public - covered, f"StripeGateway methods with no case in CASES: {public - covered}"
    assert not covered - public, f"CASES for methods StripeGateway lacks: {covered - public}"


@pytest.mark.parametrize(
    "case", CASES, ids=lambda case: f"{case.method}{case.label and '-'}{case.label}"
)
async def test_gateway_requests_match_library(wire: Wire, case: Case) -> None:
    """Each request: the method and URL the library's resource class uses for the action, and
    a form whose every name, type and value the library's params type accepts."""
    await case.call(wire.gateway)
    sent = list(wire.recorder.sent)
    wanted = ", ".join(map(str, case.actions))
    assert len(sent) == len(case.actions), f"{case.method} sent {sent}; expected {wanted}"
    for request, action in zip(sent, case.actions, strict=True):
        expected = await action.request(wire.recorder)
        where = f"{case.method}: {request.method} {request.path}"
        url = re.escape(expected.path).replace(ANY_ID, "[^/]+")
        library = f"{where}; the library's {action} uses {expected.method} {expected.path}"
        assert request.method == expected.method, library
        assert re.fullmatch(url, request.path), library
        if request.method == "POST":
            assert request.content_type == "application/x-www-form-urlencoded", where
        found = object_problems(decode_form(request.raw), action.params)
        assert not found, f"{where} against {action.params.__name__}:\n" + "\n".join(found)


# The fake's declared parameters against the library's.


def spec_problems(spec: accepted.Spec, hint: Any, path: str) -> list[str]:
    """Where the fake's declaration of a parameter disagrees with the library's type."""
    options = alternatives(hint)
    if isinstance(spec, dict):
        objects = [option for option in options if is_typeddict(option)]
        if not objects:
            return [f"{path}: declared an object, the library has {type_name(hint)}"]
        declared = fields(objects[0])
        found: list[str] = []
        for name, sub in spec.items():
            if name not in declared:
                found.append(f"{join_path(path, name)}: no parameter of {objects[0].__name__}")
            else:
                found += spec_problems(sub, declared[name][0], join_path(path, name))
        return found
    if isinstance(spec, list):
        arrays = [option for option in options if typing.get_origin(option) is list]
        if not arrays:
            return [f"{path}: declared an array, the library has {type_name(hint)}"]
        return spec_problems(spec[0], typing.get_args(arrays[0])[0], f"{path}[0]")
    if spec is dict:
        fits = any(is_map(option) for option in options)
    elif spec is int:
        fits = int in options
    else:  # str: free text or one of a Literal's words
        fits = any(
            option is str
            or (
                typing.get_origin(option) is typing.Literal
                and all(isinstance(arg, str) for arg in typing.get_args(option))
            )
            for option in options
        )
    if fits:
        return []
    return [
        f"{path}: declared {getattr(spec, '__name__', spec)}, the library has {type_name(hint)}"
    ]


def test_fake_routes_all_declared() -> None:
    """fake_stripe/params.py declares every /v1 endpoint the fake serves, and no other."""
    app = FakeStripe(API_KEY, "whsec_wire", None, "http://127.0.0.1:9").app()
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD"  # aiohttp's own, beside each GET
        and route.resource is not None
        and route.resource.canonical.startswith("/v1/")
    }
    assert served == set(accepted.ACCEPTED), (
        f"served, not declared: {served - set(accepted.ACCEPTED)};"
        f" declared, not served: {set(accepted.ACCEPTED) - served}"
    )


async def test_fake_params_exist_in_library(wire: Wire) -> None:
    """Every parameter the fake accepts is one the library's params type for that endpoint
    has, of a fitting type; the endpoint found by the URL the library's resource class uses."""
    by_route: dict[tuple[str, str], type] = {}
    for action in ACTIONS:
        request = await action.request(wire.recorder)
        by_route[request.method, request.path] = action.params
    for (method, route), spec in accepted.ACCEPTED.items():
        params = by_route.get((method, re.sub(r"\{\w+\}", ANY_ID, route)))
        assert params is not None, f"{method} {route}: no library action in ACTIONS requests it"
        found = spec_problems(spec, params, "")
        assert not found, f"{method} {route} vs {params.__name__}:\n" + "\n".join(found)


# The checks themselves: they see real forms, and they fail where they should.


def _leaves(form: Form, path: str = "") -> set[str]:
    if isinstance(form, str):
        return {path}
    return {leaf for key, sub in form.items() for leaf in _leaves(sub, join_path(path, key))}


def test_decode_form() -> None:
    """Stripe's form encoding nests by brackets; a key sent twice or as both kinds fails."""
    raw = (
        "expand[0]=latest_charge&metadata[payment_id]=p%201&payment_intent_data[capture_method]"
        "=manual&line_items[0][price_data][unit_amount]=3000&a[]=x&a[]=y"
    )
    assert decode_form(raw) == {
        "expand": {"0": "latest_charge"},
        "metadata": {"payment_id": "p 1"},
        "payment_intent_data": {"capture_method": "manual"},
        "line_items": {"0": {"price_data": {"unit_amount": "3000"}}},
        "a": {"0": "x", "1": "y"},
    }
    with pytest.raises(ValueError, match="sent twice"):
        decode_form("a=1&a=2")
    with pytest.raises(ValueError, match="both a value and an object"):
        decode_form("a=1&a[b]=2")


async def test_wire_check_sees_the_forms(wire: Wire) -> None:
    """Not a vacuous pass (no params type requires a name at its top): the recorded forms hold
    what a hold and its capture need, each checked above."""
    for case in CASES:
        if case.method in ("open_checkout", "capture", "cancel"):
            await case.call(wire.gateway)
    sent = {leaf for request in wire.recorder.sent for leaf in _leaves(decode_form(request.raw))}
    assert {
        "expand[0]",
        "metadata[payment_id]",
        "payment_intent_data[capture_method]",
        "line_items[0][price_data][unit_amount]",
        "amount_to_capture",
        "cancellation_reason",
    } <= sent


@pytest.mark.parametrize(
    ("raw", "params", "expected"),
    [
        ("shipping=now", SessionCreateParams, "Received unknown parameter: shipping"),
        (
            "line_items[0][price_data][colour]=red",
            SessionCreateParams,
            "Received unknown parameter: line_items[0][price_data][colour]",
        ),
        # Dropped from Checkout Session create in API version 2026-09-30.endive.
        ("payment_method_types[0]=card", SessionCreateParams, "Received unknown parameter"),
        ("idempotency_key=k1", PaymentIntentCaptureParams, "Received unknown parameter"),
        (
            "payment_intent_data[capture_method]=later",
            SessionCreateParams,
            "payment_intent_data[capture_method]: 'later' is not one of the allowed values",
        ),
        (
            "cancellation_reason=no_show",
            PaymentIntentCancelParams,
            "cancellation_reason: 'no_show' is not one of the allowed values",
        ),
        ("amount_to_capture=12.50", PaymentIntentCaptureParams, "amount_to_capture: '12.50'"),
        ("final_capture=yes", PaymentIntentCaptureParams, "final_capture: 'yes' does not parse"),
        ("expand=latest_charge", PaymentIntentCaptureParams, "expand: expected an array"),
        ("metadata[a][b]=1", SessionCreateParams, "metadata[a]: an object does not parse as str"),
        (
            "line_items[0][price_data][unit_amount]=1",
            SessionCreateParams,
            "line_items[0][price_data][currency]: missing required parameter",
        ),
    ],
)
def test_wire_check_refuses(raw: str, params: type, expected: str) -> None:
    """Unknown names, values outside a Literal, text that is no int, bool or array, and
    missing required names each fail, named by their path."""
    found = object_problems(decode_form(raw), params)
    assert any(problem.startswith(expected) for problem in found), found


def test_wire_check_accepts() -> None:
    """What the library itself allows passes: an open enum's listed value, a free hash,
    an empty value that unsets, a decimal string."""
    raw = (
        "payment_intent_data[capture_method]=manual&metadata[any key]=v&locale=fr-CA"
        "&line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount_decimal]"
        "=12.5&line_items[0][price_data][product_data][name]=x&line_items[0][quantity]=1"
    )
    assert object_problems(decode_form(raw), SessionCreateParams) == []
    assert object_problems(decode_form("description=&metadata="), PaymentIntentUpdateParams) == []


def test_spec_check_refuses() -> None:
    """A parameter the fake declares but the library lacks, or declares of another shape."""
    assert spec_problems({"amount_to_keep": int}, PaymentIntentCaptureParams, "") == [
        "amount_to_keep: no parameter of PaymentIntentCaptureParams"
    ]
    assert spec_problems({"payment_method_types": [str]}, SessionCreateParams, "") == [
        "payment_method_types: no parameter of SessionCreateParams"
    ]
    wrongs: list[accepted.Spec] = [{"amount_to_capture": str}, {"expand": str}, {"metadata": [str]}]
    for wrong in wrongs:
        assert spec_problems(wrong, PaymentIntentCaptureParams, ""), wrong
    nested: accepted.Spec = {"payment_intent_data": {"capture_method": int}}
    assert spec_problems(nested, SessionCreateParams, "") == [
        "payment_intent_data[capture_method]: declared int, the library has"
        " NotRequired[Literal['automatic', 'automatic_async', 'manual'] | str]"
    ]


def test_unknown_parameter_names() -> None:
    """The fake's own check names the first unknown parameter as Stripe does, nested too."""
    known = {"mode": "payment", "metadata": {"anything": "goes"}, "expand": {"0": "x"}}
    assert accepted.unknown_parameter(known, accepted.SESSION_CREATE) is None
    form = {"line_items": {"0": {"quantity": "1"}, "1": {"price": "price_1"}}}
    assert accepted.unknown_parameter(form, accepted.SESSION_CREATE) == "line_items[1][price]"
    with pytest.raises(LookupError, match="DELETE /v1/customers"):
        accepted.endpoint_spec("DELETE", "/v1/customers")


async def test_fake_refusal_reads_as_stripe_error(socket_enabled: None) -> None:
    """refuse_unknown wired as proposed for fake_stripe/server.py: the real library raises
    the InvalidRequestError Stripe's answer makes, with its code, param and message."""

    @web.middleware
    async def refuse(request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.text() if request.method == "POST" else request.rel_url.raw_query_string
        params = unflatten(parse_qsl(raw, keep_blank_values=True))
        if (refused := accepted.refuse_unknown(request, params)) is not None:
            return refused
        response: web.StreamResponse = await handler(request)
        return response

    async def capture(request: web.Request) -> web.Response:
        return web.json_response(_answer(request.method, request.path, await request.text()))

    app = web.Application(middlewares=[refuse])
    app.router.add_post("/v1/payment_intents/{id}/capture", capture)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            client = stripe.StripeClient(
                API_KEY,
                base_addresses={"api": str(server.make_url("/")).rstrip("/")},
                http_client=stripe.AIOHTTPClient(session=http),
                max_network_retries=0,
            )
            intents = client.v1.payment_intents
            captured = await intents.capture_async(INTENT_ID, {"amount_to_capture": 5})
            assert captured.status == "succeeded"
            extra = cast(PaymentIntentCaptureParams, {"amount_to_capture": 5, "amount_to_keep": 1})
            with pytest.raises(stripe.InvalidRequestError) as caught:
                await intents.capture_async(INTENT_ID, extra)
    finally:
        await server.close()
    error = caught.value
    assert (error.http_status, error.code, error.param) == (
        400,
        "parameter_unknown",
        "amount_to_keep",
    )
    assert error.user_message == "Received unknown parameter: amount_to_keep"
    assert error.error is not None
    assert error.error.type == "invalid_request_error"
