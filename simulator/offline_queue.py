"""Transaction messages a charger must not lose (OCPP 1.6, section 4.7).

StartTransaction, MeterValues of a transaction and StopTransaction are queued, sent one at a
time in order, and each is sent again (after the reconnection and its BootNotification) until
the central system answers it. A session started while nobody answers gets a local
placeholder id; the StartTransaction answer gives the real one, which the session's queued
messages then carry. Heartbeats and StatusNotifications are never queued.

The queue also keeps the charger's own account of every session (``SessionLog``): what the
meter said and what was answered. A crash test compares the central system's ledger with it.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import aiohttp
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, validate_payload
from ocpp.v16 import call

from .charger import OCPP_VERSION, SimulatedCharger, iso, sampled_values

_LOGGER = logging.getLogger(__name__)

type Payload = dict[str, Any]

TRANSACTION_ACTIONS = frozenset({"StartTransaction", "MeterValues", "StopTransaction"})
_ERROR = 4


@dataclass(eq=False, kw_only=True)
class SessionLog:
    """One session as the charger itself knows it: what it metered, what was answered."""

    charger_id: str
    connector_id: int
    id_tag: str
    placeholder_id: int
    """Negative local id the session's messages carry until the start is answered."""
    meter_start_wh: int
    started_at: datetime
    readings: list[tuple[datetime, int]] = field(default_factory=list)
    """(timestamp, energy register in Wh) of every MeterValues it queued."""
    meter_stop_wh: int | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    transaction_id: int | None = None
    """The central system's id, from the StartTransaction answer."""
    tag_status: str | None = None
    stop_answered: bool = False

    @property
    def energy_wh(self) -> int | None:
        """meterStop - meterStart, once stopped."""
        return None if self.meter_stop_wh is None else self.meter_stop_wh - self.meter_start_wh


@dataclass(eq=False)
class QueuedMessage:
    """A transaction message waiting for its answer."""

    action: str
    payload: Payload
    session: SessionLog
    attempts: int = 0


