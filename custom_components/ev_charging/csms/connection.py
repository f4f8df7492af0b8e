"""One charger's websocket session: the `ocpp` ChargePoint with 1.6-correct routing."""

import asyncio
import contextlib
import functools
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import InternalError, OCPPError, SecurityError
from ocpp.messages import CallError, CallResult, unpack
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from ..ledger import LedgerError
from .log_safety import untrusted_logger
from .protocol import (
    FrameError,
    IncomingCall,
    IncomingReply,
    UnreadableFrame,
    check_action,
    parse_frame,
    result_error,
    validate_call,
    validate_result,
)

if TYPE_CHECKING:
    from ..ledger import FrameRef
    from .central import CentralSystem
    from .state import ChargerState

_LOGGER = untrusted_logger(__name__)
# The ocpp library logs every frame at INFO: under a logger of its own, so it can be turned
# on alone (custom_components.ev_charging.csms.connection.frames: info).
_FRAME_LOGGER = untrusted_logger(f"{__name__}.frames")

# Messages that carry billing data: kept raw in the ledger before they are validated.
TRANSACTION_ACTIONS = frozenset(
    {Action.start_transaction, Action.stop_transaction, Action.meter_values}
)
# What a charger may send before the owner approved it.
BEFORE_APPROVAL = frozenset({Action.boot_notification, Action.heartbeat})


@functools.cache
def _snake_case(key: str) -> str:
    """The ocpp library's key conversion, remembered: it runs regexes on every key."""
    converted: dict[str, Any] = camel_to_snake_case({key: None})
    return next(iter(converted))


def snake_case_keys(data: Any) -> Any:
    """camelCase keys to snake_case, all the way down, as the `@on` handlers expect."""
    if isinstance(data, dict):
        return {_snake_case(key): snake_case_keys(value) for key, value in data.items()}
    if isinstance(data, list):
        return [snake_case_keys(value) for value in data]
    return data


class _WebSocketAdapter:
    """The connection interface the `ocpp` library expects, over aiohttp."""

    def __init__(self, websocket: web.WebSocketResponse) -> None:
        self._websocket = websocket

    async def send(self, text: str) -> None:
        await self._websocket.send_str(text)

    async def recv(self) -> str:  # pragma: no cover - we run our own receive loop
        raise RuntimeError("frames are read by ChargerConnection.run")


