"""Charger passwords (security profile 1), TLS (profile 2), the repair issue for chargers
without a password."""

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ev_charging.const import (
    CONF_CHARGER_ID,
    CONF_PASSWORDS,
    CONF_SSL_CERTIFICATE,
    CONF_SSL_KEY,
    DOMAIN,
)
from custom_components.ev_charging.csms.security import (
    basic_auth_password,
    hash_password,
    new_password,
    password_matches,
)
from custom_components.ev_charging.runtime import _list_some
from simulator.charger import ChargerConfig, SimulatedCharger

from .conftest import ChargerFactory
from .helpers import until

ISSUE = "charger_without_password"


def test_password_hashing() -> None:
    """Hashes are salted, verify the right password only, and keep no plain text."""
    password = new_password()
    assert len(password) == 20
    stored = hash_password(password)
    assert password not in stored
    assert hash_password(password) != stored  # a new salt each time
    assert password_matches(password, stored)
    assert not password_matches(password + "x", stored)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic Q1AtMTpzZWNyZXQ=", "secret"),  # CP-1:secret
        ("Basic Q1AtMjpzZWNyZXQ=", None),  # another charger's user name
        ("Basic not-base64!", None),
        ("Bearer abc", None),
        (None, None),
    ],
)
def test_basic_auth_header(header: str | None, expected: str | None) -> None:
    """Only a Basic header whose user is the charger id gives a password."""
    assert basic_auth_password(header, "CP-1") == expected


async def give_password(hass: HomeAssistant, entry: MockConfigEntry, charger_id: str) -> str:
    """Go through the options flow; returns the password it showed once."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: charger_id}
    )
    assert result["step_id"] == "password_created"
    password = result["description_placeholders"]["password"]
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return str(password)


async def test_password_lets_in_only_the_right_charger(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a password set, no or a wrong password is refused (401) and nothing is recorded."""
    first = await make_charger("CP-1")
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, ISSUE) is not None
    password = await give_password(hass, init_integration, "CP-1")
    assert password not in str(init_integration.options)
    assert "CP-1" in init_integration.options[CONF_PASSWORDS]
    await first.close()
    central = init_integration.runtime_data.central
    await until(lambda: not central.connections, "the first connection closed")
    assert issues.async_get_issue(DOMAIN, ISSUE) is None

    for wrong in (None, "not-the-password"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await make_charger("CP-1", boot=False, password=wrong)
        assert refused.value.status == 401
    assert "from 127.0.0.1: charger CP-1 gave no password" in caplog.text
    assert "from 127.0.0.1: charger CP-1 gave a wrong password" in caplog.text
    assert await init_integration.runtime_data.ledger.load_frames("CP-1") == []

    charger = await make_charger("CP-1", password=password)
    await charger.start_transaction(1, "TAG", meter_start=0)
    assert [
        f["action"] for f in await init_integration.runtime_data.ledger.load_frames("CP-1")
    ] == ["StartTransaction"]
    assert issues.async_get_issue(DOMAIN, ISSUE) is None


async def test_password_before_the_first_connection(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """A charger never seen can get its password first: nobody can pose as it in between."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "bad/\n id\x00"}
    )
    assert result["errors"] == {CONF_CHARGER_ID: "invalid_charger_id"}
    password = await give_password(hass, init_integration, "NEW-1")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await make_charger("NEW-1", boot=False)
    charger = await make_charger("NEW-1", boot=False, password=password)
    assert charger.connected


async def test_repair_issue_names_chargers_without_password(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """The issue lists every connected charger without a password and goes when none is left."""
    first = await make_charger("CP-1")
    second = await make_charger("CP-2")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.translation_placeholders == {"chargers": "CP-1, CP-2"}
    await first.close()
    await second.close()
    central = init_integration.runtime_data.central
    await until(lambda: not central.connections, "both connections closed")
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE) is None


async def test_password_can_be_removed(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_charger: ChargerFactory
) -> None:
    """Removing a charger's password lets it connect without logging in again."""
    await make_charger("CP-1")
    await give_password(hass, init_integration, "CP-1")
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "CP-1", "remove_password": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_PASSWORDS] == {}


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ev-charging-test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_charger_connects_over_wss(
    hass: HomeAssistant, config_entry: MockConfigEntry, port: int, tmp_path: Path
) -> None:
    """With a certificate and key the central system speaks wss:// (security profile 2)."""
    cert_path, key_path = await hass.async_add_executor_job(make_certificate, tmp_path)
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        data={
            **config_entry.data,
            CONF_SSL_CERTIFICATE: str(cert_path),
            CONF_SSL_KEY: str(key_path),
        },
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    trust = ssl.create_default_context()
    await hass.async_add_executor_job(trust.load_verify_locations, str(cert_path))
    charger = SimulatedCharger(
        ChargerConfig(charger_id="CP-TLS", tls=trust), f"wss://127.0.0.1:{port}"
    )
    await charger.connect()
    assert (await charger.boot())["status"] == "Accepted"
    await charger.close()
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_flow_refuses_unusable_tls_files(
    hass: HomeAssistant, port: int, tmp_path: Path
) -> None:
    """A missing key, or files that are not a certificate, are clear form errors."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    base = {CONF_HOST: "127.0.0.1", CONF_PORT: port, "heartbeat_interval": 60, "auto_accept": True}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**base, CONF_SSL_CERTIFICATE: str(tmp_path / "cert.pem")}
    )
    assert result["errors"] == {"base": "tls_incomplete"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            **base,
            CONF_SSL_CERTIFICATE: str(tmp_path / "no.pem"),
            CONF_SSL_KEY: str(tmp_path / "no.key"),
        },
    )
    assert result["errors"] == {CONF_SSL_CERTIFICATE: "tls_unreadable"}


def test_issue_sums_up_many_chargers() -> None:
    """Past ten chargers the issue says how many more there are."""
    ids = [f"CP-{n:02d}" for n in range(12)]
    assert _list_some(ids) == ", ".join(ids[:10]) + " and 2 more"
    assert _list_some(ids[:3]) == "CP-00, CP-01, CP-02"


async def test_flow_takes_a_usable_certificate(
    hass: HomeAssistant, port: int, tmp_path: Path
) -> None:
    """A certificate and key that load are kept in the entry; the server speaks wss://."""
    cert_path, key_path = await hass.async_add_executor_job(make_certificate, tmp_path)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            "heartbeat_interval": 60,
            "auto_accept": True,
            CONF_SSL_CERTIFICATE: str(cert_path),
            CONF_SSL_KEY: str(key_path),
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SSL_CERTIFICATE] == str(cert_path)
    assert result["data"][CONF_SSL_KEY] == str(key_path)
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)
