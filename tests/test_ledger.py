"""The ledger on its own: migrations, group commits, idempotent transaction messages."""

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from custom_components.ev_charging.ledger import (
    MIGRATIONS,
    Ledger,
    LedgerError,
    MeterReading,
    _statements,
)

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


@pytest.fixture
async def ledger(tmp_path: Path):
    ledger = Ledger(tmp_path / "ledger.db")
    await ledger.open()
    yield ledger
    await ledger.close()


async def test_schema_is_migrated_to_newest(tmp_path: Path, ledger: Ledger) -> None:
    """A new database gets the newest schema version."""
    with sqlite3.connect(tmp_path / "ledger.db") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer release is not touched."""
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(LedgerError, match="newer than this release"):
        await Ledger(path).open()


async def test_transaction_ids_are_unique_across_reopen(tmp_path: Path) -> None:
    """Ids keep increasing after a restart, even if the newest transaction was deleted."""
    path = tmp_path / "ledger.db"
    first = Ledger(path)
    await first.open()
    one = await first.start_transaction("CP-1", 1, "TAG", 0, T0)
    two = await first.start_transaction("CP-1", 2, "TAG", 0, T0)
    await first.submit(
        lambda c: c.execute(
            "DELETE FROM transactions WHERE transaction_id = ?", (two.transaction_id,)
        )
    )
    await first.close()
    second = Ledger(path)
    await second.open()
    three = await second.start_transaction("CP-1", 1, "TAG", 5, T0 + timedelta(hours=1))
    await second.close()
    assert one.transaction_id < two.transaction_id < three.transaction_id


async def test_retried_start_and_stop_are_idempotent(ledger: Ledger) -> None:
    """A charger that retries StartTransaction/StopTransaction does not double anything."""
    first = await ledger.start_transaction("CP-1", 1, "TAG", 100, T0)
    again = await ledger.start_transaction("CP-1", 1, "TAG", 100, T0)
    assert again.transaction_id == first.transaction_id
    stopped = await ledger.stop_transaction(
        "CP-1", first.transaction_id, 900, T0 + timedelta(hours=1), "Local", None
    )
    retried = await ledger.stop_transaction(
        "CP-1", first.transaction_id, 950, T0 + timedelta(hours=2), "Other", None
    )
    assert stopped == retried
    assert retried is not None
    assert retried.meter_stop_wh == 900
    assert await ledger.stop_transaction("CP-1", 999, 1, T0, None, None) is None
    # Another charger cannot close it.
    assert await ledger.stop_transaction("CP-2", first.transaction_id, 1, T0, None, None) is None


async def test_duplicate_readings_are_stored_once(ledger: Ledger) -> None:
    """The same MeterValue sent twice is one row."""
    transaction = await ledger.start_transaction("CP-1", 1, "TAG", 0, T0)
    reading = MeterReading(
        "CP-1", 1, transaction.transaction_id, T0, Decimal(10), Decimal(7400), []
    )
    await ledger.add_meter_readings([reading])
    await ledger.add_meter_readings([reading])
    assert await ledger.load_meter_readings(transaction.transaction_id) == [reading]


async def test_failing_operation_rolls_back_alone(ledger: Ledger) -> None:
    """One bad operation in a commit group does not take the others with it."""
    bad = ledger.submit(lambda c: c.execute("INSERT INTO nowhere VALUES (1)"))
    good = ledger.start_transaction("CP-1", 1, "TAG", 0, T0)
    with pytest.raises(LedgerError, match="no such table"):
        await bad
    assert (await good).transaction_id == 1
    assert len(await ledger.load_transactions()) == 1


async def test_backup_freeze_keeps_main_file_consistent(tmp_path: Path, ledger: Ledger) -> None:
    """While frozen, writes go on, and the main file alone is the database as of the freeze."""
    await ledger.start_transaction("CP-1", 1, "TAG", 0, T0)
    await ledger.freeze_for_backup()
    main_file = tmp_path / "ledger.db"
    frozen = await asyncio.to_thread(main_file.read_bytes)
    for connector in range(2, 50):
        await ledger.start_transaction("CP-1", connector, "TAG", 0, T0)
    assert await asyncio.to_thread(main_file.read_bytes) == frozen
    copy = tmp_path / "backup-copy.db"
    await asyncio.to_thread(copy.write_bytes, frozen)
    with sqlite3.connect(copy) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT COUNT(*) FROM transactions").fetchone() == (1,)
    await ledger.thaw_after_backup()
    assert len(await ledger.load_transactions()) == 49


async def test_same_moment_different_measurands_are_all_kept(ledger: Ledger) -> None:
    """Two readings for one timestamp with different values are two rows; NULL ids dedupe too."""
    energy = MeterReading("CP-1", 1, None, T0, Decimal(500), None, [{"measurand": "E"}])
    power = MeterReading("CP-1", 1, None, T0, None, Decimal(7400), [{"measurand": "P"}])
    await ledger.add_meter_readings([energy, power])
    await ledger.add_meter_readings([energy, power])
    count = await ledger.submit(
        lambda c: c.execute("SELECT COUNT(*) FROM meter_readings").fetchone()
    )
    assert count == (2,)


async def test_a_reading_of_transaction_minus_one_is_not_one_of_no_transaction(
    ledger: Ledger,
) -> None:
    """Same charger, connector, moment and values: with no transaction and with id -1 they
    are two readings, neither taken for the other's repeat."""
    values = [{"measurand": "E"}]
    none = MeterReading("CP-1", 1, None, T0, Decimal(500), None, values)
    minus_one = MeterReading("CP-1", 1, -1, T0, Decimal(500), None, values)
    await ledger.add_meter_readings([none])
    await ledger.add_meter_readings([minus_one])
    count = await ledger.submit(
        lambda c: c.execute("SELECT COUNT(*) FROM meter_readings").fetchone()
    )
    assert count == (2,)


async def test_closed_ledger_refuses_work(ledger: Ledger) -> None:
    """Work submitted after close fails loudly instead of vanishing."""
    await ledger.close()
    with pytest.raises(LedgerError):
        ledger.load_chargers()


async def test_older_schema_is_migrated_with_its_data(tmp_path: Path) -> None:
    """A database of schema version 1 gains the newer tables and keeps its rows."""
    path = tmp_path / "v1.db"
    with sqlite3.connect(path, isolation_level=None) as connection:
        for statement in _statements(MIGRATIONS[0]):
            connection.execute(statement)
        connection.execute("PRAGMA user_version = 1")
        connection.execute(
            "INSERT INTO transactions (charger_id, connector_id, id_tag, meter_start_wh,"
            " started_at) VALUES ('CP-1', 1, 'TAG', 5, ?)",
            (T0.isoformat(),),
        )
    ledger = Ledger(path)
    await ledger.open()
    try:
        [transaction] = await ledger.load_transactions()
        assert (transaction.charger_id, transaction.meter_start_wh) == ("CP-1", 5)
        await ledger.save_charger("CP-1", T0)
        await ledger.save_configuration_result(
            "CP-1", "MeterValueSampleInterval", "60", "Accepted", T0
        )
        assert await ledger.load_configuration_results("CP-1") == {
            "MeterValueSampleInterval": "Accepted"
        }
    finally:
        await ledger.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
