"""Sessions guests paid for through the kiosk: started remotely with a one-time ID tag on the
Guests account, and stopped before their cost can pass the cap the card hold allows.

Plain Python, no Home Assistant. Kept in the ledger, so a restart keeps enforcing the cap.
"""

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpp.v16 import call

from ..ledger import Ledger
from .authorization import tag_key
from .commands import CommandError
from .holds import Hold
from .log_safety import untrusted_logger

_LOGGER = untrusted_logger(__name__)

WAITING, CHARGING, FINISHED, CANCELLED = "waiting", "charging", "finished", "cancelled"
# The cost of this many more meter intervals (at the last interval's rate) must still fit
# under the cap: the reading that reaches it, and the one the stop takes to arrive.
CAP_MARGIN_INTERVALS = 2
# A paid session whose car has not started charging by then is given up: its tag stops working.
WAIT_LIMIT = timedelta(minutes=5)

type SendCommand = Callable[[str, Any], Awaitable[Any]]


class HoldUsed(Exception):
    """The hold already started another paid session."""


@dataclass(slots=True)
class GuestSession:
    """A paid session, from the guest's payment to its end."""

    session_id: str
    reference: str
    """The kiosk's own id for it (its payment)."""
    charger_id: str
    connector_id: int
    id_tag: str
    cap: Decimal
    created_at: datetime
    transaction_id: int | None = None
    state: str = WAITING
    last_gross: Decimal | None = None
    """The cost at the previous reading: the last interval's cost sets the margin."""
    must_stop: bool = False
    """The cap was reached, or the kiosk asked: every later reading stops the session until
    the charger agrees (a charger offline at the time is stopped when it is back)."""
    stopping: bool = False
    """A stop is on its way (a refused or lost one is sent again)."""

    def row(self) -> dict[str, Any]:
        """As the ledger stores it."""
        return {
            "session_id": self.session_id,
            "reference": self.reference,
            "charger_id": self.charger_id,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "cap": str(self.cap),
            "created_at": self.created_at.isoformat(),
            "transaction_id": self.transaction_id,
            "state": self.state,
            "must_stop": int(self.must_stop),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> GuestSession:
        """As the ledger stored it."""
        return cls(
            row["session_id"],
            row["reference"],
            row["charger_id"],
            row["connector_id"],
            row["id_tag"],
            Decimal(row["cap"]),
            datetime.fromisoformat(row["created_at"]),
            row["transaction_id"],
            row["state"],
            must_stop=bool(row["must_stop"]),
        )


class GuestBook:
    """Every guest session, by id, tag and transaction."""

    def __init__(self, ledger: Ledger, send: SendCommand, now: Callable[[], datetime]) -> None:
        self._ledger = ledger
        self._send = send
        self._now = now
        self.sessions: dict[str, GuestSession] = {}
        self._by_tag: dict[str, GuestSession] = {}
        self._by_reference: dict[str, GuestSession] = {}
        self._by_transaction: dict[int, GuestSession] = {}

    async def load(self) -> None:
        """Bring back the sessions from the ledger."""
        for row in await self._ledger.load_guest_sessions():
            self._index(GuestSession.from_row(row))

    def _index(self, session: GuestSession) -> None:
        self.sessions[session.session_id] = session
        self._by_tag[tag_key(session.id_tag)] = session
        self._by_reference[session.reference] = session
        if session.transaction_id is not None:
            self._by_transaction[session.transaction_id] = session

    async def _save(self, session: GuestSession) -> None:
        await self._ledger.save_guest_session(session.row())

    def by_reference(self, reference: str) -> GuestSession | None:
        """The session a payment started, if it started one (its hold may be gone by now)."""
        return self._by_reference.get(reference)

    def by_transaction(self, transaction_id: int) -> GuestSession | None:
        """The guest session of a transaction, if it is one."""
        return self._by_transaction.get(transaction_id)

    async def start(self, hold: Hold, cap: Decimal, reference: str) -> GuestSession:
        """Start charging for a guest who paid: RemoteStartTransaction with the hold's tag.

        The same request again (same hold, same reference) answers the session already made,
        without a second start; another reference for a used hold raises HoldUsed. Raises
        CommandError when the charger refuses (the session is kept as cancelled).
        """
        if (existing := self._by_tag.get(tag_key(hold.id_tag))) is not None:
            if existing.reference != reference:
                raise HoldUsed(existing.session_id)
            return existing
        session = GuestSession(
            secrets.token_urlsafe(24),
            reference,
            hold.charger_id,
            hold.connector_id,
            hold.id_tag,
            cap,
            self._now(),
        )
        await self._save(session)  # stored first: a session we forget could not be capped
        self._index(session)
        try:
            await self._send(
                hold.charger_id,
                call.RemoteStartTransaction(id_tag=hold.id_tag, connector_id=hold.connector_id),
            )
        except CommandError:
            if session.state != WAITING:
                # The answer was lost, yet the charger started: the session runs (and is capped).
                return session
            session.state = CANCELLED
            await self._save(session)
            raise
        return session

    def accepts(self, id_tag: str, charger_id: str) -> bool | None:
        """Whether a guest tag may charge on this charger now; None: not a guest tag."""
        session = self._by_tag.get(tag_key(id_tag))
        if session is None:
            return None
        if self.stale(session):
            return False
        return session.charger_id == charger_id and session.state in (WAITING, CHARGING)

    def stale(self, session: GuestSession) -> bool:
        """Waiting for longer than a car takes to be plugged in."""
        return session.state == WAITING and self._now() - session.created_at > WAIT_LIMIT

    async def give_up_if_stale(self, session: GuestSession) -> None:
        """Mark a waiting session whose car never came as cancelled."""
        if self.stale(session):
            session.state = CANCELLED
            await self._save(session)

    async def transaction_started(
        self, charger_id: str, connector_id: int, id_tag: str, transaction_id: int
    ) -> GuestSession | None:
        """A StartTransaction: the guest's session is charging now."""
        session = self._by_tag.get(tag_key(id_tag))
        if (
            session is None
            or (session.charger_id, session.connector_id) != (charger_id, connector_id)
            or session.state != WAITING
        ):
            return None
        session.transaction_id, session.state = transaction_id, CHARGING
        self._by_transaction[transaction_id] = session
        await self._save(session)
        return session

    async def transaction_stopped(self, transaction_id: int) -> None:
        """A StopTransaction: the guest's session has ended (its bill becomes final)."""
        session = self._by_transaction.get(transaction_id)
        if session is not None and session.state == CHARGING:
            session.state = FINISHED
            await self._save(session)

    def cap_reached(self, transaction_id: int, gross: Decimal) -> bool:
        """Whether the session must stop now: the new cost leaves too little room under the
        cap, or it was stopped before and the charger has not agreed yet (and no stop is on
        its way already). The caller stops it and reports with stop_sent."""
        session = self._by_transaction.get(transaction_id)
        if session is None or session.state != CHARGING or session.stopping:
            return False
        # The first reading has no interval to go by (its cost may be the session fee alone).
        step = (
            Decimal(0)
            if session.last_gross is None
            else max(Decimal(0), gross - session.last_gross)
        )
        session.last_gross = gross
        if not session.must_stop and gross + CAP_MARGIN_INTERVALS * step < session.cap:
            return False
        session.must_stop = session.stopping = True
        _LOGGER.info(
            "%s: guest session %s at %s of a %s cap: stopping it",
            session.charger_id,
            session.session_id,
            gross,
            session.cap,
        )
        return True

    def stop_due(self, transaction_id: int) -> bool:
        """Whether a session stopped before is still running and no stop is on its way:
        then the caller sends one and reports with stop_sent."""
        session = self._by_transaction.get(transaction_id)
        if (
            session is None
            or session.state != CHARGING
            or not session.must_stop
            or session.stopping
        ):
            return False
        session.stopping = True
        return True

    def stop_sent(self, transaction_id: int, accepted: bool) -> None:
        """How the stop for the cap went; a refused or lost one is sent again next time."""
        if (session := self._by_transaction.get(transaction_id)) is not None and not accepted:
            session.stopping = False

    async def stop(self, session: GuestSession) -> None:
        """The guest pressed stop: RemoteStopTransaction, or cancel a session not started."""
        if session.state == WAITING:
            session.state = CANCELLED
            await self._save(session)
            return
        if session.state == CHARGING and session.transaction_id is not None:
            # Stopped for good (kept over a restart): a charger that does not take the stop
            # now gets it again with its next message about the connector.
            session.must_stop = session.stopping = True
            await self._save(session)
            try:
                await self._send(
                    session.charger_id,
                    call.RemoteStopTransaction(transaction_id=session.transaction_id),
                )
            except CommandError:
                session.stopping = False
                raise
