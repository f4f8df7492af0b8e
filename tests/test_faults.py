"""Fault detection end to end: the simulator produces each condition, and Home Assistant's
problem sensor, bus event, event entity and a device-trigger automation follow, then clear."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.ev_charging.const import (
    CONF_FAULT_DETECTION,
    CONF_HEARTBEAT_INTERVAL,
    CONF_OFFLINE_MULTIPLE,
    DOMAIN,
)
from custom_components.ev_charging.health_reports import EVENT_CHARGER
from simulator.__main__ import parse_args
from simulator.charger import SimulatedCharger

from .conftest import ChargerFactory
from .helpers import enable_early, entity_state, later, until, use_blueprint

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

HEALTH_ENTITIES = {
    "binary_sensor": (
        "CP-1|offline",
        "CP-1|flapping",
        "CP-1|degradation",
        "CP-1|1|fault",
        "CP-1|1|stalled",
        "CP-1|1|meter_anomaly",
    ),
    "event": ("CP-1|events",),
    "sensor": ("CP-1|uptime", "CP-1|1|uptime", "CP-1|last_fault", "CP-1|reconnects"),
}


@pytest.fixture
async def health_entities(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Every health entity of CP-1 enabled (most are disabled by default)."""
    for platform, unique_ids in HEALTH_ENTITIES.items():
        enable_early(hass, init_integration, platform, *unique_ids)


class ProblemWatch:
    """An automation with the problem sensor's device triggers, and the bus events."""

    def __init__(self, hass: HomeAssistant, unique_id: str) -> None:
        self.hass = hass
        self.unique_id = unique_id
        self.runs = async_capture_events(hass, "problem_automation_ran")
        self.events = async_capture_events(hass, EVENT_CHARGER)
        self.raised_at = 0

    async def setup(self) -> None:
        registry = er.async_get(self.hass)
        entity_id = registry.async_get_entity_id("binary_sensor", DOMAIN, self.unique_id)
        assert entity_id is not None
        entry = registry.async_get(entity_id)
        assert entry is not None
        assert entry.device_id is not None

        def automation(trigger_type: str) -> dict[str, Any]:
            return {
                "triggers": {
                    "trigger": "device",
                    "domain": "binary_sensor",
                    "device_id": entry.device_id,
                    "entity_id": entry.id,
                    "type": trigger_type,
                },
                "actions": {
                    "event": "problem_automation_ran",
                    "event_data": {"type": trigger_type},
                },
            }

        assert await async_setup_component(
            self.hass,
            "automation",
            {"automation": [automation("problem"), automation("no_problem")]},
        )

    def state(self) -> str:
        return entity_state(self.hass, "binary_sensor", self.unique_id).state

    def attributes(self) -> dict[str, Any]:
        return dict(entity_state(self.hass, "binary_sensor", self.unique_id).attributes)

    def ran(self) -> list[str]:
        return [event.data["type"] for event in self.runs]

    def bus(self) -> list[str]:
        return [event.data["type"] for event in self.events]

    def last(self) -> Event:
        return self.events[-1]

    async def assert_raised(self, event_type: str) -> None:
        await self.hass.async_block_till_done()
        assert self.state() == STATE_ON
        assert self.ran()[-1:] == ["problem"]
        assert event_type in self.bus()
        shown = entity_state(self.hass, "event", "CP-1|events")
        assert shown.attributes["event_type"] == self.last().data["type"]
        self.raised_at = len(self.events)

    async def assert_cleared(self, event_type: str) -> None:
        await self.hass.async_block_till_done()
        assert self.state() == STATE_OFF
        assert self.ran()[-1:] == ["no_problem"]
        # Other events may come meanwhile (a long time jump leaves a charger silent).
        assert event_type in self.bus()[self.raised_at :]


