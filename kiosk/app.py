"""The kiosk web app (aiohttp): connector pages and the sticker sheet."""

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from .bridge import BridgeError, IntegrationBridge
from .config import KioskConfig
from .pages import connector_page, connector_path, not_found_page, sticker_sheet
from .qr import qr_svg

CONFIG = web.AppKey("config", KioskConfig)
BRIDGE = web.AppKey("bridge", IntegrationBridge)

routes = web.RouteTableDef()


def create_app(config: KioskConfig) -> web.Application:
    """The kiosk app; it opens its HTTP session to Home Assistant when it starts."""
    app = web.Application()
    app[CONFIG] = config
    app.cleanup_ctx.append(_bridge)
    app.add_routes(routes)
    return app


async def _bridge(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    async with aiohttp.ClientSession() as session:
        app[BRIDGE] = IntegrationBridge(session, config.ha_url, config.kiosk_key)
        yield


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _unavailable(err: BridgeError) -> web.HTTPException:
    return web.HTTPServiceUnavailable(text=f"The charging service is not reachable ({err.status}).")


@routes.get("/c/{charger_id}/{connector_id}")
async def connector(request: web.Request) -> web.Response:
    """The page a connector's QR code opens."""
    config = request.app[CONFIG]
    number = request.match_info["connector_id"]
    try:
        found = None
        if number.isdigit():
            found = await request.app[BRIDGE].connector(
                request.match_info["charger_id"], int(number)
            )
    except BridgeError as err:
        raise _unavailable(err) from err
    if found is None:
        return _html(not_found_page(config.site_name), status=404)
    return _html(connector_page(config.site_name, found, config.hold))


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
