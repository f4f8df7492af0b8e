"""A Home Assistant for the benchmark: its config dir, its process, its REST API, its log."""

import asyncio
import atexit
import importlib.util
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from . import proc
from .load import ID_TAG

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "ev_charging"

CONFIGURATION_YAML = """\
# Written by the benchmark (python -m bench): the least Home Assistant that runs ev_charging.
homeassistant:
  name: ev_charging bench
  time_zone: UTC
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  currency: EUR
  country: NL
{extra}
# The web server's port is in .storage/http (where Home Assistant keeps it since 2026.x).
api:

logger:
  default: warning
  logs:
    # Setup timings (startup only; nothing in the measurement window).
    homeassistant.setup: info
    homeassistant.bootstrap: info
    # Cameras need the ffmpeg program and libturbojpeg; unused here, but noisy where missing.
    haffmpeg: critical
    homeassistant.components.camera.img_util: critical
"""

# Log lines that every start of this bare config writes; not worth reporting.
BENIGN = (
    "Skipping pip installation",
    "We found a custom integration",
    "zlib_ng and isal are not available",
)
# Words worth flagging in the log, whatever the level.
NOTABLE = re.compile(
    r"queue|too many|taking over|took longer|timed out|timeout|recovery mode|Waiting for "
    r"integrations|blocking call|slow",
    re.IGNORECASE,
)
_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (\w+) \(([^)]*)\) \[([^\]]+)\] (.*)$")


def _iso_now() -> str:
    return datetime.now(UTC).isoformat()


def _store(key: str, data: Any, version: int = 1, minor_version: int = 1) -> str:
    return json.dumps(
        {"version": version, "minor_version": minor_version, "key": key, "data": data}, indent=2
    )


ENTITY_PAGE = 2000


