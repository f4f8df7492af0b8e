"""Statements in Home Assistant: the get_statement action and the CSV files of each month."""

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import probatio as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.event import async_track_point_in_time
from homeassistant.util import dt as dt_util
from homeassistant.util import slugify

from .billing.statements import NO_ACCOUNT, Statement
from .const import DOMAIN, GUEST_ACCOUNT, SUBENTRY_ACCOUNT
from .csms.signed_values import load_signed
from .id_tags import account_id, loaded_entry
from .runtime import EvChargingConfigEntry

EVENT_STATEMENT_READY = f"{DOMAIN}_statement_ready"
STATEMENTS_DIR = ("ev_charging", "statements")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

GET_STATEMENT_SCHEMA = vol.Schema(
    {
        vol.Optional("month"): vol.All(cv.string, vol.Match(_MONTH)),
        vol.Optional("account"): cv.string,
    }
)


def month_bounds(month: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The start and end (exclusive) of a month in Home Assistant's time zone."""
    local = dt_util.as_local(now)
    if month is None:
        year, number = local.year, local.month
    else:
        year, number = (int(part) for part in month.split("-"))
    zone = dt_util.get_default_time_zone()
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def account_names(entry: EvChargingConfigEntry) -> dict[str, str]:
    """Account id -> name, the kiosk's guest account included."""
    names = {a.subentry_id: a.title for a in entry.get_subentries_of_type(SUBENTRY_ACCOUNT)}
    return names | {GUEST_ACCOUNT: "Guests"}


async def statement(
    hass: HomeAssistant,
    entry: EvChargingConfigEntry,
    start: datetime,
    end: datetime,
    account: str | None,
) -> Statement:
    """The statement of a period, from the ledger's final bills."""
    ledger = entry.runtime_data.ledger
    sessions = await ledger.load_billed(start, end)
    signed = await load_signed(ledger, (t.transaction_id for t, _ in sessions))
    return Statement.of(
        start,
        end,
        hass.config.currency,
        sessions,
        account_names(entry),
        account,
        {transaction_id: values.as_dict() for transaction_id, values in signed.items()},
    )


async def async_get_statement(call: ServiceCall) -> ServiceResponse:
    """Totals and sessions of a month (this month by default), for all or one account."""
    hass = call.hass
    entry = loaded_entry(hass)
    start, end = month_bounds(call.data.get("month"), dt_util.utcnow())
    account = call.data.get("account")
    if account is not None and account.casefold() not in ("guest", "guests", "none", ""):
        account = account_id(entry, account)
    elif account is not None:
        account = GUEST_ACCOUNT if account.casefold().startswith("guest") else NO_ACCOUNT
    return (await statement(hass, entry, start, end, account)).as_dict()


def write_files(directory: Path, statement_: Statement) -> dict[str, str]:
    """Write one CSV per account and a summary.csv; returns account name -> path. Blocking."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for account in statement_.by_account():
        name = statement_.name_of(account)
        path = directory / f"{slugify(name) or 'account'}.csv"
        path.write_text(statement_.account_csv(account), encoding="utf-8")
        files[name] = str(path)
    summary = directory / "summary.csv"
    summary.write_text(statement_.summary_csv(), encoding="utf-8")
    files["summary"] = str(summary)
    return files


async def async_write_month(
    hass: HomeAssistant, entry: EvChargingConfigEntry, in_month: datetime
) -> dict[str, Any]:
    """Write the statement files of the month a moment is in, and announce them with an event."""
    start, end = month_bounds(f"{in_month:%Y-%m}", in_month)
    result = await statement(hass, entry, start, end, None)
    directory = Path(hass.config.path(*STATEMENTS_DIR, f"{start:%Y-%m}"))
    files = await hass.async_add_executor_job(write_files, directory, result)
    data = {
        "month": f"{start:%Y-%m}",
        "summary": files.pop("summary"),
        "accounts": files,
        "totals": result.totals().as_dict(),
    }
    hass.bus.async_fire(EVENT_STATEMENT_READY, data)
    return data


@callback
def async_schedule_month_end(
    hass: HomeAssistant, entry: EvChargingConfigEntry
) -> Callable[[], None]:
    """At the start of every month, write the month that just ended; returns the cancel."""
    cancel: Callable[[], None] = lambda: None  # noqa: E731

    @callback
    def schedule() -> None:
        nonlocal cancel
        _, next_month = month_bounds(None, dt_util.utcnow())
        cancel = async_track_point_in_time(hass, month_ended, next_month)

    async def month_ended(now: datetime) -> None:
        entry.runtime_data.central.cashier.new_month(month_bounds(None, now)[0])
        await async_write_month(hass, entry, dt_util.as_local(now) - timedelta(days=1))
        schedule()

    schedule()
    return lambda: cancel()


def async_setup_statement_service(hass: HomeAssistant) -> None:
    """Register get_statement."""
    hass.services.async_register(
        DOMAIN,
        "get_statement",
        async_get_statement,
        GET_STATEMENT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
