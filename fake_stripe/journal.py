"""What the fake Stripe was asked and answered, and the failures a test makes it answer with."""

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Logged:
    """One API request and the answer it got (a test reads the kiosk's calls from these)."""

    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, Any]
    status: int
    answer: dict[str, Any] | None
    """The JSON answer (an object or an error)."""
    replayed: bool
    """Answered from a stored answer to the same idempotency key."""

    @property
    def succeeded(self) -> bool:
        """Whether Stripe answered 200."""
        return self.status == 200


@dataclass(slots=True)
class Fault:
    """The next API request whose "METHOD /path" matches `pattern` gets a 500 (api_error),
    stored under its idempotency key like any answer; `after`: only once it was carried out
    (the effect happened, the answer says it failed)."""

    pattern: re.Pattern[str]
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault is for this request."""
        return self.pattern.search(f"{method} {path}") is not None
