"""A simulated OCPP 1.6J charge point on top of the ``ocpp`` library and aiohttp."""

import asyncio
import contextlib
import json
import logging
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar, Literal, Protocol, cast

import aiohttp
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, validate_payload
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

_LOGGER = logging.getLogger(__name__)

type Payload = dict[str, Any]
type Sleep = Callable[[float], Awaitable[None]]

OCPP_VERSION = "1.6"
_CALL, _RESULT, _ERROR = 2, 3, 4
_VOLTS = 230.0


@dataclass(frozen=True, kw_only=True)
class ChargerConfig:
    """Static description of one simulated charger."""

    charger_id: str
    connectors: int = 1
    vendor: str = "EVSim"
    model: str = "Sim-22"
    serial_number: str | None = None  # default f"SN-{charger_id}", cut to the schema's 25 chars
    firmware: str = "1.0.0"
    max_power_w: int = 11000  # per connector
    meter_interval: float = 10.0  # seconds between MeterValues in sessions
    heartbeat_interval: float | None = None  # None: the interval from the BootNotification answer
    subprotocols: tuple[str, ...] = ("ocpp1.6",)
    password: str | None = None  # HTTP Basic auth (user = charger_id) on the upgrade
    tls: ssl.SSLContext | None = None  # trust settings for a wss:// central system
    ping_interval: float | None = None  # websocket ping interval; None = off
    initial_energy_wh: int = 1_000_000  # meter register at start, every connector
    response_timeout: float = 30.0  # seconds to wait for the CSMS's answer to a CALL


@dataclass(frozen=True)
class Frame:
    """One websocket text frame, seen from the charger."""

    direction: Literal["sent", "received"]
    raw: str

    @cached_property
    def parsed(self) -> Any:
        """The JSON-decoded frame, or None if it is not JSON."""
        try:
            return json.loads(self.raw)
        except ValueError:
            return None


class Connection(Protocol):
    """What ``ocpp.ChargePoint`` needs from a connection."""

    async def recv(self) -> str: ...

    async def send(self, raw: str) -> None: ...


class WebSocketConnection:
    """Adapts aiohttp's client websocket to ``Connection``; logs frames at DEBUG."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, name: str) -> None:
        self.ws = ws
        self.name = name

    async def recv(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                _LOGGER.debug("%s < %s", self.name, msg.data)
                return cast(str, msg.data)
            if msg.type is aiohttp.WSMsgType.BINARY:  # not OCPP-J, but be lenient
                return cast(bytes, msg.data).decode(errors="replace")
            if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                continue
            raise ConnectionError(f"websocket closed ({msg.type.name}, code {self.ws.close_code})")

    async def send(self, raw: str) -> None:
        if self.ws.closed:
            raise ConnectionError("websocket closed")
        _LOGGER.debug("%s > %s", self.name, raw)
        await self.ws.send_str(raw)


class RecordingConnection:
    """Wraps a ``Connection`` and appends every frame to ``frames``."""

    def __init__(self, inner: Connection, frames: list[Frame]) -> None:
        self.inner = inner
        self.frames = frames

    async def recv(self) -> str:
        raw = await self.inner.recv()
        self.frames.append(Frame("received", raw))
        return raw

    async def send(self, raw: str) -> None:
        # Append first: while send awaits, the reader may already record the reply.
        frame = Frame("sent", raw)
        self.frames.append(frame)
        try:
            await self.inner.send(raw)
        except BaseException:
            self.frames.remove(frame)
            raise


class _QuietOcppLogger(logging.LoggerAdapter[logging.Logger]):
    """ocpp logs every frame at INFO; the connection already logs them at DEBUG."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        pass


_OCPP_LOGGER = _QuietOcppLogger(logging.getLogger(f"{__name__}.ocpp"))


def _on[F: Callable[..., Any]](action: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], on(action))


def _after[F: Callable[..., Any]](action: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], after(action))


def iso(ts: datetime | None = None) -> str:
    """OCPP timestamp, UTC with milliseconds; naive datetimes count as UTC; None is now."""
    ts = datetime.now(UTC) if ts is None else ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sampled_values(
    power_w: float,
    energy_wh: int,
    *,
    soc: int | None = None,
    phases: bool = True,
    context: str = "Sample.Periodic",
    temperature_c: float | None = None,
) -> list[Payload]:
    """The default sampledValue list; phases=False reports a single-phase charger."""

    def sample(measurand: str, value: str, unit: str, **extra: str) -> Payload:
        return {"value": value, "context": context, "measurand": measurand, "unit": unit, **extra}

    values = [
        sample("Energy.Active.Import.Register", str(energy_wh), "Wh", location="Outlet"),
        sample("Power.Active.Import", f"{power_w:.1f}", "W"),
    ]
    if phases:
        amps = f"{power_w / _VOLTS / 3:.1f}"
        values += [sample("Current.Import", amps, "A", phase=p) for p in ("L1", "L2", "L3")]
        values += [
            sample("Voltage", f"{_VOLTS:.1f}", "V", phase=f"{p}-N") for p in ("L1", "L2", "L3")
        ]
    else:
        values += [
            sample("Current.Import", f"{power_w / _VOLTS:.1f}", "A"),
            sample("Voltage", f"{_VOLTS:.1f}", "V"),
        ]
    celsius = 25 + power_w / 1000 if temperature_c is None else temperature_c
    values.append(sample("Temperature", f"{celsius:.1f}", "Celsius", location="Body"))
    if soc is not None:
        values.append(sample("SoC", str(soc), "Percent", location="EV"))
    return values


