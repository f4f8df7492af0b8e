"""Properties of the pure billing code, checked by hypothesis against independent sums.

Expected values are worked out here (kWh x price, minute by minute, rounded half-up once
as the money module promises), never by the code under test.
"""

from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ev_charging.billing.idle import IdleClock
from custom_components.ev_charging.billing.pricing import MeterPoint, SessionPricer
from custom_components.ev_charging.billing.tariff import Tariff, TimeBand
from custom_components.ev_charging.csms.local_list import (
    DIFFERENTIAL,
    FULL,
    SentList,
    plan_updates,
)

CI = settings(max_examples=150, deadline=None, derandomize=True, database=None)
ZONE = "Europe/Amsterdam"
MINOR = {"EUR": 2, "JPY": 0, "KWD": 3}
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
MINUTE = timedelta(minutes=1)


def half_up(amount: Decimal, currency: str) -> Decimal:
    """The tariff's promise: half-up to the currency's minor unit, once."""
    return amount.quantize(Decimal(1).scaleb(-MINOR[currency]), rounding=ROUND_HALF_UP)


prices = st.decimals(min_value=0, max_value=2, places=4)
vats = st.decimals(min_value=0, max_value=30, places=1)
clock_times = st.builds(time, st.integers(0, 23), st.sampled_from((0, 15, 30, 45)))
bands = st.lists(
    st.builds(
        TimeBand,
        st.frozensets(st.integers(0, 6), min_size=1),
        clock_times,
        clock_times,
        prices,
    ),
    max_size=3,
)
tariffs = st.builds(
    Tariff,
    tariff_id=st.just("t"),
    version=st.just(1),
    name=st.just("T"),
    currency=st.sampled_from(sorted(MINOR)),
    price_per_kwh=prices,
    session_fee=st.decimals(min_value=0, max_value=5, places=2),
    bands=bands.map(tuple),
    prices_include_vat=st.booleans(),
    vat_percent=vats,
    time_zone=st.sampled_from(("UTC", ZONE)),
)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[int, Decimal, list[int]]:
    """A session at a steady rate: its length in minutes, Wh per minute, and the minutes
    (after its start) at which the charger read its meter."""
    minutes = draw(st.integers(1, 36 * 60))
    rate = draw(st.decimals(min_value=0, max_value=400, places=1))
    readings = draw(st.lists(st.integers(1, minutes - 1), max_size=8)) if minutes > 1 else []
    return minutes, rate, sorted({*readings, minutes})


def priced(tariff: Tariff, start: datetime, rate: Decimal, at_minutes: list[int]) -> Any:
    pricer = SessionPricer(tariff, MeterPoint(start, Decimal(0)))
    pricer.add(MeterPoint(start + m * MINUTE, rate * m) for m in at_minutes)
    return pricer.bill()


def in_band(band: TimeBand, local: datetime) -> bool:
    """A band's hours as the tariff's docstring defines them, written out again."""
    now, day = local.time(), local.weekday()
    if band.start < band.end:
        return day in band.weekdays and band.start <= now < band.end
    return (now >= band.start and day in band.weekdays) or (
        now < band.end and (day - 1) % 7 in band.weekdays
    )


def minute_price(tariff: Tariff, moment: datetime) -> Decimal:
    local = moment.astimezone(ZoneInfo(tariff.time_zone))
    return next((b.price_per_kwh for b in tariff.bands if in_band(b, local)), tariff.price_per_kwh)


def expected_gross(tariff: Tariff, start: datetime, minutes: int, rate: Decimal) -> Decimal:
    """Energy minute by minute at that minute's price (bands start on whole quarters)."""
    energy_cost = sum(
        (rate / 1000 * minute_price(tariff, start + m * MINUTE) for m in range(minutes)),
        Decimal(0),
    )
    total = energy_cost + tariff.session_fee
    if not tariff.prices_include_vat:
        total = total * (100 + tariff.vat_percent) / 100
    return half_up(total, tariff.currency)


starts = st.integers(0, 60 * 24 * 40).map(lambda m: START + m * MINUTE)


@CI
@given(tariffs, starts, sessions())
def test_a_bill_is_kwh_times_the_price_of_each_minute(
    tariff: Tariff, start: datetime, session: tuple[int, Decimal, list[int]]
) -> None:
    """Readings split the session anywhere: the bill is the minute-by-minute sum, rounded
    once; net + tax = gross; nothing is negative."""
    minutes, rate, at_minutes = session
    bill = priced(tariff, start, rate, at_minutes)
    assert bill.energy_wh == rate * minutes
    assert bill.gross == expected_gross(tariff, start, minutes, rate)
    assert bill.net + bill.tax == bill.gross
    assert min(bill.net, bill.tax, bill.gross) >= 0
    assert bill.net == half_up(bill.net, tariff.currency)


