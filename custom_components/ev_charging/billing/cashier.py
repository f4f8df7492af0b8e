"""The cashier: keeps every unfinished session's bill current and checkpointed in the ledger.

A session gets a bill when it starts, priced by the tariff version that applies then (the
account's, else the charger's, else the default). Each reading prices one more interval and
the bill is checkpointed; the stop adds meterStop; the bill is final when the connector is
Available again, since idle time runs until the car is unplugged. After a restart the
unfinished bills are rebuilt from the ledger's readings, which prices them exactly as if
nothing had happened.
"""

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..ledger import BillRecord, Ledger, MeterReading, TransactionRecord
from .book import Book, BookEntry
from .idle import EARLIEST, IdleClock
from .pricing import IMPLAUSIBLE_ENERGY, NO_DYNAMIC_PRICE, Bill, MeterPoint, SessionPricer
from .tariff import Tariff, choose_tariff, price_at

_LOGGER = logging.getLogger(__name__)
_THOUSAND = Decimal(1000)

FOREIGN_READINGS = "foreign_readings"
"""MeterValues named this session from another charger or connector: kept, not priced."""
PRICED_WHILE_DOWN = "last_known_price_while_down"
"""A dynamic tariff priced energy drawn while we were not running at the last known price."""
REPEATED_STOP = "repeated_stop"
"""A StopTransaction came again for a session already stopped (replayed after a restart)."""
LATE_STOP = "late_stop"
"""The StopTransaction of a session came after the next session had closed its bill."""
ABSURD_READING = "absurd_reading"
"""A reading with a number no meter can show (not finite, or beyond twelve digits): kept raw,
never priced."""
REVIEWED_FLAGS = frozenset({IMPLAUSIBLE_ENERGY, ABSURD_READING})
"""Flags that put the session on the review list as soon as they appear."""
NOT_REBUILT = "bill_not_rebuilt"
"""A bill that could not be rebuilt after a restart; it stays in the ledger for a person."""
EV_DISCONNECTED = "EVDisconnected"
"""The stop reason that says the car was unplugged at the stop."""
IDLE_NOT_SEEN = "idle_while_offline_not_billed"
"""Part of the idle time fell while the charger was offline (or we were down): not billed."""
UNSEEN_KEPT = 50
"""Offline intervals remembered per charger (the newest)."""
NEVER_STOPPED = "never_stopped"
"""A new session began on the connector before this one's StopTransaction: billed up to its
last reading."""


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """Which tariffs exist and which applies where; replaced as a whole when edited."""

    tariffs: Mapping[str, Tariff] = field(default_factory=dict)
    default_tariff: str | None = None
    charger_tariffs: Mapping[str, str] = field(default_factory=dict)
    """charger id -> tariff id."""
    account_tariffs: Mapping[str, str] = field(default_factory=dict)
    """account id -> tariff id."""
    electricity_price: Decimal | None = None
    """What a kWh costs the owner (fixed), for the cost-recovery margin."""
    electricity_price_sensor: str | None = None
    """Or a sensor with that price; it goes before the fixed price."""
    max_power_kw: Decimal = Decimal(22)
    """What a connector delivers at most: energy beyond it is not priced."""
    charger_max_power_kw: Mapping[str, Decimal] = field(default_factory=dict)
    """charger id -> its own maximum, where the owner set one."""


@dataclass(slots=True)
class OpenBill:
    """A session whose bill is not final yet."""

    transaction: TransactionRecord
    account: str | None
    pricer: SessionPricer
    idle: IdleClock
    stop: MeterPoint | None = None
    flags: set[str] = field(default_factory=set)
    tariff_json: dict[str, Any] = field(default_factory=dict)
    """The tariff as stored with the bill, made once."""
    payment_reference: str | None = None
    """The guest's payment (the kiosk's reference), for a paid session."""
    max_gross: Decimal | None = None
    """A paid session's cap: idle fees stop there."""
    reviewed: set[str] = field(default_factory=set)
    """Flags already put on the review list."""

    def __post_init__(self) -> None:
        self.tariff_json = self.pricer.tariff.as_json()

    def bill(self, now: datetime) -> Bill:
        """The bill so far, idle time counted up to now."""
        bill = self.pricer.bill(self.idle.seconds(now), self.stop, self.max_gross)
        if self.idle.leaves_out_unseen(now):
            bill = _with_flags(bill, {IDLE_NOT_SEEN})
        if self.flags:
            bill = _with_flags(bill, self.flags)
        return bill


