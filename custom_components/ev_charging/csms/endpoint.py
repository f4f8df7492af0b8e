"""The websocket endpoint chargers connect to, and who may connect.

Everything here happens before a charger's frames are read: the id in the URL, the
subprotocol, the password, look-alike ids, how many unapproved chargers may be connected,
and whether a newcomer may take over a charger id that is still connected.
"""

import logging
import ssl
from typing import TYPE_CHECKING
from urllib.parse import unquote

from aiohttp import web

from .log_safety import Throttle, untrusted_logger
from .security import basic_auth_password, password_matches

if TYPE_CHECKING:
    from .central import CentralSystem

_LOGGER = untrusted_logger(__name__)

SUBPROTOCOLS = ("ocpp1.6",)
MAX_CHARGER_ID_LENGTH = 48
"""OCPP's chargeBoxIdentity is a CiString48."""
_NOT_IN_IDS = frozenset("/\\%?#")
HANDSHAKE_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0
"""Seconds a client has to finish its HTTP upgrade request once connected."""
PING_WITHIN = 3.0
"""Seconds a connected charger has to answer a ping when a newcomer claims its id."""
MAX_UNAPPROVED_CONNECTIONS = 20
"""Connections at once from chargers the owner has not approved (new or waiting)."""
_LOOK_ALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})


def valid_charger_id(charger_id: str) -> bool:
    """Printable ASCII without spaces or URL syntax, 1 to 48 characters, not `.` or `..`."""
    return (
        0 < len(charger_id) <= MAX_CHARGER_ID_LENGTH
        and all("!" <= char <= "~" and char not in _NOT_IN_IDS for char in charger_id)
        and charger_id not in (".", "..")
    )


def look_alike_form(charger_id: str) -> str:
    """An id with the characters people confuse made equal: case, 0/O, 1/l/I."""
    return charger_id.lower().translate(_LOOK_ALIKES)


def charger_id_from_path(raw_path: str) -> str | None:
    """The charger id: the last segment of the URL path, decoded exactly once.

    None when the path has dot segments or anything that does not decode to a valid id
    (an encoded slash, double encoding, non-ASCII look-alikes).
    """
    segments = raw_path.split("?", 1)[0].split("/")
    try:
        decoded = [unquote(segment, errors="strict") for segment in segments]
    except UnicodeDecodeError:
        return None
    if any(segment in (".", "..") for segment in decoded):
        return None
    named = [segment for segment in decoded if segment]
    if not named or not valid_charger_id(named[-1]):
        return None
    return named[-1]


