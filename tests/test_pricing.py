"""The pricing engine, money and idle time, as plain Python."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from custom_components.ev_charging.billing.idle import IdleClock
from custom_components.ev_charging.billing.money import minor_unit, round_money, split_gross
from custom_components.ev_charging.billing.pricing import (
    IMPLAUSIBLE_TIME,
    METER_STOP_BELOW_START,
    NO_DYNAMIC_PRICE,
    REGISTER_ROLLBACK,
    MeterPoint,
    SessionPricer,
)
from custom_components.ev_charging.billing.tariff import (
    DynamicPrice,
    Tariff,
    TimeBand,
    choose_tariff,
    format_bands,
    parse_amount,
    parse_bands,
)

T0 = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # a Monday, 22:30 in Amsterdam
EVERY_DAY = frozenset(range(7))


def tariff(**fields: object) -> Tariff:
    defaults: dict[str, object] = {
        "tariff_id": "home",
        "version": 1,
        "name": "Home",
        "currency": "EUR",
        "price_per_kwh": Decimal("0.30"),
        "vat_percent": Decimal(21),
        "time_zone": "Europe/Amsterdam",
    }
    return Tariff(**(defaults | fields))  # type: ignore[arg-type]


def point(minutes: float, wh: int | str) -> MeterPoint:
    return MeterPoint(T0 + timedelta(minutes=minutes), Decimal(wh))


def priced(t: Tariff, *points: MeterPoint, history=()) -> SessionPricer:  # type: ignore[no-untyped-def]
    pricer = SessionPricer(t, points[0], history)
    pricer.add(points[1:])
    return pricer


def test_flat_price_including_vat() -> None:
    """10 kWh at 0.30 incl. 21 % VAT: 3.00 gross, of which 0.52 tax."""
    bill = priced(tariff(), point(0, 1_000), point(30, 6_000), point(60, 11_000)).bill()
    assert (bill.energy_wh, bill.gross, bill.net, bill.tax) == (
        Decimal(10_000),
        Decimal("3.00"),
        Decimal("2.48"),
        Decimal("0.52"),
    )


def test_session_fee_and_prices_excluding_vat() -> None:
    """Excluding VAT the gross is net plus VAT, rounded once, half-up: 3.025 -> 3.03."""
    t = tariff(price_per_kwh=Decimal("0.20"), session_fee=Decimal("0.50"), prices_include_vat=False)
    bill = priced(t, point(0, 0), point(60, 10_000)).bill()
    assert bill.session_fee == Decimal("0.50")
    assert bill.gross == Decimal("3.03")
    assert bill.net + bill.tax == bill.gross
    assert bill.net == Decimal("2.50")


def test_time_of_use_boundary_splits_the_interval() -> None:
    """22:30-23:30 local with a day band ending at 23:00: half at the day price, half at night."""
    day = TimeBand(EVERY_DAY, time(7), time(23), Decimal("0.40"))
    t = tariff(price_per_kwh=Decimal("0.20"), bands=(day,))
    bill = priced(t, point(0, 0), point(60, 2_000)).bill()
    assert [(p.energy_wh, p.price_per_kwh) for p in bill.pieces] == [
        (Decimal(1_000), Decimal("0.40")),
        (Decimal(1_000), Decimal("0.20")),
    ]
    assert bill.energy_cost == Decimal("0.60")


def test_overnight_band_belongs_to_the_day_it_starts() -> None:
    """A Friday 22:00-06:00 band covers Saturday 03:00 but not Sunday 03:00."""
    night = TimeBand(frozenset({4}), time(22), time(6), Decimal("0.10"))
    friday = datetime(2026, 11, 27, 23, 0)
    assert night.covers(friday)
    assert night.covers(friday + timedelta(hours=4))
    assert not night.covers(friday + timedelta(days=1, hours=4))


def test_dynamic_price_changes_mid_session() -> None:
    """A sensor price times factor plus markup, piece by piece; each price is recorded."""
    t = tariff(dynamic=DynamicPrice("sensor.price", Decimal("1.1"), Decimal("0.05")))
    history = [
        (T0 - timedelta(hours=1), Decimal("0.10")),
        (T0 + timedelta(minutes=30), Decimal("0.30")),
    ]
    bill = priced(t, point(0, 0), point(60, 2_000), history=history).bill()
    assert [p.price_per_kwh for p in bill.pieces] == [Decimal("0.160"), Decimal("0.380")]
    assert bill.energy_cost == Decimal("0.540")
    assert not bill.flags
    # Before the first known price, the first one is used and the session flagged.
    late = [(T0 + timedelta(minutes=30), Decimal("0.30"))]
    assert NO_DYNAMIC_PRICE in priced(t, point(0, 0), point(60, 2_000), history=late).bill().flags


def test_rebuilt_after_a_restart_prices_the_same() -> None:
    """Readings priced as they come, or all at once after a restart: the same bill."""
    day = TimeBand(EVERY_DAY, time(7), time(23), Decimal("0.40"))
    t = tariff(bands=(day,), session_fee=Decimal("0.35"))
    points = [point(minute, 1_000 + minute * 183) for minute in range(0, 121, 1)]
    live = SessionPricer(t, points[0])
    for p in points[1:]:
        live.add([p])
    assert priced(t, *points).bill() == live.bill()
    # A late reading older than the last is put in its place.
    shuffled = SessionPricer(t, points[0])
    shuffled.add(points[2:])
    shuffled.add([points[1]])
    assert shuffled.bill().gross == live.bill().gross


def test_register_rollback_and_meter_stop_below_start_are_flagged_never_negative() -> None:
    """Only energy above the highest reading is priced: never negative, never twice."""
    pricer = priced(tariff(), point(0, 1_000), point(10, 2_000), point(20, 200), point(30, 700))
    bill = pricer.bill(meter_stop=point(30, 700))
    assert bill.energy_wh == Decimal(1_000)
    assert bill.flags == {REGISTER_ROLLBACK, METER_STOP_BELOW_START}
    assert bill.gross == Decimal("0.30")
    # One spurious zero from the meter costs nothing extra.
    glitch = priced(tariff(), point(0, 50_000_000), point(10, 0), point(20, 50_000_100)).bill()
    assert glitch.energy_wh == Decimal(100)
    # A charger clock set back mid-session: the zig-zag of sorted readings is priced once.
    zigzag = priced(tariff(), point(0, 0), point(60, 5_000), point(30, 6_000), point(90, 10_000))
    assert zigzag.bill().energy_wh == Decimal(10_000)


def test_readings_far_from_the_session_are_not_priced() -> None:
    """A reading dated before the start or weeks after it (a clock far off) is flagged."""
    pricer = priced(
        tariff(), point(0, 0), point(-60, 500), point(60 * 24 * 365 * 5, 900), point(30, 1_000)
    )
    bill = pricer.bill()
    assert (bill.energy_wh, len(bill.pieces)) == (Decimal(1_000), 1)
    assert bill.flags == {IMPLAUSIBLE_TIME}


def test_negative_market_prices_are_not_paid_out() -> None:
    """A dynamic price below zero makes the kWh free, not a credit."""
    t = tariff(dynamic=DynamicPrice("sensor.price"))
    bill = priced(t, point(0, 0), point(60, 2_000), history=[(T0, Decimal("-0.05"))]).bill()
    assert bill.energy_cost == 0


def test_idle_time_is_exact() -> None:
    """90.3 s past the grace is 90.3 s: no float on the way (1.505 at 1/min rounds to 1.51)."""
    clock = IdleClock(grace=timedelta(0))
    clock.stopped(T0)
    assert clock.seconds(T0 + timedelta(seconds=90, milliseconds=300)) == Decimal("90.3")


def test_idle_fee_runs_past_the_stop_until_unplugged() -> None:
    """SuspendedEV, stop, unplug 40 minutes later: 10 minutes grace, 30 minutes at 0.10."""
    clock = IdleClock(grace=timedelta(minutes=10))
    clock.status("Charging", T0)
    clock.status("SuspendedEV", T0 + timedelta(minutes=60))
    clock.stopped(T0 + timedelta(minutes=65))
    assert clock.seconds(T0 + timedelta(minutes=80)) == Decimal(600)
    clock.status("Available", T0 + timedelta(minutes=100))
    assert clock.seconds(T0 + timedelta(hours=5)) == Decimal(1_800)
    t = tariff(idle_fee_per_minute=Decimal("0.10"))
    bill = priced(t, point(0, 0), point(60, 10_000)).bill(clock.seconds(T0))
    assert (bill.idle_fee, bill.gross) == (Decimal(3), Decimal("6.00"))


def test_a_charger_out_of_order_after_the_stop_ends_the_idle_time() -> None:
    """Faulted (or Unavailable) once the transaction stopped: the charger keeps the car, the
    bill is final then; a fault mid-session that clears does not end it."""
    clock = IdleClock(grace=timedelta(0))
    clock.status("Charging", T0)
    clock.status("Faulted", T0 + timedelta(minutes=10))  # mid-session, clears again
    clock.status("Charging", T0 + timedelta(minutes=12))
    assert clock.unplugged_at is None
    clock.stopped(T0 + timedelta(minutes=30))
    clock.status("Faulted", T0 + timedelta(minutes=31))
    assert clock.unplugged_at == T0 + timedelta(minutes=31)
    assert clock.seconds(T0 + timedelta(hours=5)) == Decimal(60)
    # Faulted first, then the charger ends the transaction: final at the stop.
    clock = IdleClock(grace=timedelta(0))
    clock.status("Charging", T0)
    clock.status("Faulted", T0 + timedelta(minutes=10))
    clock.stopped(T0 + timedelta(minutes=11))
    assert clock.unplugged_at == T0 + timedelta(minutes=11)
    assert clock.seconds(T0 + timedelta(hours=5)) == 0


def test_idle_fee_of_a_paid_session_stops_at_its_cap() -> None:
    """A guest's car left plugged in for hours: the idle fee fills the room under the cap and
    no more, prices with or without VAT; energy itself is never cut."""
    hours = Decimal(3 * 3600)
    with_vat = tariff(idle_fee_per_minute=Decimal("0.50"), session_fee=Decimal("1.00"))
    pricer = priced(with_vat, point(0, 0), point(60, 10_000))  # 3.00 energy + 1.00 fee
    bill = pricer.bill(hours, max_gross=Decimal("5.00"))
    assert (bill.idle_fee, bill.gross) == (Decimal("1.00"), Decimal("5.00"))
    assert bill.net + bill.tax == bill.gross
    without_vat = tariff(idle_fee_per_minute=Decimal("0.50"), prices_include_vat=False)
    bill = priced(without_vat, point(0, 0), point(60, 10_000)).bill(
        hours, max_gross=Decimal("5.00")
    )
    assert bill.gross == Decimal("5.00")
    # Energy past the cap (the stop came late) stays billed; only idle time is held back.
    bill = pricer.bill(hours, max_gross=Decimal("2.00"))
    assert (bill.idle_fee, bill.gross) == (Decimal(0), Decimal("4.00"))


def test_idle_from_power_and_not_while_the_charger_holds_back() -> None:
    """Zero power starts idle time (a dip within the grace costs nothing); SuspendedEVSE not;
    nor a car that has not drawn anything yet (waiting for its departure timer)."""
    clock = IdleClock(grace=timedelta(minutes=5))
    clock.power(Decimal(0), T0 - timedelta(hours=3))
    clock.status("SuspendedEV", T0 - timedelta(hours=2))
    assert clock.seconds(T0) == 0
    clock.power(Decimal(7), T0 - timedelta(minutes=1))
    clock.power(Decimal(0), T0)
    clock.power(Decimal(7), T0 + timedelta(minutes=3))  # a dip, within the grace
    clock.power(Decimal("0.01"), T0 + timedelta(minutes=10))
    clock.power(Decimal(7), T0 + timedelta(minutes=30))  # 20 minutes: 15 counted
    clock.status("SuspendedEVSE", T0 + timedelta(minutes=40))
    clock.power(Decimal(0), T0 + timedelta(minutes=41))
    clock.status("Charging", T0 + timedelta(minutes=90))
    assert clock.seconds(T0 + timedelta(minutes=91)) == Decimal(900)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.005", "EUR", "0.01"),
        ("0.0049", "EUR", "0.00"),
        ("12.5", "JPY", "13"),
        ("1.0005", "KWD", "1.001"),
    ],
)
def test_rounding_is_half_up_to_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    """One rule: half-up to the currency's minor unit."""
    assert round_money(Decimal(amount), currency) == Decimal(expected)


