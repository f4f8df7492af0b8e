"""The ledger: one SQLite database holding chargers, transactions, meter readings and raw frames.

Plain Python, no Home Assistant imports. Every write goes through one writer thread that
commits in groups: callers await the commit of their own operation, so the central system
answers a charger only after what it was told is on disk (WAL, synchronous=FULL).
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from .faults.uptime import LogEntry

_LOGGER = logging.getLogger(__name__)

# OCPP 1.6 transactionId is a 32-bit signed integer.
MAX_TRANSACTION_ID = 2**31 - 1
# How many queued operations one commit may take; bounds the latency of a single group.
MAX_GROUP = 500

type Operation[T] = Callable[[sqlite3.Connection], T]


# Each entry migrates the schema from version i to i + 1; never edit a released step.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE chargers (
        charger_id TEXT PRIMARY KEY,
        approved INTEGER NOT NULL DEFAULT 0,
        vendor TEXT, model TEXT, serial_number TEXT, firmware TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL
    );
    CREATE TABLE connectors (
        charger_id TEXT NOT NULL REFERENCES chargers(charger_id) ON DELETE CASCADE,
        connector_id INTEGER NOT NULL,
        status TEXT, error_code TEXT, status_at TEXT,
        -- the monotonic energy register: last raw reading plus an offset that absorbs
        -- a charger's meter resets, so the Home Assistant sensor never decreases
        register_raw_wh TEXT, register_offset_wh TEXT NOT NULL DEFAULT '0',
        register_at TEXT,
        PRIMARY KEY (charger_id, connector_id)
    );
    -- AUTOINCREMENT: ids are never reused, even after the newest row is deleted.
    CREATE TABLE transactions (
        transaction_id INTEGER PRIMARY KEY AUTOINCREMENT,
        charger_id TEXT NOT NULL,
        connector_id INTEGER NOT NULL,
        id_tag TEXT NOT NULL,
        meter_start_wh INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        reservation_id INTEGER,
        meter_stop_wh INTEGER,
        stopped_at TEXT,
        stop_reason TEXT,
        stop_id_tag TEXT
    );
    CREATE INDEX transactions_open ON transactions(charger_id, connector_id)
        WHERE stopped_at IS NULL;
    CREATE TABLE meter_readings (
        reading_id INTEGER PRIMARY KEY,
        charger_id TEXT NOT NULL,
        connector_id INTEGER NOT NULL,
        transaction_id INTEGER,
        timestamp TEXT NOT NULL,
        energy_wh TEXT,
        power_w TEXT,
        sampled_values TEXT NOT NULL,
        -- a short hash of sampled_values: indexing the hash, not the text, keeps the
        -- duplicate check from doubling the table's size
        digest TEXT NOT NULL
    );
    -- A MeterValues message a charger sends again is stored once; different measurands
    -- sent separately for the same moment are all kept.
    CREATE UNIQUE INDEX meter_readings_once ON meter_readings(
        charger_id, connector_id, COALESCE(transaction_id, -1), timestamp, digest
    );
    CREATE INDEX meter_readings_transaction ON meter_readings(transaction_id);
    -- Transaction messages exactly as received, written before validation, so a frame
    -- we answered with a CallError (which chargers then discard) is still here.
    CREATE TABLE raw_frames (
        frame_id INTEGER PRIMARY KEY,
        charger_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        action TEXT,
        message_id TEXT,
        frame TEXT NOT NULL,
        outcome TEXT
    );
    CREATE INDEX raw_frames_received ON raw_frames(received_at);
    """,
    """
    -- What the central system asked each charger to set, and what the charger answered.
    CREATE TABLE charger_configuration (
        charger_id TEXT NOT NULL REFERENCES chargers(charger_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        status TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (charger_id, key)
    );
    """,
    """
    -- The local authorization list each charger last accepted (SendLocalList).
    CREATE TABLE local_lists (
        charger_id TEXT PRIMARY KEY REFERENCES chargers(charger_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        entries TEXT NOT NULL,
        sent_at TEXT NOT NULL
    );
    """,
    """
    -- Each priced session: the tariff version it started with (as JSON), its cost so far
    -- (exact Decimal text; gross, net and tax rounded), the idle clock, and why it may need
    -- a second look. final = 1 once the car is unplugged after the stop.
    CREATE TABLE session_bills (
        transaction_id INTEGER PRIMARY KEY REFERENCES transactions(transaction_id),
        account TEXT,
        tariff_id TEXT NOT NULL,
        tariff_version INTEGER NOT NULL,
        tariff TEXT NOT NULL,
        currency TEXT NOT NULL,
        energy_wh TEXT NOT NULL,
        energy_cost TEXT NOT NULL,
        session_fee TEXT NOT NULL,
        idle_seconds TEXT NOT NULL,
        idle_fee TEXT NOT NULL,
        electricity_cost TEXT NOT NULL,
        net TEXT NOT NULL,
        tax TEXT NOT NULL,
        gross TEXT NOT NULL,
        pieces TEXT NOT NULL,
        flags TEXT NOT NULL,
        idle_clock TEXT NOT NULL,
        unplugged_at TEXT,
        final INTEGER NOT NULL DEFAULT 0,
        payment_reference TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX session_bills_open ON session_bills(final) WHERE final = 0;
    -- What dynamic price sensors said, so sessions are priced the same after a restart.
    CREATE TABLE dynamic_prices (
        entity_id TEXT NOT NULL,
        at TEXT NOT NULL,
        price TEXT NOT NULL,
        PRIMARY KEY (entity_id, at)
    );
    -- What needs a person's look before it is billed: flagged sessions, stops of unknown
    -- transactions. Kept when reviewed, with the moment.
    CREATE TABLE reviews (
        review_id INTEGER PRIMARY KEY,
        charger_id TEXT NOT NULL,
        transaction_id INTEGER,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        at TEXT NOT NULL,
        reviewed_at TEXT,
        UNIQUE (charger_id, transaction_id, kind)
    );
    """,
    """
    -- Problem intervals (fault, offline, stalled, ...) and, for uptime, Unavailable and the
    -- owner's maintenance; ended_at NULL while it goes on. connector_id 0: the whole charger.
    CREATE TABLE problem_intervals (
        interval_id INTEGER PRIMARY KEY,
        charger_id TEXT NOT NULL,
        connector_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX problem_intervals_by_end ON problem_intervals (ended_at);
    -- When Home Assistant ran (the gaps are downtime, excluded from uptime).
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        alive_at TEXT NOT NULL
    );
    ALTER TABLE chargers ADD COLUMN reconnects INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Sessions a guest paid for through the kiosk: the connector, the one-time ID tag, the
    -- cost cap below the card hold, the kiosk's reference, and the transaction once started.
    CREATE TABLE guest_sessions (
        session_id TEXT PRIMARY KEY,
        reference TEXT NOT NULL,
        charger_id TEXT NOT NULL,
        connector_id INTEGER NOT NULL,
        id_tag TEXT NOT NULL UNIQUE,
        cap TEXT NOT NULL,
        created_at TEXT NOT NULL,
        transaction_id INTEGER,
        state TEXT NOT NULL
    );
    """,
    """
    -- Connectors held for a guest who is paying: kept over a restart, as the charger keeps
    -- its reservation, so the guest's payment can still start the session.
    CREATE TABLE holds (
        hold_id TEXT PRIMARY KEY,
        charger_id TEXT NOT NULL,
        connector_id INTEGER NOT NULL,
        id_tag TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        reservation_id INTEGER
    );
    """,
    """
    -- A paid session the guest (or the kiosk) stopped: kept until the charger takes the stop.
    ALTER TABLE guest_sessions ADD COLUMN must_stop INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- How long a raw frame really was (only its first RAW_FRAME_CHARS are kept), and how many
    -- refused frames of a charger were pruned beyond its quota.
    ALTER TABLE raw_frames ADD COLUMN size INTEGER;
    -- Approved by the owner (not automatically): only such chargers get the tag list.
    -- Chargers approved before this version count as the owner's.
    ALTER TABLE chargers ADD COLUMN approved_by_owner INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX raw_frames_charger ON raw_frames(charger_id, outcome);
    CREATE TABLE pruned_frames (
        charger_id TEXT PRIMARY KEY,
        count INTEGER NOT NULL
    );
    """,
    """
    -- Signed meter values (e.g. OCMF under German calibration law) of a session's start and
    -- end, offered with the session so a driver can check them with transparency software.
    CREATE TABLE signed_meter_values (
        transaction_id INTEGER PRIMARY KEY,
        start_at TEXT NOT NULL,
        start_data TEXT NOT NULL,
        end_at TEXT NOT NULL,
        end_data TEXT NOT NULL
    );
    """,
    """
    -- A reading of no transaction and one of transaction -1 (which a charger may send) are
    -- different readings: the duplicate check used -1 for "no transaction" before.
    DROP INDEX meter_readings_once;
    CREATE UNIQUE INDEX meter_readings_once ON meter_readings(
        charger_id, connector_id, IFNULL(transaction_id, 'none'), timestamp, digest
    );
    """,
)

