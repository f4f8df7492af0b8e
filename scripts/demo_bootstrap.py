"""Helper for scripts/demo: prepares the demo's Home Assistant config and talks to its REST API.

Run with the project's venv Python (it needs aiohttp, which Home Assistant brings):

    demo_bootstrap.py prepare CONFIG_DIR         config, integration link, login, onboarding
    demo_bootstrap.py wait URL PID [SECONDS]     wait until Home Assistant runs (no recovery mode)
    demo_bootstrap.py entry URL                  create the ev_charging config entry if missing
    demo_bootstrap.py wait-port HOST PORT [SEC]  wait until a TCP port accepts connections
    demo_bootstrap.py tags URL                   the demo's ID tags (a resident, a lost card)
    demo_bootstrap.py password URL CHARGER FILE  give CHARGER a password unless FILE has one
    demo_bootstrap.py billing URL                a tariff, an account, VAT; livelier metering
    demo_bootstrap.py secrets FILE               the fake Stripe's key and webhook secret, once

Every command prints what it does on stderr and exits non-zero with a message when it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

DOMAIN = "ev_charging"
USERNAME = "demo"
PASSWORD = "demo"
# Home Assistant accepts any client_id that is a URL; the frontend uses its own origin.
CLIENT_ID = "http://127.0.0.1:8123/"
# What the user step of the config flow gets. Fields the form shows that are not here take
# the form's default; fields here that the form does not show are left out (and reported).
ENTRY_INPUT: dict[str, Any] = {
    "host": "0.0.0.0",
    "port": 9000,
    "heartbeat_interval": 60,
    "auto_accept": True,
}

# Seconds to wait for a config-flow step; the last one includes setting up the entry.
ENTRY_TIMEOUT = 60

REPO = Path(__file__).resolve().parent.parent

CONFIGURATION_YAML = """\
# Written once by scripts/demo; edit freely (scripts/demo --reset starts over).
homeassistant:
  name: EV Charging demo
  time_zone: Europe/Amsterdam
  latitude: 52.3731
  longitude: 4.8922
  elevation: 0
  unit_system: metric
  currency: EUR
  country: NL

# What default_config: sets up, less the integrations that reach beyond this machine or need
# what a plain Linux box or container lacks; none of them plays a part in the demo:
# - go2rtc (camera streaming): in a container Home Assistant wants the go2rtc binary that only
#   its own image ships, and without it the whole of default_config fails to set up;
# - cloud, homeassistant_alerts: the internet; zeroconf, ssdp, dhcp: discovery on the LAN;
# - bluetooth, usb: hardware.
# Replace this block by "default_config:" to get all of them.
assist_pipeline:
conversation:
energy:
file:
history:
logbook:
media_source:
mobile_app:
my:
stream:
sun:
usage_prediction:
webhook:

# The web server listens on Home Assistant's default port, 8123. (An http: block here would
# raise a repair issue: since 2026.x Home Assistant keeps that setting in its storage.)

logger:
  default: warning
  logs:
    custom_components.ev_charging: info
    # Every OCPP frame is logged at info under this logger; turn it up to watch the traffic.
    custom_components.ev_charging.csms.connection.frames: warning
    # Cameras and voice need the ffmpeg program and the libturbojpeg library; the demo uses
    # neither, and where they are missing these two would log an error with a traceback at
    # every start.
    haffmpeg: critical
    homeassistant.components.camera.img_util: critical
