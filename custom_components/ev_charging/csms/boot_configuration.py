"""What a charger is asked to change at boot so billing gets its readings, and no more.

Chargers that obey MeterValuesSampledData send exactly what it lists: overwriting it with our
two measurands would silence their current, voltage, state of charge and temperature. So the
charger's own list is read first (GetConfiguration) and only what billing lacks is added.
"""

from collections.abc import Mapping

SAMPLED_DATA = ("Energy.Active.Import.Register", "Power.Active.Import")
"""What billing needs sampled: the energy register prices a session, power shows it."""
SAMPLED_DATA_KEY = "MeterValuesSampledData"
INTERVAL_KEY = "MeterValueSampleInterval"
HEARTBEAT_KEY = "HeartbeatInterval"
MAX_LENGTH_KEY = "MeterValuesSampledDataMaxLength"
READ_KEYS = (SAMPLED_DATA_KEY, INTERVAL_KEY, HEARTBEAT_KEY, MAX_LENGTH_KEY)
UNCHANGED = "Unchanged"
"""Recorded for a key the charger already had as billing needs it."""


def changes_needed(reported: Mapping[str, str | None] | None, interval: int) -> dict[str, str]:
    """key -> value to set; `reported` is what GetConfiguration said (None: it could not)."""
    if reported is None:
        # The charger would not say: set what billing needs, as before.
        return {INTERVAL_KEY: str(interval), SAMPLED_DATA_KEY: ",".join(SAMPLED_DATA)}
    changes = {}
    if _integer(reported.get(INTERVAL_KEY)) != interval:
        changes[INTERVAL_KEY] = str(interval)
    listed = [m.strip() for m in (reported.get(SAMPLED_DATA_KEY) or "").split(",") if m.strip()]
    missing = [m for m in SAMPLED_DATA if m not in listed]
    if missing:
        room = _integer(reported.get(MAX_LENGTH_KEY))
        # Billing's measurands first where the charger takes only so many.
        merged = listed + missing if room is None else (missing + listed)[:room]
        changes[SAMPLED_DATA_KEY] = ",".join(merged)
    return changes


def heartbeat_interval(reported: Mapping[str, str | None] | None) -> int | None:
    """The heartbeat interval the charger says it has, if it says a sensible one."""
    value = None if reported is None else _integer(reported.get(HEARTBEAT_KEY))
    return value if value is not None and value > 0 else None


def _integer(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None