def test_net_and_tax_add_up_to_gross() -> None:
    """Net is derived from the rounded gross, tax is the rest: no cent lost."""
    for cents in range(1, 2_000):
        gross = Decimal(cents) / 100
        net, tax = split_gross(gross, Decimal(21), "EUR")
        assert net + tax == gross
        assert net == round_money(net, "EUR")
    assert minor_unit("JPY") == Decimal(1)


def test_tariff_round_trip_and_choice() -> None:
    """A tariff stored with a session comes back equal; the account's wins, then charger's."""
    night = TimeBand(frozenset({4}), time(22), time(6), Decimal("0.10"))
    t = tariff(bands=(night,), dynamic=None, idle_grace=timedelta(minutes=10))
    assert Tariff.from_json(t.as_json()) == t
    tariffs = {"a": tariff(tariff_id="a"), "c": tariff(tariff_id="c"), "d": tariff(tariff_id="d")}
    chosen = choose_tariff(tariffs, account_tariff="a", charger_tariff="c", default_tariff="d")
    assert chosen is tariffs["a"]
    chosen = choose_tariff(tariffs, account_tariff=None, charger_tariff="gone", default_tariff="d")
    assert chosen is tariffs["d"]


def test_time_of_use_bands_as_typed() -> None:
    """Bands are typed one a line; a wrong line is named; typed and formatted agree."""
    bands = parse_bands(
        "mon-fri 07:00-23:00 0.40\nsat,sun 22:00-06:00 0,18\n\ndaily 17:00-20:00 0.45"
    )
    assert [sorted(b.weekdays) for b in bands] == [[0, 1, 2, 3, 4], [5, 6], list(range(7))]
    assert bands[1].price_per_kwh == Decimal("0.18")
    assert parse_bands(format_bands(bands)) == bands
    assert sorted(parse_bands("fri-mon 00:00-01:00 1")[0].weekdays) == [0, 4, 5, 6]
    for wrong in ("someday 07:00-08:00 1", "mon 7-8 1", "mon 07:00-08:00 -1", "mon 07:00-08:00"):
        with pytest.raises(ValueError, match="line 1"):
            parse_bands(wrong)
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount("NaN")
