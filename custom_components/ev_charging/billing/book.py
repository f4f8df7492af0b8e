"""The book: running totals of final bills per account and per charger, for sensors.

A session counts in the month its bill became final — the car was unplugged — as on
statements: a session open at midnight on the last day lands on the next month's statement
rather than on none. Lifetime totals only grow: a final bill never changes its amounts.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .tariff import ZERO


@dataclass(slots=True)
class Totals:
    """Sums of final bills."""

    energy_wh: Decimal = ZERO
    gross: Decimal = ZERO
    net: Decimal = ZERO
    electricity_cost: Decimal = ZERO

    @property
    def margin(self) -> Decimal:
        """Revenue without VAT minus what the electricity cost: the cost-recovery margin."""
        return self.net - self.electricity_cost


@dataclass(frozen=True, slots=True)
class BookEntry:
    """One final bill, as the book needs it."""

    account: str | None
    charger_id: str
    final_at: datetime
    energy_wh: Decimal
    gross: Decimal
    net: Decimal
    electricity_cost: Decimal


@dataclass(slots=True)
class Book:
    """Totals per account (this month and lifetime) and per charger (lifetime)."""

    month_start: datetime | None = None
    account_month: dict[str | None, Totals] = field(default_factory=dict)
    account_lifetime: dict[str | None, Totals] = field(default_factory=dict)
    charger_lifetime: dict[str, Totals] = field(default_factory=dict)

    def reset(self, entries: Iterable[BookEntry], month_start: datetime) -> None:
        """Start over from all final bills."""
        self.month_start = month_start
        self.account_month.clear()
        self.account_lifetime.clear()
        self.charger_lifetime.clear()
        for entry in entries:
            self.add(entry)

    def new_month(self, month_start: datetime) -> None:
        """A month began: its totals start at zero (sessions count in the month they ended)."""
        self.month_start = month_start
        self.account_month.clear()

    def add(self, entry: BookEntry) -> None:
        """Count one more final bill."""
        targets = [
            self.account_lifetime.setdefault(entry.account, Totals()),
            self.charger_lifetime.setdefault(entry.charger_id, Totals()),
        ]
        if self.month_start is not None and entry.final_at >= self.month_start:
            targets.append(self.account_month.setdefault(entry.account, Totals()))
        for totals in targets:
            totals.energy_wh += entry.energy_wh
            totals.gross += entry.gross
            totals.net += entry.net
            totals.electricity_cost += entry.electricity_cost
