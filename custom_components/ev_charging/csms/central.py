"""The central system: the websocket server, chargers' state and the ledger bookkeeping."""

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import WSCloseCode, web
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.messages import MessageType, get_validator
from ocpp.v16 import call
from ocpp.v16.enums import Action

from ..billing.cashier import ABSURD_READING, FOREIGN_READINGS, Cashier
from ..const import GUEST_ACCOUNT
from ..faults.detectors import Problem
from ..faults.health import RESTORED_PROBLEMS, ProblemChange, ProblemKey, ProblemKind
from ..faults.uptime import LogEntry
from ..ledger import ChargerRecord, Ledger, LedgerError, MeterReading
from .authorization import TagStatus
from .boot_configuration import (
    HEARTBEAT_KEY,
    INTERVAL_KEY,
    READ_KEYS,
    SAMPLED_DATA_KEY,
    UNCHANGED,
    changes_needed,
    heartbeat_interval,
)
from .commands import CommandError, send_command
from .connection import ChargerConnection
from .endpoint import ChargerEndpoint
from .guests import GuestBook
from .holds import HoldBook
from .local_list import NOT_SUPPORTED_VERSION, SentList, apply_update, plan_updates
from .log_safety import Throttle, untrusted_logger
from .measurands import CURRENT, ENERGY_REGISTER, POWER, SOC, TEMPERATURE, VOLTAGE, normalise
from .payloads import (
    by_moment,
    or_else,
    register_wh,
    reservation_id_of,
    times_thousand,
    timestamp_of,
    transaction_id_of,
)
from .protocol import OCPP_VERSION, compile_fast_check
from .signed_values import save_signed, signed_values
from .state import CentralSettings, ChargerState, ConnectorState, RegisterChange

_LOGGER = untrusted_logger(__name__)

# A charger waiting for approval asks again after this many seconds.
PENDING_RETRY_INTERVAL = 30
# Charger configuration keys that bound the local authorization list.
LIST_LIMIT_KEYS = ("LocalAuthListMaxLength", "SendLocalListMaxLength")
# Uptime is measured over this rolling window; older intervals are dropped from memory.
UPTIME_WINDOW = timedelta(days=30)
# Problem intervals are written in batches this often: a thousand chargers dropping at once
# (a switch restarting) then make one ledger write, not a thousand event-loop wake-ups.
PROBLEM_LOG_DELAY = 0.5
# A charger offline this long after a session stopped ends that session's idle time (a brief
# drop does not: the car may still be there when it is back).
GONE_ENDS_IDLE = timedelta(minutes=10)
UNBILLED_ENERGY = "unbilled_energy"
"""A session whose tag was refused delivered energy anyway."""
LOST_IN_REBOOT = "lost_in_reboot"
"""A charger rebooted and came back free without the session's StopTransaction."""
LOST_SESSION_GRACE = timedelta(minutes=1)
"""How long a rebooted charger has to send a lost session's queued StopTransaction."""
FREE_AGAIN = frozenset({"Available", "Preparing"})
STILL_IN_SESSION = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
METER_RESET = "meter_reset"
"""A charger's meter restarted (a new boot or transaction with a lower register)."""
MAX_CONNECTORS = 100
"""No charger has more connectors (numbers from 0, the charger itself)."""
UNTRUSTED_CONNECTORS = 11
"""Connectors (0 to 10) a charger may report before a person approved it."""
# What counts as the owner taking a connector out of service, and back.
AVAILABILITY_DONE = frozenset({"Accepted", "Scheduled"})


class CentralListener(Protocol):
    """What the central system tells its host (Home Assistant) about chargers."""

    def charger_added(self, charger: ChargerState) -> None:
        """An approved charger is known: create its device and entities."""

    def connector_added(self, charger: ChargerState, connector_id: int) -> None:
        """An approved charger reported a connector not seen before."""

    def charger_pending(self, charger: ChargerState) -> None:
        """An unknown charger connected and waits for the owner's approval."""

    def charger_booted(self, charger: ChargerState) -> None:
        """An approved charger told us (again) who it is."""

    def insecure_chargers(self, charger_ids: list[str]) -> None:
        """The connected chargers without a password (OCPP security profile 0), sorted."""

    def tag_list_withheld(self, charger_ids: list[str]) -> None:
        """Approved chargers that get no tag list (accepted automatically, no password)."""

    def review_needed(self) -> None:
        """A session (or a stop of an unknown one) was flagged for review in the ledger."""

    def charger_event(self, charger: ChargerState, event_type: str, data: dict[str, Any]) -> None:
        """Something happened at a charger: a problem started or cleared, a session began."""

    def lasting_problems(self, charger: ChargerState, problems: dict[ProblemKey, Problem]) -> None:
        """The charger's problems that have lasted long enough for a repair issue."""

    def check_health_at(self, charger: ChargerState, when: datetime | None) -> None:
        """Call check_health(charger) at this moment (None: no need)."""


