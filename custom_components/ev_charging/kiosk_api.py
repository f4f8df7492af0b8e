"""The kiosk's narrow API: what the guest payment kiosk may see and do, behind a key of its own.

Home Assistant's tokens cannot be narrowed (a non-admin user's token still reaches every
action), so the kiosk gets a key made in the options, kept only as a salted hash and compared
in constant time. These views are the only thing the key opens.

Only chargers the owner trusts are offered to guests (`offered`): one that logs in with a
password or that a person approved. A charger let in by automatic acceptance is anyone who
knows an id the rule allows (`SIM-0O2` next to `SIM-002`): to the kiosk it does not exist, so
no guest pays for it and no guest's tag is sent to it.
"""

import json
import logging
import re
import time
from decimal import Decimal
from typing import Any

import probatio as vol
from aiohttp import hdrs, web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .billing.tariff import parse_amount
from .const import CONF_KIOSK_KEY_HASH, DOMAIN, GUEST_ACCOUNT
from .csms.central import CentralSystem
from .csms.commands import CommandError
from .csms.guests import CANCELLED, WAITING, GuestSession, HoldUsed
from .csms.holds import Hold, HoldRefused
from .csms.log_safety import Throttle, untrusted_logger
from .csms.security import password_matches
from .csms.signed_values import load_signed
from .csms.state import ChargerState
from .faults.health import CHARGER_WIDE, ProblemKind
from .runtime import EvChargingConfigEntry

_LOGGER = untrusted_logger(__name__)

API = "/api/ev_charging/kiosk/v1"
_REGISTERED: HassKey[bool] = HassKey(f"{DOMAIN}_kiosk_api")
WRONG_KEYS: HassKey[Throttle] = HassKey(f"{DOMAIN}_kiosk_wrong_keys")
"""The integration's own warnings about wrong kiosk keys, thinned to a few a minute (the rest
counted): a flood of wrong keys must not fill the log. Home Assistant logs each failed login
itself (and bans by its own settings) regardless."""
# Statuses in which a connector is in someone's use.
OCCUPIED = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})


@callback
def async_register_kiosk_api(hass: HomeAssistant) -> None:
    """Register the views once (with Home Assistant's HTTP server, where it runs)."""
    if hass.data.get(_REGISTERED) or hass.http is None:
        return
    hass.data[_REGISTERED] = True
    # Its clock is looked up at each call, so a frozen clock in tests moves it too.
    hass.data[WRONG_KEYS] = Throttle(clock=lambda: time.monotonic())
    for view in (
        ConnectorsView(),
        ConnectorView(),
        HoldsView(),
        HoldView(),
        SessionsView(),
        SessionView(),
        SessionStopView(),
    ):
        hass.http.register_view(view)


def offered(central: CentralSystem, charger: ChargerState) -> bool:
    """Whether guests may see, hold and pay for this charger: approved, and trusted as with the
    owner's tag list (a password, or approved by a person, not only automatically)."""
    return charger.approved and central.gets_tag_list(charger)


def connector_state(central: CentralSystem, charger: ChargerState, connector_id: int) -> str:
    """What a guest needs to know: available, occupied, reserved, faulted, unavailable, offline."""
    health = charger.health
    if not charger.connected or health.problem(CHARGER_WIDE, ProblemKind.OFFLINE).active:
        return "offline"
    connector = charger.connectors.get(connector_id)
    if health.fault_of(connector_id)[1].active or (
        connector is not None and connector.status == "Faulted"
    ):
        return "faulted"
    if connector is None or connector.status is None:
        return "offline"
    if connector.status == "Unavailable":
        return "unavailable"
    if connector.status == "Reserved" or central.holds.held(charger.charger_id, connector_id):
        return "reserved"
    if connector.transaction is not None or connector.status in OCCUPIED:
        return "occupied"
    return "available"


