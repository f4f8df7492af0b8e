"""Outage intervals and uptime in the style of the US NEVI rule (23 CFR 680.116).

uptime % = (minutes in period - (outage minutes - excluded minutes)) / minutes in period * 100

Outage: faulted, Unavailable, or offline. Excluded: the part of an outage that falls in the
owner's maintenance (set Inoperative from Home Assistant) or while Home Assistant itself was
down. Plain Python, no Home Assistant.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

type Interval = tuple[datetime, datetime | None]
"""From, until (None: still going on)."""
type Closed = tuple[datetime, datetime]

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """An interval opened or closed, for the ledger."""

    connector_id: int
    kind: str
    at: datetime
    opened: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class OutageLog:
    """One charger's problem intervals by (connector, kind); what changed waits in `pending`."""

    intervals_by_key: dict[tuple[int, str], list[list[Any]]] = field(default_factory=dict)
    pending: list[LogEntry] = field(default_factory=list)

    def open(
        self, connector_id: int, kind: str, at: datetime, details: dict[str, Any] | None = None
    ) -> None:
        """Start an interval unless one is open."""
        intervals = self.intervals_by_key.setdefault((connector_id, kind), [])
        if intervals and intervals[-1][1] is None:
            return
        intervals.append([at, None])
        self.pending.append(LogEntry(connector_id, kind, at, True, details or {}))

    def close(self, connector_id: int, kind: str, at: datetime) -> None:
        """End the open interval, if any."""
        intervals = self.intervals_by_key.get((connector_id, kind))
        if not intervals or intervals[-1][1] is not None:
            return
        intervals[-1][1] = max(at, intervals[-1][0])
        self.pending.append(LogEntry(connector_id, kind, at, False))

    def add(self, connector_id: int, kind: str, start: datetime, end: datetime | None) -> None:
        """An interval from the ledger (not pending: it is stored already)."""
        self.intervals_by_key.setdefault((connector_id, kind), []).append([start, end])

    def drain(self) -> list[LogEntry]:
        """What changed since last drained."""
        pending, self.pending = self.pending, []
        return pending

    def intervals(self, connector_ids: set[int], kinds: Iterable[str]) -> list[Interval]:
        """Every interval of these connectors and kinds."""
        return [
            (start, end)
            for kind in kinds
            for connector_id in connector_ids
            for start, end in self.intervals_by_key.get((connector_id, kind), ())
        ]

    def forget_before(self, moment: datetime) -> None:
        """Drop intervals that ended before moment (the rolling window has passed them)."""
        for key, intervals in self.intervals_by_key.items():
            self.intervals_by_key[key] = [i for i in intervals if i[1] is None or i[1] >= moment]


def merged(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Closed]:
    """The intervals clipped to [start, end], sorted and overlaps joined."""
    clipped = sorted(
        (max(s, start), min(e or end, end)) for s, e in intervals if s < end and (e or end) > start
    )
    joined: list[Closed] = []
    for s, e in clipped:
        if e <= s:
            continue
        if joined and s <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], e))
        else:
            joined.append((s, e))
    return joined


def intersection(first: Sequence[Closed], second: Sequence[Closed]) -> list[Closed]:
    """Where two merged interval lists overlap."""
    result: list[Closed] = []
    i = j = 0
    while i < len(first) and j < len(second):
        start, end = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if start < end:
            result.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return result


def total(intervals: Iterable[Closed]) -> timedelta:
    """Their summed length (merged intervals do not overlap)."""
    return sum((end - start for start, end in intervals), timedelta())


def uptime_percent(
    start: datetime, end: datetime, outages: Sequence[Closed], excluded: Sequence[Closed]
) -> Decimal | None:
    """NEVI uptime over [start, end] from merged outages and merged excluded time."""
    if end <= start:
        return None
    period = _micro(end - start)
    outage = _micro(total(outages))
    excused = _micro(total(intersection(outages, excluded)))
    return (period - (outage - excused)) * HUNDRED / period


def _micro(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1))


def all_of(interval_lists: Sequence[Sequence[Closed]]) -> list[Closed]:
    """Where every list holds (e.g. when every connector of a charger is out)."""
    if not interval_lists:
        return []
    common = list(interval_lists[0])
    for intervals in interval_lists[1:]:
        common = intersection(common, intervals)
    return common
