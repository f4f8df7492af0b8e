"""Lightweight OCPP 1.6J chargers for the reconnect storm, on raw asyncio sockets.

A thousand of these run in one process. They speak just enough websocket (RFC 6455: a
client's masked frames, the server's unmasked ones) to control what the simulator's aiohttp
client cannot: a connection that vanishes without a close frame (a TCP reset, as a network
blip leaves it) or one that is left half-open (never read or written again).

Each charger remembers what it sent for its transaction (the readings by timestamp, the
stop), so the ledger can be checked against the chargers' own record, not the server's.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
CALL_TIMEOUT = 30.0  # as long as the server waits for a charger's answer


class Refused(Exception):
    """The server did not upgrade the connection (its HTTP status in ``status``)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class CallFailed(Exception):
    """A CALL got no CALLRESULT: ``kind`` is 'timeout', 'gone' or the CALLERROR code."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return data
    stream = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data) ^ int.from_bytes(stream)).to_bytes(len(data))


def _frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame (clients must mask)."""
    size, key = len(payload), os.urandom(4)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2)
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8)
    return head + key + _mask(payload, key)


class RawSocket:
    """A client websocket: the upgrade, then frames; closing cleanly or abruptly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, path: str, password: str | None) -> RawSocket:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16))
        auth = ""
        if password is not None:
            user = path.rsplit("/", 1)[-1]
            auth = f"Authorization: Basic {base64.b64encode(f'{user}:{password}'.encode()).decode()}\r\n"
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n{auth}\r\n".encode()
        )
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status = int(head.split(" ", 2)[1])
            if status != 101:
                raise Refused(status)
            expected = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
            if f"sec-websocket-accept: {expected.lower()}" not in head.lower():
                raise Refused(status)
        except BaseException:
            writer.transport.abort()
            raise
        return cls(reader, writer)

    def send(self, opcode: int, payload: bytes) -> None:
        self.writer.write(_frame(opcode, payload))

    async def receive(self) -> tuple[int, bytes]:
        """The next message (fragments joined); control frames come as they are."""
        parts: list[bytes] = []
        opcode = 0
        while True:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2))
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8))
            key = await self.reader.readexactly(4) if second & 0x80 else b""
            data = await self.reader.readexactly(size)
            data = _mask(data, key) if key else data
            if first & 0x0F >= CLOSE:
                return first & 0x0F, data
            opcode = opcode or first & 0x0F
            parts.append(data)
            if first & 0x80:
                return opcode, b"".join(parts)

    def reset(self) -> None:
        """Gone without a close frame: a TCP reset (SO_LINGER 0, then close)."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


