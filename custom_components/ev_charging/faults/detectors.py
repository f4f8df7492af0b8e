"""Fault detectors: each turns what a charger tells (or does not tell) into a problem.

Plain Python, no Home Assistant: each detector is fed events with their moments and asked
`check(now)`; time-based ones also say when they next need asking (`due`), so Home Assistant
can set one timer for that moment instead of polling.
"""

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

NO_ERROR = "NoError"


@dataclass(frozen=True, slots=True)
class Problem:
    """A detector's verdict: whether there is a problem, since when, and what it says."""

    active: bool
    since: datetime | None = None
    details: tuple[tuple[str, str], ...] = ()


OK = Problem(False)


@dataclass(slots=True)
class FaultDetector:
    """A connector reports Faulted, or any error code other than NoError."""

    _problem: Problem = OK

    def status(
        self,
        status: str,
        error_code: str,
        at: datetime,
        info: str | None = None,
        vendor_error_code: str | None = None,
    ) -> Problem:
        """A StatusNotification of the connector."""
        if status != "Faulted" and error_code == NO_ERROR:
            self._problem = OK
            return OK
        details: tuple[tuple[str, str], ...] = (("error_code", error_code),)
        details += (("vendor_error_code", vendor_error_code),) if vendor_error_code else ()
        details += (("info", info),) if info else ()
        # The same fault reported again keeps its start.
        since = self._problem.since if self._problem.active else at
        self._problem = Problem(True, since, details)
        return self._problem

    def check(self, now: datetime) -> Problem:
        """The fault as last reported."""
        return self._problem

    def restore(self, problem: Problem) -> None:
        """A fault still open when we stopped."""
        self._problem = problem


@dataclass(slots=True)
class OfflineDetector:
    """The socket closed, or nothing came within `multiple` heartbeat intervals.

    After our own start a known charger gets the same bound to come back (`waiting`), so a
    restart of Home Assistant does not count against the charger.
    """

    multiple: float = 2.0
    heartbeat_interval: float = 60.0
    connected: bool = False
    last_message: datetime | None = None
    """The last frame, connection or start of waiting: silence is measured from it."""
    offline_since: datetime | None = None
    reason: str = "disconnected"

    @property
    def bound(self) -> timedelta:
        """How long silence may last before the charger counts as offline."""
        return timedelta(seconds=self.multiple * self.heartbeat_interval)

    def connection(self, connected: bool, at: datetime) -> None:
        """The websocket opened or closed."""
        self.connected = connected
        if connected:
            self.last_message, self.offline_since = at, None
        elif self.offline_since is None:
            self.offline_since, self.reason = at, "disconnected"

    def waiting(self, at: datetime) -> None:
        """We started and expect the charger back within the bound."""
        self.connected, self.last_message, self.offline_since = False, at, None

    def restore(self, since: datetime, reason: str) -> None:
        """Offline since before our restart."""
        self.connected, self.offline_since, self.reason = False, since, reason

    def message(self, at: datetime) -> None:
        """Any frame from the charger."""
        self.last_message = at
        if self.connected:
            self.offline_since = None

    def check(self, now: datetime) -> Problem:
        """Offline since the socket closed, or since the bound ran out."""
        if self.offline_since is None and self.last_message is not None:
            silent_until = self.last_message + self.bound
            if now >= silent_until:
                self.offline_since = silent_until
                self.reason = "no_messages" if self.connected else "not_reconnected"
        if self.offline_since is None:
            return OK
        return Problem(True, self.offline_since, (("reason", self.reason),))

    def due(self) -> datetime | None:
        """When silence would make the charger offline: check exactly then."""
        if self.offline_since is not None or self.last_message is None:
            return None
        return self.last_message + self.bound


@dataclass(slots=True)
class StalledDetector:
    """A session that should be charging but is not: Charging with power about zero, or no
    MeterValues for `missed_intervals` expected intervals, for longer than `threshold`."""

    threshold: timedelta = timedelta(minutes=10)
    missed_intervals: int = 3
    meter_interval: float = 60.0
    power_floor_kw: Decimal = Decimal("0.05")
    charging_since: datetime | None = None
    last_reading: datetime | None = None
    no_power_since: datetime | None = None

    def status(self, status: str, at: datetime) -> None:
        """The connector's status: only Charging can stall."""
        if status == "Charging":
            if self.charging_since is None:
                self.charging_since = self.last_reading = at
        else:
            self.charging_since = self.no_power_since = None

    def reading(self, power_kw: Decimal | None, at: datetime) -> None:
        """A MeterValues of the connector."""
        self.last_reading = at
        if power_kw is None:
            return
        if power_kw <= self.power_floor_kw:
            self.no_power_since = self.no_power_since or at
        else:
            self.no_power_since = None

    def check(self, now: datetime) -> Problem:
        """Stalled once the silence or the zero power has lasted past the threshold."""
        if self.charging_since is None:
            return OK
        silence = timedelta(seconds=self.meter_interval * self.missed_intervals)
        last = self.last_reading or self.charging_since
        found = []
        if now - last >= max(silence, self.threshold):
            found.append((last + silence, "no_meter_values"))
        if self.no_power_since is not None and now - self.no_power_since >= self.threshold:
            found.append((self.no_power_since, "no_power"))
        if not found:
            return OK
        since, reason = min(found)
        return Problem(True, since, (("reason", reason),))

    def due(self) -> datetime | None:
        """The next moment the verdict can change without a new event."""
        if self.charging_since is None:
            return None
        silence = timedelta(seconds=self.meter_interval * self.missed_intervals)
        moments = [(self.last_reading or self.charging_since) + max(silence, self.threshold)]
        if self.no_power_since is not None:
            moments.append(self.no_power_since + self.threshold)
        return min(moments)


