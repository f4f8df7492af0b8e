"""What the central system knows about each charger and connector right now."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from ..billing.cashier import BillingSettings
from ..faults.health import ChargerHealth, Thresholds
from ..ledger import TransactionRecord
from .authorization import TagList
from .log_safety import untrusted_logger

_LOGGER = untrusted_logger(__name__)
_THOUSAND = Decimal(1000)


class RegisterChange(StrEnum):
    """What a register reading did to the connector's lifetime register."""

    TAKEN = "taken"
    IGNORED = "ignored"
    RESET = "reset"


@dataclass(slots=True)
class ChargerQuirks:
    """Per-charger workarounds for firmware that needs them."""

    ping_interval: float = 0.0
    """Seconds between websocket pings; 0 turns them off (some chargers drop on pings)."""
    start_transaction_delay: float = 0.0
    """Seconds to wait before answering StartTransaction (some chargers need a pause)."""
    lenient: bool = False
    """Accept extra fields and wrong-case enum values with a warning instead of a CallError."""
    keep_configuration: bool = False
    """Change nothing in the charger's configuration at boot (its sampled data included)."""
    replace_connection: bool = False
    """A new connection with this charger's id always replaces the old one, even while the
    old one answers (firmware that reconnects without closing its previous socket)."""


@dataclass(slots=True)
class CentralSettings:
    """Settings that apply live, without restarting the server."""

    heartbeat_interval: int = 60
    auto_accept: bool = False
    max_frame_bytes: int = 65536
    """A larger frame closes the charger's connection (1009)."""
    max_strangers: int = 50
    """Chargers known that no person approved (waiting, or accepted automatically without a
    password): beyond this many a new id is refused."""
    meter_value_interval: int = 60
    """Seconds between the MeterValues chargers are asked to send while charging."""
    quirks: dict[str, ChargerQuirks] = field(default_factory=dict)
    password_hashes: dict[str, str] = field(default_factory=dict)
    """charger id -> salted hash of its password; a charger listed here must log in."""
    tags: TagList = field(default_factory=TagList)
    """Who may charge where."""
    remote_id_tag: str | None = None
    """Home Assistant's own tag, used to start sessions remotely (free charging too)."""
    billing: BillingSettings = field(default_factory=BillingSettings)
    faults: Thresholds = field(default_factory=Thresholds)
    """When the fault detectors speak up."""

    def quirks_for(self, charger_id: str) -> ChargerQuirks:
        """The quirks of one charger, defaults if none were set."""
        return self.quirks.get(charger_id) or ChargerQuirks()


@dataclass(slots=True)
class ConnectorState:
    """A connector's live state; connector 0 stands for the charger as a whole."""

    connector_id: int
    status: str | None = None
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None
    status_at: datetime | None = None
    power_kw: Decimal | None = None
    current_a: Decimal | None = None
    voltage_v: Decimal | None = None
    soc_percent: Decimal | None = None
    temperature_c: Decimal | None = None
    register_raw_wh: Decimal | None = None
    register_offset_wh: Decimal = Decimal(0)
    register_at: datetime | None = None
    booted_since_register: bool = False
    """The charger booted after the last register reading: its meter may have restarted."""
    transaction: TransactionRecord | None = None
    last_transaction: TransactionRecord | None = None
    rebooted_during_session: bool = False
    """The charger booted while this connector's transaction ran."""
    lost_since: datetime | None = None
    """When the connector came back free after a reboot without its transaction's stop (or
    when that transaction's queued readings last came)."""
    lost_transaction_id: int | None = None
    """The transaction that reboot may have lost."""

    @property
    def lost_session(self) -> TransactionRecord | None:
        """The running session, if it is the one a reboot may have lost."""
        session = self.transaction
        if session is None or session.transaction_id != self.lost_transaction_id:
            return None
        return session

    @property
    def energy_register_kwh(self) -> Decimal | None:
        """The lifetime energy register, kept monotonic across charger meter resets."""
        if self.register_raw_wh is None:
            return None
        return (self.register_raw_wh + self.register_offset_wh) / _THOUSAND

    @property
    def session(self) -> TransactionRecord | None:
        """The running transaction, else the last one seen since start-up."""
        return self.transaction or self.last_transaction

    @property
    def session_energy_kwh(self) -> Decimal | None:
        """Energy of the running (or last) session."""
        session = self.session
        if session is None:
            return None
        if session.meter_stop_wh is not None:
            end = Decimal(session.meter_stop_wh)
        elif self.register_raw_wh is not None:
            end = self.register_raw_wh
        else:
            return Decimal(0)
        return max(Decimal(0), end - session.meter_start_wh) / _THOUSAND

    def update_register(
        self, raw_wh: Decimal, at: datetime, *, new_transaction: bool = False
    ) -> RegisterChange:
        """Take a new register reading.

        A lower register is a new meter (reset or replaced) only where the charger says so: a
        transaction starting, or the first reading after it booted, from (near) zero. A single
        lower reading otherwise (a glitch, rounding, another meter's figure) leaves the
        register as it was.
        """
        if self.register_at is not None and at < self.register_at:
            return RegisterChange.IGNORED
        change = RegisterChange.TAKEN
        if self.register_raw_wh is not None and raw_wh < self.register_raw_wh:
            restarted = raw_wh <= self.register_raw_wh / 2
            if not (restarted and (new_transaction or self.booted_since_register)):
                return RegisterChange.IGNORED
            # Carry on from where the lifetime register stood.
            self.register_offset_wh += self.register_raw_wh
            change = RegisterChange.RESET
        self.register_raw_wh = raw_wh
        self.register_at = at
        self.booted_since_register = False
        return change


@dataclass(slots=True)
class ChargerState:
    """A charger's identity, connection and connectors."""

    charger_id: str
    approved: bool = False
    approved_by_owner: bool = False
    """Approved by a person (not automatically): a charger without a password gets the tag
    list only then."""
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware: str | None = None
    connected: bool = False
    disconnected_at: datetime | None = None
    """When the connection last dropped (while Home Assistant ran)."""
    booted: bool = False
    heartbeat_interval: int | None = None
    """The interval the charger has (told at boot, set since, or reported): offline
    detection goes by it."""
    last_seen: datetime | None = None
    last_heartbeat: datetime | None = None
    firmware_status: str | None = None
    diagnostics_status: str | None = None
    configuration_results: dict[str, str] = field(default_factory=dict)
    """How the charger answered the configuration set at boot: key -> status."""
    local_list_version: int | None = None
    """The version of the local authorization list the charger holds, as last checked."""
    local_list_status: str | None = None
    """How the last local list update went: Accepted, Failed, NotSupported, or why it failed."""
    connectors: dict[int, ConnectorState] = field(default_factory=dict)
    first_seen: datetime | None = None
    health: ChargerHealth = field(default_factory=ChargerHealth)
    """The fault detectors' verdicts and the outage log."""
    unreadable_frames: int = 0
    unexpected_replies: int = 0
    """Replies (CALLRESULT, CALLERROR) to no request of ours, dropped."""
    call_errors: dict[str, int] = field(default_factory=dict)
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    def connector(self, connector_id: int) -> ConnectorState:
        """The connector's state, created on first mention."""
        if (found := self.connectors.get(connector_id)) is None:
            found = self.connectors[connector_id] = ConnectorState(connector_id)
        return found

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call listener on every change of this charger; returns the function to stop it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def notify(self) -> None:
        """Tell this charger's listeners (its entities) that something changed.

        A failing listener is logged and skipped: the charger's message is already stored
        and must still be answered.
        """
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                _LOGGER.exception("%s: updating a listener failed", self.charger_id)