@dataclass
class HassConfig:
    """A config dir with the ev_charging entry, an HTTP port and an API token."""

    path: Path
    http_port: int
    ocpp_port: int
    token: str
    recorder: bool = False

    @classmethod
    def create(
        cls, path: Path, *, recorder: bool = False, heartbeat_interval: int = 60
    ) -> HassConfig:
        """Write a fresh config into ``path`` (which must not exist yet)."""
        http_port, ocpp_port = proc.free_ports(2)
        storage = path / ".storage"
        storage.mkdir(parents=True)
        extra = "\nrecorder:\n  commit_interval: 5\n" if recorder else ""
        (path / "configuration.yaml").write_text(CONFIGURATION_YAML.format(extra=extra))
        (path / "custom_components").mkdir()
        (path / "custom_components" / DOMAIN).symlink_to(REPO / "custom_components" / DOMAIN)
        if importlib.util.find_spec("hass_frontend") is None:
            stand_in_frontend(path)
        now = _iso_now()
        # The entry the integration's config flow makes (storage format of config_entries.py
        # 1.5; the flow's VERSION 1, minor 1), with auto_accept so the chargers get in.
        entry: dict[str, object] = {
            "created_at": now,
            "data": {"host": "127.0.0.1", "port": ocpp_port},
            "disabled_by": None,
            "discovery_keys": {},
            "domain": DOMAIN,
            "entry_id": uuid.uuid4().hex[:26].upper(),
            "minor_version": 1,
            "modified_at": now,
            # Chargers accepted automatically are capped (50 by default): not for a bench.
            "options": {
                "heartbeat_interval": heartbeat_interval,
                "auto_accept": True,
                "max_strangers": 100_000,
            },
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            # The tag the load's chargers charge with, so their sessions are accepted and
            # each charger holds a local list, as in a real garage.
            "subentries": [
                {
                    "data": {"id_tag": ID_TAG, "blocked": False, "allowed_chargers": []},
                    "subentry_id": uuid.uuid4().hex[:26].upper(),
                    "subentry_type": "id_tag",
                    "title": ID_TAG,
                    "unique_id": ID_TAG.casefold(),
                },
                # ... and a tariff, so every session is priced as it runs.
                {
                    "data": {
                        "name": "Residents",
                        "price_per_kwh": "0.30",
                        "session_fee": "0.50",
                        "idle_fee_per_minute": "0",
                        "idle_grace_minutes": 0,
                        "price_factor": "1",
                        "price_markup": "0",
                        "default": True,
                        "version": 1,
                    },
                    "subentry_id": uuid.uuid4().hex[:26].upper(),
                    "subentry_type": "tariff",
                    "title": "Residents",
                    "unique_id": None,
                },
            ],
            "title": "EV Charging",
            "unique_id": DOMAIN,
            "version": 1,
        }
        (storage / "core.config_entries").write_text(
            _store("core.config_entries", {"entries": [entry]}, minor_version=5)
        )
        # The web server's settings (http/config.py storage 2.2), on loopback only.
        http = {
            "server_host": ["127.0.0.1"],
            "server_port": http_port,
            "cors_allowed_origins": ["https://cast.home-assistant.io"],
            "login_attempts_threshold": -1,
            "ip_ban_enabled": True,
            "ssl_profile": "modern",
            "use_x_frame_options": True,
            "created_at": now,
            "error": None,
            "error_message": None,
        }
        (storage / "http").write_text(
            _store(
                "http",
                {"stable": http, "pending": None, "yaml_migration_done": True},
                version=2,
                minor_version=2,
            )
        )
        (storage / "onboarding").write_text(
            _store(
                "onboarding",
                {"done": ["user", "core_config", "analytics", "integration"]},
                version=4,
            )
        )
        # An owner with a long-lived access token; the token is a JWT signed with its key.
        user_id, token_id, jwt_key = uuid.uuid4().hex, uuid.uuid4().hex, secrets.token_hex(64)
        auth = {
            "users": [
                {
                    "id": user_id,
                    "group_ids": ["system-admin"],
                    "is_owner": True,
                    "is_active": True,
                    "name": "bench",
                    "system_generated": False,
                    "local_only": False,
                }
            ],
            "groups": [{"id": "system-admin", "name": "Administrators"}],
            "credentials": [],
            "refresh_tokens": [
                {
                    "id": token_id,
                    "user_id": user_id,
                    "client_id": None,
                    "client_name": "bench",
                    "client_icon": None,
                    "token_type": "long_lived_access_token",
                    "created_at": now,
                    "access_token_expiration": 10 * 365 * 86400.0,
                    "token": secrets.token_hex(64),
                    "jwt_key": jwt_key,
                    "last_used_at": None,
                    "last_used_ip": None,
                    "expire_at": None,
                    "credential_id": None,
                    "version": None,
                }
            ],
        }
        auth_file = storage / "auth"
        auth_file.write_text(_store("auth", auth))
        auth_file.chmod(0o600)
        issued = int(time.time())
        token = jwt.encode(
            {"iss": token_id, "iat": issued, "exp": issued + 10 * 365 * 86400},
            jwt_key,
            algorithm="HS256",
        )
        return cls(path, http_port, ocpp_port, token, recorder)


@dataclass
class HassProcess:
    """One run of ``python -m homeassistant`` on a config dir."""

    config: HassConfig
    name: str  # log files: <name>.log (Home Assistant's log), <name>.console.log
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # monotonic, just before the process was spawned
    log_path: Path = field(init=False)
    console_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.config.path / f"{self.name}.log"
        self.console_path = self.config.path / f"{self.name}.console.log"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "homeassistant",
            "-c",
            str(self.config.path),
            "--skip-pip",
            "--log-file",
            str(self.log_path),
            "--log-no-color",
        ]
        console = self.console_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.started_at = time.monotonic()
        # A session of its own: Ctrl-C in the terminal reaches only the bench, which stops
        # Home Assistant itself (SIGTERM: a clean shutdown).
        self.popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=self.config.path,
            env=env,
            start_new_session=True,
        )
        console.close()
        _started.append(self.popen)

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM (Home Assistant shuts down cleanly), SIGKILL after ``timeout`` seconds."""
        stop_process(self.popen, timeout)

    def wait_ocpp_port(self, timeout: float = 180) -> float:
        """Seconds from spawning until the OCPP port accepted a connection."""
        opened = proc.wait_port("127.0.0.1", self.config.ocpp_port, timeout, pid=self.pid)
        return opened - self.started_at

    # The log.

    def log_summary(self, window: tuple[float, float] | None = None) -> LogSummary:
        return LogSummary.read(self.log_path, self.console_path, window=window)


def stop_process(popen: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """Stop a process this module started: SIGTERM, then SIGKILL after ``timeout``."""
    if popen is None or popen.poll() is not None:
        return
    try:
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(10)


_started: list[subprocess.Popen[bytes]] = []


def stop_all_started() -> None:
    """Last resort (atexit / Ctrl-C): stop every process started here that still runs."""
    for popen in _started:
        if popen.poll() is None:
            stop_process(popen, 30)


def say(message: str) -> None:
    """A progress line on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_bench(main: Coroutine[Any, Any, None]) -> None:
    """Run a bench; Ctrl-C and SIGTERM end it through its own clean-up, and whatever it
    started is stopped on the way out in any case."""
    atexit.register(stop_all_started)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        say("interrupted; stopping what the bench started")
        stop_all_started()
        sys.exit(130)


def spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a helper process (the bare server), remembered for ``stop_all_started``."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
    _started.append(popen)
    return popen


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.*)")


def _kind(message: str) -> str:
    """A message without what varies between chargers and calls."""
    message = re.sub(r"(BENCH|BARE)\d+", r"\1*", message)
    return _UUID.sub("<id>", message)[:160]


@dataclass
class LogSummary:
    """Warnings, errors and exceptions Home Assistant logged, counted by kind.

    Each kind counts its lines in total and inside the measurement window.
    """

    counts: Counter[tuple[str, str, str]]
    in_window: Counter[tuple[str, str, str]]
    notable: list[str]
    timings: list[str]  # "Home Assistant initialized in ..."

    @classmethod
    def read(cls, *paths: Path, window: tuple[float, float] | None = None) -> LogSummary:
        counts: Counter[tuple[str, str, str]] = Counter()
        in_window: Counter[tuple[str, str, str]] = Counter()
        notable: list[str] = []
        timings: list[str] = []
        seen: set[str] = set()  # lines of the files before: the console repeats the log
        for path in paths:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            before, seen = seen, seen | set(lines)
            logger, inside = "?", False
            for line in lines:
                if line in before:
                    continue
                match = _LINE.match(line)
                if match is None:
                    # The last line of a traceback: count the exception too.
                    if _EXCEPTION.match(line):
                        key = ("EXCEPTION", logger, _kind(line))
                        counts[key] += 1
                        in_window[key] += inside
                    continue
                level, _thread, logger, message = match.groups()
                if "initialized in" in message:
                    timings.append(f"{line[11:23]} {message}")
                if window is not None:
                    at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
                    inside = window[0] <= at <= window[1]
                if level not in ("WARNING", "ERROR", "CRITICAL"):
                    continue
                if any(b in message for b in BENIGN):
                    continue
                key = (level, logger, _kind(message))
                counts[key] += 1
                in_window[key] += inside
                if NOTABLE.search(message) and len(notable) < 20:
                    notable.append(line[:300])
        return cls(counts, in_window, notable, timings)

    def lines(self, limit: int = 15) -> list[str]:
        out = [
            f"{n:6d} x ({self.in_window[key]} in the window) {key[0]} [{key[1]}] {key[2]}"
            for key, n in self.counts.most_common(limit)
        ]
        if len(self.counts) > limit:
            out.append(f"       ... and {len(self.counts) - limit} more kinds")
        return out


