"""The kiosk's Stripe calls: Checkout Sessions that hold a card, and capturing or releasing the
hold. Async calls of the `stripe` library only (never its blocking ones on the event loop);
every call that creates, captures or cancels carries an idempotency key.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import stripe
from stripe.params.checkout import SessionCreateParams

from .currencies import minor_units

# How far a webhook's signing time may be from now, either way (Stripe's default).
WEBHOOK_TOLERANCE = stripe.Webhook.DEFAULT_TOLERANCE
# What the kiosk does with its key, each with a harmless request that needs exactly that
# permission (Stripe lists no key's permissions): one on an object that does not exist answers
# 404 with the permission and 403 without (Stripe checks the key first); a list of one reads.
# Write includes read; every PaymentIntent call expands its latest_charge (capture_before).
PROBE_CHECKOUT_ID = "cs_probe_nonexistent"
PROBE_INTENT_ID = "pi_probe_nonexistent"
NEEDED_PERMISSIONS = (
    "rak_checkout_session_write",  # create and expire Checkout Sessions
    "rak_payment_intent_write",  # read, capture and cancel PaymentIntents
    "rak_charge_read",  # the PaymentIntents' latest_charge
)


class MissingPermission(Exception):
    """The Stripe key cannot do something the kiosk needs; `permission` names it."""

    def __init__(self, permission: str, detail: str) -> None:
        super().__init__(
            f"the Stripe key lacks the {permission!r} permission ({detail}); give it the"
            f" permissions {', '.join(NEEDED_PERMISSIONS)}"
        )
        self.permission = permission


def idempotency_key(action: str, payment_id: str, attempt: int) -> str:
    """The key of a payment's capture or cancel: the same for every retry of one attempt; a
    new attempt (only once Stripe said the last one changed nothing) gets a new one. The first
    has no number, as before attempts were counted."""
    return f"{action}-{payment_id}" if attempt == 0 else f"{action}-{payment_id}-{attempt}"


def verified_event(payload: str, header: str | None, secret: str) -> stripe.Event:
    """A webhook's event if Stripe signed it within WEBHOOK_TOLERANCE of now, before or after;
    raises stripe.SignatureVerificationError (or ValueError for a body that is no event).

    The library refuses only signatures too old: one dated ahead (a clock gone wrong, or a
    request signed for later) would stay replayable until its time came and for the
    tolerance after."""
    event: stripe.Event = stripe.Webhook.construct_event(
        payload, header, secret, tolerance=WEBHOOK_TOLERANCE
    )
    assert header is not None  # construct_event refuses a missing one
    # The timestamp the signature covers: the first t=, read as the library reads it.
    items = [part.split("=", 2) for part in header.split(",")]
    signed_at = int(next(item[1] for item in items if item[0] == "t"))
    if signed_at > time.time() + WEBHOOK_TOLERANCE:
        raise stripe.SignatureVerificationError(  # type: ignore[no-untyped-call]
            f"Timestamp ahead of the tolerance zone ({signed_at})", header, payload
        )
    return event


@dataclass(frozen=True, slots=True)
class Authorisation:
    """A card payment held for the guest (a PaymentIntent)."""

    intent_id: str
    status: str
    """`requires_capture` while held; `succeeded` once captured; `canceled` once released."""
    amount: int
    amount_received: int
    capture_before: datetime | None
    """When the card network drops the hold (on the charge; about 7 days online)."""


class StripeGateway:
    """Checkout Sessions and PaymentIntents through a `StripeClient`."""

    def __init__(self, api_key: str, api_base: str, session: aiohttp.ClientSession) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            http_client=stripe.AIOHTTPClient(session=session),
            max_network_retries=2,
        )

    async def open_checkout(
        self,
        payment_id: str,
        *,
        amount: Decimal,
        currency: str,
        product: str,
        description: str,
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
    ) -> tuple[str, str]:
        """A Checkout Session that holds `amount` on a card (captured later); its id and the
        address to send the guest to. Asking again for the same payment answers the same one."""
        metadata = {"payment_id": payment_id}
        params: SessionCreateParams = {
            "mode": "payment",
            # Cards only (wallets such as Apple Pay and Google Pay pay by card): a hold
            # captured later. Stripe's current API calls the list a filter.
            "allowed_payment_method_types": ["card"],
            "line_items": [
                {
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": minor_units(amount, currency),
                        "product_data": {"name": product, "description": description},
                    },
                    "quantity": 1,
                }
            ],
            "payment_intent_data": {
                "capture_method": "manual",
                "metadata": metadata,
                "description": product,
            },
            "metadata": metadata,
            "client_reference_id": payment_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
        }
        checkout = await self._client.v1.checkout.sessions.create_async(
            params, options={"idempotency_key": f"checkout-{payment_id}"}
        )
        return checkout.id, str(checkout.url)

    async def checkout(self, checkout_id: str) -> tuple[str, str | None]:
        """A Checkout Session's status (open, complete, expired) and its PaymentIntent."""
        checkout = await self._client.v1.checkout.sessions.retrieve_async(checkout_id)
        intent = checkout.payment_intent
        return str(checkout.status), intent if isinstance(
            intent, str
        ) or intent is None else intent.id

    async def expire_checkout(self, checkout_id: str) -> bool:
        """End an open Checkout Session (the guest gave up); False if it was not open any more."""
        try:
            await self._client.v1.checkout.sessions.expire_async(checkout_id)
        except stripe.InvalidRequestError:
            return False
        return True

    async def authorisation(self, intent_id: str) -> Authorisation:
        """A PaymentIntent with its charge's `capture_before`."""
        intent = await self._client.v1.payment_intents.retrieve_async(
            intent_id, {"expand": ["latest_charge"]}
        )
        return _authorisation(intent)

    async def capture(
        self, intent_id: str, amount: int, payment_id: str, attempt: int = 0
    ) -> Authorisation:
        """Take `amount` (minor units) of the hold and release the rest."""
        intent = await self._client.v1.payment_intents.capture_async(
            intent_id,
            {"amount_to_capture": amount, "expand": ["latest_charge"]},
            options={"idempotency_key": idempotency_key("capture", payment_id, attempt)},
        )
        return _authorisation(intent)

    async def cancel(self, intent_id: str, payment_id: str, attempt: int = 0) -> Authorisation:
        """Release the whole hold: nothing is taken."""
        intent = await self._client.v1.payment_intents.cancel_async(
            intent_id,
            {"cancellation_reason": "abandoned", "expand": ["latest_charge"]},
            options={"idempotency_key": idempotency_key("cancel", payment_id, attempt)},
        )
        return _authorisation(intent)

    async def check_access(self) -> None:
        """Raise MissingPermission naming the first permission the key lacks of those the
        kiosk needs (other Stripe errors as they come: a wrong key, Stripe unreachable)."""
        probes = (
            ("rak_checkout_session_write", self._probe_checkout_write),
            ("rak_payment_intent_write", self._probe_intent_write),
            ("rak_charge_read", self._probe_charge_read),
        )
        for permission, probe in probes:
            try:
                await probe()
            except stripe.PermissionError as err:
                raise MissingPermission(permission, err.user_message or str(err)) from err
            except stripe.InvalidRequestError as err:
                if err.http_status != 404:  # no such object: the key may ask
                    raise

    async def _probe_checkout_write(self) -> None:
        await self._client.v1.checkout.sessions.expire_async(PROBE_CHECKOUT_ID)

    async def _probe_intent_write(self) -> None:
        # An update, not a capture: nothing about it looks like money moving.
        await self._client.v1.payment_intents.update_async(PROBE_INTENT_ID)

    async def _probe_charge_read(self) -> None:
        await self._client.v1.charges.list_async({"limit": 1})


def _authorisation(intent: stripe.PaymentIntent) -> Authorisation:
    # Fields Stripe leaves out are missing attributes, hence getattr with a default.
    charge: Any = intent.latest_charge
    details = getattr(charge, "payment_method_details", None)
    card = getattr(details, "card", None)
    capture_before: int | None = getattr(card, "capture_before", None)
    return Authorisation(
        intent.id,
        intent.status,
        intent.amount,
        getattr(intent, "amount_received", None) or 0,
        None if capture_before is None else datetime.fromtimestamp(capture_before, UTC),
    )
