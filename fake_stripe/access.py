"""Restricted keys (rk_...): what each request needs of a key, as Stripe checks it.

Stripe names a permission per resource and level (rak_charge_read, rak_payment_intent_write);
write includes read. A request needs the permission of its resource (GET reads, anything else
writes) and read on every object it expands. It is checked before the object is looked up, so
a request on an id that does not exist answers 403 without the permission and 404 with it.
"""

import re
from collections.abc import Iterable

# The resource of each API path this fake serves, by its first segments.
_RESOURCES = (
    (re.compile(r"^/v1/checkout/sessions(/|$)"), "checkout_session"),
    (re.compile(r"^/v1/payment_intents(/|$)"), "payment_intent"),
    (re.compile(r"^/v1/charges(/|$)"), "charge"),
)
# The resource of each expandable field.
_EXPANDED = {"latest_charge": "charge", "payment_intent": "payment_intent"}
EVERY_PERMISSION = frozenset(
    f"rak_{resource}_{level}"
    for resource in ("checkout_session", "payment_intent", "charge")
    for level in ("read", "write")
)


def needed(method: str, path: str, expand: Iterable[str]) -> list[str]:
    """The permissions a request needs, its own first."""
    level = "read" if method in ("GET", "HEAD") else "write"
    permissions = [
        f"rak_{resource}_{level}" for pattern, resource in _RESOURCES if pattern.match(path)
    ]
    for path_expanded in expand:
        resource = _EXPANDED.get(path_expanded.split(".", 1)[0])
        if resource is not None:
            permissions.append(f"rak_{resource}_read")
    return permissions


def granted(permissions: frozenset[str], permission: str) -> bool:
    """Whether a key with these permissions has this one (write includes read)."""
    return permission in permissions or (
        permission.endswith("_read") and permission.removesuffix("_read") + "_write" in permissions
    )


def refusal_message(key: str, permission: str, account: str) -> str:
    """Stripe's words for a restricted key without the permission (a 403,
    invalid_request_error), its key masked as Stripe masks it."""
    masked = key[:8] + "*" * max(len(key) - 14, 0) + key[-6:]
    return (
        f"The provided key '{masked}' does not have the required permissions for this endpoint"
        f" on account '{account}'. Having the '{permission}' permission would allow this"
        " request to continue."
    )
