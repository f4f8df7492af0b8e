"""Attacks on the central system from the network, as issue 14 lists them, over real sockets
against a real Home Assistant: each test performs the attack and checks what must happen."""

import asyncio
import base64
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging import ledger as ledger_module
from custom_components.ev_charging.billing import pricing
from custom_components.ev_charging.const import (
    CONF_CHARGERS,
    CONF_IDLE_FEE,
    CONF_IDLE_GRACE,
    CONF_PRICE_PER_KWH,
    CONF_REPLACE_CONNECTION,
    DOMAIN,
)
from custom_components.ev_charging.csms import endpoint
from custom_components.ev_charging.diagnostics import async_get_config_entry_diagnostics
from custom_components.ev_charging.ledger import RAW_FRAME_CHARS, REFUSED_FRAMES_KEPT
from simulator.charger import ChargerConfig, SimulatedCharger

from .conftest import ChargerFactory
from .helpers import until
from .test_billing import add_tariff
from .test_security import give_password

MEGABYTE = 1024 * 1024
ENERGY = "Energy.Active.Import.Register"
# What Home Assistant writes to home-assistant.log by default.
HA_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s (%(threadName)s) [%(name)s] %(message)s"


@pytest.fixture
def ha_log(tmp_path: Path) -> Iterator[Path]:
    """Home Assistant's log file as a default installation writes it (warnings and up)."""
    path = tmp_path / "home-assistant.log"
    handler = logging.FileHandler(path)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(HA_FORMAT))
    logging.getLogger().addHandler(handler)
    yield path
    logging.getLogger().removeHandler(handler)
    handler.close()


async def ledger_bytes(config_dir: Path) -> int:
    """The ledger database with its write-ahead log."""

    def size() -> int:
        return sum(p.stat().st_size for p in config_dir.glob("ev_charging.db*") if p.is_file())

    return await asyncio.to_thread(size)


async def log_text(path: Path) -> str:
    """What the log file holds now."""
    return await asyncio.to_thread(path.read_text)


