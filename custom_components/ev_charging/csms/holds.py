"""Connectors held for a guest while they pay: a ReserveNow where the charger takes one,
otherwise a hold kept here. Either way a second guest cannot take the same connector.

Plain Python, no Home Assistant. Holds are kept in the ledger, so a restart of Home Assistant
keeps them, as the charger keeps its reservation: the guest's payment still starts the session.
"""

import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ocpp.v16 import call

from ..ledger import Ledger
from .commands import CommandError

# OCPP 1.6 idTag: at most 20 characters. "G" and 19 hex digits: one-time, unguessable.
GUEST_TAG_PREFIX = "G"
MAX_HOLD = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Hold:
    """A connector held for one guest until `expires_at`."""

    hold_id: str
    charger_id: str
    connector_id: int
    id_tag: str
    """The guest's one-time ID tag: the reservation's, and the session's once paid."""
    expires_at: datetime
    reservation_id: int | None
    """The charger's reservation, or None when only we hold the connector."""

    def row(self) -> dict[str, Any]:
        """As the ledger keeps it."""
        return {
            "hold_id": self.hold_id,
            "charger_id": self.charger_id,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "expires_at": self.expires_at.isoformat(),
            "reservation_id": self.reservation_id,
        }


class HoldRefused(Exception):
    """The connector cannot be held; `reason` says why (a translation-friendly key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Commands go through the central system (its errors are CommandErrors).
type SendCommand = Callable[[str, Any], Awaitable[Any]]


class HoldBook:
    """The holds in force."""

    def __init__(self, ledger: Ledger, send: SendCommand, now: Callable[[], datetime]) -> None:
        self._ledger = ledger
        self._send = send
        self._now = now
        self._holds: dict[str, Hold] = {}

    async def load(self) -> None:
        """Bring back the holds still in force; forget the others."""
        now, ended = self._now(), []
        for row in await self._ledger.load_holds():
            hold = Hold(
                row["hold_id"],
                row["charger_id"],
                row["connector_id"],
                row["id_tag"],
                datetime.fromisoformat(row["expires_at"]),
                row["reservation_id"],
            )
            if hold.expires_at > now:
                self._holds[hold.hold_id] = hold
            else:
                ended.append(hold.hold_id)
        if ended:
            await self._ledger.delete_holds(*ended)

    def held(self, charger_id: str, connector_id: int) -> Hold | None:
        """The hold on this connector, if one is in force."""
        now = self._now()
        for hold in list(self._holds.values()):
            if hold.expires_at <= now:
                del self._holds[hold.hold_id]
            elif (hold.charger_id, hold.connector_id) == (charger_id, connector_id):
                return hold
        return None

    def get(self, hold_id: str) -> Hold | None:
        """A hold by its id, if still in force."""
        hold = self._holds.get(hold_id)
        if hold is None or self.held(hold.charger_id, hold.connector_id) is not hold:
            return None
        return hold

    async def hold(self, charger_id: str, connector_id: int, minutes: float) -> Hold:
        """Hold a free connector; raises HoldRefused (already held, or the charger says no)."""
        if self.held(charger_id, connector_id) is not None:
            raise HoldRefused("already_held")
        expires_at = self._now() + min(timedelta(minutes=minutes), MAX_HOLD)
        id_tag = GUEST_TAG_PREFIX + secrets.token_hex(10)[:19].upper()
        reservation_id: int | None = secrets.randbelow(2**31 - 1) + 1
        # Taken before the first await: a second guest's request meanwhile sees it held.
        placeholder = Hold(
            secrets.token_urlsafe(16), charger_id, connector_id, id_tag, expires_at, None
        )
        self._holds[placeholder.hold_id] = placeholder
        try:
            answer = await self._send(
                charger_id,
                call.ReserveNow(
                    connector_id=connector_id,
                    expiry_date=expires_at.isoformat(),
                    id_tag=id_tag,
                    reservation_id=reservation_id,
                ),
            )
            status = str(answer.status)
        except CommandError as err:
            if err.key != "command_not_supported":  # NotSupported or NotImplemented
                del self._holds[placeholder.hold_id]
                raise HoldRefused(err.key) from err
            status, reservation_id = "NotSupported", None
        if status not in ("Accepted", "NotSupported"):
            del self._holds[placeholder.hold_id]
            raise HoldRefused(f"charger_{status.lower()}")
        hold = Hold(
            placeholder.hold_id, charger_id, connector_id, id_tag, expires_at, reservation_id
        )
        self._holds[hold.hold_id] = hold
        await self._ledger.save_hold(hold.row())
        return hold

    async def consume(self, id_tag: str) -> None:
        """The guest's session started: their hold (and reservation) is used."""
        for hold in list(self._holds.values()):
            if hold.id_tag == id_tag:
                del self._holds[hold.hold_id]
                await self._ledger.delete_holds(hold.hold_id)

    async def release(self, hold_id: str) -> bool:
        """End a hold (the guest gave up); False if there was none."""
        hold = self._holds.pop(hold_id, None)
        if hold is None:
            return False
        await self._ledger.delete_holds(hold_id)
        if hold.reservation_id is not None and hold.expires_at > self._now():
            # If the charger does not answer, the reservation ends at its expiry anyway.
            with contextlib.suppress(CommandError):
                await self._send(
                    hold.charger_id, call.CancelReservation(reservation_id=hold.reservation_id)
                )
        return True
