"""The pricing engine: a session's meter readings and idle time, priced by its tariff.

Energy is priced interval by interval between the meter readings' own timestamps. An
interval crossing a time-of-use edge or a dynamic price change is split there, its energy
shared in proportion to time (the best a reading every minute or so can tell). So the price
depends only on the readings, never on when they arrived: a restart changes nothing.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from .money import round_money, split_gross
from .tariff import ZERO, Tariff, price_at

_THOUSAND = Decimal(1000)
_SIXTY = Decimal(60)
_HOUR = timedelta(hours=1)


def _microseconds(span: timedelta) -> Decimal:
    return Decimal(span // timedelta(microseconds=1))


def _hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (statistics are kept per UTC hour)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# Why a session needs a second look; kept with the session in the ledger.
REGISTER_ROLLBACK = "register_rollback"
"""A reading below the highest so far (a glitch, a clock set back, a replaced meter): only
energy above the highest reading is ever priced, so nothing is billed twice."""
IMPLAUSIBLE_TIME = "implausible_timestamp"
"""A reading before the session started or more than MAX_SESSION after: not priced."""
MAX_SESSION = timedelta(days=30)
MAX_POINTS = 20_000
"""Readings priced per session: one a minute for two weeks."""
MAX_REPRICES = 100
"""Messages with late readings a session re-prices for (chargers replay in order)."""
TOO_MANY_READINGS = "too_many_readings"
"""More readings (or late ones) than a session takes: the rest are kept, not priced."""
METER_STOP_BELOW_START = "meter_stop_below_start"
IMPLAUSIBLE_ENERGY = "implausible_energy"
"""More energy than the connector could have delivered since the session began (its maximum
power, with a margin, by the readings' own timestamps), or than any car takes: the excess is
held out, not priced."""
POWER_MARGIN = Decimal("1.2")
"""Allowance over the maximum power, as the meter-anomaly detector allows."""
ENERGY_SLACK_WH = Decimal(1000)
MAX_SESSION_ENERGY_WH = Decimal(250_000)
"""No car takes more in one session (the largest batteries hold about 200 kWh): a start
dated weeks back cannot stretch the power bound to thousands of kWh."""
"""Coarse registers (whole kWh steps) and clock jitter: a session may be this far ahead."""
NO_DYNAMIC_PRICE = "no_dynamic_price"
"""A dynamic tariff had no price known yet for part of the session: priced at the first one."""


@dataclass(frozen=True, slots=True)
class MeterPoint:
    """The energy register at a moment (meterStart, a reading, meterStop)."""

    at: datetime
    energy_wh: Decimal


@dataclass(slots=True)
class PricedPiece:
    """Energy drawn at one kWh price between two moments."""

    start: datetime
    end: datetime
    energy_wh: Decimal
    price_per_kwh: Decimal

    @property
    def cost(self) -> Decimal:
        """Exact; rounding happens once, on the session's gross total."""
        return self.energy_wh / _THOUSAND * self.price_per_kwh

    def as_json(self) -> dict[str, str]:
        """For the ledger: the price used for each interval is recorded with the session."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "energy_wh": str(self.energy_wh),
            "price_per_kwh": str(self.price_per_kwh),
        }


@dataclass(frozen=True, slots=True)
class Bill:
    """A session's cost; gross, net and tax are rounded, the parts are exact."""

    currency: str
    energy_wh: Decimal
    energy_cost: Decimal
    session_fee: Decimal
    idle_seconds: Decimal
    idle_fee: Decimal
    gross: Decimal
    net: Decimal
    tax: Decimal
    pieces: tuple[PricedPiece, ...]
    flags: frozenset[str]


@dataclass
class SessionPricer:
    """Prices one session as its readings come, from the tariff it started with.

    history is the dynamic price sensor's (moment, value) pairs in time order; the pricer
    reads it when it prices an interval, so it may grow while the session runs.
    """

    tariff: Tariff
    start: MeterPoint
    history: Sequence[tuple[datetime, Decimal]] = ()
    max_power_kw: Decimal | None = None
    """What the connector can deliver at most; None: no bound."""
    pieces: list[PricedPiece] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    held_out_wh: Decimal = ZERO
    """Energy the readings claim beyond what the connector could deliver: not priced."""
    _points: list[MeterPoint] = field(default_factory=list)
    _reprices: int = 0
    _highest: Decimal = ZERO
    _counted_wh: Decimal = ZERO

    def __post_init__(self) -> None:
        self._points = [self.start]
        self._highest = self.start.energy_wh

    @property
    def last(self) -> MeterPoint:
        """The latest reading priced so far."""
        return self._points[-1]

    def add(self, points: Iterable[MeterPoint]) -> None:
        """Take readings of this session; older ones than the last make one full re-pricing
        per call. A session takes at most MAX_POINTS readings and MAX_REPRICES re-pricings:
        a charger cannot make pricing cost more than that."""
        late = False
        for point in points:
            if not self.start.at <= point.at <= self.start.at + MAX_SESSION:
                self.flags.add(IMPLAUSIBLE_TIME)  # a charger clock far off: not priced
            elif len(self._points) >= MAX_POINTS:
                self.flags.add(TOO_MANY_READINGS)
            elif point.at >= self.last.at and not late:
                self._points.append(point)
                self._price(self._points[-2], point)
            elif self._reprices >= MAX_REPRICES:
                self.flags.add(TOO_MANY_READINGS)
            else:
                self._points.append(point)
                late = True
        if late:
            self._reprices += 1
            self.reprice()

    def reprice(self) -> None:
        """Price all readings again (one came late, or a dynamic price for the past came)."""
        self._points.sort(key=lambda p: p.at)
        self.pieces.clear()
        self.flags.discard(REGISTER_ROLLBACK)
        self.flags.discard(NO_DYNAMIC_PRICE)
        self.flags.discard(IMPLAUSIBLE_ENERGY)
        self._highest = self.start.energy_wh
        self._counted_wh = self.held_out_wh = ZERO
        for before, after in pairwise(self._points):
            self._price(before, after)

    def bill(
        self,
        idle_seconds: Decimal = ZERO,
        meter_stop: MeterPoint | None = None,
        max_gross: Decimal | None = None,
    ) -> Bill:
        """The bill so far (or final, given meterStop and the idle time up to unplugging).

        max_gross bounds what idle time adds (a paid session's card hold): the energy was
        stopped in time, but a car left plugged in must not run the bill past the hold.
        """
        flags = set(self.flags)
        energy_wh = sum((piece.energy_wh for piece in self.pieces), ZERO)
        if meter_stop is not None and meter_stop.energy_wh < self.start.energy_wh:
            flags.add(METER_STOP_BELOW_START)
        tariff = self.tariff
        energy_cost = sum((piece.cost for piece in self.pieces), ZERO)
        idle_fee = idle_seconds / _SIXTY * tariff.idle_fee_per_minute
        if max_gross is not None:
            room = (
                max_gross
                if tariff.prices_include_vat
                else (max_gross * 100 / (100 + tariff.vat_percent))
            )
            idle_fee = min(idle_fee, max(ZERO, room - energy_cost - tariff.session_fee))
        total = energy_cost + tariff.session_fee + idle_fee
        if tariff.prices_include_vat:
            gross = round_money(total, tariff.currency)
        else:
            gross = round_money(total * (100 + tariff.vat_percent) / 100, tariff.currency)
        net, tax = split_gross(gross, tariff.vat_percent, tariff.currency)
        return Bill(
            currency=tariff.currency,
            energy_wh=energy_wh,
            energy_cost=energy_cost,
            session_fee=tariff.session_fee,
            idle_seconds=idle_seconds,
            idle_fee=idle_fee,
            gross=gross,
            net=net,
            tax=tax,
            pieces=tuple(self.pieces),
            flags=frozenset(flags),
        )

    def _price(self, before: MeterPoint, after: MeterPoint) -> None:
        # meterStop is whole Wh while readings may have decimals: less than a Wh lower is
        # rounding, not a rollback.
        if after.energy_wh <= before.energy_wh - 1:
            self.flags.add(REGISTER_ROLLBACK)
        # Only energy above the highest reading so far is drawn energy: a drop and the climb
        # back to where the register stood are never billed twice.
        energy = after.energy_wh - max(self._highest, before.energy_wh)
        self._highest = max(self._highest, after.energy_wh)
        if energy <= 0:
            return
        energy = self._within_physics(energy, after.at)
        if energy <= 0:
            return
        edges = sorted(set(self._edges(before.at, after.at)))
        moments = [before.at, *edges, after.at]
        span = _microseconds(after.at - before.at)
        for start, end in pairwise(moments):
            # Time as whole microseconds: no float comes near the money.
            share = energy if span <= 0 else energy * _microseconds(end - start) / span
            self._add_piece(start, end, share, self._kwh_price(start))

    def _within_physics(self, energy: Decimal, at: datetime) -> Decimal:
        """The part of an interval's energy the connector could have delivered by `at`.

        The bound is cumulative from the session's start, so many small readings cannot add
        up to more than one large one could."""
        if self.max_power_kw is None:
            return energy
        hours = _microseconds(at - self.start.at) / Decimal(3_600_000_000)
        possible = min(
            self.max_power_kw * _THOUSAND * POWER_MARGIN * hours + ENERGY_SLACK_WH,
            MAX_SESSION_ENERGY_WH,
        )
        allowed = max(ZERO, min(energy, possible - self._counted_wh))
        if allowed < energy:
            self.flags.add(IMPLAUSIBLE_ENERGY)
            self.held_out_wh += energy - allowed
        self._counted_wh += allowed
        return allowed

    def _edges(self, start: datetime, end: datetime) -> Iterable[datetime]:
        # Whole hours too: hourly usage statistics are read from the pieces.
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + _HOUR
        while hour < end:
            yield hour
            hour += _HOUR
        yield from self.tariff.band_edges(start, end)
        if self.tariff.dynamic is not None:
            yield from (when for when, _ in self.history if start < when < end)

    def _kwh_price(self, moment: datetime) -> Decimal:
        source = None
        if self.tariff.dynamic is not None:
            source = price_at(self.history, moment)
            if source is None:
                self.flags.add(NO_DYNAMIC_PRICE)
                source = self.history[0][1] if self.history else ZERO
        # A negative market price is not paid out to drivers: the kWh costs nothing then.
        return max(ZERO, self.tariff.kwh_price(moment, source))

    def _add_piece(self, start: datetime, end: datetime, energy: Decimal, price: Decimal) -> None:
        # Consecutive intervals at one price within one hour are one piece: the record stays
        # short, and each piece still falls in a single hour.
        last = self.pieces[-1] if self.pieces else None
        if (
            last is not None
            and last.price_per_kwh == price
            and last.end == start
            and _hour_of(last.start) == _hour_of(start)
        ):
            last.end = end
            last.energy_wh += energy
        else:
            self.pieces.append(PricedPiece(start, end, energy, price))
