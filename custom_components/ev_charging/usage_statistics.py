"""Per-account energy and cost per hour as long-term statistics (external, ev_charging:...).

Every hour, the hours that ended at least USAGE_GRACE ago are added, continuing each
statistic's sum from its last row. A row is never rewritten: energy that a charger reports
later than that (it was offline) is in the ledger and the statements, not in these graphs.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_change
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util import slugify

from .billing.usage import HourlyUsage, hourly_usage
from .const import DOMAIN
from .runtime import EvChargingConfigEntry
from .statements import account_names

# An hour is added to the statistics this long after it ended (late meter values).
USAGE_GRACE = timedelta(minutes=15)
_HOUR = timedelta(hours=1)


def statistic_id(account: str | None, kind: str) -> str:
    """ev_charging:account_<account id>_<kind> (kind: energy or cost); the id, not the name,
    so that renaming an account keeps its history."""
    if account is None:
        return f"{DOMAIN}:no_account_{kind}"
    return f"{DOMAIN}:account_{slugify(account)}_{kind}"


async def async_add_usage_statistics(
    hass: HomeAssistant, entry: EvChargingConfigEntry, now: datetime
) -> None:
    """Add every finished hour not yet in the statistics, per account."""
    ledger = entry.runtime_data.ledger
    until = (now - USAGE_GRACE).replace(minute=0, second=0, microsecond=0)
    first = await ledger.first_session_start()
    if first is None:
        return
    earliest = dt_util.as_utc(first).replace(minute=0, second=0, microsecond=0)
    names = account_names(entry)
    accounts: set[str | None] = {None, *names}
    last: dict[str, tuple[datetime, float]] = {}
    for account in accounts:
        for kind in ("energy", "cost"):
            found = await get_instance(hass).async_add_executor_job(
                get_last_statistics, hass, 1, statistic_id(account, kind), False, {"sum"}
            )
            if rows := found.get(statistic_id(account, kind)):
                written = dt_util.utc_from_timestamp(rows[0]["start"])
                last[statistic_id(account, kind)] = (written, float(rows[0].get("sum") or 0))
    # Each run writes every account's usage up to `until`: the hours up to the latest row of
    # any account are done for all. So from the hour after it (from the first session when
    # nothing is written yet): the history is read once, not every hour.
    start = max((written + _HOUR for written, _ in last.values()), default=earliest)
    if start >= until:
        return
    usage = hourly_usage(await ledger.load_pieces(start, until), start, until)
    for account, hours in usage.items():
        name = "No account" if account is None else names.get(account, account)
        _add(
            hass,
            account,
            "energy",
            f"{name} charging energy",
            UnitOfEnergy.KILO_WATT_HOUR,
            hours,
            lambda u: u.energy_kwh,
            last,
        )
        _add(
            hass,
            account,
            "cost",
            f"{name} charging cost",
            hass.config.currency,
            hours,
            lambda u: u.cost,
            last,
        )


def _add(
    hass: HomeAssistant,
    account: str | None,
    kind: str,
    name: str,
    unit: str,
    hours: dict[datetime, HourlyUsage],
    value: Callable[[HourlyUsage], Decimal],
    last: dict[str, tuple[datetime, float]],
) -> None:
    sid = statistic_id(account, kind)
    written, total = last.get(sid, (datetime.min.replace(tzinfo=dt_util.UTC), 0.0))
    # Statistics are floats in the recorder: this is usage insight, the bills stay Decimal.
    running = Decimal(str(total))
    rows = []
    for hour in sorted(hours):
        if hour <= written:
            continue  # never rewrite an hour: sums after it would no longer add up
        running += value(hours[hour])
        rows.append(StatisticData(start=hour, state=float(value(hours[hour])), sum=float(running)))
    if rows:
        async_add_external_statistics(
            hass,
            StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=name,
                source=DOMAIN,
                statistic_id=sid,
                unit_class="energy" if kind == "energy" else None,
                unit_of_measurement=unit,
            ),
            rows,
        )


@callback
def async_track_usage_statistics(
    hass: HomeAssistant, entry: EvChargingConfigEntry
) -> Callable[[], None]:
    """Add finished hours every hour (when the recorder runs); returns the cancel."""
    if "recorder" not in hass.config.components:
        return lambda: None

    async def add(now: datetime) -> None:
        await async_add_usage_statistics(hass, entry, now)

    return async_track_time_change(hass, add, minute=USAGE_GRACE.seconds // 60, second=0)