class ChargerConnection(ChargePoint):  # type: ignore[misc]
    """Answers one charger; the central system holds the state and the ledger."""

    def __init__(
        self, central: CentralSystem, charger: ChargerState, websocket: web.WebSocketResponse
    ) -> None:
        super().__init__(
            charger.charger_id,
            _WebSocketAdapter(websocket),
            response_timeout=30,
            logger=_FRAME_LOGGER,
        )
        self.central = central
        self.charger = charger
        self.websocket = websocket
        self._handled = frozenset(self.route_map)
        self.closed = asyncio.Event()
        """Set when the socket is gone: commands waiting for an answer give up at once."""
        self.booted = asyncio.Event()
        """Set when the charger sent a BootNotification on this connection."""
        self._awaited: str | None = None
        """The message id of our CALL waiting for its answer; other replies are dropped."""
        self._actions: dict[str, str] = {}
        """Our CALLs under way: message id -> action."""
        self._pong = asyncio.Event()
        self._start_answered = asyncio.Event()
        """Clear while a StartTransaction is being answered (see call())."""
        self._start_answered.set()

    @classmethod
    def handled_actions(cls) -> list[str]:
        """The actions this class answers (the `@on` handlers)."""
        return [f._on_action for f in vars(cls).values() if hasattr(f, "_on_action")]

    async def run(self) -> None:
        """Read frames until the socket closes."""
        websocket = self.websocket
        try:
            async for message in websocket:
                if message.type == web.WSMsgType.TEXT:
                    try:
                        await self.route_message(message.data)
                    except ConnectionResetError:
                        # Gone while we answered (a network blip): what it sent is stored, and
                        # a charger sends again what it heard no answer to.
                        _LOGGER.info("%s: closed before an answer could be sent", self.id)
                    except Exception:
                        # Whatever went wrong with one frame, the connection goes on.
                        self._warn(
                            "bug", "%s: frame not handled: %s", self.id, message.data, error=True
                        )
                elif message.type == web.WSMsgType.PING:
                    await websocket.pong(message.data)
                    self._alive()
                elif message.type == web.WSMsgType.PONG:
                    self._pong.set()
                    self._alive()
                elif message.type == web.WSMsgType.BINARY:
                    self._unreadable(repr(message.data[:200]), "a binary frame, OCPP-J uses text")
                elif message.type == web.WSMsgType.ERROR:
                    # A frame over the size limit ends here: aiohttp closed the socket (1009).
                    self._warn("socket", "%s: connection closed: %s", self.id, message.data)
        finally:
            self.closed.set()

    def _seen(self) -> datetime:
        """The charger showed a sign of life now (returned): a frame, a ping or a pong."""
        now = self.central.now()
        self.charger.last_seen = now
        self.charger.health.message(now)
        return now

    def _alive(self) -> None:
        """A websocket ping or pong: OCPP-J lets these stand in for Heartbeats."""
        self._seen()
        self.central.check_health(self.charger)

    async def answers_ping(self, within: float) -> bool:
        """Whether the charger is still there: it answers a websocket ping in time."""
        if self.websocket.closed:
            return False
        self._pong.clear()
        try:
            await self.websocket.ping()
            async with asyncio.timeout(within):
                await self._pong.wait()
        except TimeoutError, ConnectionError, RuntimeError:
            return False
        return True

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """The ocpp library's call, noting which action each message id asks for.

        A CALL waits for the answer to a StartTransaction being answered (bounded by the
        response timeout): a RemoteStopTransaction must not reach the charger before the
        transaction id it names, or the charger refuses it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._response_timeout):
                await self._start_answered.wait()
        unique_id = unique_id or str(self._unique_id_generator())
        self._actions[unique_id] = type(payload).__name__
        try:
            return await super().call(payload, suppress, unique_id, skip_schema_validation)
        finally:
            del self._actions[unique_id]

    def _checked_reply(self, message: IncomingReply) -> CallResult | CallError:
        """The charger's answer to our CALL; a malformed one becomes a CallError at once,
        naming what is wrong, so the command fails now rather than at its timeout."""
        action = self._actions.get(str(message.message_id), "")
        try:
            reply = unpack(message.raw)
        except OCPPError as err:
            error: OCPPError | None = err
        else:
            if (
                isinstance(reply, CallError)
                or (error := result_error(action, reply.payload)) is None
            ):
                return reply
        assert error is not None
        self._warn("reply", "%s: malformed answer to %s: %s", self.id, action, error.description)
        return CallError(
            message.message_id,
            error.code,
            f"The charger's answer to {action} is malformed: {error.description}",
            {},
        )

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:  # noqa: ASYNC109
        """The ocpp library's wait for our CALL's answer, noting which id is awaited."""
        self._awaited = unique_id
        try:
            return await super()._get_specific_response(unique_id, timeout)
        finally:
            self._awaited = None

    def _warn(self, kind: str, msg: str, *args: Any, error: bool = False) -> None:
        """A warning (or, with `error`, an error with its traceback) about this charger: a
        few a minute of each kind, the rest counted, whatever a charger sends."""
        self.central.log_throttle.log(
            _LOGGER,
            logging.ERROR if error else logging.WARNING,
            (self.id, kind),
            msg,
            *args,
            exc_info=error,
        )

    async def route_message(self, raw_msg: str) -> None:
        """Answer one frame as OCPP 1.6 requires; the connection survives anything."""
        try:
            await self._route(raw_msg, self._seen())
        finally:
            self._start_answered.set()  # frames are routed one at a time
            self.central.check_health(self.charger)

    async def _route(self, raw_msg: str, received_at: datetime) -> None:
        central = self.central
        try:
            message = parse_frame(raw_msg)
        except UnreadableFrame as err:
            self._unreadable(raw_msg, str(err))
            return
        except FrameError as err:
            ref = self._record(err.action, err.message_id, raw_msg, received_at)
            await self._send_error(err.message_id, err.action, err.error, ref)
            return
        if isinstance(message, IncomingReply):
            if message.message_id != self._awaited:
                # Nobody asked: queued, it would stay in memory for good.
                self.charger.unexpected_replies += 1
                self._warn("reply", "%s: dropped a reply to no request: %s", self.id, message.raw)
                return
            self._response_queue.put_nowait(self._checked_reply(message))
            return

        if message.action == "StartTransaction":
            self._start_answered.clear()
        ref = self._record(message.action, message.message_id, raw_msg, received_at)
        try:
            payload_in, result = await self._handle(message)
            payload = remove_nones(serialize_as_dict(result))
            answer = snake_to_camel_case(payload)
            validate_result(message.action, answer)
        except OCPPError as err:
            await self._send_error(message.message_id, message.action, err, ref)
            return
        except LedgerError:
            self._not_stored(message.action)
            return
        except Exception:
            self._warn("bug", "%s: error while handling %s", self.id, message.action, error=True)
            await self._send_error(
                message.message_id, message.action, InternalError(description="Internal error"), ref
            )
            return
        if ref is not None:
            # The raw frame is part of what must be on disk before the answer: its own
            # commit may have failed even where the handler's later writes did not.
            if not await self._stored(ref, message.action):
                return
            central.watch(central.ledger.record_outcome(ref, "ok"))
        await self._send(CallResult(message.message_id, answer).to_json())
        # Follow-up work (`@after` handlers, as in the ocpp library) must not hold up the
        # next frame: it may itself send a CALL and wait for the answer.
        if (after := self.route_map[message.action].get("_after_action")) is not None:
            central.background(after(**payload_in))

    async def _handle(self, message: IncomingCall) -> tuple[dict[str, Any], Any]:
        """Check and answer a CALL: the payload as the handlers see it, and the result."""
        check_action(message.action, self._handled)
        if not self.charger.approved and message.action not in BEFORE_APPROVAL:
            raise SecurityError(description="This charger is waiting for the owner's approval")
        validated = validate_call(
            message.action,
            message.payload,
            lenient=self.central.settings.quirks_for(self.id).lenient,
        )
        if validated.fixes:
            _LOGGER.warning(
                "%s: accepted %s leniently: %s", self.id, message.action, "; ".join(validated.fixes)
            )
        payload = snake_case_keys(validated.payload)
        return payload, await self.route_map[message.action]["_on_action"](**payload)

    def _record(
        self, action: str | None, message_id: str | int, raw: str, received_at: Any
    ) -> FrameRef | None:
        if action not in TRANSACTION_ACTIONS:
            return None
        return self.central.ledger.record_frame(self.id, received_at, action, str(message_id), raw)

    async def _send_error(
        self, message_id: str | int, action: str | None, error: OCPPError, ref: FrameRef | None
    ) -> None:
        self._warn(
            "call_error",
            "%s: answering %s (%s) with %s: %s",
            self.id,
            action,
            message_id,
            error.code,
            error.description,
        )
        counts = self.charger.call_errors
        counts[error.code] = counts.get(error.code, 0) + 1
        if ref is not None:
            # The raw frame must be on disk before the charger hears the error and drops it.
            if not await self._stored(ref, action):
                return
            self.central.watch(self.central.ledger.record_outcome(ref, error.code))
        frame = CallError(message_id, error.code, error.description, error.details or {})
        await self._send(frame.to_json())

    async def _stored(self, ref: FrameRef, action: str | None) -> bool:
        """Whether a raw frame's commit succeeded; if not, the message must go unanswered."""
        assert ref.written is not None
        try:
            await ref.written
        except LedgerError:
            self._not_stored(action)
            return False
        return True

    def _not_stored(self, action: str | None) -> None:
        # Not stored, so not answered: the charger times out and sends it again, whereas a
        # CallError would make it give the message up. A failing disk fails every frame:
        # thinned like any other repeated error.
        self._warn("not_stored", "%s: %s not stored; not answering", self.id, action, error=True)

    def _unreadable(self, raw: str, why: str) -> None:
        self.charger.unreadable_frames += 1
        self._warn(
            "unreadable", "%s: ignoring a frame that cannot be answered (%s): %s", self.id, why, raw
        )

    # Handlers: thin; the central system does the work and the bookkeeping.

    @on(Action.boot_notification)
    async def on_boot_notification(self, **payload: Any) -> Any:
        self.booted.set()
        status, interval = await self.central.boot(self.charger, payload)
        return call_result.BootNotification(
            current_time=self.central.now().isoformat(), interval=interval, status=status
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **payload: Any) -> None:
        """An accepted charger gets the meter-value configuration metering needs and the
        owner's tag list."""
        if self.charger.approved and self.charger.booted:
            await self.central.configure_after_boot(self.charger)
            await self.central.sync_local_list(self.charger)

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> Any:
        self.central.heartbeat(self.charger)
        return call_result.Heartbeat(current_time=self.central.now().isoformat())

    @on(Action.status_notification)
    async def on_status_notification(self, **payload: Any) -> Any:
        await self.central.status_notification(self.charger, payload)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info=self.central.authorize(self.charger, id_tag))

    @on(Action.start_transaction)
    async def on_start_transaction(self, **payload: Any) -> Any:
        transaction_id, id_tag_info = await self.central.start_transaction(self.charger, payload)
        if delay := self.central.settings.quirks_for(self.id).start_transaction_delay:
            await asyncio.sleep(delay)
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=id_tag_info)

    @on(Action.meter_values)
    async def on_meter_values(self, **payload: Any) -> Any:
        await self.central.meter_values(self.charger, payload)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, **payload: Any) -> Any:
        id_tag_info = await self.central.stop_transaction(self.charger, payload)
        return call_result.StopTransaction(id_tag_info=id_tag_info)

    @on(Action.data_transfer)
    async def on_data_transfer(self, **payload: Any) -> Any:
        _LOGGER.info("%s: DataTransfer %s", self.id, payload)
        # Nothing vendor-specific is understood yet; UnknownVendorId is the 1.6 answer.
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status: str) -> Any:
        self.central.diagnostics_status(self.charger, status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str) -> Any:
        self.central.firmware_status(self.charger, status)
        return call_result.FirmwareStatusNotification()
