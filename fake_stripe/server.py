"""Stripe's API for one test account, in memory: Checkout Sessions, PaymentIntents, webhooks."""

import asyncio
import contextlib
import copy
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import stripe
from aiohttp import ClientError, ClientSession, ClientTimeout, web
from aiohttp.typedefs import Handler

from . import access
from .journal import Fault, Logged
from .params import CANCEL as _CANCEL
from .params import CAPTURE as _CAPTURE
from .params import EXPAND as _EXPAND
from .params import LIST as _LIST
from .params import SESSION_CREATE as _SESSION_CREATE
from .params import UPDATE_INTENT as _UPDATE_INTENT
from .params import Spec, refuse_unknown

_LOGGER = logging.getLogger(__name__)

type Json = dict[str, Any]
MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 60 * 60  # Checkout's allowed expires_at window
CAPTURE_WINDOW = 7 * 24 * 60 * 60  # card authorizations lapse after 7 days
CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
# Currencies without minor units, as Stripe lists them.
ZERO_DECIMAL = frozenset(
    ("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd")
) | {"vuv", "xaf", "xof", "xpf"}

_PARAMS = web.RequestKey[Json]("params")
_SENT = web.RequestKey[asyncio.Future[None]]("response_sent")


class StripeError(Exception):
    """An error as Stripe answers it: an HTTP status and an error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        error = {"type": kind, "code": code, "message": message, "param": param}
        self.error: Json = {key: value for key, value in error.items() if value is not None}

    def response(self) -> web.Response:
        """The JSON error response."""
        return web.json_response({"error": self.error}, status=self.status)


class ParamError(StripeError):
    """Parameters that failed validation; Stripe keeps no idempotent result for these."""

    def __init__(self, message: str, param: str, code: str | None = None) -> None:
        super().__init__(400, message, code=code, param=param)


def _join(base: str, key: str) -> str:
    return f"{base}[{key}]" if base else key


def unflatten(pairs: Iterable[tuple[str, str]]) -> Json:
    """Nest bracketed form keys (a[b][0]=v) into dicts; _coerce turns numbered ones into lists."""
    root: Json = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *re.findall(r"\[([^\]]*)\]", key[len(head) :])]
        node = root
        for part in path[:-1]:
            child = node.setdefault(part or str(len(node)), {})
            if not isinstance(child, dict):
                raise ParamError(f"Invalid parameter: {key}", key)
            node = child
        node[path[-1] or str(len(node))] = value
    return root


def _coerce(value: Any, spec: Spec, name: str) -> Any:
    """Check a parameter against its spec, as Stripe does: unknown names, arrays, integers."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ParamError("Invalid object", name)
        for key in value:
            if key not in spec:
                param = _join(name, key)
                raise ParamError(f"Received unknown parameter: {param}", param, "parameter_unknown")
        return {key: _coerce(item, spec[key], _join(name, key)) for key, item in value.items()}
    if isinstance(spec, list):
        if not isinstance(value, dict) or not all(key.isdigit() for key in value):
            raise ParamError("Invalid array", name)
        return [_coerce(value[key], spec[0], _join(name, key)) for key in sorted(value, key=int)]
    if spec is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ParamError("Invalid hash", name)
        return value
    if not isinstance(value, str):
        raise ParamError(f"Invalid {name}: must be a string", name)
    if spec is int:
        if not re.fullmatch(r"-?\d+", value):
            raise ParamError(f"Invalid integer: {value}", name, "parameter_invalid_integer")
        return int(value)
    return value


def _require(params: Json, *names: str, base: str = "") -> None:
    for name in names:
        if name not in params:
            param = _join(base, name)
            raise ParamError(f"Missing required param: {param}.", param, "parameter_missing")


