"""Charger passwords: OCPP 1.6 Security Profile 1 (HTTP Basic auth on the websocket upgrade)."""

import base64
import binascii
import hashlib
import hmac
import secrets
import ssl
import string

# 20 characters from letters and digits: about 119 bits, within the 16-40 byte
# AuthorizationKey range of the OCPP 1.6 security whitepaper.
PASSWORD_LENGTH = 20
_ALPHABET = string.ascii_letters + string.digits


def new_password() -> str:
    """A random charger password, to be shown to the owner once."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


def new_kiosk_key() -> str:
    """A random key for the payment kiosk (256 bits), to be shown to the owner once."""
    return f"evk_{secrets.token_urlsafe(32)}"


def hash_password(password: str, salt: str | None = None) -> str:
    """'salt$sha256' of a password.

    One salted SHA-256 is enough here: the passwords are random with ~119 bits, so there is
    nothing for a slow hash to protect, and a reconnect storm of 1,000 chargers stays cheap.
    """
    salt = salt or secrets.token_hex(16)
    return f"{salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether a password matches a stored hash, in constant time."""
    salt, _, _ = stored.partition("$")
    return hmac.compare_digest(hash_password(password, salt), stored)


def basic_auth_password(header: str | None, charger_id: str) -> str | None:
    """The password of an HTTP Basic Authorization header whose user is the charger id."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except binascii.Error, UnicodeDecodeError:
        return None
    user, separator, password = decoded.partition(":")
    if not separator or user != charger_id:
        return None
    return password


def server_tls_context(certificate: str, key: str) -> ssl.SSLContext:
    """TLS for the websocket server (security profile 2); blocking: reads the files.

    Raises OSError or ssl.SSLError when the files are missing or do not belong together.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    return context
