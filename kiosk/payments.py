"""A guest's payment from Checkout to capture: the kiosk's steps between Stripe and the
integration, each recorded in the kiosk's database before it is taken.

"Never charged twice" rests on the store: a capture is recorded (CAPTURING, with its amount)
before it is sent, and re-sent with the same idempotency key until Stripe confirms that the
intent is still uncaptured (settling.py); nothing leaves CAPTURING but to CAPTURED.

"Never charged for energy that cannot have been delivered" rests on the bill's flags: a bill
the integration flagged as impossible (REVIEW_FLAGS) is not captured, and not released either:
the payment goes to REVIEW and waits, card held, for the owner.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe

from .bridge import BridgeError, IntegrationBridge
from .currencies import capture_units, exponent, hold_problem
from .settling import HoldSettler
from .store import (
    AUTHORISED,
    CANCELLED,
    CANCELLING,
    CAPTURING,
    CHARGING,
    CHECKOUT,
    RELEASED,
    REVIEW,
    REVIEW_NOTE,
    Payment,
    PaymentStore,
)
from .stripe_gateway import StripeGateway
from .watch import (
    DEFAULT_HOLD_LIFE,
    GIVE_UP_AFTER,
    LAST_CHANCE,
    ORPHAN_AFTER,
    STOP_BEFORE,
    PaymentWatch,
)

_LOGGER = logging.getLogger(__name__)

# Stripe's shortest Checkout Session (30 minutes), with a minute to spare for the way there;
# the connector stays held a little longer than the guest can pay.
CHECKOUT_TIME = timedelta(minutes=31)
HOLD_MINUTES = 35
# A bill with these flags claims energy the connector cannot have delivered, or readings no
# meter can show (a broken meter, or a charger that is not what it claims): a person looks
# before any money is taken.
REVIEW_FLAGS = frozenset({"implausible_energy", "absurd_reading"})
UNKNOWN_CONNECTOR = "unknown_connector"
"""Not a connector the integration offers guests (gone, or a charger the owner does not
trust)."""


class NotPayable(Exception):
    """A guest cannot pay at this connector now; `reason` says why (for the page)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentDesk:
    """Opens Checkout for a connector, starts the paid session, and settles it."""

    def __init__(
        self,
        store: PaymentStore,
        bridge: IntegrationBridge,
        gateway: StripeGateway,
        *,
        hold: Decimal,
        public_url: str,
        site_name: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._bridge = bridge
        self._gateway = gateway
        self._hold = hold
        self._public_url = public_url
        self._site_name = site_name
        self._now = now
        # One step at a time per payment (webhook, page view, reconciliation); a lock lives
        # only while someone uses it, so page views of made-up addresses leave nothing behind.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._watch = PaymentWatch()
        self._settler = HoldSettler(store, gateway, self._release_hold)

    @contextlib.asynccontextmanager
    async def _locked(self, payment_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(payment_id, (asyncio.Lock(), 0))
        self._locks[payment_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[payment_id]
            if users == 1:
                del self._locks[payment_id]
            else:
                self._locks[payment_id] = (lock, users - 1)

    def now(self) -> datetime:
        """The desk's clock."""
        return self._now()

    async def begin(self, charger_id: str, connector_id: int) -> tuple[str, str]:
        """Hold the connector and open a Checkout Session; the payment's id and the address to
        send the guest to."""
        try:
            connector = await self._bridge.connector(charger_id, connector_id)
            if connector is None:
                raise NotPayable(UNKNOWN_CONNECTOR)
            if connector["price"] is None:
                raise NotPayable("no_tariff")
            if connector["state"] != "available":
                raise NotPayable("not_available")
            if (problem := hold_problem(self._hold, connector["price"]["currency"])) is not None:
                _LOGGER.error("No card payment at %s/%s: %s", charger_id, connector_id, problem)
                raise NotPayable("payment_unavailable")
            hold = await self._bridge.hold(charger_id, connector_id, HOLD_MINUTES)
        except BridgeError as err:
            raise NotPayable("not_available" if err.refused else "unreachable") from err
        now = self._now()
        payment = Payment(
            payment_id=secrets.token_urlsafe(24),
            charger_id=charger_id,
            connector_id=connector_id,
            currency=connector["price"]["currency"],
            hold_amount=self._hold,
            hold_id=hold["hold_id"],
            state=CHECKOUT,
            created_at=now,
            updated_at=now,
        )
        await self._store.add(payment)
        page = f"{self._public_url}/s/{payment.payment_id}"
        expires_at = now + CHECKOUT_TIME
        try:
            checkout_id, url = await self._gateway.open_checkout(
                payment.payment_id,
                amount=payment.hold_amount,
                currency=payment.currency,
                product=f"Charging at {charger_id}, connector {connector_id}",
                description=(
                    f"{self._site_name}: {payment.hold_amount} {payment.currency} is held;"
                    " only the real cost of the session is taken."
                ),
                success_url=page,
                cancel_url=f"{page}/cancel",
                expires_at=expires_at,
            )
        except stripe.StripeError as err:
            _LOGGER.error("Stripe refused a Checkout Session: %s", err)
            await self._release(payment, "Card payment is not available right now.")
            raise NotPayable("payment_unavailable") from err
        if not await self._store.advance(
            payment.payment_id,
            (CHECKOUT,),
            CHECKOUT,
            checkout_id=checkout_id,
            checkout_expires_at=expires_at,
        ):
            # Stripe took so long that the payment was let go meanwhile: do not send the
            # guest to pay for it.
            await self._gateway.expire_checkout(checkout_id)
            raise NotPayable("payment_unavailable")
        _LOGGER.info(
            "Payment %s: Checkout %s for %s/%s",
            payment.payment_id,
            checkout_id,
            charger_id,
            connector_id,
        )
        return payment.payment_id, url

    async def give_up(self, payment_id: str) -> None:
        """The guest went back from Checkout: end the Checkout Session, release the connector."""
        async with self._locked(payment_id):
            payment = await self._store.get(payment_id)
            if payment is None or payment.state != CHECKOUT or payment.checkout_id is None:
                return
            if await self._gateway.expire_checkout(payment.checkout_id):
                await self._release(payment, "You cancelled the payment; nothing was charged.")
            else:  # paid or expired meanwhile: go by what Stripe says
                await self._follow_checkout(payment)

    async def handle_event(self, event: stripe.Event) -> None:
        """A verified Stripe event (replays are filtered out before)."""
        if event.type not in ("checkout.session.completed", "checkout.session.expired"):
            return
        checkout: dict[str, Any] = event.data.object.to_dict()
        payment = await self._store.by_checkout(checkout["id"])
        if payment is None:
            payment_id = (checkout.get("metadata") or {}).get("payment_id")
            payment = None if payment_id is None else await self._store.get(payment_id)
        if payment is None:
            _LOGGER.warning("Stripe event %s for an unknown Checkout Session", event.id)
            return
        async with self._locked(payment.payment_id):
            payment = await self._store.get(payment.payment_id) or payment  # as it is now
            if event.type == "checkout.session.expired":
                await self._release(payment, "The payment timed out; nothing was charged.")
            else:
                email = (checkout.get("customer_details") or {}).get("email")
                await self._authorised(payment, checkout.get("payment_intent"), email)

    async def stop(self, payment_id: str) -> None:
        """The guest pressed stop on the session page."""
        async with self._locked(payment_id):
            payment = await self._store.get(payment_id)
            if payment is None or payment.state != CHARGING or payment.guest_session_id is None:
                return
            try:
                await self._bridge.stop_session(payment.guest_session_id)
            except BridgeError as err:
                if not err.refused:
                    raise
                # The charger cannot take it now (offline): it gets it when it is back.
                _LOGGER.warning("Payment %s: stop not taken now: %s", payment_id, err)
            await self._step(payment)

    async def progress(self, payment_id: str) -> tuple[Payment, dict[str, Any] | None] | None:
        """A payment as it is now, with its session's progress while it runs (and settled
        first if its bill became final); None if there is no such payment."""
        async with self._locked(payment_id):
            payment = await self._store.get(payment_id)
            if payment is None:
                return None
            session = await self._step(payment)
            return await self._store.get(payment_id) or payment, session

    async def reconcile(self) -> None:
        """Take every unsettled payment one step on: missed webhooks, sessions that ended,
        captures or cancels whose answer was lost, holds close to their end."""
        for payment in await self._store.open_payments():
            async with self._locked(payment.payment_id):
                current = await self._store.get(payment.payment_id)
                if current is None:
                    continue
                try:
                    await self._step(current)
                except (BridgeError, stripe.StripeError) as err:
                    _LOGGER.warning("Payment %s: will retry: %s", payment.payment_id, err)
                except Exception:  # one odd payment must not hold up the others
                    _LOGGER.exception("Payment %s: will retry", payment.payment_id)

    async def _step(self, payment: Payment) -> dict[str, Any] | None:
        """One step for a payment in any state; the session's progress when it has one."""
        if payment.state == CHECKOUT:
            await self._follow_checkout(payment)
        elif payment.state == AUTHORISED:
            await self._start(payment)
        elif payment.state == CHARGING:
            return await self._follow_session(payment)
        elif payment.state == CAPTURING:
            await self._settler.capture(payment)
        elif payment.state == CANCELLING:
            await self._settler.cancel(payment)
        return None

    async def _follow_checkout(self, payment: Payment) -> None:
        """What became of an open Checkout (a webhook may be late or lost): paid, expired, or
        past its time (then it is ended)."""
        now = self._now()
        if payment.checkout_id is None:
            if now - payment.created_at > ORPHAN_AFTER:
                await self._release(
                    payment, "The payment could not be opened; nothing was charged."
                )
            return
        if not self._watch.may_look_up(payment.payment_id, now):
            return
        status, intent_id = await self._gateway.checkout(payment.checkout_id)
        if status == "complete":
            await self._authorised(payment, intent_id, None)
        elif status == "expired" or (
            payment.checkout_expires_at is not None
            and now >= payment.checkout_expires_at
            and await self._gateway.expire_checkout(payment.checkout_id)
        ):
            await self._release(payment, "The payment timed out; nothing was charged.")

    async def _release(self, payment: Payment, note: str) -> None:
        """No money was held: let the connector go."""
        if await self._store.advance(payment.payment_id, (CHECKOUT,), RELEASED, note=note):
            _LOGGER.info("Payment %s released: %s", payment.payment_id, note)
            await self._release_hold(payment)

    async def _release_hold(self, payment: Payment) -> None:
        try:
            await self._bridge.release(payment.hold_id)
        except BridgeError as err:  # it runs out by itself
            _LOGGER.warning("Payment %s: hold not released: %s", payment.payment_id, err)

    async def _authorised(self, payment: Payment, intent_id: str | None, email: str | None) -> None:
        """Checkout completed: the card is held. Start the paid session."""
        if intent_id is None:
            _LOGGER.error("Payment %s: a completed Checkout without a payment", payment.payment_id)
            return
        if payment.state == RELEASED:
            # Paid for a connector already let go (the kiosk lost the Checkout's id): undo,
            # recorded first, so the release is retried until Stripe confirms it.
            _LOGGER.warning(
                "Payment %s: paid after it was released; cancelling", payment.payment_id
            )
            cancelling = await self._store.advance(
                payment.payment_id,
                (RELEASED,),
                CANCELLING,
                intent_id=intent_id,
                note="Paid after the charger was let go; the card hold is released.",
            )
            if cancelling is not None:
                await self._settler.cancel(cancelling)
            return
        if payment.state != CHECKOUT:
            return  # handled already
        authorisation = await self._gateway.authorisation(intent_id)
        if authorisation.status != "requires_capture":
            _LOGGER.error(
                "Payment %s: Stripe says %s, not a card hold",
                payment.payment_id,
                authorisation.status,
            )
            await self._store.advance(
                payment.payment_id,
                (CHECKOUT,),
                CANCELLED,
                intent_id=intent_id,
                note=f"The card payment is {authorisation.status}; nothing was started.",
            )
            await self._release_hold(payment)
            return
        held = await self._store.advance(
            payment.payment_id,
            (CHECKOUT,),
            AUTHORISED,
            intent_id=intent_id,
            capture_before=authorisation.capture_before,
            email=email,
        )
        if held is not None:
            _LOGGER.info("Payment %s: card held (%s)", payment.payment_id, intent_id)
            await self._start(held)

    async def _start(self, payment: Payment) -> None:
        """Ask the integration to start the session (again: it answers the same session)."""
        try:
            session = await self._bridge.start_session(
                payment.hold_id, payment.hold_amount, payment.payment_id
            )
        except BridgeError as err:
            if not err.refused:
                raise
            _LOGGER.warning("Payment %s: the session did not start: %s", payment.payment_id, err)
            await self._cancel(payment, "The charger could not start; nothing was charged.")
            return
        await self._store.advance(
            payment.payment_id, (AUTHORISED,), CHARGING, guest_session_id=session["session_id"]
        )

    async def _follow_session(self, payment: Payment) -> dict[str, Any] | None:
        """A running session: settle it once its bill is final, when its charger fails, or
        as the card hold runs out."""
        assert payment.guest_session_id is not None
        # The deadline first: a hold about to lapse is settled even without Home Assistant.
        now = self._now()
        deadline = payment.capture_before or payment.created_at + DEFAULT_HOLD_LIFE
        try:
            session = await self._bridge.session(payment.guest_session_id)
        except BridgeError as err:
            if now < deadline - LAST_CHANCE:
                raise
            _LOGGER.warning(
                "Payment %s: the card hold ends soon and Home Assistant does not answer (%s):"
                " settling what it last said",
                payment.payment_id,
                err,
            )
            await self._settle_last_seen(payment)
            return None
        energy = Decimal(session["energy_kwh"] or 0)
        cost = Decimal(session["cost"] or 0)
        flags = REVIEW_FLAGS.intersection(session.get("flags") or ())
        await self._saw(payment, energy, cost, flags)
        if session["state"] == "cancelled":
            await self._cancel(payment, "No car started charging; nothing was charged.")
            return session
        if session["final"]:
            await self._settle(payment, energy, cost, flags)
            return session
        if now >= deadline - STOP_BEFORE:
            _LOGGER.warning("Payment %s: the card hold ends soon: stopping", payment.payment_id)
            await self._stop_if_running(payment, session)
            if now >= deadline - LAST_CHANCE:
                await self._settle(payment, energy, cost, flags)
            return session
        since = self._watch.out_of_order_since(payment.payment_id, session, now)
        offline = not session["charger_online"]
        if since is not None and now - since >= GIVE_UP_AFTER[offline, energy > 0]:
            await self._stop_if_running(payment, session)
            if energy > 0 or flags:
                _LOGGER.warning(
                    "Payment %s: the charger is %s: settling what was delivered",
                    payment.payment_id,
                    "offline" if offline else "out of order",
                )
                await self._settle(payment, energy, cost, flags)
            else:
                await self._cancel(
                    payment, "The charger failed before delivering energy; nothing was charged."
                )
        return session

    async def _saw(
        self, payment: Payment, energy: Decimal, cost: Decimal, flags: frozenset[str]
    ) -> None:
        """Keep what Home Assistant said (written only when it changed)."""
        if self._watch.changed(payment.payment_id, (energy, cost, flags)):
            await self._store.saw(payment.payment_id, energy, cost, flags)

    async def _settle_last_seen(self, payment: Payment) -> None:
        """Take what Home Assistant last said the session cost; release the hold if it never
        said any energy was delivered."""
        seen = await self._store.last_seen(payment.payment_id)
        if seen is None or (seen.energy_kwh <= 0 and not seen.flags):
            await self._cancel(payment, "No energy was delivered; nothing was charged.")
        else:
            await self._settle(payment, seen.energy_kwh, seen.cost, seen.flags)

    async def _stop_if_running(self, payment: Payment, session: dict[str, Any]) -> None:
        """Ask the integration to stop the session; a charger that cannot take the stop now
        gets it when it is back, so a refusal does not hold up the settling."""
        if session["state"] not in ("waiting", "charging") or payment.guest_session_id is None:
            return
        try:
            await self._bridge.stop_session(payment.guest_session_id)
        except BridgeError as err:
            _LOGGER.warning("Payment %s: stop not taken now: %s", payment.payment_id, err)

    async def _settle(
        self, payment: Payment, energy: Decimal, cost: Decimal, flags: frozenset[str]
    ) -> None:
        """Take the cost (never more than the hold); nothing when no energy was delivered;
        a flagged bill is held for the owner instead (neither taken nor released)."""
        if flags:
            await self._hold_for_review(payment, energy, cost, flags)
            return
        if cost > payment.hold_amount:
            _LOGGER.error(
                "Payment %s: cost %s above the %s held; taking the hold",
                payment.payment_id,
                cost,
                payment.hold_amount,
            )
        # What Stripe can take: the cost rounded down to the currency's step (settling.py).
        units = capture_units(min(cost, payment.hold_amount), payment.currency)
        amount = Decimal(units).scaleb(-exponent(payment.currency))
        if energy <= 0 or units <= 0:
            await self._cancel(
                payment,
                "No energy was delivered; nothing was charged.",
                energy_kwh=energy,
                cost=cost,
            )
            return
        capturing = await self._store.advance(
            payment.payment_id,
            (CHARGING,),
            CAPTURING,
            captured=amount,
            energy_kwh=energy,
            cost=cost,
        )
        if capturing is not None:
            self._watch.forget(payment.payment_id)
            await self._settler.capture(capturing)

    async def _hold_for_review(
        self, payment: Payment, energy: Decimal, cost: Decimal, flags: frozenset[str]
    ) -> None:
        """The bill cannot be right as it stands: nothing is captured, and the card stays
        held (until its capture_before) for the owner to capture or release in Stripe's
        dashboard after a look at the session (it is on the integration's review list)."""
        held = await self._store.advance(
            payment.payment_id,
            (CHARGING,),
            REVIEW,
            energy_kwh=energy,
            cost=cost,
            note=REVIEW_NOTE,
        )
        if held is None:
            return
        self._watch.forget(payment.payment_id)
        _LOGGER.warning(
            "Payment %s: the bill of %s/%s is flagged (%s): not captured; PaymentIntent %s"
            " stays held for the owner to capture or cancel in Stripe before %s",
            payment.payment_id,
            payment.charger_id,
            payment.connector_id,
            ", ".join(sorted(flags)),
            payment.intent_id,
            "its hold ends" if payment.capture_before is None else payment.capture_before,
        )

    async def _cancel(self, payment: Payment, note: str, **changes: Any) -> None:
        """Release the whole card hold and the connector."""
        cancelling = await self._store.advance(
            payment.payment_id, (AUTHORISED, CHARGING), CANCELLING, note=note, **changes
        )
        if cancelling is not None:
            self._watch.forget(payment.payment_id)
            await self._settler.cancel(cancelling)
