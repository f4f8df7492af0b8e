"""Logging what chargers send without letting them write the log.

A charger (or anyone on the network) controls frame text, ids and tags. Such text reaches
the log only shortened and with control characters escaped, so one frame cannot fill the
disk or forge a line; and repeated warnings about the same kind of misbehaviour are thinned
to a few a minute, so a flood of bad frames cannot either.
"""

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

SHOWN_CHARACTERS = 200
"""How much of anything a client sent one log line may carry."""
WARNINGS_PER_MINUTE = 10
"""Warnings of one kind (per charger) a minute before the rest are only counted."""
_KEPT_TYPES = (int, float, Decimal, bool, type(None))


def shown(value: object, limit: int = SHOWN_CHARACTERS) -> str:
    """Text a client sent, fit for one log line or error: control characters escaped,
    at most `limit` characters of it, and how long it really was when cut."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:limit]
    safe = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in cut
    )
    return safe if len(text) <= limit else f"{safe}… ({len(text)} characters)"


class UntrustedArguments(logging.Filter):
    """Every argument of a record (not the format, which is ours) passes through shown()."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(arg if isinstance(arg, _KEPT_TYPES) else shown(arg) for arg in args)
        elif isinstance(args, dict):
            record.args = {
                key: arg if isinstance(arg, _KEPT_TYPES) else shown(arg)
                for key, arg in args.items()
            }
        return True


_FILTER = UntrustedArguments()


def untrusted_logger(name: str) -> logging.Logger:
    """A module's logger whose arguments may come from chargers."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


class Throttle:
    """At most `per_minute` log lines per key a minute; the rest are counted and the count
    is said with the next line that passes."""

    def __init__(
        self, per_minute: int = WARNINGS_PER_MINUTE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._windows: dict[Any, tuple[float, int, int]] = {}
        """key -> (window start, lines let through, lines held back)."""

    def log(
        self,
        logger: logging.Logger,
        level: int,
        key: Any,
        msg: str,
        *args: Any,
        exc_info: bool = False,
    ) -> None:
        """Log unless this key has had its lines this minute."""
        now = self._clock()
        start, passed, held = self._windows.get(key, (now, 0, 0))
        if now - start >= 60:
            start, passed = now, 0
        if passed >= self.per_minute:
            self._windows[key] = (start, passed, held + 1)
            return
        self._windows[key] = (start, passed + 1, 0)
        if held:
            msg += " (%d similar lines left out)"
            args = (*args, held)
        logger.log(level, msg, *args, exc_info=exc_info)
        if len(self._windows) > 10_000:
            # Keys are per charger: forget the quiet ones rather than grow without end.
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < 60}
            if len(self._windows) > 10_000:
                self._windows.clear()
