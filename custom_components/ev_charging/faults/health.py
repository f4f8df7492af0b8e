"""One charger's health: its detectors, what each said last, and the outage log for uptime.

Plain Python, no Home Assistant. The central system feeds what chargers send and asks
`evaluate(now)` after each; the answer lists the problems that started or cleared. `due()`
says when the verdict could next change with nothing sent, so one timer per charger is
enough: offline is detected the moment the silence bound runs out, not at a later poll.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from .detectors import (
    OK,
    DegradationDetector,
    FaultDetector,
    FlappingDetector,
    MeterAnomalyDetector,
    OfflineDetector,
    Problem,
    StalledDetector,
)
from .uptime import Closed, Interval, OutageLog, all_of, merged, uptime_percent

CHARGER_WIDE = 0
"""The connector id of what concerns the whole charger, as in OCPP."""


class ProblemKind(StrEnum):
    """What a detector looks for; also the kind of its intervals in the ledger."""

    FAULT = "fault"
    OFFLINE = "offline"
    STALLED = "stalled"
    METER_ANOMALY = "meter_anomaly"
    FLAPPING = "flapping"
    DEGRADATION = "degradation"


CHARGER_PROBLEMS = (ProblemKind.OFFLINE, ProblemKind.FLAPPING, ProblemKind.DEGRADATION)
CONNECTOR_PROBLEMS = (ProblemKind.FAULT, ProblemKind.STALLED, ProblemKind.METER_ANOMALY)
# Problems that survive a restart of Home Assistant; the others are found again from live data.
RESTORED_PROBLEMS = frozenset({ProblemKind.FAULT, ProblemKind.OFFLINE, ProblemKind.METER_ANOMALY})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The owner's detection settings (options), applied live."""

    offline_multiple: float = 2.0
    stalled_after: timedelta = timedelta(minutes=10)
    missed_intervals: int = 3
    max_power_kw: Decimal = Decimal(22)
    flapping_limit: int = 5
    flapping_window: timedelta = timedelta(minutes=15)
    degradation_repeats: int = 3
    max_temperature_c: Decimal = Decimal(70)
    repair_after: timedelta = timedelta(hours=1)
    """A problem lasting this long becomes a repair issue."""


@dataclass(frozen=True, slots=True)
class ProblemChange:
    """A problem started (problem.active) or cleared."""

    connector_id: int
    kind: ProblemKind
    problem: Problem
    at: datetime

    @property
    def event_type(self) -> str:
        """The charger event it makes: fault_raised, offline, problem_cleared, ..."""
        active = self.problem.active
        if self.kind is ProblemKind.FAULT:
            return "fault_raised" if active else "fault_cleared"
        if self.kind is ProblemKind.OFFLINE:
            return "offline" if active else "online"
        return "problem_raised" if active else "problem_cleared"


type ProblemKey = tuple[int, ProblemKind]


