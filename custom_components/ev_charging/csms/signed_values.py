"""Signed meter values (German calibration law, Eichrecht): a session's signed start and end.

Meters built for billing by law sign their readings (OCMF and similar formats). The signed
blobs are opaque to us: they are kept as sent, the earliest of a session as its start and the
latest as its end, and handed out with the session so a driver can check the bill with the
transparency software (for example S.A.F.E.'s) against the meter's own signature.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    import sqlite3

    from ..ledger import Ledger
    from .measurands import MeterSnapshot

SIGNED_DATA = "SignedData"
MAX_SIGNED_CHARACTERS = 8192
"""Real signed readings are one or two kilobytes; a longer value is not kept."""


@dataclass(frozen=True, slots=True)
class SignedValue:
    """A signed reading as the meter made it."""

    at: datetime
    data: str


@dataclass(frozen=True, slots=True)
class SignedSession:
    """The signed readings of a session's start and end."""

    start: SignedValue
    end: SignedValue

    def as_dict(self) -> dict[str, str]:
        """For statements and the guest's receipt."""
        return {
            "start_at": self.start.at.isoformat(),
            "start": self.start.data,
            "end_at": self.end.at.isoformat(),
            "end": self.end.data,
        }


def signed_values(snapshots: Iterable[MeterSnapshot]) -> list[SignedValue]:
    """The signed readings among a message's meter values."""
    return [
        SignedValue(snapshot.timestamp, str(raw["value"]))
        for snapshot in snapshots
        for raw in snapshot.skipped
        if raw.get("format") == SIGNED_DATA
        and isinstance(raw.get("value"), str)
        and len(raw["value"]) <= MAX_SIGNED_CHARACTERS
    ]


def save_signed(
    ledger: Ledger, transaction_id: int, values: list[SignedValue]
) -> asyncio.Future[None]:
    """Keep the earliest signed reading of a session as its start and the latest as its end."""
    first = min(values, key=lambda v: v.at)
    last = max(values, key=lambda v: v.at)

    def operation(connection: sqlite3.Connection) -> None:
        connection.execute(
            "INSERT INTO signed_meter_values (transaction_id, start_at, start_data, end_at,"
            " end_data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (transaction_id) DO UPDATE SET"
            " start_at = CASE WHEN excluded.start_at < start_at THEN excluded.start_at"
            " ELSE start_at END,"
            " start_data = CASE WHEN excluded.start_at < start_at THEN excluded.start_data"
            " ELSE start_data END,"
            " end_data = CASE WHEN excluded.end_at >= end_at THEN excluded.end_data"
            " ELSE end_data END,"
            " end_at = CASE WHEN excluded.end_at >= end_at THEN excluded.end_at ELSE end_at END",
            (
                transaction_id,
                _utc(first.at),
                first.data,
                _utc(last.at),
                last.data,
            ),
        )

    return ledger.submit(operation)


def _utc(moment: datetime) -> str:
    # One zone for all, so the text compares as the time does.
    return moment.astimezone(UTC).isoformat()


def load_signed(
    ledger: Ledger, transaction_ids: Iterable[int]
) -> asyncio.Future[dict[int, SignedSession]]:
    """transaction id -> its signed start and end, for those that have them."""
    wanted = list(transaction_ids)

    def operation(connection: sqlite3.Connection) -> dict[int, SignedSession]:
        found: dict[int, SignedSession] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in connection.execute(
                "SELECT transaction_id, start_at, start_data, end_at, end_data"
                f" FROM signed_meter_values WHERE transaction_id IN ({marks})",
                chunk,
            ):
                found[row[0]] = SignedSession(
                    SignedValue(datetime.fromisoformat(row[1]), row[2]),
                    SignedValue(datetime.fromisoformat(row[3]), row[4]),
                )
        return found

    return ledger.submit(operation)