@dataclass(eq=False)
class _Session:
    connector_id: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str | None = None  # set by whoever sets `stop`
    transaction_id: int | None = None
    power_w: float = 0.0


class Silence:
    """An answer that is never sent: set ``answers[action] = SILENT``."""


SILENT = Silence()


class SimChargePoint(ChargePoint):  # type: ignore[misc]  # ocpp ships no type information
    """Answers the CSMS's CALLs for a ``SimulatedCharger``.

    Add handlers in a subclass with ``ocpp.routing.on``/``after`` and set it as
    ``SimulatedCharger.charge_point_class``. Actions without a handler get
    ``default_answers``; ``SimulatedCharger.answers`` overrides everything.
    """

    readonly_keys: ClassVar[frozenset[str]] = frozenset(
        {"NumberOfConnectors", "SupportedFeatureProfiles"}
    )
    default_answers: ClassVar[dict[str, Payload]] = {
        "ClearCache": {"status": "Accepted"},
        "ClearChargingProfile": {"status": "Accepted"},
        "GetCompositeSchedule": {"status": "Rejected"},
        "GetDiagnostics": {},
        "SetChargingProfile": {"status": "Accepted"},
        "UpdateFirmware": {},
    }

    def __init__(self, sim: SimulatedCharger, connection: Connection) -> None:
        super().__init__(
            sim.config.charger_id,
            connection,
            response_timeout=sim.config.response_timeout,
            logger=_OCPP_LOGGER,
        )
        self.sim = sim
        self._remote_start: _Session | None = None  # handed from @on to @after

    async def route_message(self, raw_msg: str) -> None:
        sim = self.sim
        if sim._frame_waiters:
            sim._notify_frame(Frame("received", raw_msg))
        try:
            msg = json.loads(raw_msg)
        except ValueError:
            msg = None
        if isinstance(msg, list) and len(msg) >= 3:
            if msg[0] in (_RESULT, _ERROR):
                # Our own replies are matched here; ocpp's response queue is never read.
                key = json.dumps(msg[1])
                waiter = sim._pending.get(key)
                if waiter is not None and not waiter.done():
                    sim._take_in(key, msg)
                    waiter.set_result(msg)
                elif key in sim._given_up:  # late reply to a timed-out or cancelled call
                    sim._given_up.discard(key)
                else:
                    _LOGGER.warning("%s: reply to no pending call: %s", self.id, raw_msg)
                return
            if msg[0] == _CALL and isinstance(action := msg[2], str):
                payload = msg[3] if len(msg) > 3 and isinstance(msg[3], dict) else {}
                sim.received_calls.append((action, payload))
                answer = sim.answers.get(action)
                if answer is None and action not in self.route_map:
                    answer = self.default_answers.get(action)
                if answer is SILENT:
                    return  # a charger that never answers, for timeout paths
                if answer is not None:
                    await self._answer(Call(msg[1], action, payload), answer)
                    return
        await super().route_message(raw_msg)

    async def _answer(self, request: Any, answer: Payload | OCPPError | Silence) -> None:
        """Send a canned answer; the request is still checked against its schema."""
        try:
            await validate_payload(request, self._ocpp_version)
        except OCPPError as err:
            answer = err
        if isinstance(answer, Silence):
            return
        if isinstance(answer, OCPPError):
            await self._send(request.create_call_error(answer).to_json())
        else:
            await self._send(request.create_call_result(answer).to_json())

    @_on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        conf = self.sim.configuration
        keys = [k for k in key if k in conf] if key else conf
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k in self.readonly_keys, "value": conf[k]} for k in keys
            ],
            unknown_key=[k for k in key or () if k not in conf] or None,
        )

    @_on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return call_result.ChangeConfiguration(status=self.sim._configure(key, value))

    @_on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        ok = connector_id is None or 0 <= connector_id <= self.sim.config.connectors
        return call_result.TriggerMessage(status="Accepted" if ok else "Rejected")

    @_after(Action.trigger_message)
    def after_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> None:
        if connector_id is None or 0 <= connector_id <= self.sim.config.connectors:
            self.sim._spawn(self.sim._send_triggered(requested_message, connector_id))

    @_on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        return call_result.Reset(status="Accepted")

    @_after(Action.reset)
    def after_reset(self, type: str, **_: Any) -> None:
        self.sim._spawn(self.sim._reset(type))

    @_on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self, id_tag: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        held = self.sim.reservations.get(connector_id or 0)
        if held is not None and held[1].casefold() != id_tag.casefold():
            return call_result.RemoteStartTransaction(status="Rejected")  # reserved for another
        self._remote_start = self.sim._reserve_connector(connector_id)
        status = "Rejected" if self._remote_start is None else "Accepted"
        return call_result.RemoteStartTransaction(status=status)

    @_after(Action.remote_start_transaction)
    def after_remote_start_transaction(self, id_tag: str, **_: Any) -> None:
        if (session := self._remote_start) is not None:
            self._remote_start = None
            authorize = self.sim.configuration.get("AuthorizeRemoteTxRequests") == "true"
            self.sim._spawn(self.sim._charge(session, id_tag, authorize=authorize))

    @_on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        known = transaction_id in self.sim.transactions.values()
        return call_result.RemoteStopTransaction(status="Accepted" if known else "Rejected")

    @_after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, transaction_id: int, **_: Any) -> None:
        self.sim._stop_transaction_remotely(transaction_id, "Remote")

    @_on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        return call_result.ChangeAvailability(
            status=self.sim._change_availability(connector_id, type == "Operative")
        )

    @_after(Action.change_availability)
    def after_change_availability(self, connector_id: int, **_: Any) -> None:
        self.sim._spawn(self.sim._announce_availability(connector_id))

    @_on(Action.reserve_now)
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> Any:
        return call_result.ReserveNow(
            status=self.sim._reserve(connector_id, expiry_date, id_tag, reservation_id)
        )

    @_after(Action.reserve_now)
    def after_reserve_now(self, connector_id: int, **_: Any) -> None:
        if self.sim.reservations.get(connector_id) is not None:
            self.sim._spawn(self.sim.status(connector_id, "Reserved"))

    @_on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        connector = self.sim._cancel_reservation(reservation_id)
        if connector is not None:
            self.sim._spawn(self.sim.status(connector, self.sim._idle_status(connector)))
        return call_result.CancelReservation(status="Rejected" if connector is None else "Accepted")

    @_on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        return call_result.UnlockConnector(status="Unlocked")

    @_on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="Accepted")

    @_on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.sim.local_list_version)

    @_on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[Payload] | None = None,
        **_: Any,
    ) -> Any:
        return call_result.SendLocalList(
            status=self.sim._update_local_list(
                list_version, update_type, local_authorization_list or []
            )
        )


