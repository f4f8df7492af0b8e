"""Statements: a period's final bills per account, with totals, as data and as CSV.

A session belongs to the period its bill became final in (the car was unplugged), so one
running at midnight on the last day is on the next statement, not on none. Totals are sums of
the sessions' rounded amounts, so a statement adds up to the cent with the sessions it lists.
"""

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..ledger import BillRecord, TransactionRecord
from .tariff import ZERO

_THOUSAND = Decimal(1000)
NO_ACCOUNT = ""
"""Sessions of tags without an account are listed under this key."""
# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(row: Iterable[object]) -> list[object]:
    """A CSV row safe to open in a spreadsheet: text that would start a formula (a charger id
    or ID tag such as `=HYPERLINK(...)`) gets a leading single quote, which spreadsheets read
    as "this is text"; numbers we write ourselves stay numbers, negative ones too."""
    return [
        f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_START) else cell
        for cell in row
    ]


class _SpreadsheetSafeWriter:
    """A csv.writer whose every row goes through _cells."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow(_cells(row))


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One billed session."""

    transaction: TransactionRecord
    bill: BillRecord
    signed: Mapping[str, str] | None = None
    """The meter's signed readings of the start and end (start, start_at, end, end_at)."""

    @property
    def energy_kwh(self) -> Decimal:
        """Energy in kWh, as the bill priced it."""
        return self.bill.energy_wh / _THOUSAND

    def as_dict(self, account_name: str) -> dict[str, Any]:
        """For the get_statement response (amounts as text: exact)."""
        t, b = self.transaction, self.bill
        return {
            "transaction_id": t.transaction_id,
            "charger": t.charger_id,
            "connector": t.connector_id,
            "id_tag": t.id_tag,
            "account": account_name,
            "started_at": t.started_at.isoformat(),
            "stopped_at": None if t.stopped_at is None else t.stopped_at.isoformat(),
            "unplugged_at": None if b.unplugged_at is None else b.unplugged_at.isoformat(),
            "energy_kwh": str(self.energy_kwh),
            "energy_cost": str(b.energy_cost),
            "session_fee": str(b.session_fee),
            "idle_minutes": str(b.idle_seconds / 60),
            "idle_fee": str(b.idle_fee),
            "net": str(b.net),
            "tax": str(b.tax),
            "gross": str(b.gross),
            "tariff": b.tariff["name"],
            "tariff_version": b.tariff["version"],
            "stop_reason": t.stop_reason,
            "flags": sorted(b.flags),
            # A guest's payment at the kiosk (its id is in the Stripe payment's metadata).
            "payment_reference": b.payment_reference,
            "signed_meter_values": None if self.signed is None else dict(self.signed),
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over sessions."""

    sessions: int = 0
    energy_kwh: Decimal = ZERO
    net: Decimal = ZERO
    tax: Decimal = ZERO
    gross: Decimal = ZERO

    def add(self, line: StatementLine) -> Totals:
        """These totals with one more session."""
        return Totals(
            self.sessions + 1,
            self.energy_kwh + line.energy_kwh,
            self.net + line.bill.net,
            self.tax + line.bill.tax,
            self.gross + line.bill.gross,
        )

    def as_dict(self) -> dict[str, Any]:
        """For the response."""
        return {
            "sessions": self.sessions,
            "energy_kwh": str(self.energy_kwh),
            "net": str(self.net),
            "tax": str(self.tax),
            "gross": str(self.gross),
        }


@dataclass(frozen=True, slots=True)
class Statement:
    """A period's sessions by account, with totals."""

    start: datetime
    end: datetime
    currency: str
    lines: tuple[StatementLine, ...]
    account_names: Mapping[str, str]
    """account id -> name; NO_ACCOUNT and unknown ids get a readable name too."""

    @classmethod
    def of(
        cls,
        start: datetime,
        end: datetime,
        currency: str,
        sessions: Iterable[tuple[TransactionRecord, BillRecord]],
        account_names: Mapping[str, str],
        account: str | None = None,
        signed: Mapping[int, Mapping[str, str]] | None = None,
    ) -> Statement:
        """The statement of the sessions (of one account, if given); `signed` has the
        meter's signed start and end of the sessions that have them."""
        lines = tuple(
            StatementLine(t, b, (signed or {}).get(t.transaction_id))
            for t, b in sessions
            if account is None or (b.account or NO_ACCOUNT) == account
        )
        return cls(start, end, currency, lines, account_names)

    def name_of(self, account: str) -> str:
        """An account's name for people."""
        if account == NO_ACCOUNT:
            return "No account"
        return self.account_names.get(account, account)

    def by_account(self) -> dict[str, list[StatementLine]]:
        """The lines per account id, accounts in name order."""
        grouped: dict[str, list[StatementLine]] = {}
        for line in self.lines:
            grouped.setdefault(line.bill.account or NO_ACCOUNT, []).append(line)
        return dict(sorted(grouped.items(), key=lambda item: self.name_of(item[0]).casefold()))

    def totals(self, lines: Iterable[StatementLine] | None = None) -> Totals:
        """The sums of these lines (all by default)."""
        totals = Totals()
        for line in self.lines if lines is None else lines:
            totals = totals.add(line)
        return totals

    def as_dict(self) -> dict[str, Any]:
        """The get_statement response."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "currency": self.currency,
            "totals": self.totals().as_dict(),
            "accounts": [
                {"account": account, "name": self.name_of(account)} | self.totals(lines).as_dict()
                for account, lines in self.by_account().items()
            ],
            "sessions": [
                line.as_dict(self.name_of(line.bill.account or NO_ACCOUNT)) for line in self.lines
            ],
        }

    def account_csv(self, account: str) -> str:
        """One account's sessions, then its total, as CSV."""
        lines = self.by_account().get(account, [])
        out = io.StringIO()
        writer = _SpreadsheetSafeWriter(out)
        writer.writerow(
            [
                "session",
                "charger",
                "connector",
                "id_tag",
                "started",
                "stopped",
                "energy_kwh",
                "energy_cost",
                "session_fee",
                "idle_fee",
                f"net_{self.currency}",
                f"tax_{self.currency}",
                f"gross_{self.currency}",
                "tariff",
                "flags",
                "payment",
                "signed_start",
                "signed_end",
            ]
        )
        for line in lines:
            t, b = line.transaction, line.bill
            writer.writerow(
                [
                    t.transaction_id,
                    t.charger_id,
                    t.connector_id,
                    t.id_tag,
                    t.started_at.isoformat(),
                    "" if t.stopped_at is None else t.stopped_at.isoformat(),
                    line.energy_kwh,
                    b.energy_cost,
                    b.session_fee,
                    b.idle_fee,
                    b.net,
                    b.tax,
                    b.gross,
                    f"{b.tariff['name']} v{b.tariff['version']}",
                    " ".join(sorted(b.flags)),
                    b.payment_reference or "",
                    "" if line.signed is None else line.signed["start"],
                    "" if line.signed is None else line.signed["end"],
                ]
            )
        totals = self.totals(lines)
        writer.writerow(
            [
                "total",
                "",
                "",
                "",
                "",
                "",
                totals.energy_kwh,
                "",
                "",
                "",
                totals.net,
                totals.tax,
                totals.gross,
                "",
                "",
                "",
            ]
        )
        return out.getvalue()

    def summary_csv(self) -> str:
        """Every account's totals, then the grand total, as CSV."""
        out = io.StringIO()
        writer = _SpreadsheetSafeWriter(out)
        writer.writerow(
            [
                "account",
                "sessions",
                "energy_kwh",
                f"net_{self.currency}",
                f"tax_{self.currency}",
                f"gross_{self.currency}",
            ]
        )
        for account, lines in self.by_account().items():
            t = self.totals(lines)
            writer.writerow(
                [self.name_of(account), t.sessions, t.energy_kwh, t.net, t.tax, t.gross]
            )
        t = self.totals()
        writer.writerow(["total", t.sessions, t.energy_kwh, t.net, t.tax, t.gross])
        return out.getvalue()