class Cashier:
    """Prices sessions as their messages come; plain Python, driven by the central system."""

    def __init__(
        self,
        ledger: Ledger,
        now: Callable[[], datetime],
        review_needed: Callable[[], None] = lambda: None,
    ) -> None:
        self.ledger = ledger
        self.now = now
        self.review_needed = review_needed
        """Called when a session was flagged for review."""
        self.settings = BillingSettings()
        self.open: dict[int, OpenBill] = {}
        # charger -> connector -> the transaction of its open bill (per charger: a charger
        # is looked up on every frame, and a scan of all connectors grows with the garage).
        self._by_connector: dict[str, dict[int, int]] = {}
        self._finished: dict[tuple[str, int], Bill] = {}
        """The last final bill per connector, shown until the next session starts."""
        self.prices: dict[str, list[tuple[datetime, Decimal]]] = {}
        """Dynamic price sensor -> (from when, price) in time order."""
        self.downtime: tuple[datetime, datetime] | None = None
        """From our last activity before this start to this start."""
        self.book = Book()
        self._book_listeners: list[Callable[[], None]] = []
        self._unseen: dict[str, list[tuple[datetime, datetime | None]]] = {}
        """charger id -> when it could not be seen (offline, or we were down)."""

    async def open_book(self, month_start: datetime) -> None:
        """Total the final bills, this month's from month_start on."""
        self.book.reset(
            (BookEntry(*row) for row in await self.ledger.load_book_entries()), month_start
        )
        self._book_changed()

    def new_month(self, month_start: datetime) -> None:
        """Monthly totals start again."""
        self.book.new_month(month_start)
        self._book_changed()

    def add_book_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call listener whenever totals change; returns the function that stops it."""
        self._book_listeners.append(listener)
        return lambda: self._book_listeners.remove(listener)

    def _book_changed(self) -> None:
        for listener in list(self._book_listeners):
            listener()

    async def load(self) -> None:
        """Rebuild unfinished bills (and the price history they need) from the ledger."""
        if (last := await self.ledger.last_activity()) is not None:
            self.downtime = (last, self.now())
        for charger_id, connector_id, record in await self.ledger.load_last_final_bills():
            # So a connector shows its last session's cost again after a restart.
            self._finished[(charger_id, connector_id)] = _bill_of(record)
        stored = await self.ledger.load_bills(open_only=True)
        transactions = {
            t.transaction_id: t
            for t in await self.ledger.load_transactions_by_id([b.transaction_id for b in stored])
        }
        # Every sensor's last known price at least: a session starting before the sensor
        # reports again is priced at it, as a rebuild later would.
        oldest = min((t.started_at for t in transactions.values()), default=self.now())
        self.prices = await self.ledger.load_prices(oldest)
        for record in stored:
            if (transaction := transactions.get(record.transaction_id)) is None:
                continue
            try:
                await self._rebuild(record, transaction)
            except (ArithmeticError, ValueError, KeyError, TypeError) as err:
                # One bill that cannot be rebuilt must not keep the rest (and every charger)
                # from starting: it waits in the ledger, on the review list.
                _LOGGER.error("Bill of transaction %s not rebuilt: %s", record.transaction_id, err)
                self.open.pop(record.transaction_id, None)
                await self.flag_for_review(
                    transaction.charger_id, transaction.transaction_id, NOT_REBUILT, str(err)
                )

    async def _rebuild(self, record: BillRecord, transaction: TransactionRecord) -> None:
        tariff = Tariff.from_json(record.tariff)
        open_bill = self._open(transaction, record.account, tariff)
        open_bill.idle = self._idle_clock(transaction, tariff.idle_grace, record.idle_clock)
        open_bill.payment_reference = record.payment_reference
        readings = await self.ledger.load_meter_readings(transaction.transaction_id)
        open_bill.pricer.add(_points(r for r in readings if _belongs(r, transaction)))
        if transaction.stopped_at is not None and transaction.meter_stop_wh is not None:
            open_bill.stop = MeterPoint(transaction.stopped_at, Decimal(transaction.meter_stop_wh))
            open_bill.pricer.add([open_bill.stop])
            open_bill.idle.transaction_stopped = True
        open_bill.flags |= set(record.flags) & {REPEATED_STOP, PRICED_WHILE_DOWN, FOREIGN_READINGS}

    def _idle_clock(
        self,
        transaction: TransactionRecord,
        grace: timedelta,
        stored: Mapping[str, object] | None = None,
    ) -> IdleClock:
        """A session's idle clock (new, or as checkpointed), on real time, leaving out when
        its charger could not be seen, nothing counted before the session started."""
        idle = IdleClock(grace) if stored is None else _idle_from_json(stored, grace)
        idle.clock = self.now
        idle.unseen = self._unseen_of(transaction.charger_id)
        idle.last_event = max(idle.last_event, transaction.started_at)
        return idle

    def charger_seen(self, charger_id: str, connected: bool, at: datetime) -> None:
        """A charger connected or went: while it is gone, its sessions accrue no idle time."""
        unseen = self._unseen_of(charger_id)
        if not connected:
            unseen.append((at, None))
            del unseen[:-UNSEEN_KEPT]
        elif unseen and unseen[-1][1] is None:
            unseen[-1] = (unseen[-1][0], at)

    def _unseen_of(self, charger_id: str) -> list[tuple[datetime, datetime | None]]:
        if (unseen := self._unseen.get(charger_id)) is None:
            # Our own downtime before this start: nobody saw any charger then.
            unseen = self._unseen[charger_id] = [self.downtime] if self.downtime else []
        return unseen

    def configure(self, settings: BillingSettings) -> None:
        """New tariffs apply to sessions that start from now on."""
        self.settings = settings

    def bill_on(self, charger_id: str, connector_id: int) -> Bill | None:
        """The live bill of the session on a connector (running, or stopped but plugged in),
        else the last final one."""
        transaction_id = self._by_connector.get(charger_id, {}).get(connector_id)
        if transaction_id is None or (open_bill := self.open.get(transaction_id)) is None:
            return self._finished.get((charger_id, connector_id))
        return open_bill.bill(self.now())

    def live_bill(self, transaction_id: int) -> Bill | None:
        """The running bill of a session not final yet."""
        open_bill = self.open.get(transaction_id)
        return None if open_bill is None else open_bill.bill(self.now())

    def mark_paid(self, transaction_id: int, payment_reference: str, cap: Decimal) -> None:
        """The session is paid for through the kiosk: its bill carries the payment's reference
        (written with the next checkpoint), and idle fees stop at the cap."""
        if (open_bill := self.open.get(transaction_id)) is not None:
            open_bill.payment_reference = payment_reference
            open_bill.max_gross = cap

    def tariff_for(self, charger_id: str, account: str | None = None) -> Tariff | None:
        """The tariff a session of this account starting now on this charger would pay."""
        account_tariff = None if account is None else self.settings.account_tariffs.get(account)
        return self._tariff_for(charger_id, account_tariff)

    def kwh_price(
        self, charger_id: str, at: datetime, account: str | None = None
    ) -> tuple[Decimal, str] | None:
        """The kWh price a session starting now on this charger pays now, and the currency."""
        tariff = self.tariff_for(charger_id, account)
        if tariff is None:
            return None
        source = None
        if tariff.dynamic is not None:
            history = self.prices.get(tariff.dynamic.entity_id, [])
            source = history[-1][1] if history else None
        return tariff.kwh_price(at, source), tariff.currency

    async def price_changed(self, entity_id: str, at: datetime, price: Decimal) -> None:
        """A dynamic price sensor has a new value: it prices energy from this moment on."""
        history = self.prices.setdefault(entity_id, [])
        if history and history[-1][1] == price:
            return
        history.append((at, price))
        history.sort(key=lambda item: item[0])
        await self.ledger.save_price(entity_id, at, price)
        # Energy already priced after this moment (or before any price was known) is priced
        # again, so the bill is what a rebuild from the ledger would make of it.
        for open_bill in self.open.values():
            dynamic = open_bill.pricer.tariff.dynamic
            if (
                dynamic is not None
                and dynamic.entity_id == entity_id
                and (at < open_bill.pricer.last.at or NO_DYNAMIC_PRICE in open_bill.pricer.flags)
            ):
                open_bill.pricer.reprice()
                await self._checkpoint(open_bill)

    async def session_started(
        self, charger_id: str, transaction: TransactionRecord, account: str | None = None
    ) -> None:
        """Give a new session its bill, fixed to the tariff version that applies now."""
        if transaction.transaction_id in self.open or transaction.stopped_at is not None:
            return  # a retried StartTransaction
        if await self.ledger.load_bills(transaction_id=transaction.transaction_id):
            return  # retried after its bill was final: the bill stands
        on_connector = self._by_connector.get(charger_id, {}).get(transaction.connector_id, -1)
        if (previous := self.open.get(on_connector)) is not None:
            # The connector never reported Available in between: the earlier car left when
            # this session began, so its bill is final now.
            previous.idle.status("Available", transaction.started_at)
            if previous.stop is None:
                previous.flags.add(NEVER_STOPPED)
            await self._finish(previous)
        tariff = self._tariff_for(
            charger_id, None if account is None else self.settings.account_tariffs.get(account)
        )
        if tariff is None:
            return
        open_bill = self._open(transaction, account, tariff)
        await self._checkpoint(open_bill)

    def belongs_elsewhere(self, transaction_id: int, charger_id: str, connector_id: int) -> bool:
        """Whether a running session of another charger or connector has this id."""
        open_bill = self.open.get(transaction_id)
        return open_bill is not None and (
            open_bill.transaction.charger_id,
            open_bill.transaction.connector_id,
        ) != (charger_id, connector_id)

    def readings(
        self, transaction_id: int, readings: Iterable[MeterReading]
    ) -> asyncio.Future[None] | None:
        """MeterValues of a session: price the new intervals, feed the idle clock.

        Returns the checkpoint's ledger write, already queued: awaited together with the
        readings' own write, both land in one commit.
        """
        if (open_bill := self.open.get(transaction_id)) is None:
            return None
        transaction = open_bill.transaction
        # Only the session's own charger and connector meter it: a stale or wrong
        # transactionId from another charger must not bill someone else.
        readings = [r for r in readings if _belongs(r, transaction)]
        if open_bill.stop is not None:
            # meterStop closed the energy: later samples belong to no session.
            readings = [r for r in readings if r.timestamp <= open_bill.stop.at]
        if not readings:
            # Not this session's: the sender is the one to look at (see the central system),
            # not the session another charger named.
            return None
        open_bill.pricer.add(_points(readings))
        for reading in readings:
            if reading.power_w is not None:
                open_bill.idle.power(reading.power_w / _THOUSAND, reading.timestamp)
        return self._queue_checkpoint(open_bill)[2]

    async def status(self, charger_id: str, connector_id: int, status: str, at: datetime) -> None:
        """A connector's status: idle time starts and ends with it; Available finishes the bill."""
        transaction_id = self._by_connector.get(charger_id, {}).get(connector_id)
        if transaction_id is None or (open_bill := self.open.get(transaction_id)) is None:
            return
        open_bill.idle.status(status, at)
        if open_bill.idle.unplugged_at is not None and open_bill.stop is not None:
            await self._finish(open_bill)
        else:
            await self._checkpoint(open_bill)

    def _stopped_bills(self, charger_id: str) -> list[OpenBill]:
        """The bills of a charger's stopped sessions whose car may still be plugged in."""
        bills = (self.open.get(t) for t in self._by_connector.get(charger_id, {}).values())
        return [b for b in bills if b is not None and b.stop is not None]

    def awaits_unplug(self, charger_id: str) -> bool:
        """Whether a stopped session of this charger still counts idle time."""
        return bool(self._stopped_bills(charger_id))

    async def charger_lost(self, charger_id: str, since: datetime) -> None:
        """A charger has stayed offline: the bills of its stopped sessions are final, their
        idle time counted until it went (it may not report the unplugging for a long time)."""
        for open_bill in self._stopped_bills(charger_id):
            open_bill.idle.end(since)
            await self._finish(open_bill)

    async def session_stopped(
        self, transaction: TransactionRecord, *, as_recorded: bool = False
    ) -> None:
        """StopTransaction: meterStop closes the energy; idle time may still run.

        A stop for a session already stopped changes nothing: the first stop counts. Sent
        again as it was (`as_recorded`: the charger heard no answer, a crash took it, and
        OCPP tells it to retry) that is all; with other figures it is flagged for review.
        """
        repeated = None if as_recorded else REPEATED_STOP
        if (open_bill := self.open.get(transaction.transaction_id)) is None:
            # Final already (a final bill has its stop), or never priced.
            await self._flag_stored(transaction, repeated)
            return
        if open_bill.stop is not None:
            if repeated is None:
                _LOGGER.info("Transaction %s: its stop sent again", transaction.transaction_id)
                return
            open_bill.flags.add(repeated)
            _LOGGER.warning(
                "Transaction %s was stopped again with other figures; the first stop counts, "
                "the session is flagged for review",
                transaction.transaction_id,
            )
        elif transaction.stopped_at is not None and transaction.meter_stop_wh is not None:
            open_bill.stop = MeterPoint(transaction.stopped_at, Decimal(transaction.meter_stop_wh))
            open_bill.pricer.add([open_bill.stop])
            open_bill.idle.stopped(transaction.stopped_at)
            if transaction.stop_reason == EV_DISCONNECTED:
                # The car left at the stop: no idle time after it, whatever comes later.
                open_bill.idle.end(transaction.stopped_at)
        if open_bill.idle.unplugged_at is not None:
            await self._finish(open_bill)
        else:
            await self._checkpoint(open_bill)

    def _electricity_cost(self, bill: Bill) -> Decimal:
        """What the session's energy cost the owner, piece by piece."""
        settings = self.settings
        history = self.prices.get(settings.electricity_price_sensor or "", [])
        cost = Decimal(0)
        for piece in bill.pieces:
            price = price_at(history, piece.start) if history else None
            if price is None:
                price = settings.electricity_price or Decimal(0)
            cost += piece.energy_wh / _THOUSAND * price
        return cost

    def _tariff_for(self, charger_id: str, account_tariff: str | None) -> Tariff | None:
        settings = self.settings
        return choose_tariff(
            settings.tariffs,
            account_tariff=account_tariff,
            charger_tariff=settings.charger_tariffs.get(charger_id),
            default_tariff=settings.default_tariff,
        )

    def _new_bill(
        self, transaction: TransactionRecord, account: str | None, tariff: Tariff
    ) -> OpenBill:
        history = self.prices.setdefault(tariff.dynamic.entity_id, []) if tariff.dynamic else []
        start = MeterPoint(transaction.started_at, Decimal(transaction.meter_start_wh))
        return OpenBill(
            transaction,
            account,
            SessionPricer(
                tariff,
                start,
                history,
                self.settings.charger_max_power_kw.get(
                    transaction.charger_id, self.settings.max_power_kw
                ),
            ),
            self._idle_clock(transaction, tariff.idle_grace),
        )

    def _open(
        self, transaction: TransactionRecord, account: str | None, tariff: Tariff
    ) -> OpenBill:
        open_bill = self.open[transaction.transaction_id] = self._new_bill(
            transaction, account, tariff
        )
        connectors = self._by_connector.setdefault(transaction.charger_id, {})
        connectors[transaction.connector_id] = transaction.transaction_id
        return open_bill

    async def _finish(self, open_bill: OpenBill) -> None:
        transaction = open_bill.transaction
        if open_bill.idle.unplugged_at is None:  # a final bill always says when it ended
            open_bill.idle.end(self.now())
        del self.open[transaction.transaction_id]
        key = (transaction.charger_id, transaction.connector_id)
        connectors = self._by_connector.get(transaction.charger_id, {})
        if connectors.get(transaction.connector_id) == transaction.transaction_id:
            del connectors[transaction.connector_id]
        bill, record = await self._checkpoint(open_bill, final=True)
        self._finished[key] = bill
        self.book.add(self._book_entry(record, transaction.charger_id))
        self._book_changed()
        if bill.flags:
            await self.flag_for_review(
                transaction.charger_id, transaction.transaction_id, ",".join(sorted(bill.flags))
            )

    def _book_entry(self, record: BillRecord, charger_id: str) -> BookEntry:
        """What the book counts of a final bill: it counts from when the car was unplugged."""
        return BookEntry(
            record.account,
            charger_id,
            record.unplugged_at or self.now(),
            record.energy_wh,
            record.gross,
            record.net,
            record.electricity_cost,
        )

    async def flag_for_review(
        self, charger_id: str, transaction_id: int | None, kind: str, detail: str = ""
    ) -> None:
        """Put something in the ledger's review list and tell Home Assistant."""
        await self.ledger.add_review(charger_id, transaction_id, kind, detail, self.now())
        self.review_needed()

    async def _checkpoint(
        self, open_bill: OpenBill, *, final: bool = False
    ) -> tuple[Bill, BillRecord]:
        bill, record, written = self._queue_checkpoint(open_bill, final=final)
        await written
        return bill, record

    def _queue_checkpoint(
        self, open_bill: OpenBill, *, final: bool = False
    ) -> tuple[Bill, BillRecord, asyncio.Future[None]]:
        now = self.now()
        if self.downtime is not None and open_bill.pricer.tariff.dynamic is not None:
            down_from, down_until = self.downtime
            if any(p.start < down_until and p.end > down_from for p in open_bill.pricer.pieces):
                open_bill.flags.add(PRICED_WHILE_DOWN)
        bill = open_bill.bill(open_bill.idle.unplugged_at or now)
        record = BillRecord(
            transaction_id=open_bill.transaction.transaction_id,
            account=open_bill.account,
            tariff=open_bill.tariff_json,
            energy_wh=bill.energy_wh,
            energy_cost=bill.energy_cost,
            session_fee=bill.session_fee,
            idle_seconds=bill.idle_seconds,
            idle_fee=bill.idle_fee,
            net=bill.net,
            tax=bill.tax,
            gross=bill.gross,
            pieces=[piece.as_json() for piece in bill.pieces],
            electricity_cost=self._electricity_cost(bill),
            flags=bill.flags,
            idle_clock=_idle_as_json(open_bill.idle),
            unplugged_at=open_bill.idle.unplugged_at,
            final=final,
            payment_reference=open_bill.payment_reference,
        )
        for flag in (bill.flags & REVIEWED_FLAGS) - open_bill.reviewed:
            open_bill.reviewed.add(flag)
            # Queued before the checkpoint: both land in one commit.
            self.ledger.add_review(
                open_bill.transaction.charger_id,
                open_bill.transaction.transaction_id,
                flag,
                f"{open_bill.pricer.held_out_wh} Wh held out of the bill"
                if flag == IMPLAUSIBLE_ENERGY
                else "a reading no meter can show was kept, not priced",
                now,
            )
            self.review_needed()
        return bill, record, self.ledger.save_bill(record, now)

    def flag(self, transaction_id: int, flag: str) -> None:
        """Mark a running session's bill (with its next checkpoint)."""
        if (open_bill := self.open.get(transaction_id)) is not None:
            open_bill.flags.add(flag)

    async def _late_stop(
        self, record: BillRecord, transaction: TransactionRecord, stop: MeterPoint
    ) -> None:
        """The real stop of a session closed by the next one: price it up to meterStop."""
        late = self._new_bill(transaction, record.account, Tariff.from_json(record.tariff))
        late.idle = self._idle_clock(transaction, late.pricer.tariff.idle_grace, record.idle_clock)
        readings = await self.ledger.load_meter_readings(transaction.transaction_id)
        late.pricer.add(_points(r for r in readings if _belongs(r, transaction)))
        late.stop = stop
        late.pricer.add([stop])
        late.flags = (set(record.flags) - {NEVER_STOPPED}) | {LATE_STOP}
        _, priced = await self._checkpoint(late, final=True)
        # The book counted the bill as it was; it grows by what the stop added.
        self.book.add(
            self._book_entry(
                replace(
                    priced,
                    energy_wh=priced.energy_wh - record.energy_wh,
                    gross=priced.gross - record.gross,
                    net=priced.net - record.net,
                    electricity_cost=priced.electricity_cost - record.electricity_cost,
                ),
                transaction.charger_id,
            )
        )
        self._book_changed()
        await self.flag_for_review(transaction.charger_id, transaction.transaction_id, LATE_STOP)

    async def _flag_stored(self, transaction: TransactionRecord, flag: str | None) -> None:
        transaction_id = transaction.transaction_id
        for record in await self.ledger.load_bills(transaction_id=transaction_id):
            if (
                NEVER_STOPPED in record.flags
                and transaction.stopped_at is not None
                and transaction.meter_stop_wh is not None
            ):
                stop = MeterPoint(transaction.stopped_at, Decimal(transaction.meter_stop_wh))
                await self._late_stop(record, transaction, stop)
            elif flag is not None and flag not in record.flags:
                await self.ledger.save_bill(
                    replace(record, flags=record.flags | {flag}), self.now()
                )
                await self.flag_for_review(transaction.charger_id, transaction_id, flag)