class CentralSystem:
    """Hosts the OCPP 1.6J websocket endpoint and keeps every charger's state."""

    def __init__(
        self,
        ledger: Ledger,
        settings: CentralSettings,
        listener: CentralListener,
        now: Callable[[], datetime],
    ) -> None:
        self.ledger = ledger
        self.settings = settings
        self.listener = listener
        self.now = now
        self.chargers: dict[str, ChargerState] = {}
        self.connections: dict[str, ChargerConnection] = {}
        self.endpoint = ChargerEndpoint(self)
        self.log_throttle = Throttle()
        """Warnings about chargers' bad frames, thinned per charger and kind."""
        self.boot_timeout: float | None = None
        """Seconds a charger not known to have booted has to send a BootNotification
        (None: the heartbeat interval)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self.cashier = Cashier(ledger, now, listener.review_needed)
        self.cashier.configure(settings.billing)
        self._list_locks: dict[str, asyncio.Lock] = {}
        # Connectors where a free-charging start was asked for and has not begun yet.
        self._free_starts: set[tuple[str, int]] = set()
        self._refused_sessions: set[int] = set()
        """Sessions whose tag was refused: energy they deliver is put on the review list."""
        self.downtime: list[tuple[datetime, datetime | None]] = []
        """When Home Assistant was down within the uptime window."""
        self._run_id: int | None = None
        self._security_report_due = False
        self._stopping = False
        self._lasting: dict[str, frozenset[ProblemKey]] = {}
        self.holds = HoldBook(
            ledger,
            lambda charger_id, payload: self.command(charger_id, payload, require_agreement=False),
            now,
        )
        """Connectors held for guests while they pay (the kiosk)."""
        self.guests = GuestBook(ledger, self.command, now)
        """Sessions guests paid for (the kiosk)."""
        self._unsaved_problems: list[tuple[str, LogEntry]] = []
        self._problems_flush: asyncio.TimerHandle | None = None

    # Life cycle.

    async def load(self) -> None:
        """Bring back chargers, connectors and open transactions from the ledger."""
        loop = asyncio.get_running_loop()
        # The schema files are read from disk once; not on the event loop.
        await loop.run_in_executor(None, _preload_validators)
        for record in await self.ledger.load_chargers():
            known = self.chargers[record.charger_id] = _charger_from_record(record)
            self._configure_health(known)
        for connector in await self.ledger.load_connectors():
            if (charger := self.chargers.get(connector.charger_id)) is None:
                continue
            state = charger.connector(connector.connector_id)
            state.status, state.error_code = connector.status, connector.error_code
            state.status_at = connector.status_at
            state.register_raw_wh = connector.register_raw_wh
            state.register_offset_wh = connector.register_offset_wh
            state.register_at = connector.register_at
        for transaction in await self.ledger.load_latest_transactions():
            if (charger := self.chargers.get(transaction.charger_id)) is not None:
                state = charger.connector(transaction.connector_id)
                if transaction.stopped_at is None:
                    state.transaction = transaction
                else:
                    # So the last session's energy still shows after a restart.
                    state.last_transaction = transaction
        await self.cashier.load()
        await self.guests.load()
        await self.holds.load()
        for guest in self.guests.sessions.values():
            if guest.transaction_id is not None:
                # Checkpoints written before a restart may lack it.
                self.cashier.mark_paid(guest.transaction_id, guest.reference, guest.cap)
                # The cap's margin goes on from the cost reached before the restart.
                if (bill := self.cashier.live_bill(guest.transaction_id)) is not None:
                    guest.last_gross = bill.gross
        await self._load_health()
        self._report_security()

    async def _load_health(self) -> None:
        """Bring back the outage log, open problems and Home Assistant's own downtime."""
        now = self.now()
        self._run_id = await self.ledger.start_run(now)
        self.downtime = list(await self.ledger.load_downtime(now - UPTIME_WINDOW))
        ended: list[tuple[str, LogEntry]] = []
        for interval in await self.ledger.load_problem_intervals(now - UPTIME_WINDOW):
            if (charger := self.chargers.get(interval.charger_id)) is None:
                continue
            health, kind, end = charger.health, interval.kind, interval.ended_at
            connector_id = interval.connector_id
            problem = Problem(end is None, interval.started_at, tuple(interval.details.items()))
            if kind == ProblemKind.FAULT:
                health.last_fault = (connector_id, problem)
            if end is None and kind in ProblemKind and kind not in RESTORED_PROBLEMS:
                # Found again from live data if it still holds.
                ended.append((charger.charger_id, LogEntry(connector_id, kind, now, opened=False)))
                end = now
            elif end is None and kind in RESTORED_PROBLEMS:
                health.restore(connector_id, ProblemKind(kind), problem)
            health.log.add(connector_id, kind, interval.started_at, end)
        await self.ledger.save_problem_log(ended)
        for charger in self.chargers.values():
            if charger.approved and charger.health.offline.offline_since is None:
                charger.health.waiting(now)

    async def mark_alive(self) -> None:
        """Note that we still run (the gaps between runs are downtime); forget old intervals."""
        now = self.now()
        if self._run_id is not None:
            await self.ledger.mark_alive(self._run_id, now)
        for charger in self.chargers.values():
            charger.health.log.forget_before(now - UPTIME_WINDOW)
        self.downtime = [
            gap for gap in self.downtime if gap[1] is None or gap[1] >= now - UPTIME_WINDOW
        ]

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        """Listen for chargers; raises OSError if the port cannot be bound."""
        await self.endpoint.start(host, port, ssl_context)

    async def stop(self) -> None:
        """Close every charger's socket, free the port, end background work."""
        # Chargers dropping because we stop are not offline: that time is our downtime.
        self._stopping = True
        self._save_problems()
        with contextlib.suppress(LedgerError):
            await self.mark_alive()
        # All at once: a charger that vanished without closing would otherwise hold up the rest.
        await asyncio.gather(
            *(
                connection.websocket.close(code=WSCloseCode.GOING_AWAY, message=b"Server stopping")
                for connection in list(self.connections.values())
            ),
            return_exceptions=True,
        )
        await self.endpoint.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def apply_settings(self, settings: CentralSettings) -> None:
        """Take new settings live; a charger whose ping interval changed reconnects alone."""
        old, self.settings = self.settings, settings
        self.cashier.configure(settings.billing)
        for known in self.chargers.values():
            self._configure_health(known)
            self.check_health(known)
        self._report_security()
        if old.tags != settings.tags:
            for charger_id in list(self.connections):
                if (charger := self.chargers.get(charger_id)) is not None and charger.approved:
                    self.background(self.sync_local_list(charger))
        for charger_id, connection in list(self.connections.items()):
            if (
                old.quirks_for(charger_id).ping_interval
                != settings.quirks_for(charger_id).ping_interval
            ):
                self.background(
                    connection.websocket.close(
                        code=WSCloseCode.SERVICE_RESTART, message=b"Connection settings changed"
                    )
                )

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run follow-up work that must not hold up the answer to a charger."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def watch(self, future: Awaitable[Any]) -> None:
        """Log if a ledger write nobody waits for fails."""

        async def wait() -> None:
            await future

        self.background(wait())

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.error("Background work failed: %s", error, exc_info=error)

    # Chargers and approval.

    async def approve(
        self, charger_id: str, *, ask_boot: bool = True, by_owner: bool = True
    ) -> ChargerState:
        """Let a waiting charger in: it gets a device, entities and an Accepted boot."""
        charger = self.chargers.get(charger_id) or self._new_charger(charger_id)
        if charger.approved:
            return charger
        await self.ledger.save_charger(charger_id, self.now(), approved=True, by_owner=by_owner)
        charger.approved, charger.approved_by_owner = True, by_owner
        self.listener.charger_added(charger)
        self._report_security()
        if ask_boot and (connection := self.connections.get(charger_id)) is not None:
            # Ask for a new BootNotification so the charger hears it is Accepted now.
            self.background(
                connection.call(call.TriggerMessage(requested_message="BootNotification"))
            )
        return charger

    async def trust(self, charger_ids: list[str]) -> None:
        """The owner vouches for automatically approved chargers: they get the tag list."""
        for charger_id in charger_ids:
            if (charger := self.chargers.get(charger_id)) is None or not charger.approved:
                continue
            await self.ledger.save_charger(charger_id, self.now(), approved=True)
            charger.approved_by_owner = True
            if charger_id in self.connections:
                self.background(self.sync_local_list(charger))
        self._report_security()

    def withheld_chargers(self) -> list[str]:
        """Approved chargers that get no tag list (accepted automatically, no password)."""
        return sorted(
            charger.charger_id
            for charger in self.chargers.values()
            if charger.approved and not self.gets_tag_list(charger)
        )

    def strangers(self) -> int:
        """Chargers known that no person approved and that have no password."""
        return sum(1 for charger in self.chargers.values() if not self.gets_tag_list(charger))

    def gets_tag_list(self, charger: ChargerState) -> bool:
        """Only a charger that logs in with a password or that a person approved holds the
        owner's tags: an automatically accepted stranger must not learn them."""
        return charger.approved_by_owner or charger.charger_id in self.settings.password_hashes

    async def command(self, charger_id: str, payload: Any, **options: Any) -> Any:
        """Send a command to a charger; raises a CommandError saying why it failed."""
        answer = await send_command(
            self.connections.get(charger_id), charger_id, payload, **options
        )
        if (
            isinstance(payload, call.ChangeConfiguration)
            and payload.key == HEARTBEAT_KEY
            and str(answer.status) == "Accepted"
            and (charger := self.chargers.get(charger_id)) is not None
            and (interval := heartbeat_interval({HEARTBEAT_KEY: payload.value})) is not None
        ):
            self._adopt_heartbeat(charger, interval)
        if (
            isinstance(payload, call.ChangeAvailability)
            and str(answer.status) in AVAILABILITY_DONE
            and (charger := self.chargers.get(charger_id)) is not None
        ):
            # Set from Home Assistant: maintenance, not counted against the charger's uptime.
            inoperative = payload.type == "Inoperative"
            charger.health.maintenance(payload.connector_id, inoperative, self.now())
            self.check_health(charger)
        return answer

    # Health: the fault detectors.

    def _configure_health(self, charger: ChargerState) -> None:
        charger.health.configure(
            self.settings.faults,
            charger.heartbeat_interval or self.settings.heartbeat_interval,
            self.settings.meter_value_interval,
        )

    def check_health(self, charger: ChargerState) -> None:
        """Ask the charger's detectors (after news, or when due) and report what changed."""
        if (
            self._stopping
            or not charger.approved
            or self.chargers.get(charger.charger_id) is not charger  # removed meanwhile
        ):
            return
        now = self.now()
        health = charger.health
        changes = health.evaluate(now)
        if entries := health.log.drain():
            if self._problems_flush is None:
                self._problems_flush = asyncio.get_running_loop().call_later(
                    PROBLEM_LOG_DELAY, self._save_problems
                )
            self._unsaved_problems += [(charger.charger_id, entry) for entry in entries]
        for change in changes:
            self.listener.charger_event(charger, change.event_type, _change_data(change))
        lasting = health.lasting(now)
        if frozenset(lasting) != self._lasting.get(charger.charger_id, frozenset()):
            self._lasting[charger.charger_id] = frozenset(lasting)
            self.listener.lasting_problems(charger, lasting)
        if health.updated:
            charger.notify()
        due = self._end_idle_when_gone(charger, health.due(now))
        self.listener.check_health_at(charger, self._end_lost_sessions(charger, due))

    def _end_lost_sessions(self, charger: ChargerState, due: datetime | None) -> datetime | None:
        """Sessions a reboot lost (the connector came back free without its transaction) end
        once the charger has had LOST_SESSION_GRACE to send the queued StopTransaction; the
        next moment to look again, with `due`."""
        for connector in charger.connectors.values():
            if (lost_at := connector.lost_since) is None:
                continue
            if connector.lost_session is None:
                # Its StopTransaction came after all, or a new session began meanwhile.
                connector.lost_since = None
                continue
            end_at = lost_at + LOST_SESSION_GRACE
            if self.now() >= end_at:
                connector.lost_since = None
                self.background(self._end_lost_session(charger, connector))
            else:
                due = end_at if due is None else min(due, end_at)
        return due

    async def _end_lost_session(self, charger: ChargerState, connector: ConnectorState) -> None:
        """End a session the charger forgot in a reboot at its last reading, for review."""
        if (lost := connector.lost_session) is None:
            return  # its stop, or a new session, came meanwhile
        register = connector.register_raw_wh
        meter_stop = int(register) if register is not None else lost.meter_start_wh
        stopped_at = max(connector.register_at or lost.started_at, lost.started_at)
        _LOGGER.warning(
            "%s connector %s: the charger rebooted and came back without transaction %s;"
            " it ends at its last reading (%s Wh) and is flagged for review",
            charger.charger_id,
            connector.connector_id,
            lost.transaction_id,
            meter_stop,
        )
        await self.cashier.flag_for_review(
            charger.charger_id,
            lost.transaction_id,
            LOST_IN_REBOOT,
            f"ended at its last reading, {meter_stop} Wh at {stopped_at.isoformat()}",
        )
        await self._close_transaction(
            charger,
            {
                "transaction_id": lost.transaction_id,
                "meter_stop": meter_stop,
                "timestamp": stopped_at.isoformat(),
                "reason": "Reboot",
            },
        )
        self.check_health(charger)

    def _end_idle_when_gone(self, charger: ChargerState, due: datetime | None) -> datetime | None:
        """A charger gone for a while after a session stopped: that bill becomes final (idle
        time counted until it went); the next moment to look again, with the health's."""
        since = charger.disconnected_at
        if charger.connected or since is None or not self.cashier.awaits_unplug(charger.charger_id):
            return due
        final_at = since + GONE_ENDS_IDLE
        if self.now() >= final_at:
            self.background(self.cashier.charger_lost(charger.charger_id, since))
            return due
        return final_at if due is None else min(due, final_at)

    def _save_problems(self) -> None:
        if self._problems_flush is not None:
            self._problems_flush.cancel()
            self._problems_flush = None
        batch, self._unsaved_problems = self._unsaved_problems, []
        if not batch:
            return
        try:
            self.watch(self.ledger.save_problem_log(batch))
        except LedgerError as err:
            _LOGGER.error("Problem history not stored: %s", err)

    def uptime(self, charger: ChargerState, connector_id: int | None = None) -> Decimal | None:
        """Uptime % over the rolling window (since first seen, if later); None: the charger's."""
        now = self.now()
        start = max(now - UPTIME_WINDOW, charger.first_seen or now)
        health = charger.health
        if connector_id is None:
            connectors = sorted(c for c in charger.connectors if c > 0)
            return health.charger_uptime(connectors, start, now, self.downtime)
        return health.connector_uptime(connector_id, start, now, self.downtime)

    async def forget(self, charger_id: str) -> None:
        """Remove a charger (its history stays in the ledger); it must be approved again."""
        if (connection := self.connections.get(charger_id)) is not None:
            await connection.websocket.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Removed")
        if (charger := self.chargers.pop(charger_id, None)) is not None:
            self.listener.lasting_problems(charger, {})
        await self.ledger.forget_charger(charger_id)
        self._report_security()

    def _connector_id(self, charger: ChargerState, payload: dict[str, Any]) -> int:
        """The schema allows any integer; OCPP 1.6 numbers connectors from 0 (the charger),
        and no charger has more than MAX_CONNECTORS. A charger nobody vouched for gets at
        most UNTRUSTED_CONNECTORS: each new one makes entities in Home Assistant."""
        connector_id: int = payload["connector_id"]
        if not 0 <= connector_id <= MAX_CONNECTORS:
            raise PropertyConstraintViolationError(
                description=f"connectorId must be from 0 to {MAX_CONNECTORS}"
            )
        if (
            connector_id not in charger.connectors
            and not self.gets_tag_list(charger)
            and len(charger.connectors) >= UNTRUSTED_CONNECTORS
        ):
            raise PropertyConstraintViolationError(
                description="No more connectors for a charger nobody approved"
            )
        return connector_id

    def _connector(self, charger: ChargerState, connector_id: int) -> ConnectorState:
        is_new = connector_id not in charger.connectors
        connector = charger.connector(connector_id)
        if is_new and charger.approved:
            self.listener.connector_added(charger, connector_id)
        return connector

    def _new_charger(self, charger_id: str) -> ChargerState:
        charger = self.chargers[charger_id] = ChargerState(charger_id, first_seen=self.now())
        self._configure_health(charger)
        return charger

    # The websocket endpoint.

    async def serve(
        self, charger_id: str, websocket: web.WebSocketResponse, remote: str | None
    ) -> None:
        """Answer an admitted charger until its socket closes."""
        again = charger_id in self.chargers
        charger = self.chargers.get(charger_id) or self._new_charger(charger_id)
        if (previous := self.connections.get(charger_id)) is not None:
            _LOGGER.info("%s connected again; closing its previous connection", charger_id)
            # In the background: a half-open old socket must not hold up the new connection.
            self.background(
                previous.websocket.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Replaced")
            )
        connection = ChargerConnection(self, charger, websocket)
        self.connections[charger_id] = connection
        charger.connected = True
        charger.last_seen = self.now()
        charger.health.connected(charger.last_seen, again=again)
        self.cashier.charger_seen(charger_id, True, charger.last_seen)
        _LOGGER.info("Charger %s connected from %s", charger_id, remote)
        self._report_security()
        if not (charger.approved and charger.vendor is not None):
            # Not known to have booted: a client that never says who it is gets no socket.
            self.background(self._expect_boot(connection))
        try:
            self.check_health(charger)
            if charger.approved:
                self.watch(
                    self.ledger.save_charger(charger_id, charger.last_seen, reconnected=again)
                )
                charger.notify()
                if charger.vendor is not None:
                    # It has booted before: back after a network drop or our restart,
                    # often without a new boot. Catch up on what happened meanwhile.
                    self.background(self._refresh_after_reconnect(charger))
            elif self.settings.auto_accept:
                await self.approve(charger_id, ask_boot=False, by_owner=False)
            else:
                self.watch(self.ledger.save_charger(charger_id, charger.last_seen))
                self.listener.charger_pending(charger)
            await connection.run()
        finally:
            if self.connections.get(charger_id) is connection:
                del self.connections[charger_id]
                charger.connected = False
                _LOGGER.info("Charger %s disconnected", charger_id)
                if not self._stopping:
                    charger.disconnected_at = self.now()
                    charger.health.disconnected(charger.disconnected_at)
                    self.cashier.charger_seen(charger_id, False, charger.disconnected_at)
                    self.check_health(charger)
                self._report_security()
                charger.notify()

    async def _expect_boot(self, connection: ChargerConnection) -> None:
        bound = self.boot_timeout or self.settings.heartbeat_interval
        booted = asyncio.ensure_future(connection.booted.wait())
        closed = asyncio.ensure_future(connection.closed.wait())
        try:
            # Over as soon as the socket is gone too: nothing is kept for a dead client.
            done, _ = await asyncio.wait(
                (booted, closed), timeout=bound, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            booted.cancel()
            closed.cancel()
        if done:
            return
        self.log_throttle.log(
            _LOGGER,
            logging.WARNING,
            "no_boot",
            "%s: no BootNotification within %s s; closing the connection",
            connection.id,
            bound,
        )
        await connection.websocket.close(
            code=WSCloseCode.POLICY_VIOLATION, message=b"No BootNotification"
        )

    def _report_security(self) -> None:
        """Tell the listener which chargers lack a password or a tag list, once per turn of the
        event loop: a storm of connections makes one report, not one scan per charger."""
        if not self._security_report_due:
            self._security_report_due = True
            asyncio.get_running_loop().call_soon(self._send_security_report)

    def _send_security_report(self) -> None:
        self._security_report_due = False
        self.listener.insecure_chargers(
            sorted(
                charger_id
                for charger_id in self.connections
                if charger_id not in self.settings.password_hashes
            )
        )
        self.listener.tag_list_withheld(self.withheld_chargers())

    # What chargers tell us; called by ChargerConnection after validation.

    async def boot(self, charger: ChargerState, payload: dict[str, Any]) -> tuple[str, int]:
        """Record a BootNotification; returns the registration status and interval."""
        boot = {
            "vendor": payload["charge_point_vendor"],
            "model": payload["charge_point_model"],
            "serial_number": payload.get("charge_point_serial_number")
            or payload.get("charge_box_serial_number"),
            "firmware": payload.get("firmware_version"),
        }
        charger.vendor, charger.model = boot["vendor"], boot["model"]
        charger.serial_number, charger.firmware = boot["serial_number"], boot["firmware"]
        await self.ledger.save_charger(charger.charger_id, self.now(), boot=boot)
        if not charger.approved:
            self.listener.charger_pending(charger)
            return "Pending", PENDING_RETRY_INTERVAL
        charger.booted = True
        charger.health.booted(self.now())
        # The interval the boot answer tells it, until GetConfiguration says otherwise.
        self._adopt_heartbeat(charger, self.settings.heartbeat_interval)
        for connector in charger.connectors.values():
            connector.booted_since_register = True
            connector.rebooted_during_session = connector.transaction is not None
        self.listener.charger_booted(charger)
        charger.notify()
        return "Accepted", self.settings.heartbeat_interval

    async def configure_after_boot(self, charger: ChargerState) -> None:
        """Read the charger's configuration; set only what billing lacks (unless the owner
        keeps the charger's configuration untouched); record the answers."""
        charger_id = charger.charger_id
        reported = await self._read_configuration(charger_id, READ_KEYS)
        if (interval := heartbeat_interval(reported)) is not None:
            self._adopt_heartbeat(charger, interval)
        if self.settings.quirks_for(charger_id).keep_configuration:
            return
        changes = changes_needed(reported, self.settings.meter_value_interval)
        for key in (INTERVAL_KEY, SAMPLED_DATA_KEY):
            if (value := changes.get(key)) is None:
                value, status = (reported or {}).get(key) or "", UNCHANGED
            else:
                try:
                    answer = await self.command(
                        charger_id,
                        call.ChangeConfiguration(key=key, value=value),
                        require_agreement=False,
                    )
                    status = str(answer.status)
                except CommandError as err:
                    status = err.key
                if status not in ("Accepted", "charger_offline"):
                    # Gone again already (a reconnect loop): nothing worth a warning.
                    _LOGGER.warning("%s: setting %s to %s: %s", charger_id, key, value, status)
            charger.configuration_results[key] = status
            await self.ledger.save_configuration_result(charger_id, key, value, status, self.now())

    async def _read_configuration(
        self, charger_id: str, keys: tuple[str, ...]
    ) -> dict[str, str | None] | None:
        """GetConfiguration of some keys: key -> value (None: unknown to the charger); None
        when the charger does not answer it."""
        try:
            answer = await self.command(charger_id, call.GetConfiguration(key=list(keys)))
        except CommandError:
            return None
        return {item["key"]: item.get("value") for item in answer.configuration_key or ()}

    def _adopt_heartbeat(self, charger: ChargerState, interval: int) -> None:
        """Offline detection goes by the interval the charger actually has."""
        if charger.heartbeat_interval != interval:
            charger.heartbeat_interval = interval
            self._configure_health(charger)
            self.check_health(charger)

    async def _refresh_after_reconnect(self, charger: ChargerState) -> None:
        """Ask for current connector statuses and the meter values of running sessions."""
        try:
            await self.command(
                charger.charger_id, call.TriggerMessage(requested_message="StatusNotification")
            )
            for connector in list(charger.connectors.values()):
                if connector.transaction is not None:
                    await self.command(
                        charger.charger_id,
                        call.TriggerMessage(
                            requested_message="MeterValues", connector_id=connector.connector_id
                        ),
                    )
        except CommandError as err:
            _LOGGER.info("%s: refreshing after a reconnect: %s", charger.charger_id, err)
        await self.sync_local_list(charger)

    def heartbeat(self, charger: ChargerState) -> None:
        """Note a Heartbeat."""
        charger.last_heartbeat = self.now()
        charger.notify()

    def authorize(self, charger: ChargerState, id_tag: str) -> dict[str, Any]:
        """The idTagInfo for a tag on this charger, from the owner's tag list."""
        guest = self.guests.accepts(id_tag, charger.charger_id)
        if guest is not None:
            # A guest's one-time tag: good for the charger they paid for, while it lasts.
            info: dict[str, Any] = {"status": TagStatus.ACCEPTED if guest else TagStatus.INVALID}
        else:
            info = self.settings.tags.id_tag_info(id_tag, charger.charger_id, self.now())
        if info["status"] != TagStatus.ACCEPTED:
            _LOGGER.info("%s: ID tag %s refused: %s", charger.charger_id, id_tag, info["status"])
        return info

    async def status_notification(self, charger: ChargerState, payload: dict[str, Any]) -> None:
        """Record a connector's (or, for connector 0, the charger's) status."""
        connector_id = self._connector_id(charger, payload)
        at = timestamp_of(payload.get("timestamp")) or self.now()
        connector = self._connector(charger, connector_id)
        connector.status, connector.error_code = payload["status"], payload["error_code"]
        connector.info = payload.get("info")
        connector.vendor_error_code = payload.get("vendor_error_code")
        connector.status_at = at
        charger.health.status(
            connector_id,
            connector.status,
            connector.error_code,
            self._plausible(at),
            connector.info,
            connector.vendor_error_code,
        )
        await self.ledger.save_connector_status(
            charger.charger_id, connector_id, connector.status, connector.error_code, at
        )
        await self.cashier.status(charger.charger_id, connector_id, connector.status, at)
        charger.notify()
        if (transaction := connector.transaction) is not None and self.guests.stop_due(
            transaction.transaction_id
        ):
            # A paid session stopped while its charger could not take it (offline).
            self._stop_guest_session(charger, transaction.transaction_id)
        if (
            connector.transaction is not None
            and connector.status in FREE_AGAIN
            and connector.rebooted_during_session
        ):
            # Rebooted and free again: its StopTransaction may still be queued; if it does
            # not come within the grace period, the session ends here (check_health).
            connector.lost_since = connector.lost_since or self.now()
            connector.lost_transaction_id = connector.transaction.transaction_id
        elif connector.status in STILL_IN_SESSION:
            connector.lost_since = None  # the session went on after the reboot
        if connector.status == "Preparing":
            self._start_free_charging(charger, connector)
        else:
            self._free_starts.discard((charger.charger_id, connector_id))

    def _start_free_charging(self, charger: ChargerState, connector: ConnectorState) -> None:
        """On a free-charging charger a plugged-in car starts charging with Home Assistant's tag."""
        key = (charger.charger_id, connector.connector_id)
        if (
            connector.connector_id == 0
            or connector.transaction is not None
            or charger.charger_id not in self.settings.tags.free_charging
            or self.settings.remote_id_tag is None
            or key in self._free_starts
        ):
            return
        self._free_starts.add(key)

        async def start() -> None:
            try:
                await self.command(
                    charger.charger_id,
                    call.RemoteStartTransaction(
                        id_tag=self.settings.remote_id_tag, connector_id=connector.connector_id
                    ),
                )
            except CommandError as err:
                self._free_starts.discard(key)
                _LOGGER.warning("%s: free charging could not start: %s", charger.charger_id, err)

        self.background(start())

    async def sync_local_list(self, charger: ChargerState) -> None:
        """Bring the charger's local authorization list in line with the owner's tags."""
        lock = self._list_locks.setdefault(charger.charger_id, asyncio.Lock())
        async with lock:
            try:
                charger.local_list_status = await self._sync_local_list(charger)
            except CommandError as err:
                charger.local_list_status = err.key
                _LOGGER.info("%s: local list not updated: %s", charger.charger_id, err)
            charger.notify()

    async def _sync_local_list(self, charger: ChargerState) -> str:
        charger_id = charger.charger_id
        if not self.gets_tag_list(charger):
            return "Withheld"
        reported = await self.command(charger_id, call.GetLocalListVersion())
        charger.local_list_version = int(reported.list_version)
        if charger.local_list_version == NOT_SUPPORTED_VERSION:
            return "NotSupported"
        stored = await self.ledger.load_local_list(charger_id)
        sent = None if stored is None else SentList(*stored)
        wanted = self.settings.tags.local_list(charger_id, self.now())
        if not plan_updates(sent, charger.local_list_version, wanted):
            return "Accepted"  # the charger holds the list already
        most, per_message = await self._list_limits(charger_id)
        if most is not None and len(wanted) > most:
            _LOGGER.warning(
                "%s holds at most %d tags in its local list; %d left out",
                charger_id,
                most,
                len(wanted) - most,
            )
            wanted = dict(sorted(wanted.items())[:most])
        status = "Accepted"
        updates = plan_updates(sent, charger.local_list_version, wanted, per_message)
        while updates:
            update = updates.pop(0)
            answer = await self.command(
                charger_id,
                call.SendLocalList(
                    list_version=update.version,
                    update_type=update.update_type,
                    local_authorization_list=update.entries,
                ),
                require_agreement=False,
            )
            status = str(answer.status)
            if status == "VersionMismatch" and sent is not None:
                # The charger lost track of our versions: start again with a full list.
                sent = None
                updates = plan_updates(None, charger.local_list_version, wanted, per_message)
                continue
            if status != "Accepted":
                _LOGGER.warning("%s: SendLocalList answered %s", charger_id, status)
                break
            held = apply_update(sent.entries if sent else {}, update)
            await self.ledger.save_local_list(charger_id, update.version, held, self.now())
            sent = SentList(update.version, held)
            charger.local_list_version = update.version
        return status

    async def _list_limits(self, charger_id: str) -> tuple[int | None, int | None]:
        """LocalAuthListMaxLength and SendLocalListMaxLength, where the charger says them."""
        values = await self._read_configuration(charger_id, LIST_LIMIT_KEYS) or {}
        limits: list[int | None] = []
        for key in LIST_LIMIT_KEYS:
            try:
                limits.append(int(values[key] or ""))
            except KeyError, ValueError:
                limits.append(None)
        return limits[0], limits[1]

    async def start_transaction(
        self, charger: ChargerState, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Open a transaction in the ledger; returns its id and the tag's status."""
        connector_id = self._connector_id(charger, payload)
        started_at = timestamp_of(payload["timestamp"])
        assert started_at is not None
        transaction = await self.ledger.start_transaction(
            charger.charger_id,
            connector_id,
            payload["id_tag"],
            register_wh(payload["meter_start"]),
            started_at,
            reservation_id_of(payload.get("reservation_id")),
        )
        connector = self._connector(charger, connector_id)
        connector.transaction = transaction
        connector.rebooted_during_session = False
        await self._take_register(
            charger, connector_id, Decimal(payload["meter_start"]), started_at, new_transaction=True
        )
        self._free_starts.discard((charger.charger_id, connector_id))
        # Recorded whatever the answer: the charger ends a refused session itself. Only an
        # accepted session is priced.
        id_tag_info = self.authorize(charger, payload["id_tag"])
        guest = None
        if id_tag_info["status"] != TagStatus.ACCEPTED:
            self._refused_sessions.add(transaction.transaction_id)
            if len(self._refused_sessions) > 1000:  # only recent ones matter
                self._refused_sessions.discard(min(self._refused_sessions))
        if id_tag_info["status"] == TagStatus.ACCEPTED:
            guest = await self.guests.transaction_started(
                charger.charger_id, connector_id, payload["id_tag"], transaction.transaction_id
            )
            account = GUEST_ACCOUNT if guest else self.settings.tags.account_of(payload["id_tag"])
            await self.cashier.session_started(charger.charger_id, transaction, account)
        if guest is not None:
            self.cashier.mark_paid(transaction.transaction_id, guest.reference, guest.cap)
            await self.holds.consume(guest.id_tag)
        charger.notify()
        self.listener.charger_event(
            charger,
            "session_started",
            {
                "connector_id": connector_id,
                "transaction_id": transaction.transaction_id,
                "id_tag": transaction.id_tag,
                "id_tag_status": str(id_tag_info["status"]),
            },
        )
        return transaction.transaction_id, id_tag_info

    async def meter_values(self, charger: ChargerState, payload: dict[str, Any]) -> None:
        """Store MeterValues and update the connector's live figures."""
        connector_id = self._connector_id(charger, payload)
        transaction_id = transaction_id_of(payload.get("transaction_id"))
        moments = by_moment(payload["meter_value"])
        await self._store_meter_values(charger, connector_id, transaction_id, moments)
        charger.notify()

    async def stop_transaction(
        self, charger: ChargerState, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Close a transaction; its transactionData readings are stored with it."""
        # The tag that stopped the session gets a status; a stop without a tag gets none.
        id_tag = payload.get("id_tag")
        id_tag_info = self.authorize(charger, id_tag) if id_tag else None
        await self._close_transaction(charger, payload)
        return id_tag_info

    async def _close_transaction(self, charger: ChargerState, payload: dict[str, Any]) -> None:
        """A StopTransaction's bookkeeping (the charger's, or ours for a lost session)."""
        transaction_id: int = payload["transaction_id"]
        transaction_id_of(transaction_id)
        stopped_at = timestamp_of(payload["timestamp"])
        assert stopped_at is not None
        id_tag = payload.get("id_tag")
        # Read before anything is written: an unreadable timestamp refuses the whole message.
        moments = by_moment(payload.get("transaction_data") or [])
        transaction = await self.ledger.stop_transaction(
            charger.charger_id,
            transaction_id,
            register_wh(payload["meter_stop"]),
            stopped_at,
            payload.get("reason"),
            id_tag,
        )
        if transaction is None:
            # Started while we were not listening, or by another charger: the raw frame is
            # kept; accepting lets the charger move on instead of retrying forever.
            _LOGGER.warning(
                "%s: StopTransaction for unknown transaction %s kept as a raw frame only",
                charger.charger_id,
                transaction_id,
            )
            await self.cashier.flag_for_review(
                charger.charger_id,
                transaction_id,
                "unknown_transaction",
                f"meterStop {payload['meter_stop']} Wh at {payload['timestamp']}",
            )
            charger.notify()
            return
        connector_id = transaction.connector_id
        if moments:
            await self._store_meter_values(charger, connector_id, transaction_id, moments)
        connector = charger.connector(connector_id)
        # A late stop of an older transaction must not end the one running now.
        if connector.transaction is None or connector.transaction.transaction_id == transaction_id:
            connector.transaction = None
            connector.last_transaction = transaction
            connector.power_kw = Decimal(0)
        await self._take_register(charger, connector_id, Decimal(payload["meter_stop"]), stopped_at)
        await self.cashier.session_stopped(
            transaction,
            as_recorded=(transaction.meter_stop_wh, transaction.stopped_at)
            == (register_wh(payload["meter_stop"]), stopped_at),
        )
        await self.guests.transaction_stopped(transaction_id)
        charger.notify()
        energy_wh = Decimal(max(0, transaction.meter_stop_wh or 0) - transaction.meter_start_wh)
        if energy_wh > 0 and transaction_id in self._refused_sessions:
            # The charger delivered under a tag we refused (offline start, or it kept
            # charging): nobody is billed, so a person looks.
            self._refused_sessions.discard(transaction_id)
            await self.cashier.flag_for_review(
                charger.charger_id, transaction_id, UNBILLED_ENERGY, f"{energy_wh} Wh"
            )
        self.listener.charger_event(
            charger,
            "session_stopped",
            {
                "connector_id": connector_id,
                "transaction_id": transaction_id,
                "id_tag": transaction.id_tag,
                "energy_kwh": float(max(Decimal(0), energy_wh) / 1000),
                "reason": transaction.stop_reason,
            },
        )

    def diagnostics_status(self, charger: ChargerState, status: str) -> None:
        """Note a DiagnosticsStatusNotification."""
        charger.diagnostics_status = status
        charger.notify()

    def firmware_status(self, charger: ChargerState, status: str) -> None:
        """Note a FirmwareStatusNotification."""
        charger.firmware_status = status
        charger.notify()

    async def _store_meter_values(
        self,
        charger: ChargerState,
        connector_id: int,
        transaction_id: int | None,
        moments: dict[datetime, list[dict[str, Any]]],
    ) -> None:
        snapshots = [normalise(moment, sampled) for moment, sampled in sorted(moments.items())]
        running = charger.connectors.get(connector_id)
        if (
            transaction_id is None
            and running is not None
            and (session := running.transaction) is not None
            and snapshots
            and snapshots[0].timestamp >= session.started_at
        ):
            # OCPP lets a charger leave the transactionId out (clock-aligned readings often
            # do): readings of a connector with a session running are that session's, priced
            # and capped with it, and stored so (a rebuild prices them the same).
            transaction_id = session.transaction_id
        if transaction_id is not None and self.cashier.belongs_elsewhere(
            transaction_id, charger.charger_id, connector_id
        ):
            # Kept, never priced (the cashier checks too); the sender is the one to look at.
            _LOGGER.warning(
                "%s: meter values name transaction %s of another charger; kept, not used",
                charger.charger_id,
                transaction_id,
            )
            await self.cashier.flag_for_review(
                charger.charger_id, None, FOREIGN_READINGS, f"transaction {transaction_id}"
            )
        if absurd := sum(snapshot.absurd for snapshot in snapshots):
            _LOGGER.warning(
                "%s: %d meter value(s) no meter can show were kept raw, not used",
                charger.charger_id,
                absurd,
            )
            if transaction_id is not None and self._owns(charger, connector_id, transaction_id):
                self.cashier.flag(transaction_id, ABSURD_READING)
        readings = [
            MeterReading(
                charger.charger_id,
                connector_id,
                transaction_id,
                snapshot.timestamp,
                times_thousand(snapshot.total(ENERGY_REGISTER)),
                times_thousand(snapshot.total(POWER)),
                [sample.as_dict() for sample in snapshot.samples] + snapshot.skipped,
            )
            for snapshot in snapshots
        ]
        write = self.ledger.add_meter_readings(readings)
        # Priced now, its checkpoint queued right behind the readings: one commit for both.
        checkpoint = (
            None if transaction_id is None else self.cashier.readings(transaction_id, readings)
        )
        signing = None
        if (
            (signed := signed_values(snapshots))
            and transaction_id is not None
            and self._owns(charger, connector_id, transaction_id)
        ):
            signing = save_signed(self.ledger, transaction_id, signed)
        connector = self._connector(charger, connector_id)
        if connector.lost_since is not None and transaction_id == connector.lost_transaction_id:
            # Its queue is still coming in: the stop may be right behind.
            connector.lost_since = self.now()
        if snapshots and self._is_current(connector, snapshots[-1].timestamp):
            newest = snapshots[-1]
            connector.power_kw = or_else(newest.total(POWER), connector.power_kw)
            connector.current_a = or_else(newest.highest(CURRENT), connector.current_a)
            connector.voltage_v = or_else(newest.mean(VOLTAGE), connector.voltage_v)
            connector.soc_percent = or_else(newest.total(SOC), connector.soc_percent)
            connector.temperature_c = or_else(newest.highest(TEMPERATURE), connector.temperature_c)
            charger.health.reading(
                connector_id,
                self.now(),
                power_kw=newest.total(POWER),
                energy_wh=times_thousand(newest.total(ENERGY_REGISTER)),
                temperature_c=newest.highest(TEMPERATURE),
                measured_at=newest.timestamp,
            )
            if (energy_wh := times_thousand(newest.total(ENERGY_REGISTER))) is not None:
                await self._take_register(charger, connector_id, energy_wh, newest.timestamp)
        await write
        if checkpoint is not None:
            await checkpoint
        if signing is not None:
            await signing
        if transaction_id is not None:
            self._enforce_cap(charger, connector_id, transaction_id)
        elif connector.transaction is not None:
            # A reading without its transaction (a triggered one): the running session's.
            self._enforce_cap(charger, connector_id, connector.transaction.transaction_id)

    def _owns(self, charger: ChargerState, connector_id: int, transaction_id: int) -> bool:
        """Whether the session is the one running (or last run) on this charger's connector."""
        connector = charger.connectors.get(connector_id)
        return connector is not None and any(
            t is not None and t.transaction_id == transaction_id
            for t in (connector.transaction, connector.last_transaction)
        )

    def _enforce_cap(self, charger: ChargerState, connector_id: int, transaction_id: int) -> None:
        """Stop a paid session before its cost can pass what the guest's card holds."""
        guest = self.guests.by_transaction(transaction_id)
        if guest is None:
            return  # not a paid session: no bill to work out on every reading
        if (guest.charger_id, guest.connector_id) != (charger.charger_id, connector_id):
            return  # a reading naming another charger's session never acts on it
        bill = self.cashier.live_bill(transaction_id)
        if bill is None or not self.guests.cap_reached(transaction_id, bill.gross):
            return
        self._stop_guest_session(charger, transaction_id)

    def _stop_guest_session(self, charger: ChargerState, transaction_id: int) -> None:
        """RemoteStopTransaction for a paid session that must stop (its cap, or the kiosk)."""

        async def stop() -> None:
            try:
                await self.command(
                    charger.charger_id, call.RemoteStopTransaction(transaction_id=transaction_id)
                )
            except CommandError as err:
                _LOGGER.error(
                    "%s: a paid session must stop, but the stop failed (sent again with the"
                    " next message about its connector): %s",
                    charger.charger_id,
                    err,
                )
                self.guests.stop_sent(transaction_id, accepted=False)
            else:
                self.guests.stop_sent(transaction_id, accepted=True)

        self.background(stop())

    def _is_current(self, connector: ConnectorState, timestamp: datetime) -> bool:
        """Whether a reading is not older than the one the connector shows."""
        return connector.register_at is None or self._plausible(timestamp) >= connector.register_at

    def _plausible(self, timestamp: datetime) -> datetime:
        """A charger clock set in the future (common after a reboot) must not freeze the
        live figures until that date: for ordering, no reading is later than now."""
        return min(timestamp, self.now())

    async def _take_register(
        self,
        charger: ChargerState,
        connector_id: int,
        raw_wh: Decimal,
        at: datetime,
        *,
        new_transaction: bool = False,
    ) -> None:
        connector = charger.connector(connector_id)
        at = self._plausible(at)
        change = connector.update_register(raw_wh, at, new_transaction=new_transaction)
        if change is RegisterChange.IGNORED:
            return
        await self.ledger.save_register(
            charger.charger_id, connector_id, raw_wh, connector.register_offset_wh, at
        )
        if change is RegisterChange.RESET:
            _LOGGER.warning(
                "%s connector %s: the meter restarted at %s Wh; the lifetime register goes on",
                charger.charger_id,
                connector_id,
                raw_wh,
            )
            session = connector.transaction
            await self.cashier.flag_for_review(
                charger.charger_id,
                None if session is None else session.transaction_id,
                METER_RESET,
                f"the register went from {connector.register_offset_wh} Wh to {raw_wh} Wh",
            )


def _charger_from_record(record: ChargerRecord) -> ChargerState:
    charger = ChargerState(
        record.charger_id,
        approved=record.approved,
        approved_by_owner=record.approved_by_owner,
        vendor=record.vendor,
        model=record.model,
        serial_number=record.serial_number,
        firmware=record.firmware,
        first_seen=record.first_seen,
    )
    charger.health.reconnects = record.reconnects
    return charger


def _change_data(change: ProblemChange) -> dict[str, Any]:
    """A problem change as event data: where, what, since when, and the detector's details."""
    since = change.problem.since
    return {
        "connector_id": change.connector_id,
        "problem": str(change.kind),
        "since": since.isoformat() if since and change.problem.active else None,
        **dict(change.problem.details),
    }


def _preload_validators() -> None:
    for action in ChargerConnection.handled_actions():
        compile_fast_check(action)
    # Every answer, ours and the chargers' (to our commands), is checked: read every schema
    # file now, not on the event loop at first use.
    for action in Action:
        get_validator(MessageType.CallResult, action.value, OCPP_VERSION)