RAW_FRAME_CHARS = 2048
"""A raw frame is kept up to this many characters (real ones are a few hundred)."""
OPEN_REVIEWS_KEPT = 100
"""Open review items per charger; more are not added until the owner has looked."""
REFUSED_FRAMES_KEPT = 100
"""Refused frames kept per charger: the newest; older ones are pruned and counted."""
REFUSED_FRAMES_TOTAL = 250
"""Refused frames kept in all: made-up charger ids must not each get a quota of their own."""

HOLD_COLUMNS = ("hold_id", "charger_id", "connector_id", "id_tag", "expires_at", "reservation_id")


GUEST_COLUMNS = (
    "session_id",
    "reference",
    "charger_id",
    "connector_id",
    "id_tag",
    "cap",
    "created_at",
    "transaction_id",
    "state",
    "must_stop",
)


@dataclass(frozen=True, slots=True)
class ChargerRecord:
    """A charger as the ledger knows it."""

    charger_id: str
    approved: bool
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware: str | None
    first_seen: datetime | None = None
    reconnects: int = 0
    approved_by_owner: bool = True


@dataclass(frozen=True, slots=True)
class ProblemInterval:
    """A stored problem (or unavailability, or maintenance) interval."""

    charger_id: str
    connector_id: int
    kind: str
    started_at: datetime
    ended_at: datetime | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConnectorRecord:
    """The last known state of a connector."""

    charger_id: str
    connector_id: int
    status: str | None
    error_code: str | None
    status_at: datetime | None
    register_raw_wh: Decimal | None
    register_offset_wh: Decimal
    register_at: datetime | None


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A charging transaction; stopped_at is None while it is open."""

    transaction_id: int
    charger_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: datetime
    meter_stop_wh: int | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One MeterValue element: a timestamp and its normalised sampled values."""

    charger_id: str
    connector_id: int
    transaction_id: int | None
    timestamp: datetime
    energy_wh: Decimal | None
    power_w: Decimal | None
    sampled_values: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class BillRecord:
    """A session's bill as stored: Decimal amounts, JSON parts as Python values."""

    transaction_id: int
    account: str | None
    tariff: dict[str, Any]
    energy_wh: Decimal
    energy_cost: Decimal
    session_fee: Decimal
    idle_seconds: Decimal
    idle_fee: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal
    pieces: list[dict[str, str]]
    electricity_cost: Decimal
    """What the electricity cost the owner (for the cost-recovery margin)."""
    flags: frozenset[str]
    idle_clock: dict[str, Any]
    unplugged_at: datetime | None
    final: bool
    payment_reference: str | None = None


@dataclass(slots=True)
class FrameRef:
    """A raw frame queued for writing; frame_id is set by the writer thread."""

    charger_id: str
    frame_id: int | None = None
    written: asyncio.Future[None] | None = None


class LedgerError(Exception):
    """The ledger could not do what was asked."""


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass(frozen=True, slots=True)
class _Job:
    """A queued operation; alone ones run outside the group transaction (e.g. checkpoints)."""

    operation: Operation[Any]
    future: asyncio.Future[Any] | None
    alone: bool = False


def _no_operation(connection: sqlite3.Connection) -> None:
    """The stop marker's operation; never run."""


_STOP: Final = _Job(_no_operation, None, alone=True)