def _bill_of(record: BillRecord) -> Bill:
    return Bill(
        currency=str(record.tariff["currency"]),
        energy_wh=record.energy_wh,
        energy_cost=record.energy_cost,
        session_fee=record.session_fee,
        idle_seconds=record.idle_seconds,
        idle_fee=record.idle_fee,
        gross=record.gross,
        net=record.net,
        tax=record.tax,
        pieces=(),
        flags=record.flags,
    )


def _belongs(reading: MeterReading, transaction: TransactionRecord) -> bool:
    return (reading.charger_id, reading.connector_id) == (
        transaction.charger_id,
        transaction.connector_id,
    )


def _points(readings: Iterable[MeterReading]) -> list[MeterPoint]:
    return [MeterPoint(r.timestamp, r.energy_wh) for r in readings if r.energy_wh is not None]


def _with_flags(bill: Bill, flags: set[str]) -> Bill:
    return replace(bill, flags=bill.flags | flags)


def _idle_as_json(idle: IdleClock) -> dict[str, object]:
    return {
        "stopped_drawing_at": None
        if idle.stopped_drawing_at is None
        else idle.stopped_drawing_at.isoformat(),
        "idle_seconds": str(idle.idle_seconds),
        "unplugged_at": None if idle.unplugged_at is None else idle.unplugged_at.isoformat(),
        "held_by_charger": idle.held_by_charger,
        "has_drawn": idle.has_drawn,
        "last_event": idle.last_event.isoformat(),
    }


def _idle_from_json(data: Mapping[str, object], grace: timedelta) -> IdleClock:
    def moment(key: str) -> datetime | None:
        value = data.get(key)
        return None if value is None else datetime.fromisoformat(str(value))

    return IdleClock(
        grace=grace,
        stopped_drawing_at=moment("stopped_drawing_at"),
        idle_seconds=Decimal(str(data.get("idle_seconds", "0"))),
        unplugged_at=moment("unplugged_at"),
        held_by_charger=bool(data.get("held_by_charger", False)),
        has_drawn=bool(data.get("has_drawn", False)),
        last_event=moment("last_event") or EARLIEST,
    )