@CI
@given(
    st.decimals(min_value=0, max_value=3, places=3),
    st.integers(1, 20),
    st.booleans(),
    st.sampled_from(("0", "21", "19.6")),
)
def test_the_gross_is_rounded_half_up_once(
    price: Decimal, kwh: int, include_vat: bool, vat: str
) -> None:
    """Prices with a digit more than the cent land on half a cent often: half-up, once."""
    tariff = Tariff(
        "t",
        1,
        "T",
        "EUR",
        price_per_kwh=price,
        prices_include_vat=include_vat,
        vat_percent=Decimal(vat),
    )
    bill = priced(tariff, START, Decimal(kwh * 1000), [1])
    exact = kwh * price * (1 if include_vat else (100 + Decimal(vat)) / 100)
    assert bill.gross == half_up(exact, "EUR")
    assert bill.net + bill.tax == bill.gross


@CI
@given(tariffs, starts, sessions(), st.lists(st.integers(1, 36 * 60), max_size=6))
def test_more_readings_price_the_same_as_fewer(
    tariff: Tariff, start: datetime, session: tuple[int, Decimal, list[int]], extra: list[int]
) -> None:
    """A time-of-use edge inside an interval is split in proportion to time: readings in
    between (on the same steady line) change nothing."""
    minutes, rate, at_minutes = session
    whole = priced(tariff, start, rate, [minutes])
    split = priced(tariff, start, rate, sorted({*at_minutes, *(m for m in extra if m < minutes)}))
    assert (split.gross, split.energy_wh) == (whole.gross, whole.energy_wh)


@CI
@given(
    tariffs,
    starts,
    st.lists(st.integers(0, 5000), min_size=1, max_size=10),
    st.integers(1, 5000),
)
def test_more_energy_never_costs_less(
    tariff: Tariff, start: datetime, steps: list[int], more: int
) -> None:
    """The same readings and then one more kWh-worth at the end: never cheaper."""
    points = [
        MeterPoint(start + (i + 1) * 10 * MINUTE, Decimal(sum(steps[: i + 1])))
        for i in range(len(steps))
    ]
    pricer = SessionPricer(tariff, MeterPoint(start, Decimal(0)))
    pricer.add(points)
    before = pricer.bill()
    last = points[-1]
    pricer.add([MeterPoint(last.at + 10 * MINUTE, last.energy_wh + more)])
    after = pricer.bill()
    assert after.gross >= before.gross
    assert after.energy_wh == before.energy_wh + more


# The idle clock.

seconds = st.integers(0, 6 * 3600)


@CI
@given(
    st.integers(0, 1800),
    st.lists(
        st.tuples(st.sampled_from(("Charging", "SuspendedEV", "power0", "power7")), seconds),
        max_size=8,
    ),
    seconds,
    seconds,
    st.lists(st.tuples(seconds, seconds), max_size=3),
)
def test_idle_time_stays_within_what_could_be_seen(
    grace: int,
    events: list[tuple[str, int]],
    stop: int,
    unplug: int,
    unseen_spans: list[tuple[int, int]],
) -> None:
    """Idle time never exceeds the wall time from the first event to the unplugging, less
    the time nobody could see the charger; it never goes negative."""
    at = [START + timedelta(seconds=s) for s in sorted([s for _, s in events] + [stop])]
    unseen = [
        (START + timedelta(seconds=min(a, b)), START + timedelta(seconds=max(a, b)))
        for a, b in unseen_spans
    ]
    clock = IdleClock(grace=timedelta(seconds=grace), unseen=unseen)
    for (what, _), moment in zip(sorted(events, key=lambda e: e[1]), at, strict=False):
        if what.startswith("power"):
            clock.power(Decimal(what[5:]), moment)
        else:
            clock.status(what, moment)
    stopped_at = START + timedelta(seconds=stop)
    clock.stopped(stopped_at)
    first = min(at)
    ended = max(START + timedelta(seconds=unplug), clock.last_event)
    clock.status("Available", ended)
    wall = (ended - first).total_seconds()
    hidden = covered(first, ended, unseen)
    total = clock.seconds(ended + timedelta(hours=5))
    assert 0 <= total <= Decimal(str(wall)) - Decimal(str(hidden))
    # Unplugged: the total is final, whenever it is read.
    assert clock.seconds(ended + timedelta(days=3)) == total


