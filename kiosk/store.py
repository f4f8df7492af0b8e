"""The kiosk's own SQLite database: every payment and the Stripe events already handled.

A payment moves through its states only by compare-and-set (`advance`), so two tasks can
never both capture or both cancel it: whichever records the step first does it, and a capture
is recorded before it is sent. One thread does all SQLite work, off the event loop.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

# Checkout open and the connector held → the guest gave up or Stripe expired it: RELEASED;
# or paid (AUTHORISED: the card is held) → CHARGING (the integration runs the session) →
# CAPTURING (the amount recorded, then sent) → CAPTURED; or CANCELLING → CANCELLED; or, when
# the bill needs a person's look (its meter readings cannot be right), REVIEW: the card stays
# held, nothing is captured or released by the kiosk; the owner decides in Stripe.
CHECKOUT, RELEASED = "checkout", "released"
AUTHORISED, CHARGING = "authorised", "charging"
CAPTURING, CAPTURED = "capturing", "captured"
CANCELLING, CANCELLED = "cancelling", "cancelled"
REVIEW = "review"
REVIEW_NOTE = "The charge is being checked; nothing beyond the hold is taken."
OPEN_STATES = (CHECKOUT, AUTHORISED, CHARGING, CAPTURING, CANCELLING)
"""The states reconciliation takes on (REVIEW is the owner's, not the kiosk's, to settle)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    currency TEXT NOT NULL,
    hold_amount TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    checkout_id TEXT UNIQUE,
    checkout_expires_at TEXT,
    intent_id TEXT,
    capture_before TEXT,
    guest_session_id TEXT,
    energy_kwh TEXT,
    cost TEXT,
    captured TEXT,
    email TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS payments_state ON payments (state);