@dataclass(slots=True)
class ChargerHealth:
    """Every detector of one charger, and the verdicts last handed out."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    heartbeat_interval: float = 60.0
    meter_interval: float = 60.0
    offline: OfflineDetector = field(default_factory=OfflineDetector)
    flapping: FlappingDetector = field(default_factory=FlappingDetector)
    degradation: DegradationDetector = field(default_factory=DegradationDetector)
    faults: dict[int, FaultDetector] = field(default_factory=dict)
    stalls: dict[int, StalledDetector] = field(default_factory=dict)
    meters: dict[int, MeterAnomalyDetector] = field(default_factory=dict)
    verdicts: dict[ProblemKey, Problem] = field(default_factory=dict)
    log: OutageLog = field(default_factory=OutageLog)
    last_fault: tuple[int, Problem] | None = None
    """The latest fault (connector, problem), kept after it cleared."""
    reconnects: int = 0
    updated: bool = False
    """The last evaluate() changed a verdict (its details too, not only on or off)."""
    _booted_on_connection: bool = False

    def __post_init__(self) -> None:
        self.configure(self.thresholds, self.heartbeat_interval, self.meter_interval)

    def configure(
        self, thresholds: Thresholds, heartbeat_interval: float, meter_interval: float
    ) -> None:
        """Take new settings; the next evaluate() applies them."""
        self.thresholds = thresholds
        self.heartbeat_interval, self.meter_interval = heartbeat_interval, meter_interval
        self.offline.multiple = thresholds.offline_multiple
        self.offline.heartbeat_interval = heartbeat_interval
        self.flapping.limit, self.flapping.window = (
            thresholds.flapping_limit,
            thresholds.flapping_window,
        )
        self.degradation.repeats = thresholds.degradation_repeats
        self.degradation.max_temperature_c = thresholds.max_temperature_c
        for stalled in self.stalls.values():
            self._configure_stalled(stalled)
        for meter in self.meters.values():
            meter.max_power_kw = thresholds.max_power_kw

    def _configure_stalled(self, stalled: StalledDetector) -> None:
        stalled.threshold = self.thresholds.stalled_after
        stalled.missed_intervals = self.thresholds.missed_intervals
        stalled.meter_interval = self.meter_interval

    def _stalled(self, connector_id: int) -> StalledDetector:
        if (found := self.stalls.get(connector_id)) is None:
            found = self.stalls[connector_id] = StalledDetector()
            self._configure_stalled(found)
        return found

    def _meter(self, connector_id: int) -> MeterAnomalyDetector:
        if (found := self.meters.get(connector_id)) is None:
            found = self.meters[connector_id] = MeterAnomalyDetector(self.thresholds.max_power_kw)
        return found

    # What the charger does.

    def connected(self, at: datetime, *, again: bool) -> None:
        """The websocket opened; `again` when it had been connected before."""
        self.offline.connection(True, at)
        self.flapping.event(at)
        self._booted_on_connection = False
        if again:
            self.reconnects += 1

    def disconnected(self, at: datetime) -> None:
        """The websocket closed."""
        self.offline.connection(False, at)

    def waiting(self, at: datetime) -> None:
        """We started; the charger is expected back within the offline bound."""
        self.offline.waiting(at)

    def message(self, at: datetime) -> None:
        """Any frame from the charger."""
        self.offline.message(at)

    def booted(self, at: datetime) -> None:
        """A BootNotification: a second one on the same connection is a reboot in place."""
        if self._booted_on_connection:
            self.flapping.event(at)
        self._booted_on_connection = True

    def status(
        self,
        connector_id: int,
        status: str,
        error_code: str,
        at: datetime,
        info: str | None = None,
        vendor_error_code: str | None = None,
    ) -> None:
        """A StatusNotification; Unavailable is logged as an outage."""
        self.faults.setdefault(connector_id, FaultDetector()).status(
            status, error_code, at, info, vendor_error_code
        )
        self.degradation.status(connector_id, error_code, at)
        if connector_id != CHARGER_WIDE:
            self._stalled(connector_id).status(status, at)
        if status == "Unavailable":
            self.log.open(connector_id, "unavailable", at)
        else:
            self.log.close(connector_id, "unavailable", at)

    def reading(
        self,
        connector_id: int,
        at: datetime,
        *,
        power_kw: Decimal | None,
        energy_wh: Decimal | None,
        temperature_c: Decimal | None,
        measured_at: datetime,
    ) -> None:
        """The newest figures of a MeterValues, received at `at`, measured at `measured_at`
        by the charger's clock (which paces the register, even for values sent late)."""
        if connector_id != CHARGER_WIDE:
            self._stalled(connector_id).reading(power_kw, at)
            if energy_wh is not None:
                self._meter(connector_id).reading(energy_wh, measured_at)
        if temperature_c is not None:
            self.degradation.temperature(connector_id, temperature_c, at)

    def maintenance(self, connector_id: int, inoperative: bool, at: datetime) -> None:
        """The owner set the connector (0: the charger) Inoperative or Operative again."""
        if inoperative:
            self.log.open(connector_id, "maintenance", at)
        else:
            self.log.close(connector_id, "maintenance", at)

    def restore(self, connector_id: int, kind: ProblemKind, problem: Problem) -> None:
        """A problem still open when Home Assistant stopped."""
        if kind is ProblemKind.OFFLINE and problem.since is not None:
            self.offline.restore(problem.since, dict(problem.details).get("reason", "disconnected"))
        elif kind is ProblemKind.FAULT:
            self.faults.setdefault(connector_id, FaultDetector()).restore(problem)
        elif kind is ProblemKind.METER_ANOMALY:
            self._meter(connector_id).restore(problem)
        self.verdicts[connector_id, kind] = problem

    # Verdicts.

    def problem(self, connector_id: int, kind: ProblemKind) -> Problem:
        """The verdict last handed out."""
        return self.verdicts.get((connector_id, kind), OK)

    def fault_of(self, connector_id: int) -> tuple[int, Problem]:
        """A connector's fault, or else the whole charger's (connector 0), which stops it too;
        with the connector that reported it."""
        own = self.problem(connector_id, ProblemKind.FAULT)
        if own.active or connector_id == CHARGER_WIDE:
            return connector_id, own
        return CHARGER_WIDE, self.problem(CHARGER_WIDE, ProblemKind.FAULT)

    def evaluate(self, now: datetime) -> list[ProblemChange]:
        """Ask every detector; the problems that started or cleared since last asked."""
        changes = []
        self.updated = False
        for key, problem in self._verdicts_now(now):
            previous = self.verdicts.get(key, OK)
            if problem == previous:
                continue
            connector_id, kind = key
            if problem.active and problem.since is None:
                problem = replace(problem, since=now)
            self.verdicts[key] = problem
            # Details can change while a problem stays on (another error code): the
            # entities must show them now, not with the next frame.
            self.updated = True
            if kind is ProblemKind.FAULT and problem.active:
                self.last_fault = (connector_id, problem)
            if problem.active != previous.active:
                changes.append(ProblemChange(connector_id, kind, problem, now))
                self._log(connector_id, kind, problem, now)
        return changes

    def _log(self, connector_id: int, kind: ProblemKind, problem: Problem, now: datetime) -> None:
        if problem.active:
            assert problem.since is not None
            self.log.open(connector_id, kind, problem.since, dict(problem.details))
            if kind is ProblemKind.FAULT:
                self.last_fault = (connector_id, problem)
        else:
            self.log.close(connector_id, kind, now)

    def _verdicts_now(self, now: datetime) -> list[tuple[ProblemKey, Problem]]:
        verdicts: list[tuple[ProblemKey, Problem]] = [
            ((CHARGER_WIDE, ProblemKind.OFFLINE), self.offline.check(now)),
            ((CHARGER_WIDE, ProblemKind.FLAPPING), self.flapping.check(now)),
            ((CHARGER_WIDE, ProblemKind.DEGRADATION), self.degradation.check(now)),
        ]
        verdicts += [((c, ProblemKind.FAULT), d.check(now)) for c, d in self.faults.items()]
        verdicts += [((c, ProblemKind.STALLED), d.check(now)) for c, d in self.stalls.items()]
        verdicts += [((c, ProblemKind.METER_ANOMALY), d.check(now)) for c, d in self.meters.items()]
        return verdicts

    def lasting(self, now: datetime) -> dict[ProblemKey, Problem]:
        """Problems active for at least `repair_after`: they deserve a repair issue."""
        cutoff = now - self.thresholds.repair_after
        return {
            key: problem
            for key, problem in self.verdicts.items()
            if problem.active and problem.since is not None and problem.since <= cutoff
        }

    def due(self, now: datetime) -> datetime | None:
        """The next moment after now a verdict may change, or a problem become lasting."""
        moments = [
            self.offline.due(),
            self.flapping.due(),
            self.degradation.due(),
            *(stalled.due() for stalled in self.stalls.values()),
            *(
                problem.since + self.thresholds.repair_after
                for problem in self.verdicts.values()
                if problem.active and problem.since is not None
            ),
        ]
        return min(
            (moment for moment in moments if moment is not None and moment > now), default=None
        )

    def outages(self, connector_id: int) -> list[Interval]:
        """When the connector could not charge: its or the charger's fault or
        unavailability, or the charger offline (open intervals end at None)."""
        return self.log.intervals(
            {connector_id, CHARGER_WIDE}, ("fault", "unavailable")
        ) + self.log.intervals({CHARGER_WIDE}, ("offline",))

    def connector_uptime(
        self, connector_id: int, start: datetime, end: datetime, downtime: Sequence[Interval]
    ) -> Decimal | None:
        """The connector's uptime % over [start, end]."""
        outages = merged(self.outages(connector_id), start, end)
        excluded = merged(
            [*self.log.intervals({connector_id, CHARGER_WIDE}, ("maintenance",)), *downtime],
            start,
            end,
        )
        return uptime_percent(start, end, outages, excluded)

    def charger_uptime(
        self,
        connector_ids: Sequence[int],
        start: datetime,
        end: datetime,
        downtime: Sequence[Interval],
    ) -> Decimal | None:
        """The charger's uptime %: it is out while none of its connectors can charge."""
        if not connector_ids:
            return self.connector_uptime(CHARGER_WIDE, start, end, downtime)
        outages = all_of([merged(self.outages(c), start, end) for c in connector_ids])
        every_connector_kept: list[Closed] = all_of(
            [merged(self.log.intervals({c}, ("maintenance",)), start, end) for c in connector_ids]
        )
        excluded = merged(
            [
                *self.log.intervals({CHARGER_WIDE}, ("maintenance",)),
                *downtime,
                *every_connector_kept,
            ],
            start,
            end,
        )
        return uptime_percent(start, end, outages, excluded)
