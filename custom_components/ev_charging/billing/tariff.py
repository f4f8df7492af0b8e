"""Tariffs: what a kWh, a session and an idle minute cost, and when.

A tariff is immutable; editing one makes a new version. A session keeps the version it
started with (as JSON in the ledger), so an edit changes only sessions that start later.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TimeBand:
    """A time-of-use price: on these weekdays (0 = Monday), from start until end, local time.

    An end at or before the start runs past midnight into the next day (22:00-06:00); such a
    band belongs to the weekday it starts on.
    """

    weekdays: frozenset[int]
    start: time
    end: time
    price_per_kwh: Decimal

    def covers(self, local: datetime) -> bool:
        """Whether this band sets the price at a local moment."""
        moment = local.time()
        if self.start < self.end:
            return local.weekday() in self.weekdays and self.start <= moment < self.end
        if moment >= self.start:
            return local.weekday() in self.weekdays
        # The early-morning part belongs to the band of the day before.
        return moment < self.end and (local.weekday() - 1) % 7 in self.weekdays


@dataclass(frozen=True, slots=True)
class DynamicPrice:
    """A kWh price that follows a price sensor: its value times factor plus markup."""

    entity_id: str
    factor: Decimal = Decimal(1)
    markup: Decimal = ZERO

    def kwh_price(self, source: Decimal) -> Decimal:
        """The price of a kWh when the sensor says source."""
        return source * self.factor + self.markup


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices in the tariff's currency, including or excluding VAT as prices_include_vat says."""

    tariff_id: str
    version: int
    name: str
    currency: str
    price_per_kwh: Decimal = ZERO
    session_fee: Decimal = ZERO
    idle_fee_per_minute: Decimal = ZERO
    idle_grace: timedelta = timedelta(0)
    """How long after the car stops drawing power the idle fee starts counting."""
    bands: tuple[TimeBand, ...] = ()
    dynamic: DynamicPrice | None = None
    prices_include_vat: bool = True
    vat_percent: Decimal = ZERO
    time_zone: str = "UTC"
    """Where time-of-use bands are read (Home Assistant's time zone)."""
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.time_zone))

    def kwh_price(self, moment: datetime, source: Decimal | None = None) -> Decimal:
        """The kWh price at a moment; source is the dynamic price sensor's value then."""
        if self.dynamic is not None:
            return self.dynamic.kwh_price(ZERO if source is None else source)
        local = moment.astimezone(self._zone)
        for band in self.bands:
            if band.covers(local):
                return band.price_per_kwh
        return self.price_per_kwh

    def band_edges(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """The moments strictly between start and end where a time-of-use band begins or ends."""
        if not self.bands:
            return
        first = start.astimezone(self._zone).date() - timedelta(days=1)
        last = end.astimezone(self._zone).date()
        day = first
        while day <= last:
            for band in self.bands:
                for clock in (band.start, band.end):
                    edge = datetime.combine(day, clock, self._zone)
                    if start < edge < end:
                        yield edge
            day += timedelta(days=1)

    def as_json(self) -> dict[str, Any]:
        """The tariff as stored with each session (Decimals as strings, exact)."""
        return {
            "tariff_id": self.tariff_id,
            "version": self.version,
            "name": self.name,
            "currency": self.currency,
            "price_per_kwh": str(self.price_per_kwh),
            "session_fee": str(self.session_fee),
            "idle_fee_per_minute": str(self.idle_fee_per_minute),
            "idle_grace_seconds": self.idle_grace.total_seconds(),
            "bands": [
                {
                    "weekdays": sorted(band.weekdays),
                    "start": band.start.isoformat(),
                    "end": band.end.isoformat(),
                    "price_per_kwh": str(band.price_per_kwh),
                }
                for band in self.bands
            ],
            "dynamic": None
            if self.dynamic is None
            else {
                "entity_id": self.dynamic.entity_id,
                "factor": str(self.dynamic.factor),
                "markup": str(self.dynamic.markup),
            },
            "prices_include_vat": self.prices_include_vat,
            "vat_percent": str(self.vat_percent),
            "time_zone": self.time_zone,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tariff:
        """The tariff as as_json wrote it."""
        dynamic = data.get("dynamic")
        return cls(
            tariff_id=data["tariff_id"],
            version=int(data["version"]),
            name=data["name"],
            currency=data["currency"],
            price_per_kwh=Decimal(data["price_per_kwh"]),
            session_fee=Decimal(data["session_fee"]),
            idle_fee_per_minute=Decimal(data["idle_fee_per_minute"]),
            idle_grace=timedelta(seconds=float(data["idle_grace_seconds"])),
            bands=tuple(_band(band) for band in data.get("bands", ())),
            dynamic=None
            if dynamic is None
            else DynamicPrice(
                dynamic["entity_id"], Decimal(dynamic["factor"]), Decimal(dynamic["markup"])
            ),
            prices_include_vat=bool(data["prices_include_vat"]),
            vat_percent=Decimal(data["vat_percent"]),
            time_zone=data["time_zone"],
        )


def _band(data: Mapping[str, Any]) -> TimeBand:
    return TimeBand(
        frozenset(int(day) for day in data["weekdays"]),
        time.fromisoformat(data["start"]),
        time.fromisoformat(data["end"]),
        Decimal(data["price_per_kwh"]),
    )


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_bands(text: str) -> tuple[TimeBand, ...]:
    """Time-of-use bands, one a line: "mon-fri 07:00-23:00 0.40", "sat,sun 22:00-06:00 0.18",
    "daily 17:00-20:00 0.45". Raises ValueError saying which line is wrong and why."""
    bands = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            days, hours, price = line.split()
            start, end = hours.split("-")
            bands.append(
                TimeBand(
                    _parse_days(days),
                    time.fromisoformat(start),
                    time.fromisoformat(end),
                    parse_amount(price),
                )
            )
        except ValueError as err:
            raise ValueError(f"line {number} ({line.strip()!r}): {err}") from err
    return tuple(bands)


def format_bands(bands: Sequence[TimeBand]) -> str:
    """The bands as parse_bands reads them."""
    return "\n".join(
        f"{','.join(_DAYS[day] for day in sorted(band.weekdays))} "
        f"{band.start:%H:%M}-{band.end:%H:%M} {band.price_per_kwh}"
        for band in bands
    )


def _parse_days(text: str) -> frozenset[int]:
    if text.lower() == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"{part!r} is not a day or range of days (mon, tue, ... sun)")
        begin, end = _DAYS.index(first), _DAYS.index(last or first)
        days.update(day % 7 for day in range(begin, end + (7 if end < begin else 0) + 1))
    return frozenset(days)


def parse_amount(text: str) -> Decimal:
    """A price as typed: "0.40" or "0,40"; never through float. Raises ValueError."""
    try:
        amount = Decimal(text.strip().replace(",", "."))
    except ArithmeticError as err:
        raise ValueError(f"{text!r} is not an amount") from err
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{text!r} is not an amount")
    return amount


def choose_tariff(
    tariffs: Mapping[str, Tariff],
    *,
    account_tariff: str | None,
    charger_tariff: str | None,
    default_tariff: str | None,
) -> Tariff | None:
    """The account's tariff, else the charger's, else the default; None if none is set."""
    for tariff_id in (account_tariff, charger_tariff, default_tariff):
        if tariff_id is not None and (tariff := tariffs.get(tariff_id)) is not None:
            return tariff
    return None


def price_at(history: Sequence[tuple[datetime, Decimal]], moment: datetime) -> Decimal | None:
    """The last price known at a moment from (when, price) pairs in time order."""
    found = None
    for when, price in history:
        if when > moment:
            break
        found = price
    return found