-- Which attempt of a payment's capture or cancel is under way (its idempotency key): a new
-- one only once Stripe confirmed the last changed nothing, written before it is sent.
CREATE TABLE IF NOT EXISTS stripe_attempts (
    payment_id TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    PRIMARY KEY (payment_id, action)
);
-- What Home Assistant last said a running session had delivered and cost: what is taken
-- when Home Assistant cannot be reached as the card hold ends.
CREATE TABLE IF NOT EXISTS last_seen (
    payment_id TEXT PRIMARY KEY,
    energy_kwh TEXT NOT NULL,
    cost TEXT NOT NULL,
    flags TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stripe_events (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SeenCost:
    """A running session's energy and cost as Home Assistant last told them."""

    energy_kwh: Decimal
    cost: Decimal
    flags: frozenset[str]
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Payment:
    """A guest's payment for one charging session, as stored."""

    payment_id: str
    """Unguessable: it is the guest's session page address."""
    charger_id: str
    connector_id: int
    currency: str
    hold_amount: Decimal
    hold_id: str
    state: str
    created_at: datetime
    updated_at: datetime
    checkout_id: str | None = None
    checkout_expires_at: datetime | None = None
    intent_id: str | None = None
    capture_before: datetime | None = None
    guest_session_id: str | None = None
    energy_kwh: Decimal | None = None
    cost: Decimal | None = None
    captured: Decimal | None = None
    """What was (or is being) taken from the card."""
    email: str | None = None
    note: str | None = None
    """Why it ended as it did, in words for the guest."""


_DECIMALS = {"hold_amount", "energy_kwh", "cost", "captured"}
_TIMES = {"created_at", "updated_at", "checkout_expires_at", "capture_before"}
COLUMNS = [field.name for field in fields(Payment)]


def _to_db(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DECIMALS:
        return str(value)
    if name in _TIMES:
        return value.isoformat()
    return value


def _set_clause(changes: dict[str, Any]) -> tuple[str, list[Any]]:
    """An UPDATE's `name = ?, ...` and its values, as stored."""
    return (
        ", ".join(f"{name} = ?" for name in changes),
        [_to_db(name, value) for name, value in changes.items()],
    )


def _from_db(row: sqlite3.Row) -> Payment:
    values: dict[str, Any] = dict(row)
    for name in _DECIMALS:
        if values[name] is not None:
            values[name] = Decimal(values[name])
    for name in _TIMES:
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    return Payment(**values)


class PaymentStore:
    """Payments and handled Stripe events in one SQLite file."""

    def __init__(self, path: Path, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._path = path
        self._now = now
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-store")
        self._db: sqlite3.Connection | None = None

    async def _run[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        def job() -> T:
            if self._db is None:
                self._db = sqlite3.connect(self._path, check_same_thread=False)
                self._db.row_factory = sqlite3.Row
                self._db.execute("PRAGMA journal_mode=WAL")
                # A capture is written down before it is sent: that must survive power loss.
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(SCHEMA)
            with self._db:
                return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._thread, job)

    async def open(self) -> None:
        """Create the file and tables if needed."""
        await self._run(lambda db: None)

    async def close(self) -> None:
        """Close the database and its thread."""

        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=True)

    async def add(self, payment: Payment) -> None:
        """Store a new payment."""
        row = [_to_db(name, getattr(payment, name)) for name in COLUMNS]
        marks = ",".join("?" * len(COLUMNS))
        await self._run(
            lambda db: db.execute(
                f"INSERT INTO payments ({','.join(COLUMNS)}) VALUES ({marks})", row
            )
        )

    async def get(self, payment_id: str) -> Payment | None:
        """A payment by its id."""
        return await self._one("payment_id", payment_id)

    async def by_checkout(self, checkout_id: str) -> Payment | None:
        """A payment by its Stripe Checkout Session."""
        return await self._one("checkout_id", checkout_id)

    async def _one(self, column: str, value: str) -> Payment | None:
        def find(db: sqlite3.Connection) -> Payment | None:
            row = db.execute(f"SELECT * FROM payments WHERE {column} = ?", (value,)).fetchone()
            return None if row is None else _from_db(row)

        return await self._run(find)

    async def open_payments(self) -> list[Payment]:
        """Every payment not settled yet (reconciliation goes through them)."""
        marks = ",".join("?" * len(OPEN_STATES))

        def find(db: sqlite3.Connection) -> list[Payment]:
            rows = db.execute(
                f"SELECT * FROM payments WHERE state IN ({marks}) ORDER BY created_at",
                OPEN_STATES,
            )
            return [_from_db(row) for row in rows]

        return await self._run(find)

    async def advance(
        self, payment_id: str, from_states: tuple[str, ...], to_state: str, **changes: Any
    ) -> Payment | None:
        """Move a payment on, only if it is in one of `from_states`; the payment as it is now,
        or None if it was not (another task got there first)."""
        assignments, values = _set_clause({"state": to_state, "updated_at": self._now(), **changes})
        marks = ",".join("?" * len(from_states))

        def update(db: sqlite3.Connection) -> Payment | None:
            cursor = db.execute(
                f"UPDATE payments SET {assignments} WHERE payment_id = ? AND state IN ({marks})",
                [*values, payment_id, *from_states],
            )
            if cursor.rowcount != 1:
                return None
            row = db.execute("SELECT * FROM payments WHERE payment_id = ?", (payment_id,))
            return _from_db(row.fetchone())

        return await self._run(update)

    async def update(self, payment_id: str, **changes: Any) -> None:
        """Fill in details that do not change the state (the Checkout Session's id)."""
        assignments, values = _set_clause(changes)
        await self._run(
            lambda db: db.execute(
                f"UPDATE payments SET {assignments} WHERE payment_id = ?", [*values, payment_id]
            )
        )

    async def event_seen(self, event_id: str) -> bool:
        """Whether a Stripe event was handled already (a replay)."""
        return await self._run(
            lambda db: (
                db.execute("SELECT 1 FROM stripe_events WHERE event_id = ?", (event_id,)).fetchone()
                is not None
            )
        )

    async def event_handled(self, event_id: str, event_type: str) -> None:
        """Remember a handled Stripe event, so it is never handled twice."""
        await self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)",
                (event_id, event_type, self._now().isoformat()),
            )
        )

    async def attempt(self, payment_id: str, action: str) -> int:
        """The attempt of a payment's capture or cancel under way (0 for the first)."""

        def find(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT attempt FROM stripe_attempts WHERE payment_id = ? AND action = ?",
                (payment_id, action),
            ).fetchone()
            return 0 if row is None else int(row[0])

        return await self._run(find)

    async def next_attempt(self, payment_id: str, action: str, after: int) -> int:
        """Record that attempt `after` changed nothing at Stripe: the attempt to send next
        (only one task moves it on from `after`; the others get the same number)."""

        def bump(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO stripe_attempts VALUES (?, ?, ?) ON CONFLICT (payment_id, action)"
                " DO UPDATE SET attempt = excluded.attempt WHERE attempt = ?",
                (payment_id, action, after + 1, after),
            )
            row = db.execute(
                "SELECT attempt FROM stripe_attempts WHERE payment_id = ? AND action = ?",
                (payment_id, action),
            ).fetchone()
            return int(row[0])

        return await self._run(bump)

    async def saw(
        self, payment_id: str, energy_kwh: Decimal, cost: Decimal, flags: frozenset[str]
    ) -> None:
        """Remember what Home Assistant said a running session delivered and cost."""
        row = (
            payment_id,
            str(energy_kwh),
            str(cost),
            ",".join(sorted(flags)),
            self._now().isoformat(),
        )
        await self._run(
            lambda db: db.execute(
                "INSERT INTO last_seen VALUES (?, ?, ?, ?, ?) ON CONFLICT (payment_id) DO UPDATE"
                " SET energy_kwh = excluded.energy_kwh, cost = excluded.cost,"
                " flags = excluded.flags, seen_at = excluded.seen_at",
                row,
            )
        )

    async def last_seen(self, payment_id: str) -> SeenCost | None:
        """What Home Assistant last said of a running session; None if it never answered."""

        def find(db: sqlite3.Connection) -> SeenCost | None:
            row = db.execute(
                "SELECT energy_kwh, cost, flags, seen_at FROM last_seen WHERE payment_id = ?",
                (payment_id,),
            ).fetchone()
            if row is None:
                return None
            flags = frozenset(flag for flag in row[2].split(",") if flag)
            return SeenCost(Decimal(row[0]), Decimal(row[1]), flags, datetime.fromisoformat(row[3]))

        return await self._run(find)
