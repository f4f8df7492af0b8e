"""The kiosk's timers for a payment, and what it remembers between looks at it (in memory:
a restart starts the clocks again, which only ever delays a settling)."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

# A card hold is settled well before the network drops it: a session still running is stopped
# this long before, and whatever it cost so far is taken at the last chance (with what Home
# Assistant last said, if it does not answer then).
STOP_BEFORE = timedelta(hours=12)
LAST_CHANCE = timedelta(hours=1)
# Where a card gives no capture_before, online card holds last about 7 days.
DEFAULT_HOLD_LIFE = timedelta(days=7)
# A payment whose Checkout Session never got stored (the kiosk stopped in between) is let go;
# Stripe's client may retry a slow create for a few minutes before that.
ORPHAN_AFTER = timedelta(minutes=10)
# A paid session whose charger fails is settled after a while (and stopped, when the charger
# is back at the latest), by (charger offline, any energy delivered): without energy the hold
# is released, with energy what it cost is taken. A connector Faulted or Unavailable on a
# charger in touch delivers nothing more: soon. An offline charger may go on charging and
# report later (OCPP 1.6 chargers queue their messages): later.
GIVE_UP_AFTER = {
    (False, False): timedelta(minutes=2),
    (False, True): timedelta(minutes=30),
    (True, False): timedelta(minutes=30),
    (True, True): timedelta(hours=1),
}
OUT_OF_ORDER = frozenset({"Faulted", "Unavailable"})
# An open Checkout is looked up at Stripe at most this often per payment: page views (each
# session page reloads itself every 5 s, and anyone with its address can reload it) are not
# Stripe API calls. The webhook, and reconciliation, see to the rest.
CHECKOUT_LOOKUP_EVERY = timedelta(seconds=10)

type Seen = tuple[Decimal, Decimal, frozenset[str]]


class PaymentWatch:
    """Since when each session's charger fails, when each Checkout was last looked up, and
    what was last stored of each session's cost."""

    def __init__(self) -> None:
        self._out_of_order_since: dict[str, datetime] = {}
        self._looked_up: dict[str, datetime] = {}
        self._seen: dict[str, Seen] = {}

    def out_of_order_since(
        self, payment_id: str, session: dict[str, Any], now: datetime
    ) -> datetime | None:
        """Since when the session's charger is offline or its connector Faulted or Unavailable
        (as this kiosk has seen it); None while it is fine."""
        if session["charger_online"] and session["connector_status"] not in OUT_OF_ORDER:
            self._out_of_order_since.pop(payment_id, None)
            return None
        return self._out_of_order_since.setdefault(payment_id, now)

    def may_look_up(self, payment_id: str, now: datetime) -> bool:
        """Whether the payment's Checkout may be looked up at Stripe now (once every
        CHECKOUT_LOOKUP_EVERY); counted when asked, so a failing look-up is not retried at
        every page view either."""
        looked_up = self._looked_up
        last = looked_up.get(payment_id)
        if last is not None and last <= now < last + CHECKOUT_LOOKUP_EVERY:
            return False
        # Only payments in Checkout are here, and only for a few seconds each.
        for other, at in list(looked_up.items()):
            if not at <= now < at + CHECKOUT_LOOKUP_EVERY:
                del looked_up[other]
        looked_up[payment_id] = now
        return True

    def changed(self, payment_id: str, seen: Seen) -> bool:
        """Whether this differs from what was last stored for the session (then it is)."""
        if self._seen.get(payment_id) == seen:
            return False
        self._seen[payment_id] = seen
        return True

    def forget(self, payment_id: str) -> None:
        """Drop what is kept about a payment now settled."""
        self._out_of_order_since.pop(payment_id, None)
        self._seen.pop(payment_id, None)