@dataclass(slots=True)
class MeterAnomalyDetector:
    """The energy register goes backwards, or climbs faster than the connector can deliver."""

    max_power_kw: Decimal = Decimal(22)
    margin: Decimal = Decimal("1.2")
    """Allowance over the maximum power (rounding, clock jitter)."""
    last: tuple[datetime, Decimal] | None = None
    _problem: Problem = OK

    def reading(self, energy_wh: Decimal, at: datetime) -> Problem:
        """An energy register reading; the verdict stands until the next reading is normal."""
        previous, self.last = self.last, (at, energy_wh)
        if previous is None or at <= previous[0]:
            return self._problem
        before_at, before_wh = previous
        hours = Decimal((at - before_at) // timedelta(microseconds=1)) / Decimal(3_600_000_000)
        possible = self.max_power_kw * 1000 * hours * self.margin
        if energy_wh < before_wh:
            self._problem = Problem(True, at, (("kind", "backwards"),))
        elif energy_wh - before_wh > possible:
            self._problem = Problem(True, at, (("kind", "jump"),))
        else:
            self._problem = OK
        return self._problem

    def check(self, now: datetime) -> Problem:
        """The verdict of the last reading."""
        return self._problem

    def restore(self, problem: Problem) -> None:
        """An anomaly still open when we stopped (until a normal reading)."""
        self._problem = problem


@dataclass(slots=True)
class FlappingDetector:
    """More than `limit` connections or boots within `window`."""

    limit: int = 5
    window: timedelta = timedelta(minutes=15)
    events: deque[datetime] = field(default_factory=deque)

    def event(self, at: datetime) -> None:
        """A (re)connection or a BootNotification."""
        self.events.append(at)

    def check(self, now: datetime) -> Problem:
        """Flapping while the window holds more than `limit` events."""
        while self.events and self.events[0] <= now - self.window:
            self.events.popleft()
        if len(self.events) <= self.limit:
            return OK
        return Problem(True, self.events[0], (("count", str(len(self.events))),))

    def due(self) -> datetime | None:
        """While flapping: when the oldest event leaves the window (only events start it)."""
        return self.events[0] + self.window if len(self.events) > self.limit else None


@dataclass(slots=True)
class DegradationDetector:
    """A warning before a fault: an error code that keeps coming back (`repeats` times within
    a day although each clears), or a temperature above `max_temperature_c`.

    Fed per connector (`source`): one connector's reports do not clear another's.
    """

    repeats: int = 3
    window: timedelta = timedelta(days=1)
    max_temperature_c: Decimal = Decimal(70)
    occurrences: dict[str, deque[datetime]] = field(default_factory=dict)
    hot_since: dict[int, datetime] = field(default_factory=dict)
    _last_error: dict[int, str] = field(default_factory=dict)

    def status(self, source: int, error_code: str, at: datetime) -> None:
        """A StatusNotification: a new occurrence when an error code appears again."""
        if error_code not in (NO_ERROR, self._last_error.get(source, NO_ERROR)):
            self.occurrences.setdefault(error_code, deque()).append(at)
        self._last_error[source] = error_code

    def temperature(self, source: int, celsius: Decimal, at: datetime) -> None:
        """A temperature reading of a connector (or of the charger, source 0)."""
        if celsius > self.max_temperature_c:
            self.hot_since.setdefault(source, at)
        else:
            self.hot_since.pop(source, None)

    def check(self, now: datetime) -> Problem:
        """Degrading while an error keeps coming back, or while something runs hot."""
        for code, times in list(self.occurrences.items()):
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                del self.occurrences[code]
        recurring = sorted(
            (times[0], code)
            for code, times in self.occurrences.items()
            if len(times) >= self.repeats
        )
        if recurring:
            since, code = recurring[0]
            return Problem(True, since, (("reason", "recurring_error"), ("error_code", code)))
        if self.hot_since:
            return Problem(True, min(self.hot_since.values()), (("reason", "high_temperature"),))
        return OK

    def due(self) -> datetime | None:
        """While an error recurs: when its oldest occurrence leaves the day."""
        starts = [
            times[0] + self.window
            for times in self.occurrences.values()
            if len(times) >= self.repeats
        ]
        return min(starts, default=None)
