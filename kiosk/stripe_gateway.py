"""The kiosk's Stripe calls: Checkout Sessions that hold a card, and capturing or releasing the
hold. Async calls of the `stripe` library only (never its blocking ones on the event loop);
every call that creates, captures or cancels carries an idempotency key.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
import stripe
from stripe.params.checkout import SessionCreateParams

# Stripe's own zero- and three-decimal currencies (its lists, not ISO 4217's: MGA, for one).
ZERO_DECIMAL = frozenset(
    ("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND")
) | {"VUV", "XAF", "XOF", "XPF"}
THREE_DECIMAL = frozenset(("BHD", "JOD", "KWD", "OMR", "TND"))
# How far a webhook's signing time may be from now, either way (Stripe's default).
WEBHOOK_TOLERANCE = stripe.Webhook.DEFAULT_TOLERANCE


def minor_units(amount: Decimal, currency: str) -> int:
    """An amount in the smallest unit Stripe counts for the currency (cents for EUR)."""
    code = currency.upper()
    exponent = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return int(amount.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


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

    async def capture(self, intent_id: str, amount: int, payment_id: str) -> Authorisation:
        """Take `amount` (minor units) of the hold and release the rest."""
        intent = await self._client.v1.payment_intents.capture_async(
            intent_id,
            {"amount_to_capture": amount, "expand": ["latest_charge"]},
            options={"idempotency_key": f"capture-{payment_id}"},
        )
        return _authorisation(intent)

    async def cancel(self, intent_id: str, payment_id: str) -> Authorisation:
        """Release the whole hold: nothing is taken."""
        intent = await self._client.v1.payment_intents.cancel_async(
            intent_id,
            {"cancellation_reason": "abandoned", "expand": ["latest_charge"]},
            options={"idempotency_key": f"cancel-{payment_id}"},
        )
        return _authorisation(intent)


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
