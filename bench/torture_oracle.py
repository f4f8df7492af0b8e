"""The crash torture's judge: the ledger against the chargers' own account of their sessions.

Reads the ledger with sqlite3 only, and prices each session here from its energy and the
price (half-up to the cent), never with the integration's pricing code.
"""

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from simulator.offline_queue import SessionLog

CENT = Decimal("0.01")


@dataclass
class Verdict:
    """The ledger compared with the chargers' own account."""

    sessions: int = 0
    readings: int = 0
    lost: int = 0
    duplicated: int = 0
    bills_equal: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.bills_equal == self.sessions

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)


def expected_cost(energy_wh: int, price_per_kwh: Decimal) -> Decimal:
    """What the session costs, computed here: energy x price, half-up to the cent (EUR,
    prices including VAT, no session or idle fee: the tariff this script writes)."""
    return (Decimal(energy_wh) / 1000 * price_per_kwh).quantize(CENT, rounding=ROUND_HALF_UP)


def compare(db: sqlite3.Connection, sessions: list[SessionLog], price: Decimal) -> Verdict:
    """Every session and reading the chargers sent, in the ledger once; every bill as computed
    here. Sessions are found by the transactionId their StartTransaction was answered with."""
    verdict = Verdict(sessions=len(sessions), readings=sum(len(s.readings) for s in sessions))
    chargers = sorted({s.charger_id for s in sessions})
    marks = ",".join("?" * len(chargers))
    rows = {
        row[0]: row
        for row in db.execute(
            "SELECT transaction_id, charger_id, connector_id, meter_start_wh, started_at,"
            f" meter_stop_wh, stopped_at FROM transactions WHERE charger_id IN ({marks})",
            chargers,
        )
    }
    readings: dict[int | None, Counter[tuple[datetime, Decimal]]] = {}
    for transaction_id, at, energy in db.execute(
        "SELECT transaction_id, timestamp, energy_wh FROM meter_readings"
        f" WHERE charger_id IN ({marks})",
        chargers,
    ):
        found = readings.setdefault(transaction_id, Counter())
        found[datetime.fromisoformat(at), Decimal(energy)] += 1
    bills = {
        row[0]: row
        for row in db.execute("SELECT transaction_id, energy_wh, gross FROM session_bills")
    }
    known: set[int] = set()
    for s in sessions:
        name = f"{s.charger_id} session from {s.started_at:%Y-%m-%d %H:%M}"
        if s.transaction_id is None or s.transaction_id not in rows:
            verdict.lost += 1 + len(s.readings)
            verdict.problem(f"{name}: not in the ledger (transactionId {s.transaction_id})")
            continue
        known.add(s.transaction_id)
        _, charger_id, connector_id, start_wh, started_at, stop_wh, stopped_at = rows[
            s.transaction_id
        ]
        stored = (charger_id, connector_id, start_wh, datetime.fromisoformat(started_at))
        if stored != (s.charger_id, s.connector_id, s.meter_start_wh, s.started_at):
            verdict.lost += 1
            verdict.problem(f"{name}: start stored as {stored}")
        if (stop_wh, stopped_at and datetime.fromisoformat(stopped_at)) != (
            s.meter_stop_wh,
            s.stopped_at,
        ):
            verdict.lost += 1
            verdict.problem(f"{name}: stop stored as {stop_wh} Wh at {stopped_at}")
        want = Counter((at, Decimal(wh)) for at, wh in s.readings)
        got = readings.pop(s.transaction_id, Counter())
        verdict.lost += (want - got).total()
        verdict.duplicated += (got - want).total()
        if want != got:
            verdict.problem(f"{name}: readings missing {want - got}, extra {got - want}")
        energy = s.energy_wh
        bill = bills.get(s.transaction_id)
        if energy is None or bill is None:
            verdict.problem(f"{name}: no bill")
            continue
        cost = expected_cost(energy, price)
        if (Decimal(bill[1]), Decimal(bill[2])) == (Decimal(energy), cost):
            verdict.bills_equal += 1
        else:
            verdict.problem(f"{name}: bill {bill[1]} Wh {bill[2]}, expected {energy} Wh {cost}")
    for transaction_id in rows.keys() - known:
        verdict.duplicated += 1
        verdict.problem(f"transaction {transaction_id}: stored, but no charger's session")
    for transaction_id, extra in readings.items():
        verdict.duplicated += extra.total()
        verdict.problem(f"{extra.total()} readings under transaction {transaction_id}: no session")
    return verdict
