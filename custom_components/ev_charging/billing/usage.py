"""Usage per account and hour, read from the priced pieces of sessions.

Each priced piece falls within one UTC hour (the pricing engine splits there), so an hour's
energy and energy cost are plain sums: the same numbers the ledger's sessions add up to.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from .tariff import ZERO

_THOUSAND = Decimal(1000)


@dataclass(frozen=True, slots=True)
class HourlyUsage:
    """One account's energy (kWh) and energy cost in one hour."""

    energy_kwh: Decimal = ZERO
    cost: Decimal = ZERO

    def __add__(self, other: HourlyUsage) -> HourlyUsage:
        return HourlyUsage(self.energy_kwh + other.energy_kwh, self.cost + other.cost)


def hourly_usage(
    bills: Iterable[tuple[str | None, Iterable[Mapping[str, str]]]],
    start: datetime,
    end: datetime,
) -> dict[str | None, dict[datetime, HourlyUsage]]:
    """account -> UTC hour start -> usage, for pieces that start in [start, end)."""
    usage: dict[str | None, dict[datetime, HourlyUsage]] = {}
    for account, pieces in bills:
        for piece in pieces:
            began = datetime.fromisoformat(piece["start"]).astimezone(UTC)
            if not start <= began < end:
                continue
            hour = began.replace(minute=0, second=0, microsecond=0)
            energy = Decimal(piece["energy_wh"]) / _THOUSAND
            cost = energy * Decimal(piece["price_per_kwh"])
            hours = usage.setdefault(account, {})
            hours[hour] = hours.get(hour, HourlyUsage()) + HourlyUsage(energy, cost)
    return usage