async def test_fault_raised_and_cleared(
    hass: HomeAssistant, health_entities: None, make_charger: ChargerFactory
) -> None:
    """Faulted with an error code: sensor, attributes, event entity, bus event, automation."""
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")
    watch = ProblemWatch(hass, "CP-1|1|fault")
    await watch.setup()
    await charger.fault(1, "GroundFailure", vendor_error_code="E12", info="RCD tripped")
    await watch.assert_raised("fault_raised")
    attributes = watch.attributes()
    assert (attributes["error_code"], attributes["vendor_error_code"], attributes["info"]) == (
        "GroundFailure",
        "E12",
        "RCD tripped",
    )
    assert "since" in attributes
    event = watch.last().data
    assert (event["charger_id"], event["connector_id"], event["error_code"]) == (
        "CP-1",
        1,
        "GroundFailure",
    )
    assert (
        event["device_id"]
        == er.async_get(hass)
        .async_get(
            er.async_get(hass).async_get_entity_id("binary_sensor", DOMAIN, "CP-1|1|fault") or ""
        )
        .device_id
    )  # type: ignore[union-attr]
    assert entity_state(hass, "sensor", "CP-1|last_fault").state == "GroundFailure"
    await charger.clear_fault(1)
    await watch.assert_cleared("fault_cleared")
    # The last fault stays known after it cleared.
    last = entity_state(hass, "sensor", "CP-1|last_fault")
    assert (last.state, last.attributes["active"]) == ("GroundFailure", False)


async def test_fault_of_the_whole_charger_shows_on_its_connectors(
    hass: HomeAssistant, health_entities: None, make_charger: ChargerFactory
) -> None:
    """A fault on connector 0 (the charger) turns every connector's fault sensor on."""
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")
    await charger.fault(0, "PowerMeterFailure")
    await hass.async_block_till_done()
    state = entity_state(hass, "binary_sensor", "CP-1|1|fault")
    assert (state.state, state.attributes["connector_id"]) == (STATE_ON, 0)


async def test_offline_within_the_bound(
    hass: HomeAssistant,
    health_entities: None,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Silent for 2 heartbeat intervals (60 s) is offline at exactly 120 s, not later; a
    message ends it; a closed socket is offline at once."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")
    await charger.heartbeat()
    watch = ProblemWatch(hass, "CP-1|offline")
    await watch.setup()
    await later(hass, freezer, seconds=119)
    assert watch.state() == STATE_OFF
    await later(hass, freezer, seconds=1)
    await watch.assert_raised("offline")
    assert watch.attributes()["reason"] == "no_messages"
    assert watch.attributes()["since"] == (T0 + timedelta(seconds=120)).isoformat()
    await charger.heartbeat()
    await watch.assert_cleared("online")
    await charger.close()
    await until(lambda: watch.state() == STATE_ON, "offline when the socket closed")
    await watch.assert_raised("offline")
    assert watch.attributes()["reason"] == "disconnected"


async def test_offline_bound_follows_the_options(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Three heartbeat intervals instead of two, applied live through the options flow."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    await charger.heartbeat()
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "fault_detection"}
    )
    assert result["step_id"] == "fault_detection"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_OFFLINE_MULTIPLE: 3,
            "stalled_minutes": 10,
            "missed_intervals": 3,
            "max_power_kw": 22,
            "flapping_limit": 5,
            "flapping_minutes": 15,
            "degradation_repeats": 3,
            "max_temperature": 70,
            "repair_after_minutes": 60,
        },
    )
    assert init_integration.options[CONF_FAULT_DETECTION][CONF_OFFLINE_MULTIPLE] == 3
    await hass.async_block_till_done()
    await later(hass, freezer, seconds=179)
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == STATE_OFF
    await later(hass, freezer, seconds=1)
    assert entity_state(hass, "binary_sensor", "CP-1|offline").state == STATE_ON