"""

# Marks every onboarding step done, so the browser goes straight to the login page.
ONBOARDING = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["user", "core_config", "analytics", "integration"]},
}


class DemoError(Exception):
    """A failure with a message meant for the person running the demo."""


def say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


# --- prepare -------------------------------------------------------------------------------


def prepare(config_dir: Path) -> None:
    """Make CONFIG_DIR a Home Assistant config that needs no onboarding by hand."""
    config_dir.mkdir(parents=True, exist_ok=True)
    configuration = config_dir / "configuration.yaml"
    if not configuration.exists():
        configuration.write_text(CONFIGURATION_YAML)
        say(f"wrote {configuration}")

    # A symlink rather than a copy, so edits to the integration show up after a restart.
    link = config_dir / "custom_components" / DOMAIN
    target = os.path.relpath(REPO / "custom_components" / DOMAIN, link.parent)
    link.parent.mkdir(exist_ok=True)
    # Home Assistant lists custom integrations by walking custom_components.__path__. Without an
    # __init__.py that is a namespace package, and the project's editable install (and the repo
    # root, the working directory of "python -m") add portions to it, among them setuptools'
    # "__editable__...__path_hook__" placeholder, on which Home Assistant crashes at start.
    # A regular package in the config dir keeps the path to this one directory.
    init = link.parent / "__init__.py"
    if not init.exists():
        init.write_text('"""Custom integrations of the demo (see scripts/demo_bootstrap.py)."""\n')
    if not link.is_symlink() or os.readlink(link) != target:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        say(f"linked {link} -> {target}")

    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        onboarding.write_text(json.dumps(ONBOARDING, indent=2))

    # The auth script stores only the credentials; Home Assistant creates the user, as an
    # administrator, at its first login. Run it once: a second "add" fails on the username.
    if not _has_login(storage):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "homeassistant",
                "--script",
                "auth",
                "-c",
                str(config_dir),
                "add",
                USERNAME,
                PASSWORD,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        say(f"created login {USERNAME} / {PASSWORD}")


def _has_login(storage: Path) -> bool:
    try:
        data = json.loads((storage / "auth_provider.homeassistant").read_text())
    except FileNotFoundError:
        return False
    return any(user.get("username") == USERNAME for user in data["data"]["users"])


# --- secrets -------------------------------------------------------------------------------


def ensure_secrets(file: Path) -> None:
    """The demo's own secrets, random per install: the fake Stripe's API key and the signing
    secret of its webhooks to the kiosk. Written once, readable by the owner only; an
    attacker knowing a fixed webhook secret could sign events that start sessions."""
    if not file.exists():
        lines = (
            "# The demo's secrets, made once by scripts/demo (scripts/demo --reset makes new ones).\n"
            f"EV_CHARGING_STRIPE_API_KEY=sk_test_{secrets.token_urlsafe(24)}\n"
            f"EV_CHARGING_STRIPE_WEBHOOK_SECRET=whsec_{secrets.token_urlsafe(32)}\n"
        )
        # Created with its mode, so it is never readable by others, not even for a moment.
        with os.fdopen(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(lines)
        say(f"made the demo's Stripe key and webhook secret, kept in {file}")
    os.chmod(file, 0o600)


# --- REST API --------------------------------------------------------------------------------


class Api:
    """The demo user's session with Home Assistant's REST and websocket API.

    Logs in the way the frontend does (login flow, then an authorization code for a token) and
    revokes the refresh token again on exit, so repeated runs leave no pile of tokens behind.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.headers: dict[str, str] = {}
        self._refresh_token = ""

    async def __aenter__(self) -> Api:
        async with self.session.post(
            f"{self.url}/auth/login_flow",
            json={
                "client_id": CLIENT_ID,
                "handler": ["homeassistant", None],
                "redirect_uri": CLIENT_ID,
            },
        ) as resp:
            flow = await _json(resp, "start the login flow")
        async with self.session.post(
            f"{self.url}/auth/login_flow/{flow['flow_id']}",
            json={"client_id": CLIENT_ID, "username": USERNAME, "password": PASSWORD},
        ) as resp:
            step = await _json(resp, "log in")
        if step.get("type") != "create_entry":
            raise DemoError(f"login {USERNAME} / {PASSWORD} refused: {step.get('errors') or step}")
        async with self.session.post(
            f"{self.url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": step["result"],
                "client_id": CLIENT_ID,
            },
        ) as resp:
            token = await _json(resp, "get a token")
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}
        self._refresh_token = token["refresh_token"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            async with self.session.post(
                f"{self.url}/auth/revoke", data={"token": self._refresh_token}
            ):
                pass
        except aiohttp.ClientError:
            pass  # Home Assistant went away; nothing to clean up then

    async def get(self, path: str, what: str, **params: str) -> Any:
        async with self.session.get(
            f"{self.url}{path}", params=params, headers=self.headers
        ) as resp:
            return await _json(resp, what)

    async def post(self, path: str, what: str, body: dict[str, Any]) -> Any:
        async with self.session.post(f"{self.url}{path}", json=body, headers=self.headers) as resp:
            return await _json(resp, what)

    async def subentries(self, entry_id: str) -> list[dict[str, Any]]:
        """A config entry's subentries (websocket config_entries/subentries/list)."""
        return list(
            await self._websocket({"type": "config_entries/subentries/list", "entry_id": entry_id})
        )

    async def _websocket(self, command: dict[str, Any]) -> Any:
        async with self.session.ws_connect(f"{self.url}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.headers["Authorization"][7:]})
            if (msg := await ws.receive_json())["type"] != "auth_ok":
                raise DemoError(f"websocket login failed: {msg}")
            await ws.send_json({"id": 1, **command})
            msg = await ws.receive_json()
        if not msg.get("success"):
            raise DemoError(f"{command['type']} failed: {msg}")
        return msg["result"]

    async def current_user(self) -> dict[str, Any]:
        """The logged-in user as the frontend sees it (websocket auth/current_user)."""
        return dict(await self._websocket({"type": "auth/current_user"}))


async def _json(resp: aiohttp.ClientResponse, what: str) -> Any:
    if resp.status >= 400:
        raise DemoError(f"could not {what}: HTTP {resp.status} {(await resp.text())[:200]}")
    return await resp.json()


# --- wait ------------------------------------------------------------------------------------


async def wait(url: str, pid: int, seconds: float) -> None:
    """Wait until Home Assistant answers on /api/ with a token and has finished starting.

    Recovery mode counts as a failure: Home Assistant then looks alive (it serves the UI and
    the API) but has loaded none of the integrations.
    """
    deadline = time.monotonic() + seconds

    def check(state: str) -> None:
        if not _alive(pid):
            raise DemoError("Home Assistant exited while starting")
        if time.monotonic() > deadline:
            raise DemoError(f"Home Assistant not up after {seconds:.0f} s ({state})")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        # First the HTTP server and auth. /auth/providers needs no token (a request without
        # one elsewhere would raise a "Login attempt failed" notification in the UI), and it
        # refuses while onboarding is not done.
        while True:
            try:
                async with session.get(f"{url}/auth/providers") as resp:
                    if resp.status == 200:
                        break
                    body = await resp.text()
                    if "onboarding_required" in body:
                        raise DemoError(
                            "Home Assistant wants onboarding; .storage/onboarding "
                            "was not taken (try scripts/demo --reset)"
                        )
                    state = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as err:
                state = str(err) or type(err).__name__
            check(state)
            await asyncio.sleep(1)
        # Then log in once and follow the start-up through /api/config.
        async with Api(session, url) as api:
            message = await api.get("/api/", "reach /api/ with a token")
            while True:
                config = await api.get("/api/config", "read /api/config")
                if config.get("recovery_mode") or config.get("safe_mode"):
                    raise DemoError(
                        "Home Assistant started in recovery mode: its configuration is "
                        "invalid, or an integration it needs failed to set up (scripts/setup "
                        "--demo installs their packages)"
                    )
                if config.get("state") == "RUNNING":
                    break
                check(f"state {config.get('state')}")
                await asyncio.sleep(1)
            user = await api.current_user()
            if not user.get("is_admin"):
                raise DemoError(f"user {USERNAME} is not an administrator: {user}")
            say(
                f"Home Assistant {config.get('version')} is running ({message.get('message')}); "
                f"{USERNAME} / {PASSWORD} logs in as an administrator"
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


# --- entry -----------------------------------------------------------------------------------


async def ensure_entry(url: str) -> None:
    """Create the ev_charging config entry through the config-flow REST API, unless one exists.

    This goes through the integration's real config flow, as clicking "Add integration" does.
    """
    timeout = aiohttp.ClientTimeout(total=ENTRY_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session, Api(session, url) as api:
        entries = await api.get(
            "/api/config/config_entries/entry", "list config entries", domain=DOMAIN
        )
        if entries:
            _report(entries[0], "is already set up")
            return
        step = await api.post(
            "/api/config/config_entries/flow",
            f"start the {DOMAIN} config flow",
            {"handler": DOMAIN, "show_advanced_options": False},
        )
        # Some flows have more than one step; answer each form until the entry is created.
        for _ in range(5):
            if step["type"] == "create_entry":
                _report(step.get("result") or {}, "config entry created")
                return
            if step["type"] == "abort":
                raise DemoError(f"{DOMAIN} config flow aborted: {step.get('reason')}")
            if step["type"] != "form":
                raise DemoError(f"{DOMAIN} config flow gave an unexpected step: {step}")
            if step.get("errors"):
                raise DemoError(f"{DOMAIN} config flow refused the input: {step['errors']}")
            answer = _answer(step)
            try:
                step = await api.post(
                    f"/api/config/config_entries/flow/{step['flow_id']}",
                    f"submit step '{step.get('step_id')}'",
                    answer,
                )
            except TimeoutError:
                # The last step answers only after the new entry's async_setup_entry is done.
                raise DemoError(
                    f"the {DOMAIN} config flow did not answer within {ENTRY_TIMEOUT} s; "
                    "the entry's setup (async_setup_entry) seems stuck"
                ) from None
        raise DemoError(f"{DOMAIN} config flow did not finish: {step}")


def _report(entry: dict[str, Any], what: str) -> None:
    """Say how the entry is; a warning when it did not load (Home Assistant still runs)."""
    state = entry.get("state", "?")
    say(f"{DOMAIN} {what} ('{entry.get('title')}', {state})")
    if state != "loaded":
        reason = entry.get("reason") or "see .demo/home-assistant.log"
        say(f"warning: the {DOMAIN} entry is {state}: {reason}")


def _answer(step: dict[str, Any]) -> dict[str, Any]:
    """Fill the form of one config-flow step from ENTRY_INPUT and the form's defaults."""
    schema = step.get("data_schema") or []
    fields = [field["name"] for field in schema]
    answer: dict[str, Any] = {}
    for field in schema:
        name = field["name"]
        if name in ENTRY_INPUT:
            answer[name] = ENTRY_INPUT[name]
        elif "default" in field:
            answer[name] = field["default"]
        elif field.get("required"):
            raise DemoError(
                f"step '{step.get('step_id')}' asks for '{name}', which the demo "
                f"does not know (fields: {fields})"
            )
    unused = sorted(set(ENTRY_INPUT) - set(fields))
    say(
        f"config flow step '{step.get('step_id')}' fields {fields}: answering {answer}"
        + (f" (the form has no {unused})" if unused else "")
    )
    return answer


# --- ID tags and a charger password ---------------------------------------------------------

# The simulated chargers charge with the tag SIMTAG; a blocked card shows how refusals look.
DEMO_TAGS: tuple[dict[str, Any], ...] = (
    {"id_tag": "SIMTAG", "name": "Demo resident"},
    {"id_tag": "LOST-CARD", "name": "Lost card", "blocked": True},
)


async def ensure_tags(url: str) -> None:
    """Put the demo's tags in the list through the set_id_tag action (it adds or updates)."""
    async with aiohttp.ClientSession() as session, Api(session, url) as api:
        for tag in DEMO_TAGS:
            await api.post(f"/api/services/{DOMAIN}/set_id_tag", f"set tag {tag['id_tag']}", tag)
    say(f"ID tags: {', '.join(tag['id_tag'] for tag in DEMO_TAGS)}")


def ensure_password(url: str, charger_id: str, file: Path) -> None:
    """Give a charger a password, kept in FILE for the simulator; skipped when FILE has one."""
    passwords: dict[str, str] = json.loads(file.read_text()) if file.exists() else {}
    if charger_id in passwords:
        say(f"{charger_id} logs in with the password in {file}")
        return
    password = asyncio.run(new_password(url, charger_id))
    file.touch(mode=0o600)
    file.write_text(json.dumps(passwords | {charger_id: password}))
    say(f"{charger_id} got a password (security profile 1), kept for the simulator in {file}")


async def new_password(url: str, charger_id: str) -> str:
    """Go through the options flow's password step, which shows the password once."""
    return await shown_once(
        url,
        f"a password for {charger_id}",
        [
            ("choose the password step", {"next_step_id": "password"}),
            ("choose the charger", {"charger_id": charger_id, "remove_password": False}),
        ],
        ("password_created", "password"),
    )


async def shown_once(
    url: str, what: str, answers: list[tuple[str, dict[str, Any]]], shown: tuple[str, str]
) -> str:
    """Walk the options flow to the step that shows a secret once (step id, placeholder),
    save it, and return the secret."""
    async with aiohttp.ClientSession() as session, Api(session, url) as api:
        entries = await api.get(
            "/api/config/config_entries/entry", "list config entries", domain=DOMAIN
        )
        if not entries:
            raise DemoError(f"no {DOMAIN} config entry to make {what} in")
        base = "/api/config/config_entries/options/flow"
        step = await api.post(base, "open the options", {"handler": entries[0]["entry_id"]})
        flow = f"{base}/{step['flow_id']}"
        for description, answer in answers:
            step = await api.post(flow, description, answer)
        step_id, placeholder = shown
        if step.get("step_id") != step_id:
            raise DemoError(f"the options flow did not show {what}: {step}")
        await api.post(flow, f"save {what}", {})
        return str(step["description_placeholders"][placeholder])


def ensure_kiosk_key(url: str, file: Path) -> None:
    """Give the demo kiosk a key through the options flow (shown once), kept in FILE."""
    if file.exists() and file.read_text().strip():
        say(f"the kiosk uses the key in {file}")
        return
    key = asyncio.run(new_kiosk_key(url))
    file.touch(mode=0o600)
    file.write_text(key)
    say(f"the kiosk got its key (it opens only the kiosk API), kept in {file}")


async def new_kiosk_key(url: str) -> str:
    """Go through the options flow's kiosk key step, which shows the key once."""
    return await shown_once(
        url,
        "a kiosk key",
        [
            ("choose the kiosk key step", {"next_step_id": "kiosk_key"}),
            ("make a key", {"remove_kiosk_key": False}),
        ],
        ("kiosk_key_created", "key"),
    )


# --- billing ---------------------------------------------------------------------------------

# Sessions of SIMTAG are billed to this account with this tariff (amounts as text: exact).
DEMO_ACCOUNT = "Unit 1"
DEMO_TARIFF: dict[str, Any] = {
    "name": "Residents",
    "price_per_kwh": "0.35",
    "session_fee": "0.50",
    "idle_fee_per_minute": "0.10",
    "idle_grace_minutes": 30,
    "time_of_use": "mon-fri 17:00-21:00 0.45",
    "default": True,
}
DEMO_OPTIONS: dict[str, dict[str, Any]] = {
    # Meter values every 10 s instead of 60, so simulated sessions end within minutes.
    "settings": {"meter_value_interval": 10},
    "billing": {"prices_include_vat": True, "vat_percent": "21", "electricity_price": "0.22"},
}


async def ensure_billing(url: str) -> None:
    """Billing options, the demo account and tariff (each once), SIMTAG on that account."""
    async with aiohttp.ClientSession() as session, Api(session, url) as api:
        entries = await api.get(
            "/api/config/config_entries/entry", "list config entries", domain=DOMAIN
        )
        if not entries:
            raise DemoError(f"no {DOMAIN} config entry to set billing up on")
        entry_id = entries[0]["entry_id"]
        for step, values in DEMO_OPTIONS.items():
            await _options_step(api, entry_id, step, values)
        existing = {(s["subentry_type"], s["title"]) for s in await api.subentries(entry_id)}
        for kind, data in (("account", {"name": DEMO_ACCOUNT}), ("tariff", DEMO_TARIFF)):
            if (kind, data["name"]) in existing:
                continue
            base = "/api/config/config_entries/subentries/flow"
            step = await api.post(base, f"start adding {kind}", {"handler": [entry_id, kind]})
            step = await api.post(f"{base}/{step['flow_id']}", f"add {kind}", data)
            if step.get("type") != "create_entry":
                raise DemoError(f"adding the {kind} failed: {step.get('errors') or step}")
        await api.post(
            f"/api/services/{DOMAIN}/set_id_tag",
            "put SIMTAG on the account",
            {"id_tag": "SIMTAG", "account": DEMO_ACCOUNT},
        )
    say(
        f"billing: tariff {DEMO_TARIFF['name']} ({DEMO_TARIFF['price_per_kwh']}/kWh, "
        f"{DEMO_TARIFF['session_fee']} a session, 21 % VAT included), account {DEMO_ACCOUNT}"
    )


async def _options_step(api: Api, entry_id: str, step_id: str, values: dict[str, Any]) -> None:
    """Open the options, choose a step, answer it from values and the form's defaults."""
    base = "/api/config/config_entries/options/flow"
    step = await api.post(base, "open the options", {"handler": entry_id})
    flow = f"{base}/{step['flow_id']}"
    step = await api.post(flow, f"choose {step_id}", {"next_step_id": step_id})
    answer = {
        field["name"]: values.get(field["name"], field.get("default"))
        for field in step.get("data_schema") or []
        if field["name"] in values or "default" in field
    }
    step = await api.post(flow, f"save {step_id}", answer)
    if step.get("type") != "create_entry":
        raise DemoError(f"options step {step_id} refused {answer}: {step.get('errors') or step}")


# --- wait-port -------------------------------------------------------------------------------


def wait_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise DemoError(f"nothing listens on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.5)


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["prepare", config_dir]:
                prepare(Path(config_dir))
            case ["wait", url, pid, *rest]:
                asyncio.run(wait(url.rstrip("/"), int(pid), float(rest[0]) if rest else 180))
            case ["entry", url]:
                asyncio.run(ensure_entry(url.rstrip("/")))
            case ["tags", url]:
                asyncio.run(ensure_tags(url.rstrip("/")))
            case ["billing", url]:
                asyncio.run(ensure_billing(url.rstrip("/")))
            case ["password", url, charger_id, file]:
                ensure_password(url.rstrip("/"), charger_id, Path(file))
            case ["secrets", file]:
                ensure_secrets(Path(file))
            case ["kiosk-key", url, file]:
                ensure_kiosk_key(url.rstrip("/"), Path(file))
            case ["wait-port", host, port, *rest]:
                wait_port(host, int(port), float(rest[0]) if rest else 30)
            case _:
                print(__doc__, file=sys.stderr)
                return 2
    except DemoError as err:
        say(f"error: {err}")
        return 1
    except subprocess.CalledProcessError as err:
        say(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        return 130  # Ctrl-C: scripts/demo stops what it started
    except TimeoutError:
        say("error: Home Assistant did not answer in time (see .demo/home-assistant.log)")
        return 1
    except aiohttp.ClientError as err:
        say(f"error: talking to Home Assistant failed: {err!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
