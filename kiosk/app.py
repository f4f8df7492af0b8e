"""The kiosk web app (aiohttp): connector pages, stickers, card payment and the guest's
session page."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TypedDict

import aiohttp
import stripe
from aiohttp import web

from .bridge import BridgeError, IntegrationBridge
from .config import KioskConfig, StripeSettings
from .currencies import hold_problem
from .guard import client_address, same_origin, security_headers
from .ids import connector_number, valid_charger_id, valid_connector_number, valid_payment_id
from .limits import COOLING_DOWN, TOO_MANY_HOLDS, HoldLimiter
from .pages import (
    STYLE,
    STYLE_PATH,
    cancel_page,
    connector_page,
    connector_path,
    forbidden_page,
    not_found_page,
    not_payable_page,
    session_page,
    sticker_sheet,
)
from .payments import UNKNOWN_CONNECTOR, NotPayable, PaymentDesk
from .qr import QrCodes
from .store import CHECKOUT, PaymentStore
from .stripe_gateway import MissingPermission, StripeGateway, verified_event

_LOGGER = logging.getLogger(__name__)

CONFIG = web.AppKey("config", KioskConfig)
BRIDGE = web.AppKey("bridge", IntegrationBridge)
STORE = web.AppKey("store", PaymentStore)
DESK = web.AppKey("desk", PaymentDesk)
LIMITER = web.AppKey("limiter", HoldLimiter)
QR_CODES = web.AppKey("qr_codes", QrCodes)

WEBHOOK_PATH = "/stripe/webhook"
# Page views reach Home Assistant through a pool of their own, this large at most: a flood of
# them waits for its own connections, never for those of webhooks and settling.
PAGE_CONNECTIONS = 20

routes = web.RouteTableDef()


class StartRefused(Exception):
    """The kiosk cannot take payments as set up (the message says why); it does not start."""


class ServerOptions(TypedDict):
    """What the kiosk's server is run with (by `python -m kiosk` and by the tests)."""

    access_log: None
    keepalive_timeout: float


def server_options(config: KioskConfig) -> ServerOptions:
    """aiohttp starts its keep-alive timer when a connection opens, so a short one also closes
    connections whose request headers do not arrive in time (half-open ones pile up without)."""
    return {"access_log": None, "keepalive_timeout": config.header_timeout}


def create_app(config: KioskConfig) -> web.Application:
    """The kiosk app; it opens its HTTP sessions, database and Stripe client when it starts."""
    app = web.Application(
        middlewares=[
            same_origin(config.public_url, {WEBHOOK_PATH}, forbidden_page(config.site_name))
        ]
    )
    app[CONFIG] = config
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(_services)
    app.add_routes(routes)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    async with contextlib.AsyncExitStack() as stack:
        app[QR_CODES] = codes = QrCodes()
        stack.callback(codes.close)
        pages = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=PAGE_CONNECTIONS))
        )
        app[BRIDGE] = IntegrationBridge(pages, config.ha_url, config.kiosk_key)
        if config.stripe is not None:
            await stack.enter_async_context(_payments(app, config, config.stripe))
        yield


@contextlib.asynccontextmanager
async def _payments(
    app: web.Application, config: KioskConfig, settings: StripeSettings
) -> AsyncIterator[None]:
    """The payment desk with its own HTTP session (to Home Assistant and to Stripe)."""
    async with aiohttp.ClientSession() as session:
        gateway = StripeGateway(settings.api_key, settings.api_base, session)
        await _check_payments(gateway, app[BRIDGE], config)
        store = PaymentStore(config.database)
        await store.open()
        app[STORE] = store
        app[LIMITER] = HoldLimiter(config.hold_limits, store)
        app[DESK] = desk = PaymentDesk(
            store,
            IntegrationBridge(session, config.ha_url, config.kiosk_key),
            gateway,
            hold=config.hold,
            public_url=config.public_url,
            site_name=config.site_name,
        )
        reconciling = asyncio.create_task(_reconcile(desk, config.reconcile_every.total_seconds()))
        try:
            yield
        finally:
            reconciling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciling
            await store.close()


