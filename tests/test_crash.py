"""Killing Home Assistant (SIGKILL, no clean stop) loses nothing the central system answered."""

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import STORAGE_VERSION, STORAGE_VERSION_MINOR
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.hass import stand_in_frontend
from bench.proc import listens
from custom_components.ev_charging.const import LEDGER_FILENAME
from custom_components.ev_charging.ledger import Ledger
from simulator.charger import ChargerConfig, SimulatedCharger

REPO = Path(__file__).parent.parent
T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def write_config(config_dir: Path, port: int) -> None:
    """A minimal Home Assistant config with the integration's entry already in storage."""
    (config_dir / "custom_components").mkdir(parents=True)
    (config_dir / "custom_components" / "ev_charging").symlink_to(
        REPO / "custom_components" / "ev_charging"
    )
    (config_dir / "configuration.yaml").write_text(
        "homeassistant:\n  name: crash test\n  time_zone: UTC\nlogger:\n  default: info\n"
    )
    # Without it Home Assistant restarts in recovery mode (no integration) soon after start.
    stand_in_frontend(config_dir)
    entry = MockConfigEntry(
        domain="ev_charging",
        title="EV Charging",
        unique_id="ev_charging",
        data={"host": "127.0.0.1", "port": port},
        options={"heartbeat_interval": 60, "auto_accept": True},
    )
    (config_dir / ".storage").mkdir()
    (config_dir / ".storage" / "core.config_entries").write_text(
        json.dumps(
            {
                "version": STORAGE_VERSION,
                "minor_version": STORAGE_VERSION_MINOR,
                "key": "core.config_entries",
                "data": {"entries": [json.loads(json.dumps(entry.as_dict(), default=str))]},
            }
        )
    )


@pytest.fixture
def home_assistant(tmp_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A real Home Assistant process with the integration, on its own config directory."""
    config_dir = tmp_path / "config"
    write_config(config_dir, port)
    with (tmp_path / "home-assistant.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "homeassistant", "-c", str(config_dir), "--skip-pip"],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Not the repository: its custom_components/ would hide the config directory's
            # (the stand-in frontend), and Home Assistant would go into recovery mode.
            cwd=config_dir,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


async def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait (bounded) for the process that is starting up to listen on the port itself."""
    for _ in range(600):
        if process.poll() is not None:
            break
        if listens(process.pid, port):
            return
        await asyncio.sleep(0.1)
    tail = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"Home Assistant did not open port {port}:\n{tail[-3000:]}")


async def test_kill_after_stop_transaction_loses_nothing(
    home_assistant: subprocess.Popen[bytes], tmp_path: Path, port: int
) -> None:
    """Every answered transaction message is in the ledger after SIGKILL."""
    await wait_for_port(port, home_assistant, tmp_path / "home-assistant.log")
    charger = SimulatedCharger(ChargerConfig(charger_id="CP-1"), f"ws://127.0.0.1:{port}")
    await charger.connect()
    await charger.boot()
    transaction_id = (await charger.start_transaction(1, "TAG", meter_start=10_000, timestamp=T0))[
        "transactionId"
    ]
    for minute in range(1, 4):
        await charger.meter_values(
            1,
            transaction_id,
            power_w=7_000,
            energy_wh=10_000 + 100 * minute,
            timestamp=T0 + timedelta(minutes=minute),
        )
    await charger.stop_transaction(
        transaction_id,
        meter_stop=10_350,
        reason="EVDisconnected",
        timestamp=T0 + timedelta(minutes=4),
    )
    home_assistant.send_signal(signal.SIGKILL)
    home_assistant.wait()
    await charger.close()

    ledger = Ledger(tmp_path / "config" / LEDGER_FILENAME)
    await ledger.open()
    try:
        [transaction] = await ledger.load_transactions("CP-1")
        assert transaction.transaction_id == transaction_id
        assert (transaction.meter_start_wh, transaction.meter_stop_wh) == (10_000, 10_350)
        assert transaction.stopped_at == T0 + timedelta(minutes=4)
        assert transaction.stop_reason == "EVDisconnected"
        readings = await ledger.load_meter_readings(transaction_id)
        assert [r.energy_wh for r in readings] == [10_100, 10_200, 10_300]
        frames = await ledger.load_frames("CP-1")
        assert [f["action"] for f in frames] == [
            "StartTransaction",
            "MeterValues",
            "MeterValues",
            "MeterValues",
            "StopTransaction",
        ]
    finally:
        await ledger.close()
