"""What the kiosk accepts as a charger id, connector number or payment id in its addresses.

The charger id rule is the integration's; this copy stays small and self-contained because
the kiosk must not import the integration. Values are checked as aiohttp decoded them from the
path, once: a `%` left in one means it was encoded twice, and it is refused, never decoded again.
"""

import re

MAX_CHARGER_ID_LENGTH = 48
# Printable ASCII (0x21-0x7E), less what would end a path segment or start an escape in one.
_CHARGER_ID = re.compile(rf"[!-~]{{1,{MAX_CHARGER_ID_LENGTH}}}")
_NOT_IN_CHARGER_ID = frozenset("/\\%?#")
# ASCII digits only: str.isdigit() also takes "²" and "٣", which int() then chokes on or reads.
_CONNECTOR_NUMBER = re.compile(r"[1-9][0-9]{0,2}")
# secrets.token_urlsafe(24) makes 32; a little leeway either way costs nothing.
_PAYMENT_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def valid_charger_id(value: str) -> bool:
    """Printable ASCII without / \\ % ? #, 1 to 48 characters, and not `.` or `..` (which a
    URL would resolve as a path step even when percent-encoded)."""
    return (
        _CHARGER_ID.fullmatch(value) is not None
        and _NOT_IN_CHARGER_ID.isdisjoint(value)
        and value not in (".", "..")
    )


def connector_number(value: str) -> int | None:
    """A connector number from an address: a positive integer of at most 3 digits, written
    one way only (no leading zero); None otherwise."""
    return int(value) if _CONNECTOR_NUMBER.fullmatch(value) else None


def valid_connector_number(value: int) -> bool:
    """The same rule for a number Home Assistant gave."""
    return 0 < value < 1000


def valid_payment_id(value: str) -> bool:
    """Whether this can be a payment's id (the guest's session page address)."""
    return _PAYMENT_ID.fullmatch(value) is not None