async def _check_payments(
    gateway: StripeGateway, bridge: IntegrationBridge, config: KioskConfig
) -> None:
    """Refuse to start (StartRefused) with a Stripe key that cannot do what the kiosk needs, or
    a hold Stripe cannot take in a currency the integration's tariffs charge in."""
    try:
        await gateway.check_access()
    except MissingPermission as err:
        raise StartRefused(str(err)) from err
    except stripe.AuthenticationError as err:
        raise StartRefused(f"Stripe refused the API key: {err.user_message}") from err
    except stripe.StripeError as err:  # Stripe not reachable now: the first payment tells
        _LOGGER.warning("The Stripe key's permissions were not checked: %s", err)
    try:
        connectors = await bridge.connectors()
    except BridgeError as err:  # checked again at each payment
        _LOGGER.warning("The hold was not checked against the tariffs' currencies: %s", err)
        return
    currencies = {found["price"]["currency"] for found in connectors if found.get("price")}
    for currency in sorted(currencies):
        if (problem := hold_problem(config.hold, currency)) is not None:
            raise StartRefused(f"EV_CHARGING_KIOSK_HOLD: {problem}")


async def _reconcile(desk: PaymentDesk, every: float) -> None:
    """On start, then periodically: settle whatever is left to settle."""
    while True:
        try:
            await desk.reconcile()
        except Exception:
            _LOGGER.exception("Reconciling payments failed; trying again later")
        await asyncio.sleep(every)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _unavailable(err: BridgeError) -> web.HTTPException:
    return web.HTTPServiceUnavailable(text=f"The charging service is not reachable ({err.status}).")


def _place(request: web.Request) -> tuple[str, int] | None:
    """The charger id and connector number of a /c/ address; None (logged, shortened) if the
    rule refuses either: such an address is never passed on to Home Assistant."""
    charger_id = request.match_info["charger_id"]
    number = connector_number(request.match_info["connector_id"])
    if number is None or not valid_charger_id(charger_id):
        _LOGGER.info("Refused a connector address from %s: %.40r", request.remote, request.path)
        return None
    return charger_id, number


def _payment_id(request: web.Request) -> str:
    """A /s/ address's payment id; 404 for what cannot be one."""
    payment_id = request.match_info["payment_id"]
    if not valid_payment_id(payment_id):
        raise web.HTTPNotFound()
    return payment_id


@routes.get("/c/{charger_id}/{connector_id}")
async def connector(request: web.Request) -> web.Response:
    """The page a connector's QR code opens."""
    config = request.app[CONFIG]
    place = _place(request)
    try:
        found = None if place is None else await request.app[BRIDGE].connector(*place)
    except BridgeError as err:
        raise _unavailable(err) from err
    if found is None:
        return _html(not_found_page(config.site_name), status=404)
    return _html(connector_page(config.site_name, found, config.hold, DESK in request.app))


@routes.post("/c/{charger_id}/{connector_id}/pay")
async def pay(request: web.Request) -> web.Response:
    """Hold the connector and send the guest to Stripe Checkout (within the hold limits)."""
    config = request.app[CONFIG]
    place = _place(request)
    if DESK not in request.app or place is None:
        return _html(not_found_page(config.site_name), status=404)
    limiter = request.app[LIMITER]
    client = client_address(request, config.trusted_proxies)
    try:
        async with limiter.turn(client):
            if (reason := await limiter.refusal(client, *place)) is not None:
                _LOGGER.warning("No hold at %s/%s for %s: %s", *place, client, reason)
                raise NotPayable(reason)
            payment_id, checkout = await request.app[DESK].begin(*place)
            limiter.record(client, *place, payment_id)
    except NotPayable as err:
        status = {TOO_MANY_HOLDS: 429, COOLING_DOWN: 429, UNKNOWN_CONNECTOR: 404}.get(
            err.reason, 409
        )
        back = connector_path(*place)
        return _html(not_payable_page(config.site_name, err.reason, back), status=status)
    raise web.HTTPSeeOther(checkout)


def _desk(request: web.Request) -> PaymentDesk:
    if DESK not in request.app:
        raise web.HTTPNotFound()
    return request.app[DESK]


@routes.get("/s/{payment_id}")
async def session(request: web.Request) -> web.Response:
    """The guest's session page (its address is the unguessable payment id)."""
    desk = _desk(request)
    payment_id = _payment_id(request)
    try:
        found = await desk.progress(payment_id)
    except (BridgeError, stripe.StripeError) as err:
        _LOGGER.warning("Payment %s: progress not known now: %s", payment_id, err)
        payment = await request.app[STORE].get(payment_id)
        found = None if payment is None else (payment, None)
    if found is None:
        return _html(not_found_page(request.app[CONFIG].site_name), status=404)
    payment, progress = found
    return _html(session_page(request.app[CONFIG].site_name, payment, progress, desk.now()))


