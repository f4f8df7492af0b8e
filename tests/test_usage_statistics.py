"""Hourly usage per account as external statistics, equal to the ledger's sessions hour by hour."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.ev_charging.const import CONF_PRICE_PER_KWH, CONF_TIME_OF_USE, DOMAIN
from custom_components.ev_charging.usage_statistics import statistic_id

from .conftest import ChargerFactory
from .test_billing import add_tariff
from .test_statements import add_account

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant's other fixtures in this module."""


@pytest.fixture
def morning(freezer: FrozenDateTimeFactory) -> None:
    """The integration starts late in the afternoon of the day the sessions ran."""
    freezer.move_to(T0 + timedelta(hours=6))


async def test_hourly_statistics_equal_the_ledger(
    hass: HomeAssistant,
    morning: None,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Two accounts charge across several hours; each hour's statistic is the ledger's sum."""
    entry = init_integration
    await add_tariff(
        hass, entry, **{CONF_PRICE_PER_KWH: "0.25", CONF_TIME_OF_USE: "daily 11:00-12:30 0.55"}
    )
    for name in ("Unit 1", "Unit 2"):
        await add_account(hass, entry, name)
    for tag, account in (("A", "Unit 1"), ("B", "Unit 2")):
        await hass.services.async_call(
            DOMAIN, "set_id_tag", {"id_tag": tag, "account": account}, blocking=True
        )
    await hass.async_block_till_done()
    charger = await make_charger("CP-1", connectors=2)
    for connector, tag, begin, minutes, watts in (
        (1, "A", 10, 200, 7_400),
        (2, "B", 95, 130, 11_000),
    ):
        start = T0 + timedelta(minutes=begin)
        started = await charger.start_transaction(connector, tag, meter_start=0, timestamp=start)
        energy = 0
        for minute in range(10, minutes + 1, 10):
            energy += watts // 6
            await charger.meter_values(
                connector,
                started["transactionId"],
                power_w=watts,
                energy_wh=energy,
                timestamp=start + timedelta(minutes=minute),
            )
        await charger.stop_transaction(
            started["transactionId"],
            meter_stop=energy,
            timestamp=start + timedelta(minutes=minutes),
        )
        await charger.status(connector, "Available", timestamp=start + timedelta(minutes=minutes))

    # What the ledger says per account and hour, from its priced pieces.
    expected: dict[str, dict[datetime, list[Decimal]]] = defaultdict(dict)
    for bill in await entry.runtime_data.ledger.load_bills():
        account = str(bill.account)
        for piece in bill.pieces:
            hour = datetime.fromisoformat(piece["start"]).astimezone(UTC).replace(minute=0)
            energy = Decimal(piece["energy_wh"]) / 1000
            sums = expected[account].setdefault(hour, [Decimal(0), Decimal(0)])
            sums[0] += energy
            sums[1] += energy * Decimal(piece["price_per_kwh"])

    moment = T0 + timedelta(hours=6, minutes=15)
    freezer.move_to(moment)
    async_fire_time_changed(hass, moment)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)

    found: Any = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        T0 - timedelta(hours=1),
        None,
        None,
        "hour",
        None,
        {"state", "sum"},
    )
    for account, hours in expected.items():
        for kind, index in (("energy", 0), ("cost", 1)):
            rows = found[statistic_id(account, kind)]
            got = {datetime.fromtimestamp(r["start"], UTC): r["state"] for r in rows}
            assert got == pytest.approx({h: float(v[index]) for h, v in hours.items()}), (
                name,
                kind,
            )
            assert rows[-1]["sum"] == pytest.approx(float(sum(v[index] for v in hours.values())))
    [unit1] = [s.subentry_id for s in entry.subentries.values() if s.title == "Unit 1"]
    assert len(expected[unit1]) == 4  # 09:10-12:30 touches four hours