class HassApi:
    """The REST API of a running Home Assistant (bearer token)."""

    def __init__(self, config: HassConfig) -> None:
        self.base = f"http://127.0.0.1:{config.http_port}"
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str) -> Any:
        async with self.session.get(self.base + path) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def post(self, path: str, body: Any) -> Any:
        async with self.session.post(self.base + path, json=body) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def template(self, template: str) -> str:
        async with self.session.post(
            self.base + "/api/template", json={"template": template}
        ) as resp:
            resp.raise_for_status()
            return await resp.text()

    async def config(self) -> dict[str, Any] | None:
        """/api/config, or None while the API does not answer yet."""
        try:
            result: dict[str, Any] = await self.get("/api/config")
        except aiohttp.ClientError, TimeoutError:
            return None
        return result

    async def wait_running(self, pid: int, within: float = 300) -> float:
        """Wait for state RUNNING; returns the monotonic time. Refuses recovery mode."""
        deadline = time.monotonic() + within
        while True:
            config = await self.config()
            if config is not None:
                if config.get("recovery_mode") or config.get("safe_mode"):
                    raise RuntimeError("Home Assistant started in recovery mode (see its log)")
                if config.get("state") == "RUNNING":
                    return time.monotonic()
            if not proc.alive(pid):
                raise RuntimeError("Home Assistant ended (see its log)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Home Assistant not RUNNING after {within:.0f} s")
            await asyncio.sleep(0.1)

    async def entry_state(self) -> str:
        entries = await self.get(f"/api/config/config_entries/entry?domain={DOMAIN}")
        return (
            ", ".join(
                f"{e.get('state')}{' ' + e['reason'] if e.get('reason') else ''}" for e in entries
            )
            or "no entry"
        )

    async def integration_entities(self) -> list[str]:
        """Every entity of the integration in the entity registry (disabled ones too).

        Read in slices: a template's output is capped at 256 KiB, which 1,000 chargers' entity
        ids exceed.
        """
        found: list[str] = []
        while True:
            page: list[str] = json.loads(
                await self.template(
                    f"{{{{ (integration_entities('{DOMAIN}') | list)"
                    f"[{len(found)}:{len(found) + ENTITY_PAGE}] | tojson }}}}"
                )
            )
            found += page
            if len(page) < ENTITY_PAGE:
                return found

    async def live_states(self, entity_ids: set[str] | None = None) -> dict[str, dict[str, Any]]:
        """States that entities wrote (not the 'restored' placeholders), by entity id."""
        states = await self.get("/api/states")
        return {
            s["entity_id"]: s
            for s in states
            if not s.get("attributes", {}).get("restored")
            and (entity_ids is None or s["entity_id"] in entity_ids)
        }

    async def has_live_state(self, entity_id: str) -> bool:
        async with self.session.get(f"{self.base}/api/states/{entity_id}") as resp:
            if resp.status == 404:
                return False
            resp.raise_for_status()
            state = await resp.json()
        return not state.get("attributes", {}).get("restored")

    async def wait_entities(
        self, expected: list[str], pid: int, within: float = 300, sample: int = 20
    ) -> float:
        """Wait until every expected entity has a live state; returns the monotonic time.

        Polls a sample of the expected entities (cheap: one small request each) every
        0.1 s; once those all exist, checks the full list (/api/states) every 0.25 s.
        """
        want = set(expected)
        step = max(1, len(expected) // sample)
        sentinels = sorted(expected)[::step][-sample:] + sorted(expected)[-2:]
        deadline = time.monotonic() + within
        while True:
            now = time.monotonic()
            try:
                if all([await self.has_live_state(e) for e in sentinels]):
                    live = await self.live_states(want)
                    if len(live) == len(want):
                        return time.monotonic()  # an upper bound: when the full check ended
                    await asyncio.sleep(0.15)
            except aiohttp.ClientError, TimeoutError:
                pass  # the web server is not up yet
            if not proc.alive(pid):
                raise RuntimeError("Home Assistant ended (see its log)")
            if now > deadline:
                raise TimeoutError(f"entities incomplete after {within:.0f} s")
            await asyncio.sleep(0.1)


def stand_in_frontend(config_dir: Path) -> None:
    """A frontend integration that sets up nothing, in the config dir's custom_components.

    Home Assistant counts the frontend as critical: without its package (the `demo` extra,
    which `scripts/test` and CI do not install) it restarts itself in recovery mode some 2 s
    after starting, without the integration. Nothing here serves a page."""
    stub = config_dir / "custom_components" / "frontend"
    stub.mkdir()
    manifest = {
        "domain": "frontend",
        "name": "Frontend (stand-in for the benches)",
        "version": "0.0.0",
        "codeowners": [],
        # What the real frontend sets up first (the config API the benches use among them).
        "dependencies": _FRONTEND_DEPENDENCIES,
        "documentation": "https://www.home-assistant.io/integrations/frontend",
        "integration_type": "system",
        "requirements": [],
    }
    (stub / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (stub / "__init__.py").write_text(
        '"""Stands in for the frontend (see bench/hass.py)."""\n\n\n'
        "async def async_setup(hass, config):\n    return True\n"
    )


# The real frontend's dependencies, but for what needs its package (none of these does).
_FRONTEND_DEPENDENCIES = [
    "api",
    "auth",
    "config",
    "device_automation",
    "diagnostics",
    "file_upload",
    "http",
    "onboarding",
    "repairs",
    "search",
    "system_log",
    "websocket_api",
]