@routes.post("/s/{payment_id}/stop")
async def stop(request: web.Request) -> web.Response:
    """The guest's stop button."""
    desk = _desk(request)
    payment_id = _payment_id(request)
    try:
        await desk.stop(payment_id)
    except BridgeError as err:
        raise _unavailable(err) from err
    raise web.HTTPSeeOther(f"/s/{payment_id}")


@routes.get("/s/{payment_id}/cancel")
async def cancel_question(request: web.Request) -> web.Response:
    """Where Stripe Checkout's back link leads: it only asks (a link, prefetched or followed,
    changes nothing); the page's button cancels."""
    _desk(request)
    payment_id = _payment_id(request)
    payment = await request.app[STORE].get(payment_id)
    if payment is None:
        return _html(not_found_page(request.app[CONFIG].site_name), status=404)
    if payment.state != CHECKOUT:
        raise web.HTTPSeeOther(f"/s/{payment_id}")
    return _html(cancel_page(request.app[CONFIG].site_name, payment))


@routes.post("/s/{payment_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """The guest gave up paying: end the Checkout Session and let the connector go."""
    desk = _desk(request)
    payment_id = _payment_id(request)
    try:
        await desk.give_up(payment_id)
    except stripe.StripeError as err:
        _LOGGER.warning("Payment %s: Checkout not ended: %s", payment_id, err)
    raise web.HTTPSeeOther(f"/s/{payment_id}")


@routes.post(WEBHOOK_PATH)
async def stripe_webhook(request: web.Request) -> web.Response:
    """Stripe's events: only signed ones, signed around now, each handled once."""
    desk = _desk(request)
    settings = request.app[CONFIG].stripe
    assert settings is not None  # the desk exists only with Stripe settings
    payload = await request.text()
    try:
        event = verified_event(
            payload, request.headers.get("Stripe-Signature"), settings.webhook_secret
        )
    except (ValueError, stripe.SignatureVerificationError) as err:
        _LOGGER.warning("Refused a Stripe webhook from %s: %.120s", request.remote, err)
        return web.json_response({"error": "bad_signature"}, status=400)
    store = request.app[STORE]
    if await store.event_seen(event.id):
        _LOGGER.info("Stripe event %s again: already handled", event.id)
        return web.json_response({"received": True, "duplicate": True})
    try:
        await desk.handle_event(event)
    except stripe.StripeError as err:
        # Not recorded: Stripe sends it again later.
        _LOGGER.warning("Stripe event %s not handled yet: %s", event.id, err)
        return web.json_response({"error": "retry"}, status=503)
    except BridgeError as err:
        # The payment's state is stored; reconciliation starts the session when it can.
        _LOGGER.warning("Stripe event %s: Home Assistant not reachable: %s", event.id, err)
    await store.event_handled(event.id, event.type)
    return web.json_response({"received": True})


@routes.get("/stickers")
async def stickers(request: web.Request) -> web.Response:
    """A printable sheet: a QR sticker per connector, with its price."""
    config = request.app[CONFIG]
    try:
        connectors = await request.app[BRIDGE].connectors()
    except BridgeError as err:
        raise _unavailable(err) from err
    # A charger whose id the rule refuses could not open its page: no sticker for it.
    printable = [
        found
        for found in connectors
        if valid_charger_id(found["charger_id"]) and valid_connector_number(found["connector_id"])
    ]
    urls = [
        config.public_url + connector_path(found["charger_id"], found["connector_id"])
        for found in printable
    ]
    codes = await request.app[QR_CODES].sheet(urls)
    sheet = list(zip(printable, urls, codes, strict=True))
    return _html(sticker_sheet(config.site_name, sheet))


@routes.get(STYLE_PATH)
async def style(request: web.Request) -> web.Response:
    """The pages' one stylesheet."""
    return web.Response(
        text=STYLE, content_type="text/css", headers={"Cache-Control": "max-age=3600"}
    )


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    """For the container's health check: the kiosk runs (Home Assistant may not)."""
    return web.json_response({"ok": True})
