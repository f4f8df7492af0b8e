"""Idle time: a car that stays plugged in after it stopped drawing power blocks the charger.

The car stops drawing when the connector reports SuspendedEV, when the power reads about
zero, or when the transaction stops. The idle fee counts from that moment plus the tariff's
grace period, until the car draws again or the connector is Available (unplugged) — which
can be well after StopTransaction; only then is the session's bill final. A connector Faulted
or Unavailable after the stop ends it too, as does its charger staying offline after the stop
(from the moment it went): the charger keeps the car there, not its driver, and may not report
the unplugging for a long time.

Idle time never accrues while nobody could see the charger (it was offline, or Home
Assistant was down): a charger replaying sessions it queued offline would otherwise bill the
whole outage as idle time. The bill says when such time was left out.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .tariff import ZERO

# Below this a car is not charging (chargers report some standby draw).
IDLE_POWER_KW = Decimal("0.05")
_STOPPED_DRAWING = frozenset({"SuspendedEV", "Finishing"})
# The charger, not the car, holds back power (a current limit of 0, load balancing, a
# schedule): not the driver's fault, so not idle time.
_HELD_BY_CHARGER = "SuspendedEVSE"
_OUT_OF_ORDER = frozenset({"Faulted", "Unavailable"})
_MILLION = Decimal(1_000_000)
EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(slots=True)
class IdleClock:
    """Counts a session's idle time from status changes, power readings and the stop."""

    grace: timedelta
    stopped_drawing_at: datetime | None = None
    idle_seconds: Decimal = ZERO
    """Idle time of stretches already ended."""
    unplugged_at: datetime | None = None
    held_by_charger: bool = False
    has_drawn: bool = False
    """A car waiting for its departure timer before it ever drew power is not idle."""
    transaction_stopped: bool = False
    out_of_order: bool = False
    unseen: Sequence[tuple[datetime, datetime | None]] = field(default_factory=list)
    """When the charger could not be seen (None: still now); shared with the cashier, which
    adds to it as the charger goes and comes back."""
    last_event: datetime = EARLIEST
    """The latest moment applied (the session's start to begin with): a status or reading
    dated before it (a late one, or a clock back in 1970) changes nothing, and a stop or
    unplugging dated before it counts from it."""
    clock: Callable[[], datetime] | None = None
    """Now: no moment a charger states counts as later than it."""
    left_out_unseen: bool = False
    """Idle time of an ended stretch fell while the charger could not be seen: not counted."""

    def status(self, status: str, at: datetime) -> None:
        """A StatusNotification of the session's connector."""
        if self.unplugged_at is not None:
            return
        at = self._capped(at)
        if status == "Available" or (status in _OUT_OF_ORDER and self.transaction_stopped):
            self.end(at)  # however late it is dated, the car has left by now
            return
        if not self._in_order(at):
            return
        self.out_of_order = status in _OUT_OF_ORDER
        # A fault before the stop holds power back as the charger's own limit does: not the
        # driver's idle time.
        self.held_by_charger = status == _HELD_BY_CHARGER or (
            self.out_of_order and not self.transaction_stopped
        )
        if status == "Charging" or self.held_by_charger:
            self._drawing(at, drew=status == "Charging")
        elif status in _STOPPED_DRAWING:
            self._not_drawing(at)

    def power(self, kilowatts: Decimal, at: datetime) -> None:
        """A power reading of the session's connector."""
        at = self._capped(at)
        if self.unplugged_at is not None or self.held_by_charger or not self._in_order(at):
            return
        if kilowatts > IDLE_POWER_KW:
            self._drawing(at, drew=True)
        else:
            self._not_drawing(at)

    def stopped(self, at: datetime) -> None:
        """StopTransaction: nothing is drawn from now on."""
        at = max(self._capped(at), self.last_event)
        self.last_event = at
        self.held_by_charger = False
        self.has_drawn = True  # after the stop nothing is drawn, whatever came before
        self.transaction_stopped = True
        if self.unplugged_at is None:
            self._not_drawing(at)
            if self.out_of_order:
                self.end(at)

    def end(self, at: datetime) -> None:
        """Unplugged (or kept by a charger out of order or gone): the idle time is final."""
        at = max(self._capped(at), self.last_event)
        self.last_event = at
        self._drawing(at)
        self.unplugged_at = at

    def _capped(self, at: datetime) -> datetime:
        # Idle fees run on real time: a clock in the future (or a forged year) must not bill
        # the years between.
        return at if self.clock is None else min(at, self.clock())

    def _in_order(self, at: datetime) -> bool:
        if at < self.last_event:
            return False
        self.last_event = at
        return True

    def seconds(self, now: datetime) -> Decimal:
        """Idle seconds so far (up to now while still idle)."""
        running = ZERO
        if self.stopped_drawing_at is not None and self.unplugged_at is None:
            running, _ = self._stretch(self.stopped_drawing_at, now)
        return self.idle_seconds + running

    def leaves_out_unseen(self, now: datetime) -> bool:
        """Whether idle time so far fell while the charger could not be seen."""
        if self.left_out_unseen:
            return True
        if self.stopped_drawing_at is None or self.unplugged_at is not None:
            return False
        return self._stretch(self.stopped_drawing_at, now)[1]

    def _not_drawing(self, at: datetime) -> None:
        if self.stopped_drawing_at is None and self.has_drawn:
            self.stopped_drawing_at = at

    def _drawing(self, at: datetime, *, drew: bool = False) -> None:
        self.has_drawn = self.has_drawn or drew
        if self.stopped_drawing_at is not None:
            seconds, hidden = self._stretch(self.stopped_drawing_at, at)
            self.idle_seconds += seconds
            self.left_out_unseen = self.left_out_unseen or hidden
            self.stopped_drawing_at = None

    def _stretch(self, since: datetime, until: datetime) -> tuple[Decimal, bool]:
        """Idle seconds from since to until, and whether unseen time was left out."""
        hidden = _overlap(since, until, self.unseen)
        # Whole microseconds, then seconds: no float on the way to a fee.
        micro = (until - since - hidden - self.grace) // timedelta(microseconds=1)
        return max(ZERO, Decimal(micro) / _MILLION), hidden > timedelta(0)


def _overlap(
    start: datetime, end: datetime, intervals: Sequence[tuple[datetime, datetime | None]]
) -> timedelta:
    """How much of [start, end) the intervals cover, overlaps among them counted once."""
    clipped = sorted(
        (max(start, begin), min(end, until or end))
        for begin, until in intervals
        if begin < end and (until is None or until > start)
    )
    covered, reach = timedelta(0), start
    for begin, until in clipped:
        begin = max(begin, reach)
        if until > begin:
            covered += until - begin
            reach = until
    return covered