def _unexpected(intent: Json, action: str, allowed: Sequence[str]) -> StripeError:
    return StripeError(
        400,
        f"This PaymentIntent could not be {action} because it has a status of {intent['status']}."
        f" Only a PaymentIntent with one of the following statuses may be {action}:"
        f" {', '.join(allowed)}.",
        code="payment_intent_unexpected_state",
    )


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _money(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount // 100}.{amount % 100:02d} {currency.upper()}"


def _page(status: int, title: str, body: str) -> web.Response:
    text = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(status=status, text=text, content_type="text/html")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FakeStripe:
    """One Stripe test account: its sessions, payment intents, charges, events and webhooks."""

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        webhook_url: str | None,
        public_url: str,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.api_key, self.webhook_secret, self.webhook_url = api_key, webhook_secret, webhook_url
        self.public_url = public_url.rstrip("/")
        self.now = now
        self.events: list[Json] = []
        self.deliveries: list[tuple[str, int]] = []  # (event id, HTTP status or 0)
        self._objects: dict[str, Json] = {}  # every session, payment intent and charge by id
        self._orders: dict[str, Json] = {}  # per session: line items and payment_intent_data
        self._idempotent: dict[tuple[str, str], tuple[tuple[str, Json], int, bytes]] = {}
        self._tasks: set[asyncio.Task[int]] = set()
        self._captures: Counter[str] = Counter()  # captures carried out, per payment intent
        self.requests: Counter[str] = Counter()
        """Requests received, by "METHOD /path" (a test counts the kiosk's API calls)."""
        self.log: list[Logged] = []
        """Every API request in order, with its idempotency key and answer."""
        self.account = "acct_fake"
        self._restricted: dict[str, frozenset[str]] = {}
        self._faults: list[Fault] = []

    def app(self) -> web.Application:
        """The aiohttp application serving the API and the hosted payment page."""
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(
            [
                web.post("/v1/checkout/sessions", self._create_session),
                web.get("/v1/checkout/sessions/{id}", self._retrieve_session),
                web.post("/v1/checkout/sessions/{id}/expire", self._expire_session),
                web.get("/v1/payment_intents/{id}", self._retrieve_intent),
                web.post("/v1/payment_intents/{id}", self._update_intent),
                web.post("/v1/payment_intents/{id}/capture", self._capture),
                web.post("/v1/payment_intents/{id}/cancel", self._cancel),
                web.get("/v1/charges", self._list_charges),
                web.get("/pay/{id}", self._checkout_page),
                web.post("/pay/{id}", self._checkout_pay),
                web.get("/pay/{id}/back", self._checkout_back),
                web.post("/_fake/expire_due", self._expire_due_endpoint),
            ]
        )
        app.on_cleanup.append(self._cleanup)
        return app

    # Controls for tests and the demo.

    def session(self, session_id: str) -> Json:
        """The Checkout Session as the API shows it now."""
        return copy.deepcopy(self._get(session_id, "checkout.session"))

    def intent(self, intent_id: str) -> Json:
        """The PaymentIntent as the API shows it now."""
        return copy.deepcopy(self._get(intent_id, "payment_intent"))

    def charge(self, charge_id: str) -> Json:
        """The Charge as the API shows it now."""
        return copy.deepcopy(self._get(charge_id, "charge"))

    def checkout_ids(self) -> list[str]:
        """Every Checkout Session made, oldest first."""
        return [i for i, obj in self._objects.items() if obj["object"] == "checkout.session"]

    def captures(self, intent_id: str) -> int:
        """How many times money was taken for a PaymentIntent (replays do not count)."""
        return self._captures[intent_id]

    def restricted_key(self, key: str, permissions: Iterable[str]) -> None:
        """Accept a restricted key (rk_...) with these permissions (rak_charge_read, ...)."""
        self._restricted[key] = frozenset(permissions)

    def fail_next(self, pattern: str, *, after: bool = False) -> None:
        """Answer the next API request matching `pattern` ("METHOD /path", a regex searched)
        with a 500, and replay that 500 to its idempotency key as Stripe does; `after`: carry
        the request out first (the money moved, the answer says it failed)."""
        self._faults.append(Fault(re.compile(pattern), after))

    def pay(self, session_id: str, email: str = "guest@example.org") -> Json:
        """Pay an open session as the guest does on the hosted page; the new PaymentIntent."""
        return copy.deepcopy(self._pay(session_id, email, None))

    def expire(self, session_id: str) -> Json:
        """Expire an open session as Stripe does by itself at its expires_at."""
        return copy.deepcopy(self._expire(session_id, None))

    def expire_due(self) -> list[str]:
        """Expire every open session past its expires_at; their ids."""
        return self._expire_due(None)

    async def settle(self) -> None:
        """Wait for every webhook delivery under way."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending)

    async def deliver(
        self, event: Json, *, secret: str | None = None, timestamp: int | None = None
    ) -> int:
        """(Re)send an event to the webhook URL, signed as Stripe signs; its HTTP status or 0."""
        payload = json.dumps(event)
        t = self._unix() if timestamp is None else timestamp
        key = (self.webhook_secret if secret is None else secret).encode()
        signature = hmac.new(key, f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": f"t={t},v1={signature}",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        status = 0
        if self.webhook_url is None:
            _LOGGER.warning("Event %s not sent: no webhook URL", event["id"])
        else:
            try:
                async with (
                    ClientSession(timeout=ClientTimeout(total=10)) as http,
                    http.post(self.webhook_url, data=payload.encode(), headers=headers) as reply,
                ):
                    status = reply.status
            except (ClientError, OSError, TimeoutError) as err:
                _LOGGER.warning(
                    "Event %s not delivered to %s: %s", event["id"], self.webhook_url, err
                )
            else:
                _LOGGER.info("Event %s %s delivered: HTTP %d", event["id"], event["type"], status)
        self.deliveries.append((event["id"], status))
        return status

    # The machinery.

    def _unix(self) -> int:
        return int(self.now().timestamp())

    def _get(self, ident: str, kind: str) -> Json:
        obj = self._objects.get(ident)
        if obj is None or obj["object"] != kind:
            raise StripeError(
                404, f"No such {kind}: '{ident}'", code="resource_missing", param="id"
            )
        if kind == "payment_intent" and obj["status"] == "requires_capture":
            # Stripe releases an authorization nobody captured in time, and cancels the intent.
            card = self._objects[obj["latest_charge"]]["payment_method_details"]["card"]
            if self._unix() >= card["capture_before"]:
                self._cancel_intent(obj, "automatic", card["capture_before"])
        return obj

    def _render(self, obj: Json, expand: Iterable[str]) -> Json:
        """The object with the ids named in expand (dotted paths) replaced by their objects."""
        nested: dict[str, list[str]] = {}
        for path in expand:
            field, _, rest = path.partition(".")
            nested.setdefault(field, []).extend([rest] if rest else [])
        out = dict(obj)
        for field, paths in nested.items():
            ref = obj.get(field, "")
            if ref is not None and ref not in self._objects:
                raise ParamError(f"This property cannot be expanded ({field}).", "expand")
            if ref is not None:
                out[field] = self._render(self._get(ref, self._objects[ref]["object"]), paths)
        return out

    def _reply(self, obj: Json, params: Json) -> web.Response:
        return web.json_response(self._render(obj, params.get("expand", [])))

    def _emit(self, kind: str, obj: Json, request: web.Request | None) -> None:
        event = {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": stripe.api_version,
            "created": self._unix(),
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "type": kind,
            "data": {"object": copy.deepcopy(obj)},
            "request": {"id": None, "idempotency_key": None},
        }
        self.events.append(event)
        if not self.webhook_url:
            return
        sent = None
        if request is not None:  # Stripe answers the request first, then sends its webhooks
            if _SENT not in request:
                request[_SENT] = asyncio.get_running_loop().create_future()
            sent = request[_SENT]
        # A task from now on, though it may wait, so that settle() sees it.
        task = asyncio.get_running_loop().create_task(self._send(event, sent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: Json, sent: asyncio.Future[None] | None) -> int:
        if sent is not None:
            await sent
        return await self.deliver(event)

    async def _cleanup(self, _app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Stripe's conventions for /v1 (key, errors, idempotency); webhooks after the response."""
        api = request.path.startswith("/v1/")
        self.requests[f"{request.method} {request.path}"] += 1
        response: web.StreamResponse
        try:
            try:
                response = await (self._call_api(request, handler) if api else handler(request))
            except StripeError as err:
                response = err.response() if api else _page(err.status, "Error", _para(err.message))
            except web.HTTPException as err:
                if api:
                    url = f"Unrecognized request URL ({request.method}: {request.path})."
                    response = StripeError(err.status, url).response()
                else:
                    response = _page(err.status, err.reason, _para(err.reason))
            _LOGGER.info("%s %s -> %d", request.method, request.path_qs, response.status)
            if api:
                self._journal(request, response)
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            if _SENT in request:
                request[_SENT].set_result(None)

    def _journal(self, request: web.Request, response: web.StreamResponse) -> None:
        body = response.body if isinstance(response, web.Response) else None
        try:
            answer = json.loads(body) if isinstance(body, bytes) else None
        except ValueError:
            answer = None
        self.log.append(
            Logged(
                request.method,
                request.path,
                request.headers.get("Idempotency-Key"),
                request.get(_PARAMS, {}),
                response.status,
                answer,
                response.headers.get("Idempotent-Replayed") == "true",
            )
        )

    def _check_permissions(self, key: str, request: web.Request, params: Json) -> None:
        permissions = self._restricted.get(key)
        if permissions is None:  # the secret key can do anything
            return
        expand = params.get("expand", {})
        fields = list(expand.values()) if isinstance(expand, dict) else []
        for permission in access.needed(request.method, request.path, fields):
            if not access.granted(permissions, permission):
                raise StripeError(403, access.refusal_message(key, permission, self.account))

    def _fault(self, request: web.Request) -> Fault | None:
        for fault in self._faults:
            if fault.matches(request.method, request.path):
                self._faults.remove(fault)
                return fault
        return None

    async def _call_api(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        given = auth.removeprefix("Bearer ").strip()
        if auth != f"Bearer {self.api_key}" and given not in self._restricted:
            masked = given[:8] + "*" * max(len(given) - 12, 0) + given[-4:]
            message = f"Invalid API Key provided: {masked}" if given else "No API key provided."
            raise StripeError(401, message)
        raw = await request.text() if request.method == "POST" else request.rel_url.raw_query_string
        params = request[_PARAMS] = unflatten(parse_qsl(raw, keep_blank_values=True))
        self._check_permissions(given, request, params)
        if (refused := refuse_unknown(request, params)) is not None:
            return refused  # before the idempotency store: Stripe keeps nothing of it
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await self._carry_out(request, handler)
        fingerprint = (request.path, params)
        if (saved := self._idempotent.get((given, key))) is not None:
            if saved[0] != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they"
                    f" were first used with. Try using a key other than '{key}' if you meant to"
                    " execute a different request.",
                    kind="idempotency_error",
                )
            headers = {"Idempotent-Replayed": "true", "Idempotency-Key": key}
            if saved[1] >= 500:
                headers["Stripe-Should-Retry"] = "false"  # the same key answers the same
            return web.Response(
                body=saved[2], status=saved[1], content_type="application/json", headers=headers
            )
        try:
            response = await self._carry_out(request, handler)
        except ParamError:
            raise
        except StripeError as err:
            response = err.response()
        assert isinstance(response, web.Response)
        assert isinstance(response.body, bytes)
        self._idempotent[given, key] = (fingerprint, response.status, response.body)
        return response

    async def _carry_out(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The request handled, unless a test made it fail (before or after its effect)."""
        fault = self._fault(request)
        if fault is not None and fault.after:
            with contextlib.suppress(StripeError):
                await handler(request)
        if fault is None:
            return await handler(request)
        error = StripeError(500, "An unknown error occurred", kind="api_error").response()
        error.headers["Stripe-Should-Retry"] = "false"
        return error

    # The API.

    async def _create_session(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _SESSION_CREATE, "")
        _require(p, "mode", "line_items", "success_url")
        if p["mode"] != "payment":
            raise ParamError("This fake supports only mode=payment.", "mode")
        now = self._unix()
        expires_at = p.get("expires_at", now + MAX_EXPIRY)
        if not now + MIN_EXPIRY <= expires_at <= now + MAX_EXPIRY:
            raise ParamError(
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from"
                " Checkout Session creation.",
                "expires_at",
            )
        for i, item in enumerate(p["line_items"]):
            base = f"line_items[{i}]"
            _require(item, "price_data", "quantity", base=base)
            price = item["price_data"]
            _require(price, "currency", "unit_amount", "product_data", base=f"{base}[price_data]")
            _require(price["product_data"], "name", base=f"{base}[price_data][product_data]")
            if item["quantity"] < 1 or price["unit_amount"] < 0:
                raise ParamError("Quantity must be 1 or more, unit_amount 0 or more.", base)
        currencies = {item["price_data"]["currency"].lower() for item in p["line_items"]}
        if len(currencies) != 1:
            raise ParamError("All line items must have the same currency.", "line_items")
        intent_data = p.get("payment_intent_data", {})
        capture = intent_data.get("capture_method", "automatic_async")
        if capture not in CAPTURE_METHODS:
            raise ParamError(
                f"Invalid capture_method: must be one of {', '.join(CAPTURE_METHODS)}",
                "payment_intent_data[capture_method]",
            )
        amount = sum(i["quantity"] * i["price_data"]["unit_amount"] for i in p["line_items"])
        session_id = _new_id("cs_test")
        self._objects[session_id] = session = {
            "id": session_id,
            "object": "checkout.session",
            "allowed_payment_method_types": p.get("allowed_payment_method_types"),
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": p.get("cancel_url"),
            "client_reference_id": p.get("client_reference_id"),
            "created": now,
            "currency": currencies.pop(),
            "customer_details": None,
            "customer_email": p.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": p.get("locale"),
            "metadata": p.get("metadata", {}),
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": p.get("allowed_payment_method_types", ["card"]),
            "payment_status": "unpaid",
            "status": "open",
            "success_url": p["success_url"],
            "url": f"{self.public_url}/pay/{session_id}",
        }
        self._orders[session_id] = {
            "line_items": p["line_items"],
            "capture_method": capture,
            "metadata": intent_data.get("metadata", {}),
            "description": intent_data.get("description"),
        }
        return self._reply(session, p)

    async def _retrieve_session(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _EXPAND, "")
        return self._reply(self._get(request.match_info["id"], "checkout.session"), p)

    async def _expire_session(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _EXPAND, "")
        self._render(self._get(request.match_info["id"], "checkout.session"), p.get("expand", []))
        return self._reply(self._expire(request.match_info["id"], request), p)

    async def _retrieve_intent(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _EXPAND, "")
        return self._reply(self._get(request.match_info["id"], "payment_intent"), p)

    async def _update_intent(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _UPDATE_INTENT, "")
        intent = self._get(request.match_info["id"], "payment_intent")
        self._render(intent, p.get("expand", []))
        if "metadata" in p:
            intent["metadata"] = {**intent["metadata"], **p["metadata"]}
        if "description" in p:
            intent["description"] = p["description"]
        return self._reply(intent, p)

    async def _list_charges(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _LIST, "")
        limit = p.get("limit", 10)
        if not 1 <= limit <= 100:
            raise ParamError("Invalid limit: must be between 1 and 100", "limit")
        charges = [o for o in self._objects.values() if o["object"] == "charge"][::-1]
        data = [self._render(charge, p.get("expand", [])) for charge in charges[:limit]]
        return web.json_response(
            {"object": "list", "data": data, "has_more": len(charges) > limit, "url": "/v1/charges"}
        )

    async def _capture(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _CAPTURE, "")
        intent = self._get(request.match_info["id"], "payment_intent")
        if intent["status"] != "requires_capture":
            raise _unexpected(intent, "captured", ["requires_capture"])
        amount = p.get("amount_to_capture", intent["amount"])
        if not 1 <= amount <= intent["amount_capturable"]:
            raise ParamError(
                f"The amount_to_capture must be between 1 and the amount capturable"
                f" ({intent['amount_capturable']}).",
                "amount_to_capture",
            )
        self._render(intent, p.get("expand", []))  # a bad expand fails before any change
        intent.update(status="succeeded", amount_capturable=0, amount_received=amount)
        self._captures[intent["id"]] += 1
        # Stripe reports the released rest of the authorization as refunded.
        charge = self._objects[intent["latest_charge"]]
        charge.update(
            captured=True, amount_captured=amount, amount_refunded=charge["amount"] - amount
        )
        return self._reply(intent, p)

    async def _cancel(self, request: web.Request) -> web.Response:
        p = _coerce(request[_PARAMS], _CANCEL, "")
        reason = p.get("cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise ParamError(
                f"Invalid cancellation_reason: must be one of {', '.join(CANCELLATION_REASONS)}",
                "cancellation_reason",
            )
        intent = self._get(request.match_info["id"], "payment_intent")
        if intent["status"] not in CANCELABLE:
            raise _unexpected(intent, "canceled", CANCELABLE)
        self._render(intent, p.get("expand", []))
        self._cancel_intent(intent, reason, self._unix())
        return self._reply(intent, p)

    def _cancel_intent(self, intent: Json, reason: str | None, at: int) -> None:
        intent.update(
            status="canceled", canceled_at=at, cancellation_reason=reason, amount_capturable=0
        )
        if intent["latest_charge"] is not None:  # the authorization is released: refunded
            charge = self._objects[intent["latest_charge"]]
            charge.update(refunded=True, amount_refunded=charge["amount"])

    def _expire(self, session_id: str, request: web.Request | None) -> Json:
        session = self._get(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                param="session",
            )
        session["status"] = "expired"
        self._emit("checkout.session.expired", session, request)
        return session

    def _expire_due(self, request: web.Request | None) -> list[str]:
        now = self._unix()
        due = [
            s["id"]
            for s in self._objects.values()
            if s["object"] == "checkout.session"
            and s["status"] == "open"
            and s["expires_at"] <= now
        ]
        for session_id in due:
            self._expire(session_id, request)
        return due

    async def _expire_due_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response({"expired": self._expire_due(request)})

    # The hosted payment page.

    def _payable(self, session_id: str) -> Json:
        session = self._get(session_id, "checkout.session")
        if session["status"] != "open" or self._unix() >= session["expires_at"]:
            raise StripeError(410, "This Checkout Session is no longer active.")
        return session

    def _pay(self, session_id: str, email: str | None, request: web.Request | None) -> Json:
        session = self._payable(session_id)
        order = self._orders[session_id]
        now, amount, currency = self._unix(), session["amount_total"], session["currency"]
        manual = order["capture_method"] == "manual"
        intent_id, charge_id = _new_id("pi"), _new_id("ch")
        self._objects[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": 0 if manual else amount,
            "amount_refunded": 0,
            "billing_details": {"email": email},
            "captured": not manual,
            "created": now,
            "currency": currency,
            "livemode": False,
            "metadata": dict(order["metadata"]),
            "paid": True,
            "payment_intent": intent_id,
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": "visa",
                    "last4": "4242",
                    "capture_before": now + CAPTURE_WINDOW if manual else None,
                },
            },
            "receipt_url": f"{self.public_url}/receipts/{charge_id}",
            "refunded": False,
            "status": "succeeded",
        }
        self._objects[intent_id] = intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": amount if manual else 0,
            "amount_received": 0 if manual else amount,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": order["capture_method"],
            "created": now,
            "currency": currency,
            "description": order["description"],
            "latest_charge": charge_id,
            "livemode": False,
            "metadata": dict(order["metadata"]),
            "payment_method_types": ["card"],
            "receipt_email": None,
            "status": "requires_capture" if manual else "succeeded",
        }
        session.update(
            status="complete",
            payment_intent=intent_id,
            customer_details={"email": email},
            payment_status="unpaid" if manual else "paid",
        )
        self._emit("checkout.session.completed", session, request)
        return intent

    async def _checkout_page(self, request: web.Request) -> web.Response:
        session = self._payable(request.match_info["id"])
        esc, session_id = html.escape, session["id"]
        items = "".join(
            f"<li>{esc(i['price_data']['product_data']['name'])} &times; {i['quantity']}"
            f" <small>{esc(i['price_data']['product_data'].get('description') or '')}</small></li>"
            for i in self._orders[session_id]["line_items"]
        )
        total = _money(session["amount_total"], session["currency"])
        back = f'<p><a id="back" href="/pay/{session_id}/back">Back</a></p>'
        return _page(
            200,
            "Fake Stripe Checkout",
            f'<ul>{items}</ul><p id="total">Total: {esc(total)}</p>'
            f'<form method="post" action="/pay/{session_id}"><label>Email <input id="email"'
            f' name="email" type="email" required value="{esc(session["customer_email"] or "")}">'
            f'</label> <button id="pay" type="submit">Pay {esc(total)}</button></form>'
            + (back if session["cancel_url"] else ""),
        )

    async def _checkout_pay(self, request: web.Request) -> web.Response:
        email = str((await request.post()).get("email", "")).strip() or None
        self._pay(request.match_info["id"], email, request)
        session = self._objects[request.match_info["id"]]
        location = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return web.Response(status=303, headers={"Location": location})

    async def _checkout_back(self, request: web.Request) -> web.Response:
        session = self._get(request.match_info["id"], "checkout.session")
        if not session["cancel_url"]:
            raise StripeError(404, "This Checkout Session has no cancel_url.")
        return web.Response(status=303, headers={"Location": session["cancel_url"]})


def _para(text: str) -> str:
    return f'<p id="error">{html.escape(text)}</p>'