async def raw_socket(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    """A websocket upgrade written by hand (no URL normalising client in between); the HTTP
    status the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: ocpp1.6",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def assert_one_more_is_refused(port: int, chargers: list[SimulatedCharger]) -> None:
    """A new charger id gets 503 now; then every charger of the test is closed."""
    extra = SimulatedCharger(ChargerConfig(charger_id="NEW-X"), f"ws://127.0.0.1:{port}")
    chargers.append(extra)
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await extra.connect()
        assert refused.value.status == 503
    finally:
        for charger in chargers:
            await charger.close()


# Row 1: oversized frames and replies nobody asked for.


async def test_oversized_frames_close_the_connection_and_grow_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    port: int,
    config_dir: Path,
    ha_log: Path,
) -> None:
    """100 unsolicited CALLRESULTs of 1 MB: each closes its connection with 1009 before it is
    read; Home Assistant's log and the ledger grow by less than 1 MB."""
    log_before, ledger_before = len(await log_text(ha_log)), await ledger_bytes(config_dir)
    reply = json.dumps([3, "x", {"data": "A" * MEGABYTE}])
    codes = []
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.ws_connect(
                f"ws://127.0.0.1:{port}/ATTACKER", protocols=("ocpp1.6",)
            ) as ws:
                await ws.send_str(reply)
                message = await ws.receive(timeout=10)
                assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                codes.append(ws.close_code)
    assert set(codes) == {aiohttp.WSCloseCode.MESSAGE_TOO_BIG}
    await hass.async_block_till_done()
    assert len(await log_text(ha_log)) - log_before < MEGABYTE
    assert await ledger_bytes(config_dir) - ledger_before < MEGABYTE


async def test_replies_nobody_asked_for_are_dropped(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    ha_log: Path,
) -> None:
    """200 CALLRESULTs of 30 KB (under the limit) with unknown ids: not queued, counted, and
    logged a few times a minute, each line short."""
    charger = await make_charger("CP-1")
    connection = init_integration.runtime_data.central.connections["CP-1"]
    for n in range(200):
        await charger.send_raw(json.dumps([3, f"nobody-{n}", {"junk": "B" * 30_000}]))
    assert (await charger.heartbeat())["currentTime"]  # answered after all of them
    assert connection._response_queue.qsize() == 0
    assert connection.charger.unexpected_replies == 200
    diagnostics = await async_get_config_entry_diagnostics(hass, init_integration)
    assert diagnostics["chargers"]["CP-1"]["unexpected_replies"] == 200
    lines = [
        line for line in (await log_text(ha_log)).splitlines() if "reply to no request" in line
    ]
    assert 0 < len(lines) <= 10
    assert max(len(line) for line in lines) < 500
    # Commands still work: the charger's own answer to our CALL is not mistaken for junk.
    assert (await init_integration.runtime_data.central.command("CP-1", _trigger())).status


def _trigger() -> Any:
    return call.TriggerMessage(requested_message="Heartbeat")


# Rows 2 and 3: values echoed in errors, logs and the ledger; forged log lines.


async def test_errors_name_the_field_not_the_value(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    ha_log: Path,
) -> None:
    """A 50 KB value that breaks the schema: the CallError names the field, never the value;
    the log line is short."""
    charger = await make_charger("CP-1")
    huge = "Z" * 50_000
    reply = await charger.call_raw([2, "m1", "Authorize", {"idTag": huge}])
    assert reply[:3] == [4, "m1", "PropertyConstraintViolation"]
    assert "idTag" in reply[3]
    assert "ZZZZ" not in json.dumps(reply)
    assert len(json.dumps(reply)) < 500
    reply = await charger.call_raw(
        [
            2,
            "m1b",
            "StatusNotification",
            {"connectorId": huge, "errorCode": "NoError", "status": "Available"},
        ]
    )
    assert reply[2] == "TypeConstraintViolation"
    assert "ZZZZ" not in json.dumps(reply)
    reply = await charger.call_raw([2, "m2", "Heartbeat", {huge: 1}])
    assert reply[2] == "FormationViolation"
    assert len(json.dumps(reply)) < 500
    reply = await charger.call_raw([2, "m3", huge, {}])
    assert reply[2] == "NotImplemented"
    assert len(json.dumps(reply)) < 500
    await charger.data_transfer("vendor", data=huge)
    charger.frames.clear()  # the refused frames are not schema material
    text = await log_text(ha_log)
    assert "Z" * 201 not in text
    assert max(len(line) for line in text.splitlines()) < 600


async def test_refused_frames_are_capped_in_the_ledger(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Refused transaction frames are kept (up to 8 KiB each), the newest 100 per charger,
    older ones pruned and counted."""
    charger = await make_charger("CP-1")
    ledger = init_integration.runtime_data.ledger
    for n in range(REFUSED_FRAMES_KEPT + 30):
        frame = [2, f"bad-{n}", "StartTransaction", {"connectorId": 1, "junk": "J" * 20_000}]
        assert (await charger.call_raw(frame))[0] == 4
    charger.frames.clear()
    frames = await ledger.load_frames("CP-1")
    assert len(frames) == REFUSED_FRAMES_KEPT
    assert frames[-1]["message_id"] == f"bad-{REFUSED_FRAMES_KEPT + 29}"
    assert all(len(f["frame"]) <= RAW_FRAME_CHARS and f["size"] > 20_000 for f in frames)
    assert await ledger.pruned_frames("CP-1") == 30


async def test_forged_log_lines_are_escaped(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    ha_log: Path,
) -> None:
    """A newline and a fake Home Assistant log line inside what a charger sends never starts
    a line of the log."""
    forged = "\n2026-12-02 10:00:00.000 ERROR (MainThread) [homeassistant.core] forged"
    charger = await make_charger("CP-1")
    await charger.call_raw([2, "f1", "Authorize", {"idTag": "X" + forged}])
    await charger.send_raw("not json" + forged)
    await charger.call_raw([2, "f2", "NoSuchAction" + forged, {}])
    await charger.call_raw(
        [
            2,
            "f3",
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "yesterday" + forged},
        ]
    )
    charger.frames.clear()
    lines = (await log_text(ha_log)).splitlines()
    assert lines, "the refusals are logged"
    assert not any(line.startswith("2026-12-02 10:00:00.000 ERROR") for line in lines)
    assert any("\\n2026-12-02" in line for line in lines)


# Row 4: charger ids.


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/sim-001", 403),  # differs from SIM-001 only by case
        ("/SIM-00l", 403),  # a small L for the one
        ("/SlM-0O1", 403),  # and an O for the zero
        ("/SIM-001%20", 404),  # trailing space
        ("/%D0%85IM-002", 404),  # Cyrillic look-alike
        ("/..", 404),
        ("/%C0%AF", 404),  # overlong UTF-8 slash
        ("/..%252F", 404),  # double-encoded
        ("/%2541", 404),  # "%41" decoded once: only a second decoding would make it "A"
        ("/../SIM-002", 404),
        ("/..%2FSIM-002", 404),
        ("/ocpp/" + "A" * 49, 404),  # longer than OCPP's 48
        ("/SIM-002", 101),
    ],
)
async def test_charger_ids_are_decoded_once_and_checked(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    port: int,
    path: str,
    status: int,
) -> None:
    """Only a clean id connects; a case look-alike of a known charger is refused with a log
    line; nothing refused becomes a charger."""
    await make_charger("SIM-001")
    assert await raw_socket(port, path) == status
    central = init_integration.runtime_data.central
    await until(lambda: status != 101 or "SIM-002" in central.chargers, "the new charger")
    assert set(central.chargers) <= {"SIM-001", "SIM-002"}


def test_valid_charger_ids() -> None:
    """The rule itself, against OCPP's chargeBoxIdentity (CiString48) and URL syntax."""
    assert endpoint.valid_charger_id("CP_1-a.b:c")
    assert endpoint.valid_charger_id("A" * 48)
    for bad in ("", ".", "..", "A" * 49, "a b", "a/b", "a%2Fb", "a?b", "a#b", "ä", "a\\b"):
        assert not endpoint.valid_charger_id(bad), bad


# Row 5: an automatically accepted stranger.


async def test_a_stranger_accepted_automatically_gets_no_tag_list(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """With automatic acceptance (the demo's setting), a new client without a password is not
    sent the ID tags; a repair issue says why, and its fix (the owner vouches) sends them."""
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    stranger = await make_charger("STRANGER")
    assert not [a for a, _ in stranger.received_calls if a == "SendLocalList"]
    central = init_integration.runtime_data.central
    assert central.chargers["STRANGER"].local_list_status == "Withheld"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "tag_list_withheld")
    assert issue is not None
    assert issue.translation_placeholders == {"chargers": "STRANGER"}

    assert await async_setup_component(hass, "repairs", {})
    flows = hass.data["repairs"]["flow_manager"]
    result = await flows.async_init(DOMAIN, data={"issue_id": "tag_list_withheld"})
    assert result["description_placeholders"] == {"chargers": "STRANGER"}
    await flows.async_configure(result["flow_id"], {})
    await until(
        lambda: any(a == "SendLocalList" for a, _ in stranger.received_calls), "the tag list"
    )
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, "tag_list_withheld") is None


async def test_energy_no_connector_can_deliver_is_not_billed(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """500 kWh in one minute on a resident's tag: held out of the bill, flagged, on the review
    list; 1e20 Wh and 1e999999999 are answered, kept raw, never priced, flagged."""
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.35"})
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    charger = await make_charger("CP-1")
    start = dt_util.utcnow() - timedelta(minutes=1)
    started = await charger.start_transaction(1, "SIMTAG", meter_start=0, timestamp=start)
    transaction_id = started["transactionId"]
    now = start + timedelta(minutes=1)
    await charger.meter_values(1, transaction_id, power_w=7000, energy_wh=500_000, timestamp=now)
    for absurd in ("1e20", "1e999999999", "NaN"):
        reply = await charger.call_raw(
            [
                2,
                f"a-{absurd}",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": transaction_id,
                    "meterValue": [
                        {
                            "timestamp": now.isoformat(),
                            "sampledValue": [
                                {
                                    "value": absurd,
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                }
                            ],
                        }
                    ],
                },
            ]
        )
        assert reply[0] == 3, reply  # a CALLRESULT: the charger keeps the other readings
    charger.frames.clear()
    central = init_integration.runtime_data.central
    bill = central.cashier.live_bill(transaction_id)
    assert bill is not None
    # One minute at 22 kW with 20 % margin, plus one kWh of slack: at most 1.44 kWh priced.
    assert bill.energy_wh <= Decimal("1440")
    assert bill.gross <= Decimal("0.51")
    assert {"implausible_energy", "absurd_reading"} <= bill.flags
    reviews = await init_integration.runtime_data.ledger.open_reviews()
    assert {r["kind"] for r in reviews} >= {"implausible_energy", "absurd_reading"}
    readings = await init_integration.runtime_data.ledger.load_meter_readings(transaction_id)
    raw = json.dumps([r.sampled_values for r in readings])
    assert "1e999999999" in raw
    assert "1e20" in raw


# Row 6: a second connection under a connected charger's id.


async def test_a_newcomer_cannot_push_off_a_charger_that_answers(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """While the real charger answers pings, a second connection with its id is refused (409)
    and the real charger's session runs on; the quirk restores replace-always."""
    real = await make_charger("CP-1")
    transaction_id = (await real.start_transaction(1, "TAG", meter_start=0))["transactionId"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await make_charger("CP-1", boot=False)
    assert refused.value.status == 409
    assert real.connected
    assert (await real.heartbeat())["currentTime"]
    connector = init_integration.runtime_data.central.chargers["CP-1"].connectors[1]
    assert connector.transaction is not None
    assert connector.transaction.transaction_id == transaction_id

    hass.config_entries.async_update_entry(
        init_integration,
        options={
            **init_integration.options,
            CONF_CHARGERS: {"CP-1": {CONF_REPLACE_CONNECTION: True}},
        },
    )
    await hass.async_block_till_done()
    await make_charger("CP-1", boot=False)
    await real.wait_closed()


# Row 12: connections that never finish.


@pytest.fixture
def quick_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    """Half a second to finish the upgrade, so the test waits briefly."""
    monkeypatch.setattr(endpoint, "HANDSHAKE_TIMEOUT", 0.5)


async def test_unfinished_upgrades_are_closed(
    hass: HomeAssistant, quick_handshake: None, init_integration: MockConfigEntry, port: int
) -> None:
    """300 upgrade requests whose headers never end are all closed by the server."""
    streams = []
    for _ in range(300):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /CP-1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        streams.append((reader, writer))
    async with asyncio.timeout(30):
        for reader, writer in streams:
            assert await reader.read() == b""  # closed by the server
            writer.close()


async def test_no_boot_notification_closes_the_connection(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A client that never says who it is does not keep its socket."""
    init_integration.runtime_data.central.boot_timeout = 0.3
    silent = await make_charger("SILENT", boot=False)
    async with asyncio.timeout(30):
        await silent.wait_closed()
    assert silent.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


@pytest.mark.parametrize("auto_accept", [False])
async def test_unapproved_connections_are_capped(
    hass: HomeAssistant, init_integration: MockConfigEntry, port: int
) -> None:
    """At most 20 chargers waiting for approval are connected at once; the next gets 503.
    A charger the owner gave a password is no stranger: it gets in all the same."""
    password = await give_password(hass, init_integration, "OWNED-1")
    chargers = []
    for n in range(endpoint.MAX_UNAPPROVED_CONNECTIONS):
        charger = SimulatedCharger(ChargerConfig(charger_id=f"NEW-{n}"), f"ws://127.0.0.1:{port}")
        await charger.connect()
        chargers.append(charger)
    owned = SimulatedCharger(
        ChargerConfig(charger_id="OWNED-1", password=password), f"ws://127.0.0.1:{port}"
    )
    await owned.connect()
    chargers.append(owned)
    await assert_one_more_is_refused(port, chargers)


# From the adversarial review after the fixes.


@pytest.mark.parametrize(
    "timestamp",
    ["9999-12-31T00:00:00+00:00", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"],
)
async def test_dates_no_clock_shows_are_refused_not_stored(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    timestamp: str,
) -> None:
    """A StartTransaction dated year 9999 (or whose conversion to UTC overflows) is refused
    with a CallError, not an InternalError; nothing is priced; a restart still works."""
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    charger = await make_charger("CP-1")
    frame = {"connectorId": 1, "idTag": "SIMTAG", "meterStart": 0, "timestamp": timestamp}
    reply = await charger.call_raw([2, "y", "StartTransaction", frame])
    assert reply[2] == "PropertyConstraintViolation"
    status = {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": timestamp,
    }
    assert (await charger.call_raw([2, "z", "StatusNotification", status]))[2] == (
        "PropertyConstraintViolation"
    )
    charger.frames.clear()
    assert init_integration.runtime_data.central.cashier.open == {}
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state.recoverable


async def test_a_clock_in_the_future_cannot_bill_idle_years(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Idle time runs on real time: an Available dated 2099 ends it now, not in 2099."""
    t0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    freezer.move_to(t0)
    await add_tariff(
        hass,
        init_integration,
        **{CONF_PRICE_PER_KWH: "0.30", CONF_IDLE_FEE: "0.10", CONF_IDLE_GRACE: 0},
    )
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    charger = await make_charger("CP-1")
    transaction_id = (await charger.start_transaction(1, "SIMTAG", meter_start=0))["transactionId"]
    await charger.status(1, "Charging")
    freezer.move_to(t0 + timedelta(minutes=30))
    await charger.meter_values(1, transaction_id, power_w=7000, energy_wh=1_000)
    await charger.stop_transaction(transaction_id, meter_stop=1_000)
    await charger.status(1, "Finishing")
    freezer.move_to(t0 + timedelta(hours=1, minutes=30))
    await charger.status(1, "Available", timestamp=datetime(2099, 12, 30, tzinfo=UTC))
    [bill] = await init_integration.runtime_data.ledger.load_bills(transaction_id=transaction_id)
    assert (bill.idle_seconds, bill.final) == (Decimal(3600), True)
    assert bill.unplugged_at == t0 + timedelta(hours=1, minutes=30)


async def test_a_start_dated_weeks_back_cannot_bill_thousands_of_kwh(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """StartTransaction dated 30 days back, one reading of 18,981.6 kWh: the power bound
    would allow that much, but no car takes more than 250 kWh; the rest is held out."""
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.35"})
    charger = await make_charger("CP-1")
    now = dt_util.utcnow()
    start = now - timedelta(days=29, hours=23)
    transaction_id = (await charger.start_transaction(1, "SIMTAG", meter_start=0, timestamp=start))[
        "transactionId"
    ]
    await charger.meter_values(1, transaction_id, power_w=0, energy_wh=18_981_600, timestamp=now)
    bill = init_integration.runtime_data.central.cashier.live_bill(transaction_id)
    assert bill is not None
    # (Split over 720 hours, the exact shares add up to 250 kWh within 10^-20 Wh.)
    assert round(bill.energy_wh, 6) == 250_000
    assert "implausible_energy" in bill.flags


async def test_late_readings_cannot_make_pricing_freeze_home_assistant(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages of readings each older than the last re-price the session once per message,
    and only so many times; the rest are kept, not priced, and the session is flagged."""
    monkeypatch.setattr(pricing, "MAX_REPRICES", 3)
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.35"})
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    charger = await make_charger("CP-1")
    now = dt_util.utcnow()
    transaction_id = (
        await charger.start_transaction(
            1, "SIMTAG", meter_start=0, timestamp=now - timedelta(days=1)
        )
    )["transactionId"]
    for frame in range(6):
        base = now - timedelta(hours=frame + 1)
        readings = [
            {
                "timestamp": (base - timedelta(seconds=n)).isoformat(),
                "sampledValue": [{"value": str(10_000 - frame * 100 - n), "measurand": ENERGY}],
            }
            for n in range(100)
        ]
        payload = {"connectorId": 1, "transactionId": transaction_id, "meterValue": readings}
        assert (await charger.call_raw([2, f"late-{frame}", "MeterValues", payload]))[0] == 3
    charger.frames.clear()
    pricer = init_integration.runtime_data.central.cashier.open[transaction_id].pricer
    assert pricer._reprices == 3
    assert "too_many_readings" in pricer.flags


async def test_limits_on_numbers_a_charger_sends(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """connectorId and transactionId beyond any charger (2^63), more than 500 sampled values
    in one message, an eleventh connector from a charger nobody approved: CallErrors, no
    InternalError, nothing stored for them."""
    charger = await make_charger("CP-1")
    status = {"connectorId": 2**63, "errorCode": "NoError", "status": "Available"}
    assert (await charger.call_raw([2, "c", "StatusNotification", status]))[2] == (
        "PropertyConstraintViolation"
    )
    stop = {"transactionId": 2**63, "meterStop": 1, "timestamp": dt_util.utcnow().isoformat()}
    assert (await charger.call_raw([2, "t", "StopTransaction", stop]))[2] == (
        "PropertyConstraintViolation"
    )
    many = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": dt_util.utcnow().isoformat(),
                "sampledValue": [{"value": "1"}] * 501,
            }
        ],
    }
    assert (await charger.call_raw([2, "m", "MeterValues", many]))[2] == (
        "PropertyConstraintViolation"
    )
    for connector_id in range(11):
        status = {"connectorId": connector_id, "errorCode": "NoError", "status": "Available"}
        assert (await charger.call_raw([2, f"s{connector_id}", "StatusNotification", status]))[
            0
        ] == 3
    status = {"connectorId": 11, "errorCode": "NoError", "status": "Available"}
    assert (await charger.call_raw([2, "s11", "StatusNotification", status]))[2] == (
        "PropertyConstraintViolation"
    )
    charger.frames.clear()
    assert len(init_integration.runtime_data.central.chargers["CP-1"].connectors) == 11


async def test_only_ascii_letters_fold_in_id_tags(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A long s (U+017F) before "imtag" is not SIMTAG, though Python's casefold says so."""
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    charger = await make_charger("CP-1")
    assert (await charger.authorize("simtag"))["idTagInfo"]["status"] == "Accepted"
    assert (await charger.authorize("\u017fimtag"))["idTagInfo"]["status"] == "Invalid"


async def test_strangers_are_capped(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each new id accepted automatically gets a device: past the cap of chargers nobody
    approved, a new id is refused (503) until the owner has dealt with some."""
    init_integration.runtime_data.central.settings.max_strangers = 3
    chargers = []
    for n in range(3):
        charger = SimulatedCharger(ChargerConfig(charger_id=f"NEW-{n}"), f"ws://127.0.0.1:{port}")
        chargers.append(charger)
        await charger.connect()
        await charger.boot()
        await charger.close()
    await assert_one_more_is_refused(port, chargers)


async def test_tracebacks_are_thinned_too(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    monkeypatch: pytest.MonkeyPatch,
    ha_log: Path,
) -> None:
    """A message that trips a bug of ours is answered InternalError every time, but its
    traceback reaches the log only a few times a minute."""
    charger = await make_charger("CP-1")
    central = init_integration.runtime_data.central

    def broken(charger: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(central, "heartbeat", broken)
    for n in range(50):
        assert (await charger.call_raw([2, f"h{n}", "Heartbeat", {}]))[2] == "InternalError"
    charger.frames.clear()
    text = await log_text(ha_log)
    assert 0 < text.count("error while handling Heartbeat") <= 10
    assert text.count("RuntimeError: a bug") <= 10


async def test_a_bill_that_cannot_be_rebuilt_does_not_stop_the_rest(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """After a restart, a stored bill that cannot be priced again is left in the ledger and
    put on the review list; the integration and the other sessions start as usual."""
    await add_tariff(hass, init_integration, **{CONF_PRICE_PER_KWH: "0.30"})
    await hass.services.async_call(DOMAIN, "set_id_tag", {"id_tag": "SIMTAG"}, blocking=True)
    charger = await make_charger("CP-1")
    broken = (await charger.start_transaction(1, "SIMTAG", meter_start=0))["transactionId"]
    fine = (await charger.start_transaction(2, "SIMTAG", meter_start=0))["transactionId"]
    ledger = init_integration.runtime_data.ledger
    await ledger.submit(
        lambda c: c.execute(
            "UPDATE session_bills SET tariff = '{}' WHERE transaction_id = ?", (broken,)
        )
    )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    cashier = init_integration.runtime_data.central.cashier
    assert fine in cashier.open
    assert broken not in cashier.open
    reviews = await init_integration.runtime_data.ledger.open_reviews()
    assert [(r["transaction_id"], r["kind"]) for r in reviews] == [(broken, "bill_not_rebuilt")]


async def test_refused_frames_are_capped_across_chargers_too(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Made-up ids do not each get a quota: the total of refused frames is capped as well,
    the oldest pruned first and counted for their own charger."""
    monkeypatch.setattr(ledger_module, "REFUSED_FRAMES_TOTAL", 20)
    ledger = init_integration.runtime_data.ledger
    for charger_id in ("JUNK-1", "JUNK-2"):
        charger = await make_charger(charger_id)
        for n in range(15):
            frame = [2, f"{charger_id}-{n}", "StartTransaction", {"connectorId": 1}]
            assert (await charger.call_raw(frame))[0] == 4
        charger.frames.clear()
    kept = [len(await ledger.load_frames(c)) for c in ("JUNK-1", "JUNK-2")]
    assert kept == [5, 15]
    assert [await ledger.pruned_frames(c) for c in ("JUNK-1", "JUNK-2")] == [10, 0]
