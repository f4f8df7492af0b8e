"""Commands from the central system to a charger, and why one can fail."""

import asyncio
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.exceptions import NotSupportedError, OCPPError

from .log_safety import untrusted_logger

if TYPE_CHECKING:
    from .connection import ChargerConnection

_LOGGER = untrusted_logger(__name__)

# How long a charger may take to answer a command.
COMMAND_TIMEOUT = 30.0
# The status values with which a charger says it will do what was asked (RebootRequired:
# a configuration change it takes at its next restart; Unknown, only in ClearChargingProfile:
# there was no such profile, so none is left, which is what was asked).
AGREED = frozenset({"Accepted", "Unlocked", "Scheduled", "RebootRequired", "Unknown"})


class CommandError(Exception):
    """A command did not get the charger to do what was asked; `key` names why."""

    key = "command_failed"

    def __init__(self, charger_id: str, action: str, detail: str = "") -> None:
        super().__init__(f"{charger_id}: {action}: {self.key} {detail}".strip())
        self.charger_id = charger_id
        self.action = action
        self.detail = detail


class ChargerOffline(CommandError):
    """The charger is not connected."""

    key = "charger_offline"


class CommandTimedOut(CommandError):
    """The charger did not answer in time."""

    key = "command_timeout"


class CommandRejected(CommandError):
    """The charger answered, but not with a status that agrees."""

    key = "command_rejected"


class CommandNotSupported(CommandError):
    """The charger does not implement this command."""

    key = "command_not_supported"


async def send_command(
    connection: ChargerConnection | None,
    charger_id: str,
    payload: Any,
    *,
    answer_within: float | None = None,
    require_agreement: bool = True,
) -> Any:
    """Send one CALL and return the charger's answer (an ocpp call_result dataclass)."""
    action = type(payload).__name__
    if connection is None:
        raise ChargerOffline(charger_id, action)
    calling = asyncio.ensure_future(connection.call(payload, suppress=False))
    closing = asyncio.ensure_future(connection.closed.wait())
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT if answer_within is None else answer_within):
            await asyncio.wait((calling, closing), return_when=asyncio.FIRST_COMPLETED)
    except TimeoutError as err:
        raise CommandTimedOut(charger_id, action) from err
    finally:
        # A charger that went away will not answer: no need to wait for the timeout.
        for waiting in (calling, closing):
            waiting.cancel()
    if not calling.done() or calling.cancelled():
        raise ChargerOffline(charger_id, action, "disconnected before answering")
    try:
        answer = calling.result()
    except ConnectionError as err:  # the socket closed while the CALL was being written
        raise ChargerOffline(charger_id, action, str(err)) from err
    except (NotSupportedError, OcppNotImplementedError) as err:
        raise CommandNotSupported(charger_id, action, str(err.description)) from err
    except OCPPError as err:
        raise CommandError(charger_id, action, f"{err.code}: {err.description}") from err
    status = getattr(answer, "status", None)
    if require_agreement and status is not None and status not in AGREED:
        raise CommandRejected(charger_id, action, str(status))
    _LOGGER.debug("%s: %s answered %s", charger_id, action, answer)
    return answer
