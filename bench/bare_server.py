"""A bare OCPP-J websocket server: the ceiling the benchmark compares Home Assistant with.

python -m bench.bare_server --port 9100

Answers every CALL at once with the smallest valid CALLRESULT (nothing is stored or
validated). GET /_bench/stats returns {"connections": ..., "calls": ...}.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

_ACCEPTED = {"status": "Accepted"}


class BareServer:
    def __init__(self, heartbeat_interval: int) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.connections = 0
        self.calls = 0
        self._transaction_ids = itertools.count(1)

    def answer(self, action: Any) -> dict[str, Any]:
        match action:
            case "BootNotification":
                now = datetime.now(UTC).isoformat()
                return {
                    "status": "Accepted",
                    "currentTime": now,
                    "interval": self.heartbeat_interval,
                }
            case "Heartbeat":
                return {"currentTime": datetime.now(UTC).isoformat()}
            case "Authorize":
                return {"idTagInfo": _ACCEPTED}
            case "StartTransaction":
                return {"transactionId": next(self._transaction_ids), "idTagInfo": _ACCEPTED}
            case "DataTransfer":
                return _ACCEPTED
            case _:  # MeterValues, StatusNotification, StopTransaction, ...
                return {}

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("ocpp1.6",))
        await ws.prepare(request)
        self.connections += 1
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(frame, list) and len(frame) >= 3 and frame[0] == 2:
                    self.calls += 1
                    reply = [3, frame[1], self.answer(frame[2])]
                    await ws.send_str(json.dumps(reply, separators=(",", ":")))
        finally:
            self.connections -= 1
        return ws

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"connections": self.connections, "calls": self.calls})


async def serve(host: str, port: int, heartbeat_interval: int) -> None:
    server = BareServer(heartbeat_interval)
    app = web.Application()
    app.router.add_get("/_bench/stats", server.stats)
    app.router.add_get("/{path:.*}", server.websocket)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"bare OCPP server listening on {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--heartbeat-interval", type=int, default=60)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.heartbeat_interval))


if __name__ == "__main__":
    main()