class TransactionQueue:
    """A charger's queue of transaction messages, delivered in order, each until answered.

    ``booted()`` opens delivery on a connection (call it after each accepted
    BootNotification); ``run()`` delivers until cancelled. A CALLERROR answer is retried
    ``error_attempts`` times in all (TransactionMessageAttempts), then the message is given
    up and kept in ``refused``.
    """

    def __init__(
        self,
        charger: SimulatedCharger,
        *,
        answer_timeout: float = 30.0,
        error_attempts: int = 3,
        error_retry_interval: float = 1.0,
    ) -> None:
        self.charger = charger
        self.answer_timeout = answer_timeout
        self.error_attempts = error_attempts
        self.error_retry_interval = error_retry_interval
        self.sessions: list[SessionLog] = []
        self.refused: list[tuple[QueuedMessage, str]] = []
        self.sent = 0
        """Frames sent, first sends and resends."""
        self.resent = 0
        self.unanswered_ids: set[str] = set()
        """Message ids of sends whose answer never came (the connection went first)."""
        self.on_answered: Callable[[QueuedMessage], None] | None = None
        """Told of each message right after its answer came (a crash test's trigger)."""
        self._queue: deque[QueuedMessage] = deque()
        self._placeholders = itertools.count(-1, -1)
        self._connection = 0  # counts accepted boots: one per connection
        self._booted = asyncio.Event()
        self._changed = asyncio.Event()  # something queued, or the queue emptied

    def __len__(self) -> int:
        return len(self._queue)

    # --- what the charger meters ------------------------------------------------------

    def start(
        self, connector_id: int, id_tag: str, meter_start_wh: int, at: datetime
    ) -> SessionLog:
        """Queue a StartTransaction; returns the session's log."""
        session = SessionLog(
            charger_id=self.charger.config.charger_id,
            connector_id=connector_id,
            id_tag=id_tag,
            placeholder_id=next(self._placeholders),
            meter_start_wh=meter_start_wh,
            started_at=at,
        )
        self.sessions.append(session)
        self._put(
            session,
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start_wh,
                timestamp=iso(at),
            ),
        )
        return session

    def meter_values(
        self, session: SessionLog, energy_wh: int, power_w: float, at: datetime
    ) -> None:
        """Queue a MeterValues of the session."""
        session.readings.append((at, energy_wh))
        self._put(
            session,
            call.MeterValues(
                connector_id=session.connector_id,
                transaction_id=self._id_of(session),
                meter_value=[
                    {"timestamp": iso(at), "sampledValue": sampled_values(power_w, energy_wh)}
                ],
            ),
        )

    def stop(
        self, session: SessionLog, meter_stop_wh: int, at: datetime, reason: str = "EVDisconnected"
    ) -> None:
        """Queue the session's StopTransaction."""
        session.meter_stop_wh, session.stopped_at, session.stop_reason = meter_stop_wh, at, reason
        self._put(
            session,
            call.StopTransaction(
                meter_stop=meter_stop_wh,
                timestamp=iso(at),
                transaction_id=self._id_of(session),
                reason=reason,
            ),
        )

    def _id_of(self, session: SessionLog) -> int:
        return session.placeholder_id if session.transaction_id is None else session.transaction_id

    def _put(self, session: SessionLog, payload: Any) -> None:
        body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
        self._queue.append(QueuedMessage(type(payload).__name__, body, session))
        self._changed.set()

    # --- delivery ---------------------------------------------------------------------

    def booted(self) -> None:
        """The charger is connected and its BootNotification accepted: deliver again."""
        self._connection += 1
        self._booted.set()

    async def shorter_than(self, length: int) -> None:
        """Return once fewer than ``length`` messages wait."""
        while len(self._queue) >= length:
            self._changed.clear()
            await self._changed.wait()

    async def drained(self) -> None:
        """Return once every queued message is answered (or given up)."""
        while self._queue:
            self._changed.clear()
            await self._changed.wait()

    async def run(self) -> None:
        """Deliver until cancelled."""
        while True:
            if not self._queue:
                self._changed.clear()
                await self._changed.wait()
                continue
            await self._booted.wait()
            connection = self._connection
            # Lost with its connection: wait for the next one (never resend into the socket
            # that failed; a new boot says the charger is back).
            if not await self._deliver(self._queue[0]) and self._connection == connection:
                self._booted.clear()

    async def _deliver(self, message: QueuedMessage) -> bool:
        """Send the head once; False if the connection failed before its answer."""
        message_id = str(uuid.uuid4())
        frame = [2, message_id, message.action, message.payload]
        await validate_payload(Call(message_id, message.action, message.payload), OCPP_VERSION)
        self.sent += 1
        self.resent += message.attempts > 0
        message.attempts += 1
        try:
            reply = await self.charger.call_raw(frame, timeout=self.answer_timeout)
        except TimeoutError:
            # Connected, but no answer (the central system could not store it): again.
            self.unanswered_ids.add(message_id)
            return True
        except ConnectionError, OSError, aiohttp.ClientError:
            self.unanswered_ids.add(message_id)
            return False
        if reply[0] == _ERROR:
            why = f"{reply[2]}: {reply[3]}" if len(reply) > 3 else str(reply)
            _LOGGER.warning(
                "%s: %s answered with an error (%s)",
                self.charger.config.charger_id,
                message.action,
                why,
            )
            if message.attempts >= self.error_attempts:
                self._give_up(message, why)
            else:
                await asyncio.sleep(self.error_retry_interval)
            return True
        self._answered(message, cast(Payload, reply[2]))
        return True

    def _answered(self, message: QueuedMessage, answer: Payload) -> None:
        self._queue.popleft()
        session = message.session
        if message.action == "StartTransaction":
            session.transaction_id = int(answer["transactionId"])
            session.tag_status = str(answer["idTagInfo"]["status"])
            for later in self._queue:  # the placeholder becomes the real id
                if later.session is session and "transactionId" in later.payload:
                    later.payload["transactionId"] = session.transaction_id
        elif message.action == "StopTransaction":
            session.stop_answered = True
        self._changed.set()
        if self.on_answered is not None:
            self.on_answered(message)

    def _give_up(self, message: QueuedMessage, why: str) -> None:
        self._queue.popleft()
        self.refused.append((message, why))
        if message.action == "StartTransaction":
            # Nothing of a session the central system refused to open can be delivered.
            for later in [m for m in self._queue if m.session is message.session]:
                self._queue.remove(later)
                self.refused.append((later, "its StartTransaction was refused"))
        self._changed.set()


def is_transaction_frame(raw: str) -> bool:
    """Whether a CALL frame carries a transaction message."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return False
    return isinstance(frame, list) and len(frame) > 2 and frame[2] in TRANSACTION_ACTIONS


async def stay_connected(
    charger: SimulatedCharger,
    queue: TransactionQueue,
    *,
    retry: tuple[float, float] = (0.2, 1.0),
    rng: random.Random | None = None,
    after_boot: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Connect, boot and open the queue; again (after a random pause within ``retry``
    seconds) whenever the connection is lost. Runs until cancelled."""
    rng = rng or random.Random(charger.config.charger_id)
    while True:
        try:
            await charger.connect()
            while True:
                answer = await charger.boot()
                if answer["status"] == "Accepted":
                    break
                await asyncio.sleep(answer["interval"] or 1)
            queue.booted()
            if after_boot is not None:
                await after_boot()
            await charger.wait_closed()
        except (ConnectionError, TimeoutError, OSError, aiohttp.ClientError, OCPPError) as err:
            _LOGGER.debug("%s: %r", charger.config.charger_id, err)
        finally:
            with contextlib.suppress(Exception):
                await charger.close()
        await asyncio.sleep(rng.uniform(*retry))