def covered(start: datetime, end: datetime, spans: list[tuple[datetime, datetime]]) -> float:
    """Seconds of [start, end) inside any span, second by second (independent of _overlap)."""
    moments = int((end - start).total_seconds())
    return float(
        sum(any(a <= start + timedelta(seconds=s) < b for a, b in spans) for s in range(moments))
    )


@CI
@given(
    seconds,
    seconds,
    st.integers(0, 900),
    st.lists(st.tuples(seconds, seconds), max_size=4),
    st.randoms(),
)
def test_idle_stretch_is_exact_and_unseen_order_does_not_matter(
    drew_until: int, unplug_after: int, grace: int, spans: list[tuple[int, int]], rng: Any
) -> None:
    """Charging, then SuspendedEV, then Available: idle is the stretch less grace and less
    the unseen time inside it (counted once where spans overlap), in any order of spans."""
    suspended = START + timedelta(seconds=drew_until)
    unplugged = suspended + timedelta(seconds=unplug_after)
    unseen = [
        (START + timedelta(seconds=min(a, b)), START + timedelta(seconds=max(a, b)))
        for a, b in spans
    ]
    totals = set()
    for order in (unseen, rng.sample(unseen, len(unseen)), list(reversed(unseen))):
        clock = IdleClock(grace=timedelta(seconds=grace), unseen=order)
        clock.status("Charging", START)
        clock.status("SuspendedEV", suspended)
        clock.status("Available", unplugged)
        totals.add(clock.seconds(unplugged))
    hidden = covered(suspended, unplugged, unseen)
    assert totals == {max(Decimal(0), Decimal(unplug_after) - Decimal(str(hidden)) - grace)}


@CI
@given(seconds, seconds, seconds)
def test_a_late_status_changes_nothing(drew: int, late: int, unplug: int) -> None:
    """A status dated before the latest applied one (a late or replayed frame) is ignored."""
    suspended = START + timedelta(seconds=drew)
    unplugged = suspended + timedelta(seconds=unplug)
    plain = IdleClock(grace=timedelta(0))
    replayed = IdleClock(grace=timedelta(0))
    for clock in (plain, replayed):
        clock.status("Charging", START)
        clock.status("SuspendedEV", suspended)
    replayed.status("Charging", suspended - timedelta(seconds=late + 1))
    for clock in (plain, replayed):
        clock.status("Available", unplugged)
    assert replayed.seconds(unplugged) == plain.seconds(unplugged) == Decimal(unplug)


# Local authorization lists: what a charger holds after our updates is what we want.

tags = st.text(st.sampled_from("abcAB12é"), min_size=1, max_size=4)
infos = st.fixed_dictionaries({"status": st.sampled_from(("Accepted", "Blocked", "Expired"))})


def ci_unique(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One spelling per tag: OCPP's idToken is case-insensitive (CiString)."""
    out: dict[str, dict[str, Any]] = {}
    for tag, info in entries.items():
        if tag.lower() not in {t.lower() for t in out}:
            out[tag] = info
    return out


lists = st.dictionaries(tags, infos, max_size=8).map(ci_unique)


def charger_applies(
    held: dict[str, Any], update_type: str, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """SendLocalList as OCPP 1.6 (5.15) says a charger applies it: Full replaces the list;
    Differential adds or updates an entry with idTagInfo and removes one without."""
    result = {} if update_type == FULL else dict(held)
    for entry in entries:
        for same in [t for t in result if t.lower() == entry["id_tag"].lower()]:
            del result[same]
        if "id_tag_info" in entry:
            result[entry["id_tag"]] = entry["id_tag_info"]
    return result


@CI
@given(lists, lists, st.integers(0, 50), st.booleans(), st.integers(0, 4))
def test_local_list_updates_bring_the_charger_to_the_wanted_list(
    held: dict[str, Any], wanted: dict[str, Any], version: int, in_step: bool, per_message: int
) -> None:
    """Applying the planned updates to what the charger holds gives the wanted list; a
    charger in step gets Differential updates only; versions rise; parts fit the limit."""
    sent = SentList(version, held) if in_step else SentList(version + 1, {"other": {}})
    charger_version = version
    updates = plan_updates(sent, charger_version, wanted, per_message or None)
    now = dict(held) if in_step else {}
    for update in updates:
        assert update.version > charger_version
        charger_version = update.version
        if per_message:
            assert len(update.entries) <= per_message
        now = charger_applies(now, update.update_type, update.entries)
    if in_step:
        assert all(update.update_type == DIFFERENTIAL for update in updates)
    if updates or in_step:
        assert now == wanted