async def test_lasting_offline_becomes_a_repair_issue(
    hass: HomeAssistant,
    health_entities: None,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Offline for an hour: a repair issue, removed by itself when the charger is back."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    await charger.close()
    await until(
        lambda: entity_state(hass, "binary_sensor", "CP-1|offline").state == STATE_ON, "offline"
    )
    issues = ir.async_get(hass)
    issue_id = "lasting_offline_CP-1_0"
    await later(hass, freezer, minutes=59)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    await later(hass, freezer, minutes=1)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert (issue.translation_key, issue.severity) == ("lasting_offline", ir.IssueSeverity.ERROR)
    await charger.connect()
    await until(lambda: issues.async_get_issue(DOMAIN, issue_id) is None, "issue removed")


async def _charging(charger: SimulatedCharger, hass: HomeAssistant) -> int:
    """A session running on connector 1 of the charger; returns its transaction id."""
    await charger.status(1, "Preparing")
    started = await charger.start_transaction(1, "SIMTAG")
    await charger.status(1, "Charging")
    await hass.async_block_till_done()
    return int(started["transactionId"])


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Unknown tags accepted, so the simulator's SIMTAG charges."""
    return {CONF_HEARTBEAT_INTERVAL: 60, "auto_accept": True, "unknown_tags": "accept"}


async def test_stalled_session(
    hass: HomeAssistant,
    health_entities: None,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Charging at no power for ten minutes is stalled; power again clears it."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    transaction_id = await _charging(charger, hass)
    watch = ProblemWatch(hass, "CP-1|1|stalled")
    await watch.setup()
    charger.stalled.add(1)
    await charger.meter_values(1, transaction_id, power_w=0)
    await later(hass, freezer, minutes=9, seconds=59)
    assert watch.state() == STATE_OFF
    await later(hass, freezer, seconds=1)
    await watch.assert_raised("problem_raised")
    assert watch.attributes()["reason"] == "no_power"
    assert watch.last().data["problem"] == "stalled"
    await charger.meter_values(1, transaction_id, power_w=7000)
    await watch.assert_cleared("problem_cleared")


async def test_session_without_meter_values_is_stalled(
    hass: HomeAssistant,
    health_entities: None,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No MeterValues for three expected intervals (and the ten minutes) while Charging."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    charger.silent = True  # its session sends nothing
    await _charging(charger, hass)
    await later(hass, freezer, minutes=10)
    state = entity_state(hass, "binary_sensor", "CP-1|1|stalled")
    assert (state.state, state.attributes["reason"]) == (STATE_ON, "no_meter_values")


async def test_meter_anomaly(
    hass: HomeAssistant, health_entities: None, make_charger: ChargerFactory
) -> None:
    """A register that jumps more than 22 kW could fill, or goes backwards; then normal."""
    charger = await make_charger("CP-1")
    transaction_id = await _charging(charger, hass)
    watch = ProblemWatch(hass, "CP-1|1|meter_anomaly")
    await watch.setup()
    await charger.meter_values(1, transaction_id, power_w=7000)
    await charger.meter_jump(1, 1_000_000)
    await watch.assert_raised("problem_raised")
    assert watch.attributes()["kind"] == "jump"
    await charger.meter_values(1, transaction_id, power_w=7000)
    await watch.assert_cleared("problem_cleared")
    await charger.meter_jump(1, -5_000)
    await watch.assert_raised("problem_raised")
    assert watch.attributes()["kind"] == "backwards"


async def test_connection_flapping(
    hass: HomeAssistant,
    health_entities: None,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Six connections within 15 minutes is flapping; it clears once they age out."""
    freezer.move_to(T0)
    charger = await make_charger("CP-1")
    watch = ProblemWatch(hass, "CP-1|flapping")
    await watch.setup()
    await charger.reconnect(times=5)
    await watch.assert_raised("problem_raised")
    assert watch.attributes()["count"] == "6"
    assert entity_state(hass, "sensor", "CP-1|reconnects").state == "5"
    await later(hass, freezer, minutes=15)
    await watch.assert_cleared("problem_cleared")


async def test_degradation_from_recurring_errors_and_heat(
    hass: HomeAssistant, health_entities: None, make_charger: ChargerFactory
) -> None:
    """An error that comes back three times in a day, or a connector above 70 °C."""
    charger = await make_charger("CP-1")
    transaction_id = await _charging(charger, hass)
    watch = ProblemWatch(hass, "CP-1|degradation")
    await watch.setup()
    charger.temperatures[1] = 85.0
    await charger.meter_values(1, transaction_id, power_w=7000)
    await watch.assert_raised("problem_raised")
    assert watch.attributes()["reason"] == "high_temperature"
    del charger.temperatures[1]
    await charger.meter_values(1, transaction_id, power_w=7000)
    await watch.assert_cleared("problem_cleared")
    for _ in range(3):
        await charger.status(1, "Charging", "HighTemperature")
        await charger.status(1, "Charging")
    await watch.assert_raised("problem_raised")
    assert watch.attributes()["error_code"] == "HighTemperature"


async def test_session_events(
    hass: HomeAssistant, health_entities: None, make_charger: ChargerFactory
) -> None:
    """Sessions starting and stopping are charger events too."""
    events = async_capture_events(hass, EVENT_CHARGER)
    charger = await make_charger("CP-1")
    transaction_id = await _charging(charger, hass)
    await charger.stop_transaction(transaction_id, meter_stop=1_002_500)
    await hass.async_block_till_done()
    sessions = [e.data for e in events if e.data["type"].startswith("session_")]
    assert [(s["type"], s["transaction_id"]) for s in sessions] == [
        ("session_started", transaction_id),
        ("session_stopped", transaction_id),
    ]
    assert sessions[1]["energy_kwh"] == 2.5
    assert entity_state(hass, "event", "CP-1|events").attributes["event_type"] == (
        "session_stopped"
    )


async def test_simulator_injects_each_problem(
    hass: HomeAssistant, health_entities: None, make_charger: ChargerFactory
) -> None:
    """The demo's injection turns the matching sensor on (a fault, briefly)."""
    charger = await make_charger("CP-1")
    await charger.status(1, "Available")
    await charger.inject("fault", lasting=0)
    await hass.async_block_till_done()
    assert entity_state(hass, "sensor", "CP-1|last_fault").state in (
        "GroundFailure",
        "OverCurrentFailure",
        "HighTemperature",
    )
    assert entity_state(hass, "binary_sensor", "CP-1|1|fault").state == STATE_OFF
    await charger.meter_values(1, None, power_w=0)
    await charger.inject("meter_anomaly")
    await hass.async_block_till_done()
    assert entity_state(hass, "binary_sensor", "CP-1|1|meter_anomaly").state == STATE_ON
    with pytest.raises(ValueError, match="cannot inject"):
        await charger.inject("lightning")


async def test_blueprint_notifies_about_problems(hass: HomeAssistant, config_dir: Path) -> None:
    """The blueprint's automation sends faults and offline chargers, and clears on request."""
    sent = async_mock_service(hass, "notify", "phone")
    await use_blueprint(
        hass,
        config_dir,
        "notify_charger_problem.yaml",
        {
            "notify_action": "notify.phone",
            "problems": ["fault_raised", "offline"],
            "notify_cleared": True,
        },
    )
    fault = {
        "charger_id": "CP-1",
        "connector_id": 1,
        "problem": "fault",
        "error_code": "GroundFailure",
        "since": "2026-11-02T08:00:00+00:00",
    }
    hass.bus.async_fire(EVENT_CHARGER, {"type": "fault_raised", **fault})
    hass.bus.async_fire(EVENT_CHARGER, {"type": "fault_cleared", **fault, "since": None})
    hass.bus.async_fire(
        EVENT_CHARGER,
        {"type": "problem_raised", "charger_id": "CP-1", "connector_id": 0, "problem": "flapping"},
    )
    hass.bus.async_fire(EVENT_CHARGER, {"type": "session_started", "charger_id": "CP-1"})
    await hass.async_block_till_done()
    assert [(c.data["title"], c.data["message"]) for c in sent] == [
        (
            "CP-1 connector 1: problem",
            "fault: GroundFailure since 2026-11-02T08:00:00+00:00.",
        ),
        ("CP-1 connector 1: problem cleared", "fault: GroundFailure."),
    ]


def test_simulator_command_line_picks_the_problems() -> None:
    """--fault-every and --fault-kinds; an unknown kind is refused with a usage error."""
    args = parse_args(
        ["--url", "ws://x", "--fault-every", "300", "--fault-kinds", "fault, stalled"]
    )
    assert (args.fault_every, args.fault_kinds) == (300.0, ["fault", "stalled"])
    with pytest.raises(SystemExit):
        parse_args(["--url", "ws://x", "--fault-kinds", "lightning"])
