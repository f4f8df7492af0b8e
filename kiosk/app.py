"""The kiosk web app (aiohttp): connector pages, stickers, card payment and the guest's
session page."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import stripe
from aiohttp import web

from .bridge import BridgeError, IntegrationBridge
from .config import KioskConfig
from .pages import (
    connector_page,
    connector_path,
    not_found_page,
    not_payable_page,
    session_page,
    sticker_sheet,
)
from .payments import NotPayable, PaymentDesk
from .qr import qr_svg
from .store import PaymentStore
from .stripe_gateway import StripeGateway

_LOGGER = logging.getLogger(__name__)

CONFIG = web.AppKey("config", KioskConfig)
BRIDGE = web.AppKey("bridge", IntegrationBridge)
STORE = web.AppKey("store", PaymentStore)
DESK = web.AppKey("desk", PaymentDesk)

routes = web.RouteTableDef()


def create_app(config: KioskConfig) -> web.Application:
    """The kiosk app; it opens its HTTP session, database and Stripe client when it starts."""
    app = web.Application()
    app[CONFIG] = config
    app.cleanup_ctx.append(_services)
    app.add_routes(routes)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    async with aiohttp.ClientSession() as session:
        app[BRIDGE] = IntegrationBridge(session, config.ha_url, config.kiosk_key)
        if config.stripe is None:
            yield
            return
        store = PaymentStore(config.database)
        await store.open()
        app[STORE] = store
        app[DESK] = desk = PaymentDesk(
            store,
            app[BRIDGE],
            StripeGateway(config.stripe.api_key, config.stripe.api_base, session),
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


def _connector_number(request: web.Request) -> int | None:
    number = request.match_info["connector_id"]
    return int(number) if number.isdigit() and len(number) <= 6 else None


@routes.get("/c/{charger_id}/{connector_id}")
async def connector(request: web.Request) -> web.Response:
    """The page a connector's QR code opens."""
    config = request.app[CONFIG]
    number = _connector_number(request)
    try:
        found = None
        if number is not None:
            found = await request.app[BRIDGE].connector(request.match_info["charger_id"], number)
    except BridgeError as err:
        raise _unavailable(err) from err
    if found is None:
        return _html(not_found_page(config.site_name), status=404)
    return _html(connector_page(config.site_name, found, config.hold, DESK in request.app))


@routes.post("/c/{charger_id}/{connector_id}/pay")
async def pay(request: web.Request) -> web.Response:
    """Hold the connector and send the guest to Stripe Checkout."""
    config = request.app[CONFIG]
    number = _connector_number(request)
    charger_id = request.match_info["charger_id"]
    if DESK not in request.app or number is None:
        return _html(not_found_page(config.site_name), status=404)
    try:
        checkout = await request.app[DESK].begin(charger_id, number)
    except NotPayable as err:
        back = connector_path(charger_id, number)
        return _html(not_payable_page(config.site_name, err.reason, back), status=409)
    raise web.HTTPSeeOther(checkout)


def _desk(request: web.Request) -> PaymentDesk:
    if DESK not in request.app:
        raise web.HTTPNotFound()
    return request.app[DESK]


@routes.get("/s/{payment_id}")
async def session(request: web.Request) -> web.Response:
    """The guest's session page (its address is the unguessable payment id)."""
    payment_id = request.match_info["payment_id"]
    desk = _desk(request)
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
    payment_id = request.match_info["payment_id"]
    try:
        await _desk(request).stop(payment_id)
    except BridgeError as err:
        raise _unavailable(err) from err
    raise web.HTTPSeeOther(f"/s/{payment_id}")


@routes.get("/s/{payment_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """Where Stripe Checkout's back link leads: the guest gave up paying."""
    payment_id = request.match_info["payment_id"]
    try:
        await _desk(request).give_up(payment_id)
    except stripe.StripeError as err:
        _LOGGER.warning("Payment %s: Checkout not ended: %s", payment_id, err)
    raise web.HTTPSeeOther(f"/s/{payment_id}")


@routes.post("/stripe/webhook")
async def stripe_webhook(request: web.Request) -> web.Response:
    """Stripe's events: only signed ones, each handled once."""
    desk = _desk(request)
    settings = request.app[CONFIG].stripe
    assert settings is not None  # the desk exists only with Stripe settings
    payload = await request.text()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("Stripe-Signature"), settings.webhook_secret
        )
    except (ValueError, stripe.SignatureVerificationError) as err:
        _LOGGER.warning("Refused a Stripe webhook from %s: %s", request.remote, err)
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
    sheet = []
    for found in connectors:
        url = config.public_url + connector_path(found["charger_id"], found["connector_id"])
        sheet.append((found, url, qr_svg(url)))
    return _html(sticker_sheet(config.site_name, sheet))


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    """For the container's health check: the kiosk runs (Home Assistant may not)."""
    return web.json_response({"ok": True})