def guest_price(central: CentralSystem, charger_id: str) -> dict[str, Any] | None:
    """The tariff a guest pays at this charger, amounts as exact strings; None: no tariff."""
    cashier = central.cashier
    tariff = cashier.tariff_for(charger_id, GUEST_ACCOUNT)
    if tariff is None:
        return None
    now = cashier.kwh_price(charger_id, central.now(), GUEST_ACCOUNT)
    return {
        "name": tariff.name,
        "currency": tariff.currency,
        "price_per_kwh": str(tariff.price_per_kwh),
        "price_per_kwh_now": None if now is None else str(now[0]),
        "session_fee": str(tariff.session_fee),
        "idle_fee_per_minute": str(tariff.idle_fee_per_minute),
        "idle_grace_minutes": str(int(tariff.idle_grace.total_seconds()) // 60),
        "time_of_use": tariff.as_json()["bands"],
        "follows_market_price": tariff.dynamic is not None,
        "prices_include_vat": tariff.prices_include_vat,
        "vat_percent": str(tariff.vat_percent),
    }


def describe(central: CentralSystem, charger: ChargerState, connector_id: int) -> dict[str, Any]:
    """A connector as the kiosk shows it."""
    return {
        "charger_id": charger.charger_id,
        "connector_id": connector_id,
        "state": connector_state(central, charger, connector_id),
        "price": guest_price(central, charger.charger_id),
    }


def json_error(kind: type[web.HTTPError], error: str, detail: str | None = None) -> web.HTTPError:
    """An HTTP error whose body is the API's JSON error (to raise)."""
    body = {"error": error} if detail is None else {"error": error, "detail": detail}
    return kind(text=json.dumps(body), content_type="application/json")


class KioskView(HomeAssistantView):
    """A view that answers only the kiosk's key (no Home Assistant login)."""

    requires_auth = False

    def central(self, request: web.Request) -> CentralSystem:
        """The running central system, once the request proved it holds the kiosk key."""
        hass = request.app[KEY_HASS]
        entries: list[EvChargingConfigEntry] = hass.config_entries.async_entries(DOMAIN)
        entry = next((e for e in entries if e.state is ConfigEntryState.LOADED), None)
        if entry is None:
            raise json_error(web.HTTPServiceUnavailable, "not_running")
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        key = header[7:] if header.startswith("Bearer ") else ""
        stored = entry.options.get(CONF_KIOSK_KEY_HASH)
        if not key or stored is None or not password_matches(key, stored):
            hass.data[WRONG_KEYS].log(
                _LOGGER,
                logging.WARNING,
                "wrong_key",
                "Kiosk API: refused a request from %s: wrong key",
                request.remote,
            )
            raise json_error(web.HTTPUnauthorized, "unauthorized")
        return entry.runtime_data.central

    async def body(self, request: web.Request, schema: vol.Schema) -> dict[str, Any]:
        """The request's JSON body, checked; 400 with the reason if it is not as asked."""
        try:
            data: dict[str, Any] = schema(await request.json())
        except (ValueError, vol.Invalid) as err:
            raise json_error(web.HTTPBadRequest, "bad_request", str(err)) from err
        return data


class ConnectorsView(KioskView):
    """Every connector of every charger offered to guests, with its state and guest price."""

    url = f"{API}/connectors"
    name = "api:ev_charging:kiosk:connectors"

    async def get(self, request: web.Request) -> web.Response:
        """The list."""
        central = self.central(request)
        return self.json(
            {
                "connectors": [
                    describe(central, charger, connector_id)
                    for charger_id, charger in sorted(central.chargers.items())
                    if offered(central, charger)
                    for connector_id in sorted(charger.connectors)
                    if connector_id != CHARGER_WIDE
                ]
            }
        )


class ConnectorView(KioskView):
    """One connector (the page a QR code leads to)."""

    url = API + "/connectors/{charger_id}/{connector_id}"
    name = "api:ev_charging:kiosk:connector"

    async def get(self, request: web.Request, charger_id: str, connector_id: str) -> web.Response:
        """The connector, or 404."""
        central = self.central(request)
        charger = central.chargers.get(charger_id)
        number = int(connector_id) if re.fullmatch(r"[0-9]{1,6}", connector_id) else -1
        if (
            charger is None
            or not offered(central, charger)
            or number not in charger.connectors
            or not number
        ):
            return self.json({"error": "unknown_connector"}, status_code=404)
        return self.json(describe(central, charger, number))


HOLD_SCHEMA = vol.Schema(
    {
        vol.Required("charger_id"): str,
        vol.Required("connector_id"): vol.All(int, vol.Range(min=1)),
        vol.Optional("minutes", default=35): vol.All(vol.Coerce(float), vol.Range(min=1, max=60)),
    }
)


def hold_json(hold: Hold) -> dict[str, Any]:
    """A hold as the kiosk keeps it."""
    return {
        "hold_id": hold.hold_id,
        "charger_id": hold.charger_id,
        "connector_id": hold.connector_id,
        "expires_at": hold.expires_at.isoformat(),
        "method": "kiosk" if hold.reservation_id is None else "reservation",
    }


class HoldsView(KioskView):
    """Hold an available connector for a guest who is paying (ReserveNow where supported)."""

    url = f"{API}/holds"
    name = "api:ev_charging:kiosk:holds"

    async def post(self, request: web.Request) -> web.Response:
        """201 with the hold; 400 bad request; 404 unknown connector; 409 not available."""
        central = self.central(request)
        data = await self.body(request, HOLD_SCHEMA)
        charger = central.chargers.get(data["charger_id"])
        connector_id = data["connector_id"]
        if (
            charger is None
            or not offered(central, charger)
            or connector_id not in charger.connectors
        ):
            return self.json({"error": "unknown_connector"}, status_code=404)
        state = connector_state(central, charger, connector_id)
        if state != "available":
            return self.json({"error": "not_available", "state": state}, status_code=409)
        if central.cashier.tariff_for(charger.charger_id, GUEST_ACCOUNT) is None:
            # Nothing to bill and no cap to hold: guests cannot pay here.
            return self.json({"error": "no_tariff"}, status_code=409)
        try:
            hold = await central.holds.hold(charger.charger_id, connector_id, data["minutes"])
        except HoldRefused as err:
            return self.json({"error": "not_available", "state": err.reason}, status_code=409)
        return self.json(hold_json(hold), status_code=201)


class HoldView(KioskView):
    """A hold: read it, or release it (the guest gave up)."""

    url = API + "/holds/{hold_id}"
    name = "api:ev_charging:kiosk:hold"

    async def get(self, request: web.Request, hold_id: str) -> web.Response:
        """The hold, or 404 once released or expired."""
        hold = self.central(request).holds.get(hold_id)
        if hold is None:
            return self.json({"error": "unknown_hold"}, status_code=404)
        return self.json(hold_json(hold))

    async def delete(self, request: web.Request, hold_id: str) -> web.Response:
        """Release it (CancelReservation); 404 if there was none, 409 if a paid session uses
        it (stop or cancel that session instead)."""
        central = self.central(request)
        hold = central.holds.get(hold_id)
        if hold is not None and central.guests.accepts(hold.id_tag, hold.charger_id):
            return self.json({"error": "hold_used"}, status_code=409)
        if not await central.holds.release(hold_id):
            return self.json({"error": "unknown_hold"}, status_code=404)
        return self.json({"released": hold_id})


def _amount(value: Any) -> Decimal:
    """A positive amount of money, given as text (never a float)."""
    if not isinstance(value, str):
        raise vol.Invalid('amounts are strings, e.g. "27.00"')
    try:
        amount = parse_amount(value)
    except ValueError as err:
        raise vol.Invalid(str(err)) from err
    if amount <= 0:
        raise vol.Invalid("the cap must be more than zero")
    return amount


SESSION_SCHEMA = vol.Schema(
    {
        vol.Required("hold_id"): str,
        vol.Required("cap"): _amount,
        vol.Required("reference"): vol.All(str, vol.Length(min=1, max=64)),
    }
)


async def session_json(central: CentralSystem, session: GuestSession) -> dict[str, Any]:
    """A paid session's progress: its state, and its bill (live, or as stored)."""
    await central.guests.give_up_if_stale(session)
    bill: dict[str, Any] | None = None
    transaction_id = session.transaction_id
    if transaction_id is not None:
        live = central.cashier.live_bill(transaction_id)
        if live is not None:
            bill = {
                "energy_wh": live.energy_wh,
                "gross": live.gross,
                "final": False,
                "flags": live.flags,
            }
        else:
            stored = await central.ledger.load_bills(transaction_id=transaction_id)
            if stored:
                bill = {
                    "energy_wh": stored[0].energy_wh,
                    "gross": stored[0].gross,
                    "final": stored[0].final,
                    "flags": stored[0].flags,
                }
    signed = None
    if transaction_id is not None:
        signed = (await load_signed(central.ledger, [transaction_id])).get(transaction_id)
    tariff = central.cashier.tariff_for(session.charger_id, GUEST_ACCOUNT)
    charger = central.chargers.get(session.charger_id)
    connector = None if charger is None else charger.connectors.get(session.connector_id)
    return {
        "session_id": session.session_id,
        "reference": session.reference,
        "charger_id": session.charger_id,
        "connector_id": session.connector_id,
        "state": session.state,
        "transaction_id": transaction_id,
        "cap": str(session.cap),
        "currency": None if tariff is None else tariff.currency,
        "energy_kwh": None if bill is None else str(bill["energy_wh"] / 1000),
        "cost": None if bill is None else str(bill["gross"]),
        "final": bill is not None and bill["final"],
        # Why the bill needs a second look (implausible_energy, absurd_reading, ...): the
        # kiosk takes no money for a bill a person has to check first.
        "flags": [] if bill is None else sorted(bill["flags"]),
        # What the kiosk needs to tell a charger that failed from one that went quiet: an
        # offline charger may still be charging (it reports when it is back).
        "charger_online": charger is not None and charger.connected,
        "connector_status": None if connector is None else connector.status,
        # The meter's signed start and end (calibration law), for the guest's receipt.
        "signed_meter_values": signed.as_dict() if signed else None,
    }


def guest_session(central: CentralSystem, session_id: str) -> GuestSession:
    """A paid session by its id; 404 if there is none."""
    if (session := central.guests.sessions.get(session_id)) is None:
        raise json_error(web.HTTPNotFound, "unknown_session")
    return session


class SessionsView(KioskView):
    """Start the session a guest paid for, on the connector held for them."""

    url = f"{API}/sessions"
    name = "api:ev_charging:kiosk:sessions"

    async def post(self, request: web.Request) -> web.Response:
        """201 with the session; 400 bad request; 404 no such hold; 409 the charger refused."""
        central = self.central(request)
        data = await self.body(request, SESSION_SCHEMA)
        if (started := central.guests.by_reference(data["reference"])) is not None:
            # The kiosk asking again (an answer lost): the same session, though its hold
            # may be used up by now.
            return self.json(await session_json(central, started), status_code=201)
        hold = central.holds.get(data["hold_id"])
        if hold is None:
            return self.json({"error": "unknown_hold"}, status_code=404)
        if (charger := central.chargers.get(hold.charger_id)) is None or not offered(
            central, charger
        ):
            # Trust was taken back (or the charger removed) while the guest paid: no guest's
            # tag goes to it.
            await central.holds.release(hold.hold_id)
            return self.json({"error": "not_available"}, status_code=409)
        if central.cashier.tariff_for(hold.charger_id, GUEST_ACCOUNT) is None:
            # The guest tariff went while the guest paid: no bill, so no cap to keep.
            await central.holds.release(hold.hold_id)
            return self.json({"error": "no_tariff"}, status_code=409)
        try:
            session = await central.guests.start(hold, data["cap"], data["reference"])
        except HoldUsed:
            return self.json({"error": "hold_used"}, status_code=409)
        except CommandError as err:
            await central.holds.release(hold.hold_id)
            return self.json({"error": "not_started", "detail": err.key}, status_code=409)
        return self.json(await session_json(central, session), status_code=201)


class SessionView(KioskView):
    """A paid session's progress (the guest's session page polls it)."""

    url = API + "/sessions/{session_id}"
    name = "api:ev_charging:kiosk:session"

    async def get(self, request: web.Request, session_id: str) -> web.Response:
        """The session, or 404."""
        central = self.central(request)
        session = guest_session(central, session_id)
        return self.json(await session_json(central, session))


class SessionStopView(KioskView):
    """The guest pressed stop."""

    url = API + "/sessions/{session_id}/stop"
    name = "api:ev_charging:kiosk:session_stop"

    async def post(self, request: web.Request, session_id: str) -> web.Response:
        """RemoteStopTransaction (or cancel one not started); 409 if the charger refused."""
        central = self.central(request)
        session = guest_session(central, session_id)
        was_waiting = session.state == WAITING
        try:
            await central.guests.stop(session)
        except CommandError as err:
            return self.json({"error": "not_stopped", "detail": err.key}, status_code=409)
        hold = central.holds.held(session.charger_id, session.connector_id)
        if was_waiting and session.state == CANCELLED and hold and hold.id_tag == session.id_tag:
            await central.holds.release(hold.hold_id)
        return self.json(await session_json(central, session))