def iso(at: float) -> str:
    """An OCPP timestamp (UTC, milliseconds) of an epoch time."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Counts:
    """What all chargers did, by phase and kind (shared by every charger)."""

    sent: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # "<action>: <kind>"
    server_calls: Counter[str] = field(default_factory=Counter)
    connects: Counter[str] = field(default_factory=Counter)  # "ok" or why not


class StormCharger:
    """One charger: one connector, one transaction; answers what the server asks."""

    def __init__(
        self, charger_id: str, host: str, port: int, password: str | None, counts: Counts
    ) -> None:
        self.charger_id = charger_id
        self.host, self.port, self.password = host, port, password
        self.counts = counts
        self.sock: RawSocket | None = None
        self.half_open: list[RawSocket] = []  # dropped silently, still open
        self.transaction_id: int | None = None
        self.energy_wh = 1000
        self.readings: dict[str, int] = {}  # timestamp -> Wh of MeterValues sent with the tx
        self.stop: tuple[str, int] | None = None  # (timestamp, meterStop) of our StopTransaction
        self.outbox: list[tuple[str, dict[str, Any]]] = []  # queued while offline
        self.triggered: list[str] = []  # what the server asked for with TriggerMessage
        self.closed_by_server = asyncio.Event()
        self.list_version = 0
        self.config = {
            "HeartbeatInterval": "60",
            "MeterValueSampleInterval": "60",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            "LocalAuthListMaxLength": "1000",
            "SendLocalListMaxLength": "1000",
        }
        self._pending: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 0

    # The connection.

    async def connect(self) -> None:
        # As long as a CALL may take: a shorter wait (then a retry) only adds to a busy server.
        async with asyncio.timeout(CALL_TIMEOUT):
            self.sock = await RawSocket.open(
                self.host, self.port, f"/{self.charger_id}", self.password
            )
        self.closed_by_server.clear()
        self._reader = asyncio.create_task(self._read(self.sock))

    def drop(self, silent: bool = False) -> None:
        """The network goes: reset the socket, or (silent) leave it half-open, unread."""
        if self._reader is not None:
            self._reader.cancel()
        if self.sock is not None:
            if silent:
                self.half_open.append(self.sock)
            else:
                self.sock.reset()
        self.sock = None
        self._fail_pending("gone")

    def close_half_open(self) -> None:
        for sock in self.half_open:
            sock.reset()
        self.half_open.clear()

    def _fail_pending(self, kind: str) -> None:
        for _action, future in self._pending.values():
            if not future.done():
                future.set_exception(CallFailed(kind))
        self._pending.clear()

    async def _read(self, sock: RawSocket) -> None:
        try:
            while True:
                opcode, data = await sock.receive()
                if opcode == TEXT:
                    self._on_message(sock, json.loads(data))
                elif opcode == PING:
                    sock.send(PONG, data)
                elif opcode == CLOSE:
                    sock.send(CLOSE, data[:2])
                    self.closed_by_server.set()
                    break
        except OSError, asyncio.IncompleteReadError, ValueError:
            pass
        finally:
            if self.sock is sock:
                self.sock = None
                sock.writer.transport.close()
                self._fail_pending("gone")

    def _on_message(self, sock: RawSocket, frame: list[Any]) -> None:
        kind, message_id = frame[0], frame[1]
        if kind == 2:
            self.counts.server_calls[frame[2]] += 1
            answer = self._answer(frame[2], frame[3])
            reply = [3, message_id, answer] if answer is not None else None
            if reply is None:
                reply = [4, message_id, "NotImplemented", "", {}]
            sock.send(TEXT, json.dumps(reply).encode())
            return
        _action, future = self._pending.pop(message_id, ("", None))
        if future is None or future.done():
            return
        if kind == 3:
            future.set_result(frame[2])
        else:
            future.set_exception(CallFailed(str(frame[2])))

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Minimal valid answers to the central system's CALLs."""
        match action:
            case "GetConfiguration":
                keys = payload.get("key") or list(self.config)
                known = [k for k in keys if k in self.config]
                return {
                    "configurationKey": [
                        {"key": k, "readonly": False, "value": self.config[k]} for k in known
                    ],
                    "unknownKey": [k for k in keys if k not in self.config],
                }
            case "ChangeConfiguration":
                self.config[payload["key"]] = payload["value"]
                return {"status": "Accepted"}
            case "GetLocalListVersion":
                return {"listVersion": self.list_version}
            case "SendLocalList":
                self.list_version = payload["listVersion"]
                return {"status": "Accepted"}
            case "TriggerMessage":
                if payload["requestedMessage"] in ("StatusNotification", "MeterValues"):
                    self.triggered.append(payload["requestedMessage"])
                    return {"status": "Accepted"}
                return {"status": "Rejected"}
            case "ClearCache" | "ChangeAvailability" | "SetChargingProfile" | "Reset":
                return {"status": "Accepted"}
            case "DataTransfer":
                return {"status": "UnknownVendorId"}
            case _:
                return None

    # Calls.

    async def call(self, action: str, payload: dict[str, Any], phase: str) -> dict[str, Any]:
        """Send a CALL and wait for its CALLRESULT; CallFailed otherwise."""
        sock = self.sock
        if sock is None:
            raise CallFailed("gone")
        self._next_id += 1
        message_id = f"{self.charger_id}-{self._next_id}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = (action, future)
        self.counts.sent[f"{phase} {action}"] += 1
        sock.send(TEXT, json.dumps([2, message_id, action, payload]).encode())
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                result = await future
        except TimeoutError:
            self._pending.pop(message_id, None)
            self.counts.failed[f"{phase} {action}: timeout"] += 1
            raise CallFailed("timeout") from None
        except CallFailed as err:
            self.counts.failed[f"{phase} {action}: {err.kind}"] += 1
            raise
        self.counts.answered[f"{phase} {action}"] += 1
        return result

    def send_unanswered(self, action: str, payload: dict[str, Any]) -> None:
        """A CALL on its way as the network goes: its answer will never come."""
        if self.sock is not None:
            self._next_id += 1
            frame = [2, f"{self.charger_id}-{self._next_id}", action, payload]
            self.sock.send(TEXT, json.dumps(frame).encode())

    # What a charger says.

    def meter_values(self, power_w: int, with_transaction: bool = True) -> dict[str, Any]:
        """A new reading (the register moves on); remembered if it belongs to the tx."""
        self.energy_wh += 7 + len(self.readings)
        at = iso(time.time())
        while at in self.readings:  # two readings within a millisecond
            at = iso(time.time() + 0.001 * len(self.readings))
        payload: dict[str, Any] = {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": at,
                    "sampledValue": [
                        {
                            "value": str(self.energy_wh),
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        }
        if with_transaction and self.transaction_id is not None:
            payload["transactionId"] = self.transaction_id
            self.readings[at] = self.energy_wh
        return payload

    def stop_transaction(self) -> dict[str, Any]:
        assert self.transaction_id is not None
        self.energy_wh += 3
        self.stop = (iso(time.time()), self.energy_wh)
        return {
            "transactionId": self.transaction_id,
            "meterStop": self.energy_wh,
            "timestamp": self.stop[0],
            "reason": "EVDisconnected",
        }

    @staticmethod
    def status(connector_id: int, status: str) -> dict[str, Any]:
        return {
            "connectorId": connector_id,
            "errorCode": "NoError",
            "status": status,
            "timestamp": iso(time.time()),
        }