class ChargerEndpoint:
    """Listens for chargers and admits them to the central system."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central
        self.handshake_timeout = HANDSHAKE_TIMEOUT
        self._runner: web.AppRunner | None = None
        self._throttle = Throttle()

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
        """Listen; raises OSError if the port cannot be bound."""
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        # aiohttp applies the keep-alive timeout from the moment a client connects: one
        # that never finishes its upgrade request is closed after it.
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, keepalive_timeout=self.handshake_timeout
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        _LOGGER.info("OCPP central system listening on %s:%s", host, port)

    async def stop(self) -> None:
        """Free the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        charger_id = charger_id_from_path(request.raw_path)
        if charger_id is None:
            self._refuse(request, "no usable charger id in the path %s", request.raw_path)
            raise web.HTTPNotFound(text="The URL must end with the charger id")
        offered = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        if not any(protocol in SUBPROTOCOLS for protocol in offered):
            self._refuse(
                request,
                "charger %s offers subprotocols %s, this central system speaks %s",
                charger_id,
                ", ".join(offered) or "none",
                ", ".join(SUBPROTOCOLS),
                about=charger_id,
            )
            raise web.HTTPBadRequest(text=f"Supported subprotocols: {', '.join(SUBPROTOCOLS)}")
        self._authenticate(request, charger_id)
        self._check_look_alike(request, charger_id)
        self._check_room(request, charger_id)
        await self._check_taken(request, charger_id)

        central = self.central
        quirks = central.settings.quirks_for(charger_id)
        websocket = web.WebSocketResponse(
            protocols=SUBPROTOCOLS,
            heartbeat=quirks.ping_interval or None,
            # Pings and pongs are read by the connection: a pong tells it the charger is there.
            autoping=False,
            max_msg_size=central.settings.max_frame_bytes,
            # How long a close waits for the charger's own close frame: one that vanished
            # must not hold up Home Assistant's stop (10 s by default).
            timeout=CLOSE_TIMEOUT,
        )
        await websocket.prepare(request)
        await central.serve(charger_id, websocket, request.remote)
        return websocket

    def _refuse(self, request: web.Request, why: str, *args: object, about: str = "") -> None:
        """Log a refusal, thinned: per known charger (its owner must see why it is refused),
        and one budget for all unknown ids (which a stranger can make up without end)."""
        known = about if about in self.central.chargers else ""
        self._throttle.log(
            _LOGGER,
            logging.WARNING,
            (why, known),
            f"Refused a connection from %s: {why}",
            request.remote,
            *args,
        )

    def _authenticate(self, request: web.Request, charger_id: str) -> None:
        """Refuse (401) a charger with a password set that does not log in with it."""
        stored = self.central.settings.password_hashes.get(charger_id)
        if stored is None:
            return  # security profile 0: allowed, but the owner is told
        password = basic_auth_password(request.headers.get("Authorization"), charger_id)
        if password is None or not password_matches(password, stored):
            self._refuse(
                request,
                "charger %s gave %s password",
                charger_id,
                "no" if password is None else "a wrong",
                about=charger_id,
            )
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="OCPP", charset="UTF-8"'}
            )

    def _check_look_alike(self, request: web.Request, charger_id: str) -> None:
        """An id that differs from a known charger's only by case or by characters that look
        alike (0/O, 1/l/I) is how a stranger poses as that charger to a person reading the
        device list or a guest reading a sticker: refused."""
        chargers = self.central.chargers
        if charger_id in chargers:
            return
        folded = look_alike_form(charger_id)
        if (known := next((c for c in chargers if look_alike_form(c) == folded), None)) is not None:
            self._refuse(
                request, "charger id %s looks like the known charger %s", charger_id, known
            )
            raise web.HTTPForbidden(text="This charger id differs from a known one only by case")

    def _check_room(self, request: web.Request, charger_id: str) -> None:
        """Chargers the owner has not approved share a few connections (503 beyond). One with
        a password has just proven who it is: the owner gave it that password."""
        central = self.central
        known = central.chargers.get(charger_id)
        if (known is not None and known.approved) or charger_id in central.settings.password_hashes:
            return
        waiting = sum(1 for c in central.connections.values() if not c.charger.approved)
        if waiting >= MAX_UNAPPROVED_CONNECTIONS:
            self._refuse(
                request, "%d unapproved chargers are connected already (%s)", waiting, charger_id
            )
            raise web.HTTPServiceUnavailable(text="Too many chargers waiting for approval")
        if known is None and central.strangers() >= central.settings.max_strangers:
            # Each new id would be kept, shown to the owner and (automatically accepted) get
            # a device: past this many, new ids wait until the owner has dealt with some.
            self._refuse(request, "too many chargers nobody approved (%s)", charger_id)
            raise web.HTTPServiceUnavailable(text="Too many chargers waiting for approval")

    async def _check_taken(self, request: web.Request, charger_id: str) -> None:
        """A newcomer may replace a connection of the same charger only if that one no longer
        answers (a half-open socket after a network drop); a live one stays (409).

        A charger with a password is replaced as it logs in (the login decides), and a quirk
        restores replace-always for firmware that opens a new connection without closing."""
        central = self.central
        previous = central.connections.get(charger_id)
        if (
            previous is None
            or charger_id in central.settings.password_hashes
            or central.settings.quirks_for(charger_id).replace_connection
        ):
            return
        if await previous.answers_ping(PING_WITHIN):
            self._refuse(
                request,
                "charger %s is connected already and still answers",
                charger_id,
                about=charger_id,
            )
            raise web.HTTPConflict(text="This charger is connected already")