class SimulatedCharger:
    """One simulated OCPP 1.6J charge point.

    Pass a shared ``session`` when running many chargers (see ``many_chargers_session``);
    without one the charger opens and closes its own.
    """

    charge_point_class: ClassVar[type[SimChargePoint]] = SimChargePoint

    def __init__(
        self,
        config: ChargerConfig,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        record_frames: bool = True,
    ) -> None:
        self.config = config
        self.url = url.rstrip("/")
        self.frames: list[Frame] = []
        self.received_calls: list[tuple[str, Payload]] = []
        # Per action: a CALLRESULT payload (sent as is) or an OCPPError (sent as CALLERROR).
        self.answers: dict[str, Payload | OCPPError | Silence] = {}
        connectors = range(1, config.connectors + 1)
        self.energy_wh: dict[int, int] = dict.fromkeys(connectors, config.initial_energy_wh)
        self.connector_status: dict[int, str] = {}
        self.transactions: dict[int, int] = {}  # connector -> open transaction id
        self.unavailable: set[int] = set()
        self.configuration: dict[str, str] = {
            "AuthorizeRemoteTxRequests": "false",
            "HeartbeatInterval": f"{config.heartbeat_interval or 60:g}",
            "MeterValueSampleInterval": f"{config.meter_interval:g}",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,"
            "Current.Import,Voltage,Temperature",
            "LocalAuthListEnabled": "true",
            "LocalAuthListMaxLength": "1000",
            "NumberOfConnectors": str(config.connectors),
            "SendLocalListMaxLength": "100",
            "SupportedFeatureProfiles": "Core,FirmwareManagement,LocalAuthListManagement,"
            "Reservation,RemoteTrigger,SmartCharging",
            "WebSocketPingInterval": f"{config.ping_interval or 0:g}",
        }
        # The local authorization list: casefolded tag -> (tag, idTagInfo in camelCase).
        self.local_list: dict[str, tuple[str, Payload]] = {}
        self.local_list_version = 0
        self.protocol: str | None = None  # subprotocol the CSMS picked
        self._http = session
        self._own_http = session is None
        self._record = record_frames
        # Told of each CALL right after it left (a crash test's trigger).
        self.on_frame_sent: Callable[[str], None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._conn: Connection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._closed.set()
        self._call_lock = asyncio.Lock()  # OCPP-J allows one outstanding CALL per side
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._on_reply: dict[str, Callable[[Payload], None]] = {}
        """Per pending call: what to take in from its answer as soon as it is read."""
        self._given_up: set[str] = set()  # ids of calls that stopped waiting for a reply
        self._frame_waiters: list[tuple[Callable[[Frame], bool], asyncio.Future[Frame]]] = []
        self._sessions: dict[int, _Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False  # inside run_forever, which reconnects after a Reset
        self._rng = random.Random(config.charger_id)
        # Fault injection (see "faults" below).
        self.silent = False  # connected, but sends nothing on its own
        self.stalled: set[int] = set()  # connectors that stay Charging without drawing power
        self.temperatures: dict[int, float] = {}  # connector -> reported temperature
        self.faulted: set[int] = set()  # connectors no session starts on (demo mode)
        self._serving = asyncio.Event()  # run_forever is connected and booted
        # connector -> (reservation id, id tag, expiry): ReserveNow, ended by its tag's session,
        # CancelReservation or the expiry.
        self.reservations: dict[int, tuple[int, str, datetime]] = {}

    @property
    def connected(self) -> bool:
        return self._reader is not None and not self._reader.done()

    @property
    def close_code(self) -> int | None:
        """The websocket close code once closed."""
        return None if self._ws is None else self._ws.close_code

    @property
    def heartbeat_interval(self) -> float:
        return float(self.configuration["HeartbeatInterval"])

    @property
    def meter_interval(self) -> float:
        return float(self.configuration["MeterValueSampleInterval"])

    # --- connection -------------------------------------------------------------------

    async def connect(self, url_suffix: str | None = None) -> None:
        """Open the websocket to f"{url}/{charger_id}" and start receiving.

        ``url_suffix`` replaces the charger id part of the URL. A refused upgrade
        raises ``aiohttp.WSServerHandshakeError``.
        """
        if self.connected:
            raise RuntimeError(f"{self.config.charger_id} is already connected")
        if self._http is None or (self._own_http and self._http.closed):
            self._http = aiohttp.ClientSession()
        cfg = self.config
        headers = (
            {}
            if cfg.password is None
            else {"Authorization": aiohttp.encode_basic_auth(cfg.charger_id, cfg.password)}
        )
        path = cfg.charger_id if url_suffix is None else url_suffix
        ws = await self._http.ws_connect(
            f"{self.url}/{path}",
            protocols=cfg.subprotocols,
            headers=headers,
            heartbeat=cfg.ping_interval,
            ssl=True if cfg.tls is None else cfg.tls,
        )
        self._ws, self.protocol = ws, ws.protocol
        conn: Connection = WebSocketConnection(ws, cfg.charger_id)
        self._conn = RecordingConnection(conn, self.frames) if self._record else conn
        cp = self.charge_point_class(self, self._conn)
        self._closed = asyncio.Event()
        self._reader = asyncio.create_task(self._receive(cp, ws), name=f"{cfg.charger_id} recv")
        _LOGGER.info("%s: connected to %s", cfg.charger_id, self.url)

    async def _receive(self, cp: SimChargePoint, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await cp.start()
        except ConnectionError:
            pass
        except Exception:
            _LOGGER.exception("%s: receive loop failed", self.config.charger_id)
            await ws.close(code=aiohttp.WSCloseCode.INTERNAL_ERROR)
        finally:
            self._closed.set()
            lost = ConnectionError(f"{self.config.charger_id}: connection closed")
            futures: list[asyncio.Future[Any]] = [*self._pending.values()]
            futures += (fut for _, fut in self._frame_waiters)
            for fut in futures:
                if not fut.done():
                    fut.set_exception(lost)
            code = self.close_code
            _LOGGER.info("%s: disconnected%s", self.config.charger_id, f" ({code})" if code else "")

    async def close(self) -> None:
        """Close the websocket, stop background tasks and close the session if we made it."""
        await self._disconnect()
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def _disconnect(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sessions.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def wait_closed(self) -> None:
        """Return once the connection is closed (at once if not connected)."""
        await self._closed.wait()

    def go_half_open(self, half_open: bool = True) -> None:
        """Stop (or go back to) reading the socket without closing it, as when the network
        path dies and comes back: meanwhile the central system's pings go unanswered."""
        assert self._ws is not None
        connection = self._ws._conn
        assert connection is not None
        transport = connection.transport
        assert transport is not None
        if half_open:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # --- raw frames -------------------------------------------------------------------

    async def send_raw(self, text: str) -> None:
        """Send exactly ``text``, e.g. a malformed frame."""
        await self._connection().send(text)

    async def call_raw(self, message: list[Any] | str, timeout: float = 5) -> list[Any]:  # noqa: ASYNC109
        """Send a frame and return the decoded CALLRESULT/CALLERROR with the same message id.

        The frame must be a JSON array whose element 1 (the id) is not an array or
        object; anything else raises ValueError without sending: use ``send_raw`` and
        ``wait_frame`` for those. Nothing is validated.
        """
        if isinstance(message, str):
            raw = message
            try:
                decoded = json.loads(message)
            except ValueError:
                decoded = None
        else:
            raw, decoded = json.dumps(message, separators=(",", ":")), message
        if not (isinstance(decoded, list) and len(decoded) > 1) or isinstance(
            decoded[1], list | dict
        ):
            raise ValueError("frame has no readable message id; use send_raw() instead")
        return await self._request(json.dumps(decoded[1]), raw, timeout)

    async def wait_frame(
        self,
        predicate: Callable[[Frame], bool] | None = None,
        *,
        timeout: float = 5,  # noqa: ASYNC109
    ) -> Frame:
        """Wait for the next received frame (that matches ``predicate``)."""
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        entry = (predicate or (lambda _: True), fut)
        self._frame_waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                return await fut
        finally:
            self._frame_waiters.remove(entry)

    def _take_in(self, key: str, reply: list[Any]) -> None:
        """What a real charger takes in from an answer before it reads its next frame: the
        heartbeat interval of an accepted boot (a BootNotification.conf's shape), and what
        its caller asked for (a StartTransaction's transaction id: a RemoteStopTransaction
        right behind the answer names it)."""
        payload = reply[2] if len(reply) > 2 and isinstance(reply[2], dict) else {}
        if (take := self._on_reply.pop(key, None)) is not None and reply[0] == _RESULT:
            take(payload)
        if (
            set(payload) == {"currentTime", "interval", "status"}
            and payload["status"] == "Accepted"
            and self.config.heartbeat_interval is None
        ):
            self.configuration["HeartbeatInterval"] = str(payload["interval"])

    def _notify_frame(self, frame: Frame) -> None:
        for predicate, fut in self._frame_waiters:
            if not fut.done() and predicate(frame):
                fut.set_result(frame)

    def _connection(self) -> Connection:
        if self._conn is None or not self.connected:
            raise ConnectionError(f"{self.config.charger_id} is not connected")
        return self._conn

    async def _request(self, key: str, raw: str, reply_within: float) -> list[Any]:
        async with self._call_lock:
            conn = self._connection()
            fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self._pending[key] = fut
            try:
                await conn.send(raw)
                if self.on_frame_sent is not None:
                    self.on_frame_sent(raw)
                async with asyncio.timeout(reply_within):
                    return await fut
            except TimeoutError:
                raise TimeoutError(f"no answer within {reply_within} s to {raw}") from None
            finally:
                del self._pending[key]
                self._on_reply.pop(key, None)
                if fut.cancelled():
                    if len(self._given_up) > 100:  # replies that never came
                        self._given_up.clear()
                    self._given_up.add(key)

    # --- CALLs to the CSMS ------------------------------------------------------------

    async def call(self, payload: Any, take_in: Callable[[Payload], None] | None = None) -> Payload:
        """Send any ``ocpp.v16.call`` payload; return the CALLRESULT payload (camelCase).

        Request and answer are checked against the OCPP 1.6 schemas (use ``call_raw``
        for invalid frames); a CALLERROR is raised as the matching ``OCPPError``.
        `take_in` gets the answer the moment it is read, before the next frame is.
        """
        action = type(payload).__name__
        body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
        request = Call(str(uuid.uuid4()), action, body)
        await validate_payload(request, OCPP_VERSION)
        if take_in is not None:
            self._on_reply[json.dumps(request.unique_id)] = take_in
        reply = await self._request(
            json.dumps(request.unique_id), request.to_json(), self.config.response_timeout
        )
        if reply[0] == _ERROR:
            raise CallError(*reply[1:5]).to_exception()
        await validate_payload(CallResult(reply[1], reply[2], action), OCPP_VERSION)
        return cast(Payload, reply[2])

    async def boot(self) -> Payload:
        cfg = self.config
        result = await self.call(
            call.BootNotification(
                charge_point_model=cfg.model,
                charge_point_vendor=cfg.vendor,
                charge_point_serial_number=cfg.serial_number or f"SN-{cfg.charger_id}"[:25],
                firmware_version=cfg.firmware,
            )
        )
        _LOGGER.info("%s: boot %s", cfg.charger_id, result["status"])
        return result

    async def heartbeat(self) -> Payload:
        return await self.call(call.Heartbeat())

    async def status(
        self,
        connector_id: int,
        status: str,
        error_code: str = "NoError",
        *,
        info: str | None = None,
        vendor_error_code: str | None = None,
        timestamp: datetime | None = None,
    ) -> Payload:
        if self.connector_status.get(connector_id) != status:
            _LOGGER.info("%s: connector %d %s", self.config.charger_id, connector_id, status)
        self.connector_status[connector_id] = status
        return await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error_code,
                status=status,
                info=info,
                vendor_error_code=vendor_error_code,
                timestamp=iso(timestamp),
            )
        )

    async def authorize(self, id_tag: str) -> Payload:
        """Authorize with the CSMS; while disconnected, from the local list as chargers do."""
        if not self.connected:
            return self.authorize_locally(id_tag)
        return await self.call(call.Authorize(id_tag=id_tag))

    def authorize_locally(self, id_tag: str) -> Payload:
        """The Authorize answer the local list gives: Invalid for a tag not in it."""
        found = self.local_list.get(id_tag.casefold())
        if found is None or self.configuration.get("LocalAuthListEnabled") != "true":
            return {"idTagInfo": {"status": "Invalid"}}
        info = dict(found[1])
        expiry = info.get("expiryDate")
        if (
            info["status"] == "Accepted"
            and expiry
            and datetime.fromisoformat(expiry) <= (datetime.now(UTC))
        ):
            info["status"] = "Expired"
        return {"idTagInfo": info}

    async def start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        *,
        meter_start: int | None = None,
        timestamp: datetime | None = None,
    ) -> Payload:
        """StartTransaction; ``meter_start`` defaults to the connector's register."""
        if meter_start is None:
            meter_start = self.energy_wh.get(connector_id, self.config.initial_energy_wh)
        else:
            self.energy_wh[connector_id] = meter_start
        held = self.reservations.get(connector_id)

        def started(result: Payload) -> None:
            self.transactions[connector_id] = result["transactionId"]
            self.reservations.pop(connector_id, None)  # a reservation ends with a session

        return await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=iso(timestamp),
                reservation_id=held[0] if held and held[1] == id_tag else None,
            ),
            take_in=started,
        )

    async def meter_values(
        self,
        connector_id: int,
        transaction_id: int | None,
        *,
        power_w: float,
        energy_wh: int | None = None,
        timestamp: datetime | None = None,
        soc: int | None = None,
        phases: bool = True,
        sampled_value: list[Payload] | None = None,
    ) -> Payload:
        """MeterValues with ``sampled_values(...)``; ``sampled_value`` replaces that list.

        ``energy_wh`` defaults to the connector's register; a given value becomes the
        register (a test may drive a meter reset with it).
        """
        if energy_wh is None:
            energy_wh = self.energy_wh.get(connector_id, self.config.initial_energy_wh)
        else:
            self.energy_wh[connector_id] = energy_wh
        if sampled_value is None:
            sampled_value = sampled_values(
                power_w,
                energy_wh,
                soc=soc,
                phases=phases,
                temperature_c=self.temperatures.get(connector_id),
            )
        return await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": iso(timestamp), "sampledValue": sampled_value}],
            )
        )

    async def stop_transaction(
        self,
        transaction_id: int,
        *,
        meter_stop: int | None = None,
        reason: str | None = "Local",
        id_tag: str | None = None,
        timestamp: datetime | None = None,
        transaction_data: list[Payload] | None = None,
    ) -> Payload:
        """StopTransaction; ``meter_stop`` defaults to the register of its connector."""
        connector = next((c for c, t in self.transactions.items() if t == transaction_id), None)
        if connector is not None:
            del self.transactions[connector]
        if meter_stop is None:
            meter_stop = self.energy_wh.get(connector or 1, self.config.initial_energy_wh)
        elif connector is not None:
            self.energy_wh[connector] = meter_stop
        return await self.call(
            call.StopTransaction(
                meter_stop=meter_stop,
                timestamp=iso(timestamp),
                transaction_id=transaction_id,
                reason=reason,
                id_tag=id_tag,
                transaction_data=transaction_data,
            )
        )

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> Payload:
        return await self.call(
            call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)
        )

    async def diagnostics_status(self, status: str) -> Payload:
        return await self.call(call.DiagnosticsStatusNotification(status=status))

    async def firmware_status(self, status: str) -> Payload:
        return await self.call(call.FirmwareStatusNotification(status=status))

    # --- sessions ---------------------------------------------------------------------

    async def run_session(
        self,
        connector_id: int = 1,
        id_tag: str = "SIMTAG",
        *,
        meter_values: int | None = 5,
        power_w: int | None = None,
        soc: int | None = None,
        sleep: Sleep = asyncio.sleep,
        stop_reason: str = "EVDisconnected",
    ) -> int:
        """Plug in, authorize, charge, stop, unplug; return the transaction id.

        Sends ``meter_values`` samples ramping up to ``power_w`` (default max_power_w),
        one per meter_interval of ``sleep`` and of timestamps; None charges until a
        RemoteStopTransaction. Raises PermissionError when the CSMS refuses the id tag.
        """
        session = self._reserve_connector(connector_id, strict=False)
        if session is None:
            raise RuntimeError(f"connector {connector_id} is already in a session")
        return await self._charge(
            session,
            id_tag,
            meter_values=meter_values,
            power_w=power_w,
            soc=soc,
            sleep=sleep,
            stop_reason=stop_reason,
        )

    def _reserve_connector(
        self, connector_id: int | None, *, strict: bool = True
    ) -> _Session | None:
        """Claim a connector for a session; strict: also available and without transaction."""
        n = self.config.connectors

        def free(c: int) -> bool:
            if c in self._sessions:
                return False
            return not strict or (
                1 <= c <= n and c not in self.unavailable | self.transactions.keys()
            )

        if connector_id is None:
            connector_id = next((c for c in range(1, n + 1) if free(c)), None)
        if connector_id is None or not free(connector_id):
            return None
        session = self._sessions[connector_id] = _Session(connector_id)
        return session

    async def _charge(
        self,
        session: _Session,
        id_tag: str,
        *,
        authorize: bool = True,
        meter_values: int | None = None,
        power_w: float | None = None,
        soc: int | None = None,
        sleep: Sleep = asyncio.sleep,
        stop_reason: str = "EVDisconnected",
    ) -> int:
        c = session.connector_id
        try:
            t = datetime.now(UTC)
            await self.status(c, "Preparing", timestamp=t)
            if authorize:
                answer = await self.authorize(id_tag)
                if (tag_status := answer["idTagInfo"]["status"]) != "Accepted":
                    await self.status(c, self._idle_status(c), timestamp=t)
                    raise PermissionError(f"id tag {id_tag} is {tag_status}")
            started = await self.start_transaction(c, id_tag, timestamp=t)
            tx: int = started["transactionId"]
            session.transaction_id = tx
            if (tag_status := started["idTagInfo"]["status"]) != "Accepted":
                await self._finish(c, tx, t, "DeAuthorized", id_tag)
                raise PermissionError(f"id tag {id_tag} is {tag_status} (transaction {tx})")
            await self.status(c, "Charging", timestamp=t)
            full = self.config.max_power_w if power_w is None else power_w
            soc_now = None if soc is None else float(soc)
            sample = 0
            while meter_values is None or sample < meter_values:
                interval = self.meter_interval
                await self._pause(session, interval, sleep)
                if session.stop.is_set():
                    break
                sample += 1
                t += timedelta(seconds=interval)
                session.power_w = full * min(1.0, sample / 3)  # ramp up over three samples
                if c in self.stalled:
                    session.power_w = 0.0
                # At least 1 Wh per sample so short test intervals still show progress.
                step = max(1, round(session.power_w * interval / 3600)) if session.power_w else 0
                self.energy_wh[c] = self.energy_wh.get(c, self.config.initial_energy_wh) + step
                if soc_now is not None:
                    soc_now = min(100.0, soc_now + step / 600)  # a 60 kWh battery
                if self.silent:
                    continue
                await self.meter_values(
                    c,
                    tx,
                    power_w=session.power_w,
                    timestamp=t,
                    soc=None if soc_now is None else int(soc_now),
                )
            session.power_w = 0.0
            t = max(t, datetime.now(UTC))  # a remote stop happens in real time
            await self._finish(c, tx, t, session.stop_reason or stop_reason, id_tag)
            return tx
        finally:
            if self._sessions.get(c) is session:
                del self._sessions[c]
            session.done.set()

    async def _pause(self, session: _Session, seconds: float, sleep: Sleep) -> None:
        if sleep is not asyncio.sleep:
            await sleep(seconds)
            return
        # Real time: wake early on a stop request.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await session.stop.wait()

    async def _finish(
        self, connector_id: int, tx: int, t: datetime, reason: str, id_tag: str | None
    ) -> None:
        await self.stop_transaction(tx, reason=reason, id_tag=id_tag, timestamp=t)
        await self.status(connector_id, "Finishing", timestamp=t)
        await self.status(connector_id, self._idle_status(connector_id), timestamp=t)

    def _idle_status(self, connector_id: int) -> str:
        return "Unavailable" if connector_id in self.unavailable else "Available"

    def _stop_transaction_remotely(self, transaction_id: int, reason: str) -> None:
        connector = next((c for c, t in self.transactions.items() if t == transaction_id), None)
        if connector is None:
            return
        if (session := self._sessions.get(connector)) is not None:
            session.stop_reason = reason
            session.stop.set()
        else:  # started by hand with start_transaction()
            self._spawn(self._finish(connector, transaction_id, datetime.now(UTC), reason, None))

    # --- reacting to the CSMS ---------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if (
            task.cancelled()
            or (err := task.exception()) is None
            or isinstance(err, ConnectionError)
        ):
            return
        if isinstance(err, OCPPError | TimeoutError | PermissionError):
            _LOGGER.warning("%s: %r", self.config.charger_id, err)
        else:
            _LOGGER.error("%s: background task failed", self.config.charger_id, exc_info=err)

    def _configure(self, key: str, value: str) -> str:
        if key in SimChargePoint.readonly_keys:
            return "Rejected"
        if key in ("HeartbeatInterval", "MeterValueSampleInterval"):
            try:
                if float(value) <= 0:
                    return "Rejected"
            except ValueError:
                return "Rejected"
        self.configuration[key] = value
        return "Accepted"

    def _update_local_list(self, version: int, update_type: str, entries: list[Payload]) -> str:
        if self.configuration.get("LocalAuthListEnabled") != "true":
            return "NotSupported"
        if len(entries) > int(self.configuration["SendLocalListMaxLength"]):
            return "Failed"
        if update_type == "Differential" and version <= self.local_list_version:
            return "VersionMismatch"
        updated = {} if update_type == "Full" else dict(self.local_list)
        for entry in entries:
            key = entry["id_tag"].casefold()
            if (info := entry.get("id_tag_info")) is None:
                updated.pop(key, None)
            else:
                updated[key] = (entry["id_tag"], snake_to_camel_case(info))
        if len(updated) > int(self.configuration["LocalAuthListMaxLength"]):
            return "Failed"
        self.local_list, self.local_list_version = updated, version
        return "Accepted"

    async def idle(self) -> None:
        """Wait until the work the charger started on its own (answers to triggers,
        remote starts, announcements) is done."""
        while tasks := [task for task in self._tasks if task is not asyncio.current_task()]:
            await asyncio.wait(tasks)

    def _connectors(self, first: int = 0) -> range:
        return range(first, self.config.connectors + 1)

    async def _send_triggered(self, message: str, connector_id: int | None) -> None:
        match message:
            case "BootNotification":
                await self.boot()
            case "Heartbeat":
                await self.heartbeat()
            case "DiagnosticsStatusNotification":
                await self.diagnostics_status("Idle")
            case "FirmwareStatusNotification":
                await self.firmware_status("Idle")
            case "StatusNotification":
                for c in self._connectors() if connector_id is None else [connector_id]:
                    await self.status(c, self.connector_status.get(c, self._idle_status(c)))
            case "MeterValues":
                for c in self._connectors(1) if connector_id is None else [connector_id]:
                    session = self._sessions.get(c)
                    power = 0.0 if session is None else session.power_w
                    energy = self.energy_wh.get(c, self.config.initial_energy_wh)
                    await self.meter_values(
                        c,
                        self.transactions.get(c),
                        power_w=power,
                        sampled_value=sampled_values(power, energy, context="Trigger"),
                    )

    def _reserve(self, connector_id: int, expiry: str, id_tag: str, reservation_id: int) -> str:
        if not 1 <= connector_id <= self.config.connectors:
            return "Rejected"
        if connector_id in self.faulted:
            return "Faulted"
        if connector_id in self.unavailable:
            return "Unavailable"
        held = self.reservations.get(connector_id)
        busy = connector_id in self._sessions or connector_id in self.transactions
        if busy or (held is not None and held[0] != reservation_id and held[2] > datetime.now(UTC)):
            return "Occupied"
        self.reservations[connector_id] = (reservation_id, id_tag, datetime.fromisoformat(expiry))
        return "Accepted"

    def _cancel_reservation(self, reservation_id: int) -> int | None:
        for connector, (held_id, _, _) in list(self.reservations.items()):
            if held_id == reservation_id:
                del self.reservations[connector]
                return connector
        return None

    def _change_availability(self, connector_id: int, operative: bool) -> str:
        if not 0 <= connector_id <= self.config.connectors:
            return "Rejected"
        targets = set(self._connectors() if connector_id == 0 else [connector_id])
        if operative:
            self.unavailable -= targets
        else:
            self.unavailable |= targets
        return "Scheduled" if targets & self.transactions.keys() else "Accepted"

    async def _announce_availability(self, connector_id: int) -> None:
        if 0 <= connector_id <= self.config.connectors:
            for c in self._connectors() if connector_id == 0 else [connector_id]:
                if c not in self.transactions:
                    await self.status(c, self._idle_status(c))

    async def _reset(self, kind: str) -> None:
        sessions = list(self._sessions.values())
        for tx in list(self.transactions.values()):
            self._stop_transaction_remotely(tx, f"{kind}Reset")
        if sessions:
            async with asyncio.timeout(self.config.response_timeout):
                await asyncio.gather(*(s.done.wait() for s in sessions))
        if self._running and self._ws is not None:
            _LOGGER.info("%s: %s reset, rebooting", self.config.charger_id, kind)
            await self._ws.close()

    # --- faults: each condition the central system's detectors look for ----------------

    async def fault(
        self,
        connector_id: int = 1,
        error_code: str = "GroundFailure",
        *,
        vendor_error_code: str | None = None,
        info: str | None = None,
    ) -> None:
        """Report a fault (connector 0: the whole charger)."""
        await self.status(
            connector_id, "Faulted", error_code, vendor_error_code=vendor_error_code, info=info
        )

    async def clear_fault(self, connector_id: int = 1) -> None:
        """Report the connector fine again."""
        status = (
            "Charging" if connector_id in self.transactions else self._idle_status(connector_id)
        )
        await self.status(connector_id, status)

    async def reconnect(self, times: int = 1) -> None:
        """Drop the connection and come back (with a boot), `times` over: flapping."""
        for _ in range(times):
            self._serving.clear()
            if self._ws is not None:
                await self._ws.close()
            if self._reader is not None:
                await asyncio.gather(self._reader, return_exceptions=True)
            if self._running:  # run_forever comes back by itself
                await self._serving.wait()
            else:
                await self.connect()
                await self.boot()

    async def meter_jump(self, connector_id: int, wh: int) -> Payload:
        """Move the energy register by `wh` (negative: backwards) and report it."""
        energy = self.energy_wh.get(connector_id, self.config.initial_energy_wh) + wh
        return await self.meter_values(
            connector_id, self.transactions.get(connector_id), power_w=0, energy_wh=energy
        )

    INJECTABLE: ClassVar[tuple[str, ...]] = (
        "fault",
        "offline",
        "stalled",
        "meter_anomaly",
        "flapping",
        "degradation",
    )

    async def inject(self, kind: str, *, lasting: float = 60.0) -> None:
        """Produce one detector's condition for about `lasting` seconds, then end it."""
        rng = self._rng
        connector = rng.randint(1, self.config.connectors)
        _LOGGER.info("%s: injecting %s on connector %d", self.config.charger_id, kind, connector)
        match kind:
            case "fault":
                code = rng.choice(["GroundFailure", "OverCurrentFailure", "HighTemperature"])
                self.faulted.add(connector)
                await self.fault(connector, code, vendor_error_code=f"E{rng.randint(10, 99)}")
                await asyncio.sleep(lasting)
                self.faulted.discard(connector)
                await self.clear_fault(connector)
            case "offline":
                self.silent = True
                await asyncio.sleep(max(lasting, 3 * self.heartbeat_interval))
                self.silent = False
                await self.heartbeat()
            case "stalled":
                self.stalled.add(connector)
                await asyncio.sleep(lasting)
                self.stalled.discard(connector)
            case "meter_anomaly":
                await self.meter_jump(connector, 1_000_000)
            case "flapping":
                await self.reconnect(times=8)
            case "degradation":
                self.temperatures[connector] = 85.0
                await asyncio.sleep(lasting)
                self.temperatures.pop(connector, None)
            case _:
                raise ValueError(f"cannot inject {kind!r}; one of {', '.join(self.INJECTABLE)}")

    # --- demo and benchmark mode ------------------------------------------------------

    async def run_forever(self, *, reconnect: bool = True) -> None:
        """Behave like a charger in use until cancelled.

        Connects, boots (retrying while Pending/Rejected), reports every connector,
        heartbeats and now and then charges on each connector. When the connection
        drops it reconnects with exponential backoff, or returns (raises, if it
        failed) when ``reconnect`` is False.
        """
        self._running = True
        backoff = 1.0
        try:
            while True:
                try:
                    await self.connect()
                    await self._boot_until_accepted()
                    backoff = 1.0
                    await self._serve()
                except (OSError, aiohttp.ClientError, TimeoutError, OCPPError) as err:
                    if not reconnect:
                        raise
                    _LOGGER.warning(
                        "%s: %r; retrying in %.0f s", self.config.charger_id, err, backoff
                    )
                else:
                    if not reconnect:
                        return
                finally:
                    await self._disconnect()
                await asyncio.sleep(backoff * self._rng.uniform(0.8, 1.2))
                backoff = min(backoff * 2, 60.0)
        finally:
            self._running = False
            await self.close()

    async def _boot_until_accepted(self) -> None:
        while True:
            answer = await self.boot()
            if answer["status"] == "Accepted":
                return
            await asyncio.sleep(answer["interval"] or 10)

    async def _serve(self) -> None:
        """Run heartbeats and sessions until the connection closes."""
        self._serving.set()
        await self._stop_open_transactions("Other")  # left open by a lost connection
        for c in self._connectors():
            await self.status(c, self._idle_status(c))
        tasks = [
            asyncio.create_task(self._closed.wait()),
            asyncio.create_task(self._heartbeat_loop()),
            *(asyncio.create_task(self._session_loop(c)) for c in self._connectors(1)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # When cancelled (shut down) while connected, don't leave transactions open.
            await self._stop_open_transactions("Local")
        for task in done:
            task.result()  # surfaces a crashed loop

    async def _stop_open_transactions(self, reason: str) -> None:
        if not (self.transactions and self.connected):
            return
        with contextlib.suppress(OCPPError, OSError):  # OSError covers timeouts and closing
            async with asyncio.timeout(5):
                for tx in list(self.transactions.values()):
                    await self.stop_transaction(tx, reason=reason)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self.silent:
                continue
            try:
                await self.heartbeat()
            except ConnectionError:
                return
            except (OCPPError, TimeoutError) as err:
                _LOGGER.warning("%s: heartbeat failed: %r", self.config.charger_id, err)

    async def _session_loop(self, connector_id: int) -> None:
        rng = self._rng
        while True:
            await asyncio.sleep(rng.uniform(1, 6) * self.meter_interval)
            if connector_id in self._sessions or connector_id in self.unavailable | self.faulted:
                continue
            try:
                await self.run_session(
                    connector_id,
                    meter_values=rng.randint(6, 30),
                    power_w=round(self.config.max_power_w * rng.uniform(0.5, 1.0)),
                    soc=rng.randint(10, 60),
                )
            except ConnectionError:
                return
            except (OCPPError, TimeoutError, PermissionError) as err:
                _LOGGER.warning(
                    "%s: session on connector %d failed: %r",
                    self.config.charger_id,
                    connector_id,
                    err,
                )


def many_chargers_session() -> aiohttp.ClientSession:
    """A ClientSession to share between many chargers.

    Each websocket holds a pooled connection, and aiohttp's default pool of 100
    would make the 101st charger wait.
    """
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
