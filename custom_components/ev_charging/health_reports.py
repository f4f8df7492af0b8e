"""Home Assistant's side of fault detection: the detectors' timers, bus events, repair issues."""

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_point_in_utc_time

from .const import DOMAIN
from .csms.state import ChargerState
from .faults.detectors import Problem
from .faults.health import ProblemKey, ProblemKind

if TYPE_CHECKING:
    from .csms.central import CentralSystem

EVENT_CHARGER = f"{DOMAIN}_charger_event"
"""The bus event for everything the event entities show, with the device id."""
SEVERE = frozenset({ProblemKind.FAULT, ProblemKind.OFFLINE})


def signal_charger_event(entry_id: str, charger_id: str) -> str:
    """Dispatcher signal: an event for one charger's event entity."""
    return f"{DOMAIN}_{entry_id}_{charger_id}_event"


def lasting_issue_id(charger_id: str, connector_id: int, kind: str) -> str:
    """The repair issue of one lasting problem."""
    return f"lasting_{kind}_{charger_id}_{connector_id}"


class HealthReports:
    """Runs the detectors' timers and turns their verdicts into events and repair issues."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self.hass = hass
        self.entry_id = entry_id
        self.central: CentralSystem | None = None
        self._timers: dict[str, tuple[datetime, Callable[[], None]]] = {}
        self._issues: dict[str, set[str]] = {}

    @callback
    def check_at(self, charger: ChargerState, when: datetime | None) -> None:
        """Make sure the charger's detectors are asked at `when` (or earlier)."""
        charger_id = charger.charger_id
        current = self._timers.get(charger_id)
        if when is None or (current is not None and current[0] <= when):
            # An earlier timer asks again and sets the next one.
            return
        if current is not None:
            current[1]()

        @callback
        def due(now: datetime) -> None:
            self._timers.pop(charger_id, None)
            if self.central is not None:
                self.central.check_health(charger)

        self._timers[charger_id] = (when, async_track_point_in_utc_time(self.hass, due, when))

    @callback
    def unload(self) -> None:
        """Stop every timer and withdraw the repair issues (the entry unloads; a new start
        raises again what still holds)."""
        for _, cancel in self._timers.values():
            cancel()
        self._timers.clear()
        for issue_ids in self._issues.values():
            for issue_id in issue_ids:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._issues.clear()

    @callback
    def charger_event(self, charger: ChargerState, event_type: str, data: dict[str, Any]) -> None:
        """Fire the bus event and show it on the charger's event entity."""
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, charger.charger_id), self.entry_id
        )
        self.hass.bus.async_fire(
            EVENT_CHARGER,
            {
                "device_id": None if device is None else device.id,
                "charger_id": charger.charger_id,
                "type": event_type,
                **data,
            },
        )
        async_dispatcher_send(
            self.hass, signal_charger_event(self.entry_id, charger.charger_id), event_type, data
        )

    @callback
    def lasting_problems(self, charger: ChargerState, problems: dict[ProblemKey, Problem]) -> None:
        """A repair issue per problem lasting past the threshold, removed when it clears."""
        charger_id = charger.charger_id
        wanted: set[str] = set()
        for (connector_id, kind), problem in problems.items():
            issue_id = lasting_issue_id(charger_id, connector_id, kind)
            wanted.add(issue_id)
            details = dict(problem.details)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR if kind in SEVERE else ir.IssueSeverity.WARNING,
                translation_key=f"lasting_{kind}",
                translation_placeholders={
                    "charger": charger_id,
                    "connector": str(connector_id),
                    "since": problem.since.isoformat(timespec="minutes") if problem.since else "",
                    "detail": details.get("error_code") or details.get("reason") or "",
                },
            )
        for issue_id in self._issues.get(charger_id, set()) - wanted:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._issues[charger_id] = wanted