class Ledger:
    """The ledger database with its writer thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate = threading.Event()
        self._gate.set()
        self.commit_waiting = threading.Event()
        """Set while a commit waits at hold_commits()."""
        self._failure: sqlite3.Error | None = None
        self._touching: str | None = None
        self._refuse_write_to: str | None = None
        self._written: set[str] = set()
        self.group_limit = MAX_GROUP
        """Operations committed together at most (a test may make it 1)."""

    async def open(self) -> None:
        """Start the writer thread and bring the schema up to date."""
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="ev_charging ledger", daemon=True
        )
        self._thread.start()
        await ready

    async def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        thread, self._thread = self._thread, None
        await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def submit[T](self, operation: Operation[T], *, alone: bool = False) -> asyncio.Future[T]:
        """Queue an operation; the future resolves once its group is committed."""
        if self._thread is None or self._loop is None or not self._thread.is_alive():
            raise LedgerError("the ledger is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(operation, future, alone))
        return future

    def freeze_for_backup(self) -> asyncio.Future[None]:
        """Make the main database file a consistent copy that stays unchanged until thawed.

        The write-ahead log is checkpointed into the main file and automatic checkpoints
        stop, so writes carry on into the log while a backup copies the main file. A log
        copied half-written is safe: SQLite ignores frames after its last complete commit.
        """

        def operation(connection: sqlite3.Connection) -> None:
            connection.execute("PRAGMA wal_autocheckpoint=0")
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                raise LedgerError("the ledger could not be checkpointed for the backup")

        return self.submit(operation, alone=True)

    def thaw_after_backup(self) -> asyncio.Future[None]:
        """Let SQLite checkpoint automatically again."""
        return self.submit(_execute("PRAGMA wal_autocheckpoint=1000"), alone=True)

    # The writer thread.

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    def _run(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        try:
            connection = self._connect()
            migrate(connection)
        except Exception as err:
            self._loop.call_soon_threadsafe(_set_exception, ready, err)
            return
        self._loop.call_soon_threadsafe(_set_result, ready, None)
        try:
            while self._serve_one_group(connection):
                pass
        finally:
            connection.close()

    def _serve_one_group(self, connection: sqlite3.Connection) -> bool:
        """Commit the queued operations as one group; False once asked to stop."""
        group: list[_Job] = []
        job: _Job | None = self._queue.get()
        while job is not None and not job.alone:
            group.append(job)
            job = None
            if len(group) < self.group_limit:
                with contextlib.suppress(queue.Empty):
                    job = self._queue.get_nowait()
        if group:
            self._commit_group(connection, group)
        if job is _STOP:
            return False
        if job is not None and job.future is not None:
            self._resolve(job.future, *_attempt(job.operation, connection))
        return True

    def _commit_group(self, connection: sqlite3.Connection, group: list[_Job]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        self._written.clear()
        if self._touching is not None or self._refuse_write_to is not None:
            connection.set_authorizer(self._note_write)
        try:
            connection.execute("BEGIN IMMEDIATE")
            for job in group:
                # A savepoint per operation: one failing operation rolls back alone.
                connection.execute("SAVEPOINT op")
                result, error = _attempt(job.operation, connection)
                connection.execute("ROLLBACK TO op" if error else "RELEASE op")
                if error:
                    connection.execute("RELEASE op")
                assert job.future is not None
                outcomes.append((job.future, result, error))
            self._before_commit()
            connection.execute("COMMIT")
        except sqlite3.Error as err:
            # The disk is full or the file is broken: nobody may believe their write landed.
            _LOGGER.exception("Ledger commit failed")
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            outcomes = [
                (job.future, None, LedgerError(str(err))) for job in group if job.future is not None
            ]
        # One wake-up of the event loop for the whole group: a wake-up per operation can fill
        # the loop's self-pipe in a burst, and a signal (SIGTERM) arriving then is lost.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_settle, outcomes)

    # Test hooks: hold commits back, or make the next one fail, to prove that nothing is
    # answered before (or without) its commit. Nothing in the integration calls them.
    # With `touching`, only a commit that writes that table is held or failed: with
    # group_limit 1 a test reaches one write of a handler, not whichever came first.

    def hold_commits(self, touching: str | None = None) -> None:
        """Commits (of groups writing `touching`) wait in the writer thread until released."""
        self._touching = touching
        self._gate.clear()

    def release_commits(self) -> None:
        """Commits go on."""
        self._gate.set()

    def fail_next_commit(self, error: sqlite3.Error, touching: str | None = None) -> None:
        """The next group's commit (writing `touching`) raises this, as a full disk would."""
        self._touching = touching
        self._failure = error

    def fail_next_write(self, touching: str) -> None:
        """The next statement writing `touching` fails inside its operation, not at COMMIT
        (SQLite refuses it with a DatabaseError, as an I/O error mid-statement would)."""
        self._refuse_write_to = touching

    @property
    def failure_pending(self) -> bool:
        """Whether a failure fail_next_commit() or fail_next_write() armed is still to come."""
        return self._failure is not None or self._refuse_write_to is not None

    def _note_write(self, action: int, table: str | None, *_: object) -> int:
        if action in (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE):
            if table is not None and table == self._refuse_write_to:
                self._refuse_write_to = None
                return sqlite3.SQLITE_DENY
            self._written.add(table or "")
        return sqlite3.SQLITE_OK

    def _before_commit(self) -> None:
        if self._touching is not None and self._touching not in self._written:
            return
        if not self._gate.is_set():
            self.commit_waiting.set()
            self._gate.wait()
            self.commit_waiting.clear()
        if (failure := self._failure) is not None:
            self._failure = None
            raise failure

    def _resolve(
        self, future: asyncio.Future[Any], result: Any, error: BaseException | None
    ) -> None:
        assert self._loop is not None
        if error is None:
            self._loop.call_soon_threadsafe(_set_result, future, result)
        else:
            self._loop.call_soon_threadsafe(_set_exception, future, error)

    # Operations. Each returns a future resolved after its commit.

    def load_chargers(self) -> asyncio.Future[list[ChargerRecord]]:
        """All chargers ever seen."""
        return self.submit(_load_chargers)

    def load_connectors(self) -> asyncio.Future[list[ConnectorRecord]]:
        """The last known state of every connector."""
        return self.submit(_load_connectors)

    def load_latest_transactions(self) -> asyncio.Future[list[TransactionRecord]]:
        """Per connector, its open transaction, else the one that ended last."""
        return self.submit(
            lambda c: _transactions(
                c,
                "WHERE transaction_id IN (SELECT MAX(transaction_id) FROM transactions"
                " GROUP BY charger_id, connector_id) OR stopped_at IS NULL"
                " ORDER BY transaction_id",
            )
        )

    def load_transactions(
        self, charger_id: str | None = None
    ) -> asyncio.Future[list[TransactionRecord]]:
        """All transactions, optionally of one charger."""
        if charger_id is None:
            return self.submit(lambda c: _transactions(c, "ORDER BY transaction_id"))
        return self.submit(
            lambda c: _transactions(
                c, "WHERE charger_id = ? ORDER BY transaction_id", (charger_id,)
            )
        )

    def load_transactions_by_id(
        self, transaction_ids: list[int]
    ) -> asyncio.Future[list[TransactionRecord]]:
        """The transactions with these ids."""
        marks = ",".join("?" * len(transaction_ids))
        return self.submit(
            lambda c: _transactions(c, f"WHERE transaction_id IN ({marks})", tuple(transaction_ids))
        )

    def load_meter_readings(self, transaction_id: int) -> asyncio.Future[list[MeterReading]]:
        """The readings of one transaction, oldest first."""
        return self.submit(lambda c: _meter_readings(c, transaction_id))

    def save_charger(
        self,
        charger_id: str,
        seen_at: datetime,
        *,
        approved: bool | None = None,
        by_owner: bool = True,
        boot: dict[str, str | None] | None = None,
        reconnected: bool = False,
    ) -> asyncio.Future[None]:
        """Insert or update a charger; boot holds vendor, model, serial_number, firmware."""

        def operation(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO chargers (charger_id, first_seen, last_seen) VALUES (?, ?, ?)"
                " ON CONFLICT (charger_id) DO UPDATE SET last_seen = excluded.last_seen",
                (charger_id, _ts(seen_at), _ts(seen_at)),
            )
            if reconnected:
                connection.execute(
                    "UPDATE chargers SET reconnects = reconnects + 1 WHERE charger_id = ?",
                    (charger_id,),
                )
            if approved is not None:
                connection.execute(
                    "UPDATE chargers SET approved = ?, approved_by_owner = ? WHERE charger_id = ?",
                    (int(approved), int(by_owner), charger_id),
                )
            if boot is not None:
                connection.execute(
                    "UPDATE chargers SET vendor = ?, model = ?, serial_number = ?, firmware = ?"
                    " WHERE charger_id = ?",
                    (
                        boot["vendor"],
                        boot["model"],
                        boot["serial_number"],
                        boot["firmware"],
                        charger_id,
                    ),
                )

        return self.submit(operation)

    def forget_charger(self, charger_id: str) -> asyncio.Future[None]:
        """Remove a charger and its connectors; its transactions and readings stay."""
        return self.submit(_execute("DELETE FROM chargers WHERE charger_id = ?", (charger_id,)))

    def save_connector_status(
        self, charger_id: str, connector_id: int, status: str, error_code: str, at: datetime
    ) -> asyncio.Future[None]:
        """Record the latest StatusNotification of a connector."""
        return self.submit(
            _execute(
                "INSERT INTO connectors (charger_id, connector_id, status, error_code, status_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (charger_id, connector_id) DO UPDATE SET"
                " status = excluded.status, error_code = excluded.error_code,"
                " status_at = excluded.status_at",
                (charger_id, connector_id, status, error_code, _ts(at)),
            )
        )

    def save_register(
        self, charger_id: str, connector_id: int, raw_wh: Decimal, offset_wh: Decimal, at: datetime
    ) -> asyncio.Future[None]:
        """Record the energy register of a connector and the offset that keeps it monotonic."""
        return self.submit(
            _execute(
                "INSERT INTO connectors (charger_id, connector_id, register_raw_wh,"
                " register_offset_wh, register_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (charger_id, connector_id) DO UPDATE SET"
                " register_raw_wh = excluded.register_raw_wh,"
                " register_offset_wh = excluded.register_offset_wh,"
                " register_at = excluded.register_at",
                (charger_id, connector_id, str(raw_wh), str(offset_wh), _ts(at)),
            )
        )

    def start_transaction(
        self,
        charger_id: str,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        started_at: datetime,
        reservation_id: int | None = None,
    ) -> asyncio.Future[TransactionRecord]:
        """Open a transaction, or return the open one a retried StartTransaction already made
        (a stopped one never: a charger without a clock starts every session at the same
        moment with the same register)."""

        def operation(connection: sqlite3.Connection) -> TransactionRecord:
            existing = _transactions(
                connection,
                "WHERE charger_id = ? AND connector_id = ? AND id_tag = ? AND meter_start_wh = ?"
                " AND started_at = ? AND stopped_at IS NULL",
                (charger_id, connector_id, id_tag, meter_start_wh, _ts(started_at)),
            )
            if existing:
                return existing[0]
            cursor = connection.execute(
                "INSERT INTO transactions (charger_id, connector_id, id_tag, meter_start_wh,"
                " started_at, reservation_id) VALUES (?, ?, ?, ?, ?, ?)",
                (charger_id, connector_id, id_tag, meter_start_wh, _ts(started_at), reservation_id),
            )
            transaction_id = cursor.lastrowid
            if transaction_id is None or transaction_id > MAX_TRANSACTION_ID:
                raise LedgerError("transaction ids exhausted the 32-bit range")
            return TransactionRecord(
                transaction_id, charger_id, connector_id, id_tag, meter_start_wh, started_at
            )

        return self.submit(operation)

    def stop_transaction(
        self,
        charger_id: str,
        transaction_id: int,
        meter_stop_wh: int,
        stopped_at: datetime,
        reason: str | None,
        id_tag: str | None,
    ) -> asyncio.Future[TransactionRecord | None]:
        """Close a charger's transaction; a repeated stop leaves the first one standing.

        None if this charger has no such transaction.
        """

        def operation(connection: sqlite3.Connection) -> TransactionRecord | None:
            connection.execute(
                "UPDATE transactions SET meter_stop_wh = ?, stopped_at = ?, stop_reason = ?,"
                " stop_id_tag = ? WHERE transaction_id = ? AND charger_id = ?"
                " AND stopped_at IS NULL",
                (meter_stop_wh, _ts(stopped_at), reason, id_tag, transaction_id, charger_id),
            )
            found = _transactions(
                connection,
                "WHERE transaction_id = ? AND charger_id = ?",
                (transaction_id, charger_id),
            )
            return found[0] if found else None

        return self.submit(operation)

    def add_meter_readings(self, readings: Iterable[MeterReading]) -> asyncio.Future[None]:
        """Store readings; a reading a charger sends twice is stored once."""
        rows = []
        for r in readings:
            sampled = json.dumps(r.sampled_values, separators=(",", ":"), sort_keys=True)
            rows.append(
                (
                    r.charger_id,
                    r.connector_id,
                    r.transaction_id,
                    _ts(r.timestamp),
                    None if r.energy_wh is None else str(r.energy_wh),
                    None if r.power_w is None else str(r.power_w),
                    sampled,
                    hashlib.blake2b(sampled.encode(), digest_size=8).hexdigest(),
                )
            )
        return self.submit(
            _execute(
                "INSERT OR IGNORE INTO meter_readings (charger_id, connector_id, transaction_id,"
                " timestamp, energy_wh, power_w, sampled_values, digest)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
                many=True,
            )
        )

    def record_frame(
        self,
        charger_id: str,
        received_at: datetime,
        action: str | None,
        message_id: str | None,
        frame: str,
    ) -> FrameRef:
        """Keep a frame as received (up to RAW_FRAME_CHARS of it), without waiting; pass the
        result to record_outcome."""
        ref = FrameRef(charger_id)
        size = len(frame)

        def operation(connection: sqlite3.Connection) -> None:
            ref.frame_id = connection.execute(
                "INSERT INTO raw_frames (charger_id, received_at, action, message_id, frame, size)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    charger_id,
                    _ts(received_at),
                    None if action is None else action[:64],
                    None if message_id is None else message_id[:64],
                    frame[:RAW_FRAME_CHARS],
                    size,
                ),
            ).lastrowid

        ref.written = self.submit(operation)
        return ref

    def record_outcome(self, ref: FrameRef, outcome: str) -> asyncio.Future[None]:
        """Note how a recorded frame was answered ("ok" or the CallError code).

        A refused frame beyond the charger's quota prunes its oldest refused frame: a charger
        sending bad frames forever cannot grow the ledger without end.
        """

        def operation(connection: sqlite3.Connection) -> None:
            # Queued after the frame's insert, so the writer thread has set ref.frame_id.
            connection.execute(
                "UPDATE raw_frames SET outcome = ? WHERE frame_id = ?", (outcome, ref.frame_id)
            )
            if outcome == "ok":
                return
            for charger_id, charger_only, kept in (
                (ref.charger_id, 1, REFUSED_FRAMES_KEPT),
                (ref.charger_id, 0, REFUSED_FRAMES_TOTAL),
            ):
                # The charger's oldest refused frames beyond its quota, then everybody's
                # beyond the total; each pruned frame is counted for its charger.
                pruned = connection.execute(
                    "DELETE FROM raw_frames WHERE frame_id IN (SELECT frame_id FROM raw_frames"
                    " WHERE (charger_id = ? OR ? = 0) AND outcome IS NOT NULL"
                    " AND outcome != 'ok' ORDER BY frame_id DESC LIMIT -1 OFFSET ?)"
                    " RETURNING charger_id",
                    (charger_id, charger_only, kept),
                ).fetchall()
                counts: dict[str, int] = {}
                for (owner,) in pruned:
                    counts[owner] = counts.get(owner, 0) + 1
                connection.executemany(
                    "INSERT INTO pruned_frames (charger_id, count) VALUES (?, ?) ON CONFLICT"
                    " (charger_id) DO UPDATE SET count = count + excluded.count",
                    counts.items(),
                )

        return self.submit(operation)

    def pruned_frames(self, charger_id: str) -> asyncio.Future[int]:
        """How many refused frames of a charger were pruned beyond its quota."""
        return self.submit(
            lambda c: next(
                iter(
                    c.execute(
                        "SELECT count FROM pruned_frames WHERE charger_id = ?", (charger_id,)
                    ).fetchone()
                    or (0,)
                )
            )
        )

    def save_configuration_result(
        self, charger_id: str, key: str, value: str, status: str, at: datetime
    ) -> asyncio.Future[None]:
        """Record how a charger answered a configuration change."""
        return self.submit(
            _execute(
                "INSERT INTO charger_configuration (charger_id, key, value, status, changed_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (charger_id, key) DO UPDATE SET"
                " value = excluded.value, status = excluded.status,"
                " changed_at = excluded.changed_at",
                (charger_id, key, value, status, _ts(at)),
            )
        )

    def load_configuration_results(self, charger_id: str) -> asyncio.Future[dict[str, str]]:
        """key -> the charger's answer (Accepted, Rejected, RebootRequired, NotSupported...)."""
        return self.submit(
            lambda c: dict(
                c.execute(
                    "SELECT key, status FROM charger_configuration WHERE charger_id = ?",
                    (charger_id,),
                ).fetchall()
            )
        )

    def save_local_list(
        self, charger_id: str, version: int, entries: Mapping[str, Any], at: datetime
    ) -> asyncio.Future[None]:
        """Record the local authorization list (tag -> idTagInfo) a charger accepted."""
        return self.submit(
            _execute(
                "INSERT INTO local_lists (charger_id, version, entries, sent_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (charger_id) DO UPDATE SET"
                " version = excluded.version, entries = excluded.entries,"
                " sent_at = excluded.sent_at",
                (charger_id, version, json.dumps(entries, sort_keys=True), _ts(at)),
            )
        )

    def load_local_list(
        self, charger_id: str
    ) -> asyncio.Future[tuple[int, dict[str, dict[str, Any]]] | None]:
        """The version and entries of the list a charger last accepted, if any."""

        def operation(
            connection: sqlite3.Connection,
        ) -> tuple[int, dict[str, dict[str, Any]]] | None:
            row = connection.execute(
                "SELECT version, entries FROM local_lists WHERE charger_id = ?", (charger_id,)
            ).fetchone()
            return None if row is None else (row[0], json.loads(row[1]))

        return self.submit(operation)

    def save_bill(self, bill: BillRecord, at: datetime) -> asyncio.Future[None]:
        """Checkpoint a session's bill (the tariff stays what the session started with)."""
        tariff = bill.tariff
        return self.submit(
            _execute(
                "INSERT INTO session_bills (transaction_id, account, tariff_id, tariff_version,"
                " tariff, currency, energy_wh, energy_cost, session_fee, idle_seconds, idle_fee,"
                " electricity_cost, net, tax, gross, pieces, flags, idle_clock, unplugged_at,"
                " final, payment_reference, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (transaction_id) DO UPDATE SET"
                " energy_wh = excluded.energy_wh, energy_cost = excluded.energy_cost,"
                " idle_seconds = excluded.idle_seconds, idle_fee = excluded.idle_fee,"
                " electricity_cost = excluded.electricity_cost,"
                " net = excluded.net, tax = excluded.tax, gross = excluded.gross,"
                " pieces = excluded.pieces, flags = excluded.flags,"
                " idle_clock = excluded.idle_clock, unplugged_at = excluded.unplugged_at,"
                " final = excluded.final, updated_at = excluded.updated_at,"
                " payment_reference = COALESCE(excluded.payment_reference, payment_reference)",
                (
                    bill.transaction_id,
                    bill.account,
                    tariff["tariff_id"],
                    tariff["version"],
                    json.dumps(tariff, sort_keys=True),
                    tariff["currency"],
                    str(bill.energy_wh),
                    str(bill.energy_cost),
                    str(bill.session_fee),
                    str(bill.idle_seconds),
                    str(bill.idle_fee),
                    str(bill.electricity_cost),
                    str(bill.net),
                    str(bill.tax),
                    str(bill.gross),
                    json.dumps(bill.pieces),
                    ",".join(sorted(bill.flags)),
                    json.dumps(bill.idle_clock, sort_keys=True),
                    _ts(bill.unplugged_at),
                    int(bill.final),
                    bill.payment_reference,
                    _ts(at),
                ),
            )
        )

    def load_bills(
        self, *, open_only: bool = False, transaction_id: int | None = None
    ) -> asyncio.Future[list[BillRecord]]:
        """Stored bills: all, those not final yet, or one session's."""
        where = ""
        parameters: tuple[int, ...] = ()
        if open_only:
            where = " WHERE final = 0"
        elif transaction_id is not None:
            where, parameters = " WHERE transaction_id = ?", (transaction_id,)
        return self.submit(
            lambda c: [
                _bill(row)
                for row in c.execute(
                    f"SELECT {_bill_columns('b')} FROM session_bills b"
                    + where
                    + " ORDER BY transaction_id",
                    parameters,
                )
            ]
        )

    def load_billed(
        self, start: datetime, end: datetime
    ) -> asyncio.Future[list[tuple[TransactionRecord, BillRecord]]]:
        """Final bills that became final (the car was unplugged) in [start, end), by start."""

        def operation(
            connection: sqlite3.Connection,
        ) -> list[tuple[TransactionRecord, BillRecord]]:
            bills = {
                row[0]: _bill(row)
                for row in connection.execute(
                    f"SELECT {_bill_columns('b')} FROM session_bills b JOIN transactions t"
                    " USING (transaction_id)"
                    " WHERE b.final = 1 AND b.unplugged_at >= ? AND b.unplugged_at < ?",
                    (_ts(start), _ts(end)),
                )
            }
            if not bills:
                return []
            marks = ",".join("?" * len(bills))
            transactions = _transactions(
                connection,
                f"WHERE transaction_id IN ({marks}) ORDER BY started_at, transaction_id",
                tuple(bills),
            )
            return [(t, bills[t.transaction_id]) for t in transactions]

        return self.submit(operation)

    def add_review(
        self,
        charger_id: str,
        transaction_id: int | None,
        kind: str,
        detail: str,
        at: datetime,
    ) -> asyncio.Future[None]:
        """Note something that needs a person's look (once per session and kind).

        A charger has at most OPEN_REVIEWS_KEPT open at once: one sending nonsense forever
        fills the list once, not the disk."""
        return self.submit(
            _execute(
                "INSERT OR IGNORE INTO reviews (charger_id, transaction_id, kind, detail, at)"
                " SELECT ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM reviews"
                " WHERE charger_id = ? AND reviewed_at IS NULL) < ?",
                (
                    charger_id,
                    transaction_id,
                    kind,
                    detail[:500],
                    _ts(at),
                    charger_id,
                    OPEN_REVIEWS_KEPT,
                ),
            )
        )

    def open_reviews(self) -> asyncio.Future[list[dict[str, Any]]]:
        """What still needs a look, oldest first."""
        return self.submit(
            lambda c: [
                {
                    "charger_id": row[0],
                    "transaction_id": row[1],
                    "kind": row[2],
                    "detail": row[3],
                    "at": row[4],
                }
                for row in c.execute(
                    "SELECT charger_id, transaction_id, kind, detail, at FROM reviews"
                    " WHERE reviewed_at IS NULL ORDER BY review_id"
                )
            ]
        )

    def mark_reviewed(self, at: datetime) -> asyncio.Future[None]:
        """Everything open so far has been looked at."""
        return self.submit(
            _execute("UPDATE reviews SET reviewed_at = ? WHERE reviewed_at IS NULL", (_ts(at),))
        )

    def load_last_final_bills(self) -> asyncio.Future[list[tuple[str, int, BillRecord]]]:
        """Each connector's latest final bill: charger id, connector id, bill."""
        return self.submit(
            lambda c: [
                (row[-2], row[-1], _bill(row[:-2]))
                for row in c.execute(
                    f"SELECT {_bill_columns('b')}, t.charger_id, t.connector_id"
                    " FROM session_bills b JOIN transactions t USING (transaction_id)"
                    " WHERE b.transaction_id IN (SELECT MAX(b2.transaction_id)"
                    " FROM session_bills b2 JOIN transactions t2 USING (transaction_id)"
                    " WHERE b2.final = 1 GROUP BY t2.charger_id, t2.connector_id)"
                )
            ]
        )

    def load_book_entries(
        self,
    ) -> asyncio.Future[list[tuple[str | None, str, datetime, Decimal, Decimal, Decimal, Decimal]]]:
        """Every final bill: account, charger, when it became final, energy (Wh), gross, net,
        electricity cost."""
        return self.submit(
            lambda c: [
                (
                    account,
                    charger_id,
                    datetime.fromisoformat(started_at),
                    Decimal(energy_wh),
                    Decimal(gross),
                    Decimal(net),
                    Decimal(electricity_cost),
                )
                for account, charger_id, started_at, energy_wh, gross, net, electricity_cost in (
                    c.execute(
                        "SELECT b.account, t.charger_id, b.unplugged_at, b.energy_wh, b.gross,"
                        " b.net, b.electricity_cost FROM session_bills b"
                        " JOIN transactions t USING (transaction_id) WHERE b.final = 1"
                    )
                )
            ]
        )

    def last_activity(self) -> asyncio.Future[datetime | None]:
        """The latest moment something was recorded: about when we last ran."""
        return self.submit(
            lambda c: _dt(
                c.execute(
                    "SELECT MAX(at) FROM (SELECT MAX(received_at) AS at FROM raw_frames"
                    " UNION ALL SELECT MAX(updated_at) FROM session_bills)"
                ).fetchone()[0]
            )
        )

    def load_pieces(
        self, start: datetime, end: datetime
    ) -> asyncio.Future[list[tuple[str | None, list[dict[str, str]]]]]:
        """The account and priced pieces of every bill whose session overlaps [start, end)."""
        return self.submit(
            lambda c: [
                (account, json.loads(pieces))
                for account, pieces in c.execute(
                    "SELECT b.account, b.pieces FROM session_bills b"
                    " JOIN transactions t USING (transaction_id)"
                    " WHERE t.started_at < ? AND (t.stopped_at IS NULL OR t.stopped_at >= ?)",
                    (_ts(end), _ts(start)),
                )
            ]
        )

    def first_session_start(self) -> asyncio.Future[datetime | None]:
        """When the oldest priced session started."""
        return self.submit(
            lambda c: _dt(
                c.execute(
                    "SELECT MIN(t.started_at) FROM session_bills b"
                    " JOIN transactions t USING (transaction_id)"
                ).fetchone()[0]
            )
        )

    def save_problem_log(self, entries: Iterable[tuple[str, LogEntry]]) -> asyncio.Future[None]:
        """Open and close problem intervals (charger id, entry), in order."""
        rows = [
            (
                charger_id,
                entry.connector_id,
                entry.kind,
                _ts(entry.at),
                json.dumps(entry.details) if entry.opened else None,
            )
            for charger_id, entry in entries
        ]

        def operation(connection: sqlite3.Connection) -> None:
            for charger, connector_id, kind, at, details in rows:
                if details is not None:
                    connection.execute(
                        "INSERT INTO problem_intervals"
                        " (charger_id, connector_id, kind, started_at, details)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (charger, connector_id, kind, at, details),
                    )
                else:
                    connection.execute(
                        "UPDATE problem_intervals SET ended_at = ? WHERE charger_id = ?"
                        " AND connector_id = ? AND kind = ? AND ended_at IS NULL",
                        (at, charger, connector_id, kind),
                    )

        return self.submit(operation)

    def load_problem_intervals(self, since: datetime) -> asyncio.Future[list[ProblemInterval]]:
        """Intervals still open or ended since a moment, and every charger's latest fault."""
        return self.submit(
            lambda c: [
                ProblemInterval(
                    row[0],
                    row[1],
                    row[2],
                    datetime.fromisoformat(row[3]),
                    _dt(row[4]),
                    json.loads(row[5]),
                )
                for row in c.execute(
                    "SELECT charger_id, connector_id, kind, started_at, ended_at, details"
                    " FROM problem_intervals WHERE ended_at IS NULL OR ended_at >= ?"
                    " OR interval_id IN (SELECT MAX(interval_id) FROM problem_intervals"
                    " WHERE kind = 'fault' GROUP BY charger_id)"
                    " ORDER BY started_at, interval_id",
                    (_ts(since),),
                )
            ]
        )

    def start_run(self, at: datetime) -> asyncio.Future[int]:
        """Note that Home Assistant (the integration) started; returns the run's id."""

        def operation(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO runs (started_at, alive_at) VALUES (?, ?)", (_ts(at), _ts(at))
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        return self.submit(operation)

    def mark_alive(self, run_id: int, at: datetime) -> asyncio.Future[None]:
        """The run is still going on at this moment."""
        return self.submit(
            _execute("UPDATE runs SET alive_at = ? WHERE run_id = ?", (_ts(at), run_id))
        )

    def load_downtime(self, since: datetime) -> asyncio.Future[list[tuple[datetime, datetime]]]:
        """The gaps between runs (Home Assistant down) that end after a moment."""

        def operation(connection: sqlite3.Connection) -> list[tuple[datetime, datetime]]:
            runs = connection.execute("SELECT started_at, alive_at FROM runs ORDER BY run_id")
            gaps, previous_alive = [], None
            for started_at, alive_at in runs:
                start = _dt(started_at)
                if previous_alive is not None and start is not None and start > previous_alive:
                    gaps.append((previous_alive, start))
                previous_alive = _dt(alive_at)
            return [(start, end) for start, end in gaps if end >= since]

        return self.submit(operation)

    def save_guest_session(self, row: Mapping[str, Any]) -> asyncio.Future[None]:
        """Insert or update a guest session (the columns of guest_sessions, by name)."""
        return self.submit(
            _execute(
                f"INSERT OR REPLACE INTO guest_sessions ({', '.join(GUEST_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in GUEST_COLUMNS)})",
                tuple(row[column] for column in GUEST_COLUMNS),
            )
        )

    def load_guest_sessions(self) -> asyncio.Future[list[dict[str, Any]]]:
        """Every guest session, oldest first."""
        return self.submit(
            lambda c: [
                dict(zip(GUEST_COLUMNS, row, strict=True))
                for row in c.execute(
                    f"SELECT {', '.join(GUEST_COLUMNS)} FROM guest_sessions ORDER BY created_at"
                )
            ]
        )

    def save_hold(self, row: Mapping[str, Any]) -> asyncio.Future[None]:
        """Keep a hold (the columns of holds, by name)."""
        return self.submit(
            _execute(
                f"INSERT OR REPLACE INTO holds ({', '.join(HOLD_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in HOLD_COLUMNS)})",
                tuple(row[column] for column in HOLD_COLUMNS),
            )
        )

    def delete_holds(self, *hold_ids: str) -> asyncio.Future[None]:
        """Forget holds used, released or expired."""
        return self.submit(
            _execute(
                "DELETE FROM holds WHERE hold_id = ?",
                [(hold_id,) for hold_id in hold_ids],
                many=True,
            )
        )

    def load_holds(self) -> asyncio.Future[list[dict[str, Any]]]:
        """Every hold kept."""
        return self.submit(
            lambda c: [
                dict(zip(HOLD_COLUMNS, row, strict=True))
                for row in c.execute(f"SELECT {', '.join(HOLD_COLUMNS)} FROM holds")
            ]
        )

    def save_price(self, entity_id: str, at: datetime, price: Decimal) -> asyncio.Future[None]:
        """Record a dynamic price sensor's value from a moment on."""
        return self.submit(
            _execute(
                "INSERT OR REPLACE INTO dynamic_prices (entity_id, at, price) VALUES (?, ?, ?)",
                (entity_id, _ts(at), str(price)),
            )
        )

    def load_prices(
        self, since: datetime
    ) -> asyncio.Future[dict[str, list[tuple[datetime, Decimal]]]]:
        """Each sensor's prices from the last one before since on, in time order."""

        def operation(connection: sqlite3.Connection) -> dict[str, list[tuple[datetime, Decimal]]]:
            prices: dict[str, list[tuple[datetime, Decimal]]] = {}
            rows = connection.execute(
                "SELECT p.entity_id, p.at, p.price FROM dynamic_prices p WHERE p.at >= COALESCE("
                " (SELECT MAX(q.at) FROM dynamic_prices q WHERE q.entity_id = p.entity_id"
                " AND q.at <= ?), ?) ORDER BY p.entity_id, p.at",
                (_ts(since), _ts(since)),
            )
            for entity_id, at, price in rows:
                prices.setdefault(entity_id, []).append((_dt(at), Decimal(price)))  # type: ignore[arg-type]
            return prices

        return self.submit(operation)

    def prune_frames(self, received_before: datetime) -> asyncio.Future[int]:
        """Forget raw frames that were answered "ok" before a moment; returns how many.

        Their content lives on in transactions and meter readings. Frames that were refused
        are kept: they are the only record of what a charger then gave up on.
        """

        def operation(connection: sqlite3.Connection) -> int:
            return connection.execute(
                "DELETE FROM raw_frames WHERE outcome = 'ok' AND received_at < ?",
                (_ts(received_before),),
            ).rowcount

        return self.submit(operation)

    def load_frames(self, charger_id: str) -> asyncio.Future[list[dict[str, Any]]]:
        """The raw frames of one charger, oldest first."""
        return self.submit(
            lambda c: [
                dict(
                    zip(
                        ("received_at", "action", "message_id", "frame", "outcome", "size"),
                        row,
                        strict=True,
                    )
                )
                for row in c.execute(
                    "SELECT received_at, action, message_id, frame, outcome, size FROM raw_frames"
                    " WHERE charger_id = ? ORDER BY frame_id",
                    (charger_id,),
                )
            ]
        )


# The session_bills columns _bill reads, in its order.
_BILL_COLUMNS = (
    "transaction_id",
    "account",
    "tariff",
    "energy_wh",
    "energy_cost",
    "session_fee",
    "idle_seconds",
    "idle_fee",
    "net",
    "tax",
    "gross",
    "pieces",
    "flags",
    "idle_clock",
    "unplugged_at",
    "final",
    "payment_reference",
    "electricity_cost",
)


def _bill_columns(alias: str) -> str:
    return ", ".join(f"{alias}.{column}" for column in _BILL_COLUMNS)


def _bill(row: tuple[Any, ...]) -> BillRecord:
    (transaction_id, account, tariff, energy_wh, energy_cost, session_fee, idle_seconds,
     idle_fee, net, tax, gross, pieces, flags, idle_clock, unplugged_at, final,
     payment_reference, electricity_cost) = row  # fmt: skip
    return BillRecord(
        transaction_id=transaction_id,
        account=account,
        tariff=json.loads(tariff),
        energy_wh=Decimal(energy_wh),
        energy_cost=Decimal(energy_cost),
        session_fee=Decimal(session_fee),
        idle_seconds=Decimal(idle_seconds),
        idle_fee=Decimal(idle_fee),
        net=Decimal(net),
        tax=Decimal(tax),
        gross=Decimal(gross),
        pieces=json.loads(pieces),
        electricity_cost=Decimal(electricity_cost),
        flags=frozenset(flag for flag in flags.split(",") if flag),
        idle_clock=json.loads(idle_clock),
        unplugged_at=_dt(unplugged_at),
        final=bool(final),
        payment_reference=payment_reference,
    )


def _execute(sql: str, parameters: Any = (), *, many: bool = False) -> Operation[None]:
    """An operation running one statement (or one per row of parameters) and returning nothing."""

    def operation(connection: sqlite3.Connection) -> None:
        if many:
            connection.executemany(sql, parameters)
        else:
            connection.execute(sql, parameters)

    return operation


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the schema to the newest version, one step per transaction."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise LedgerError(
            f"the ledger has schema version {version}, newer than this release knows"
            f" ({len(MIGRATIONS)}); downgrading is not supported"
        )
    for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
        _LOGGER.info("Migrating the ledger to schema version %s", target)
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


