"""Capturing or releasing a card hold at Stripe, so that nothing is ever taken twice.

Stripe keeps the first answer to an idempotency key, a 500 included, and gives it again to
every retry for about a day. So after any error the PaymentIntent itself is read: captured or
cancelled already, that is recorded. Still held after a 500 that Stripe stored under the key,
the attempt changed nothing and can never succeed, and only then is a new key (the next
attempt, written down before it is sent) used. Any other failure keeps the key: with no
answer (a timeout) the request may still land, and a retry under the same key cannot land a
second time; Stripe stores no answer for a refused, conflicting or throttled request, so the
same key is tried again. Two keys for one capture are never both in flight.
"""

import logging
from collections.abc import Awaitable, Callable

import stripe

from .currencies import capture_units
from .store import CANCELLED, CANCELLING, CAPTURED, CAPTURING, Payment, PaymentStore
from .stripe_gateway import Authorisation, StripeGateway

_LOGGER = logging.getLogger(__name__)

CAPTURE, CANCEL = "capture", "cancel"
# The PaymentIntent statuses Stripe cancels from (its API reference for cancel).
CANCELLABLE = frozenset(
    ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action")
)


class HoldSettler:
    """Sends a payment's recorded capture or cancel and records Stripe's outcome."""

    def __init__(
        self,
        store: PaymentStore,
        gateway: StripeGateway,
        released: Callable[[Payment], Awaitable[None]],
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._released = released  # the connector's hold, once the card's is

    async def capture(self, payment: Payment) -> None:
        """Send the recorded capture (again, under the same key, after a failure)."""
        assert payment.intent_id is not None
        assert payment.captured is not None
        amount = capture_units(payment.captured, payment.currency)
        attempt = await self._store.attempt(payment.payment_id, CAPTURE)
        try:
            authorisation = await self._gateway.capture(
                payment.intent_id, amount, payment.payment_id, attempt
            )
        except stripe.StripeError as err:
            _LOGGER.warning("Payment %s: capture answered %s", payment.payment_id, err)
            authorisation = await self._gateway.authorisation(payment.intent_id)
            if authorisation.status == "requires_capture":
                await self._after_failure(payment, CAPTURE, attempt, err)
                _LOGGER.error(
                    "Payment %s: Stripe did not capture %s; trying again later",
                    payment.payment_id,
                    amount,
                )
                return
        await self._captured(payment, amount, authorisation)

    async def _after_failure(
        self, payment: Payment, action: str, attempt: int, err: stripe.StripeError
    ) -> None:
        """Move to a new key only when Stripe stored a failure under this one."""
        if isinstance(err, stripe.APIError):  # 5xx; a timeout is APIConnectionError
            await self._store.next_attempt(payment.payment_id, action, attempt)

    async def _captured(self, payment: Payment, amount: int, authorisation: Authorisation) -> None:
        if authorisation.status == "succeeded":
            if authorisation.amount_received != amount:
                _LOGGER.error(
                    "Payment %s: Stripe took %s, not %s",
                    payment.payment_id,
                    authorisation.amount_received,
                    amount,
                )
            await self._store.advance(payment.payment_id, (CAPTURING,), CAPTURED)
            _LOGGER.info("Payment %s: captured %s", payment.payment_id, payment.captured)
        elif authorisation.status == "canceled":
            _LOGGER.error("Payment %s: the card hold ended before capture", payment.payment_id)
            await self._store.advance(
                payment.payment_id,
                (CAPTURING,),
                CANCELLED,
                note="The card hold ended before it could be taken; nothing was charged.",
            )
        else:
            _LOGGER.error(
                "Payment %s: Stripe says %s after a capture; trying again later",
                payment.payment_id,
                authorisation.status,
            )

    async def cancel(self, payment: Payment) -> None:
        """Send the recorded cancel (again, under the same key, after a failure)."""
        assert payment.intent_id is not None
        attempt = await self._store.attempt(payment.payment_id, CANCEL)
        try:
            authorisation = await self._gateway.cancel(
                payment.intent_id, payment.payment_id, attempt
            )
        except stripe.StripeError as err:
            _LOGGER.warning("Payment %s: cancel answered %s", payment.payment_id, err)
            authorisation = await self._gateway.authorisation(payment.intent_id)
            if authorisation.status in CANCELLABLE:
                await self._after_failure(payment, CANCEL, attempt, err)
                _LOGGER.error(
                    "Payment %s: Stripe did not release the hold; trying again later",
                    payment.payment_id,
                )
                return
        if authorisation.status != "canceled":
            _LOGGER.error(
                "Payment %s: hold not released (%s)", payment.payment_id, authorisation.status
            )
            return
        await self._store.advance(payment.payment_id, (CANCELLING,), CANCELLED)
        _LOGGER.info("Payment %s: hold released: %s", payment.payment_id, payment.note)
        await self._released(payment)
