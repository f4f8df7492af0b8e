"""How many connectors one client address may hold while paying, and how soon again.

A hold reserves the connector at the charger (ReserveNow: residents cannot use it either) for
as long as Stripe's page may take, and costs the holder nothing unless they pay. So holds are
counted per client address (HoldLimits), and a connector whose hold ended unpaid cannot be
held again by the same address until a cooldown has passed: without it, one address could
keep a connector held for ever by holding it again each time a hold lapsed.

Kept in memory: a restart forgets the last hour, which is all the limits look at.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .config import HoldLimits
from .store import CHECKOUT, RELEASED, PaymentStore

HOUR = timedelta(hours=1)
TOO_MANY_HOLDS = "too_many_holds"
COOLING_DOWN = "cooling_down"


@dataclass(frozen=True, slots=True)
class _Hold:
    payment_id: str
    place: tuple[str, int]
    at: datetime


class HoldLimiter:
    """The holds each client address began lately; their payments say how each ended."""

    def __init__(
        self,
        limits: HoldLimits,
        store: PaymentStore,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._limits = limits
        self._store = store
        self._now = now
        self._holds: dict[str, list[_Hold]] = {}
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """One pay press at a time per address, so the check and the hold it lets through go
        together (three presses at once cannot all pass the check before any hold exists)."""
        lock, users = self._turns.get(client, (asyncio.Lock(), 0))
        self._turns[client] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[client]
            if users == 1:
                del self._turns[client]
            else:
                self._turns[client] = (lock, users - 1)

    async def refusal(self, client: str, charger_id: str, connector_id: int) -> str | None:
        """Why this address may not hold this connector now (TOO_MANY_HOLDS, COOLING_DOWN);
        None if it may."""
        now = self._now()
        self._forget(now)
        holds = self._holds.get(client, [])
        if sum(now - hold.at < HOUR for hold in holds) >= self._limits.per_client_hour:
            return TOO_MANY_HOLDS
        unpaid = 0
        for hold in holds:
            payment = await self._store.get(hold.payment_id)
            if payment is None or payment.state == CHECKOUT:
                unpaid += 1
            elif (
                payment.state == RELEASED
                and hold.place == (charger_id, connector_id)
                and now - payment.updated_at < self._limits.cooldown
            ):
                return COOLING_DOWN
        return TOO_MANY_HOLDS if unpaid >= self._limits.open_per_client else None

    def record(self, client: str, charger_id: str, connector_id: int, payment_id: str) -> None:
        """A hold this address began (its payment tells later whether it was paid)."""
        self._holds.setdefault(client, []).append(
            _Hold(payment_id, (charger_id, connector_id), self._now())
        )

    def _forget(self, now: datetime) -> None:
        """Drop holds too old to matter to any limit; an address with none left goes."""
        # A hold ends within the hour it began, and its cooldown runs from then.
        keep = HOUR + self._limits.cooldown
        for client in list(self._holds):
            recent = [hold for hold in self._holds[client] if now - hold.at < keep]
            if recent:
                self._holds[client] = recent
            else:
                del self._holds[client]