def _statements(script: str) -> list[str]:
    # executescript() would commit on its own; split so a migration stays one transaction.
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _load_chargers(connection: sqlite3.Connection) -> list[ChargerRecord]:
    return [
        ChargerRecord(
            row[0], bool(row[1]), row[2], row[3], row[4], row[5], _dt(row[6]), row[7], bool(row[8])
        )
        for row in connection.execute(
            "SELECT charger_id, approved, vendor, model, serial_number, firmware, first_seen,"
            " reconnects, approved_by_owner FROM chargers ORDER BY charger_id"
        )
    ]


def _load_connectors(connection: sqlite3.Connection) -> list[ConnectorRecord]:
    return [
        ConnectorRecord(
            row[0], row[1], row[2], row[3], _dt(row[4]), _dec(row[5]), Decimal(row[6]), _dt(row[7])
        )
        for row in connection.execute(
            "SELECT charger_id, connector_id, status, error_code, status_at, register_raw_wh,"
            " register_offset_wh, register_at FROM connectors ORDER BY charger_id, connector_id"
        )
    ]


def _transactions(
    connection: sqlite3.Connection, where: str, parameters: tuple[Any, ...] = ()
) -> list[TransactionRecord]:
    rows = connection.execute(
        "SELECT transaction_id, charger_id, connector_id, id_tag, meter_start_wh, started_at,"
        f" meter_stop_wh, stopped_at, stop_reason FROM transactions {where}",
        parameters,
    )
    return [
        TransactionRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            datetime.fromisoformat(row[5]),
            row[6],
            _dt(row[7]),
            row[8],
        )
        for row in rows
    ]


def _meter_readings(connection: sqlite3.Connection, transaction_id: int) -> list[MeterReading]:
    return [
        MeterReading(
            row[0],
            row[1],
            row[2],
            datetime.fromisoformat(row[3]),
            _dec(row[4]),
            _dec(row[5]),
            json.loads(row[6]),
        )
        for row in connection.execute(
            "SELECT charger_id, connector_id, transaction_id, timestamp, energy_wh, power_w,"
            " sampled_values FROM meter_readings WHERE transaction_id = ? ORDER BY timestamp",
            (transaction_id,),
        )
    ]


def _attempt(
    operation: Operation[Any], connection: sqlite3.Connection
) -> tuple[Any, BaseException | None]:
    try:
        return operation(connection), None
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError) as err:
        return None, err  # a bug in the operation, not the disk: retrying cannot help
    except sqlite3.Error as err:
        # The disk or the file failed mid-statement: to the caller the same as a failed
        # commit, so nobody answers a charger for what is not stored.
        failure = LedgerError(str(err))
        failure.__cause__ = err
        return None, failure
    except Exception as err:
        return None, err


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if error is None:
            _set_result(future, result)
        else:
            _set_exception(future, error)
