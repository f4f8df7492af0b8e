"""Replaying frames recorded from real chargers (tests/corpus) against a central system.

A recording is a JSON document: where the frames come from (model, firmware, vendor,
source), the frames the charger sent in order, and what a correct central system makes of
them (``expect``, read by the tests). Only two things are changed on the way out:

- transaction ids: the recorded MeterValues and StopTransaction name the ids the original
  central system gave; each is replaced by the id this central system answered to the
  matching StartTransaction (``original_transaction_ids`` pairs them, in order);
- nothing else. The charger answers the central system's own CALLs, but a TriggerMessage
  is refused: a replay cannot send a frame the real charger did not send.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .charger import SimulatedCharger

type Message = list[Any]

_CALL, _RESULT = 2, 3
# Payload keys that name a transaction the central system gave.
_TRANSACTION_ACTIONS = frozenset({"MeterValues", "StopTransaction"})


@dataclass(frozen=True, kw_only=True)
class Recording:
    """One corpus file."""

    path: Path
    model: str
    firmware: str
    vendor: str
    source: str
    notes: str
    frames: list[Message]
    original_transaction_ids: list[int | None]
    """The id the original central system gave to each StartTransaction, in order."""
    connectors: int = 1
    configuration: dict[str, str] = field(default_factory=dict)
    """Configuration keys the charger had (as its frames show), for the simulator."""
    glue: frozenset[int] = frozenset()
    """Indexes of frames the charger did not send (the minimum a partial log needs)."""
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def charger_id(self) -> str:
        """The charge point id the replay connects as: the file's name."""
        return self.path.stem


def load(path: Path) -> Recording:
    """Read a corpus file; raises ValueError if it is not one."""
    document = json.loads(path.read_text(encoding="utf-8"))
    frames = document["frames"]
    if not all(
        isinstance(frame, list) and len(frame) == 4 and frame[0] == _CALL for frame in frames
    ):
        raise ValueError(f"{path}: every frame must be a CALL [2, id, action, payload]")
    starts = sum(frame[2] == "StartTransaction" for frame in frames)
    originals = document.get("original_transaction_ids", [])
    if len(originals) != starts:
        raise ValueError(
            f"{path}: {starts} StartTransaction frames, {len(originals)} original transaction ids"
        )
    charger = document.get("charger", {})
    return Recording(
        path=path,
        model=document["model"],
        firmware=document["firmware"],
        vendor=document["vendor"],
        source=document["source"],
        notes=document["notes"],
        frames=frames,
        original_transaction_ids=originals,
        connectors=charger.get("connectors", 1),
        configuration=charger.get("configuration", {}),
        glue=frozenset(document.get("glue", ())),
        expect=document.get("expect", {}),
    )


def corpus(folder: Path) -> list[Recording]:
    """Every recording in a folder, by file name."""
    return [load(path) for path in sorted(folder.glob("*.json"))]


@dataclass(frozen=True)
class Exchange:
    """A frame as sent and what came back (None: no answer in time)."""

    sent: Message
    reply: Message | None

    @property
    def outcome(self) -> str:
        """'result' for a CALLRESULT, the error code of a CALLERROR, else 'none'."""
        if self.reply is None:
            return "none"
        if self.reply[0] == _RESULT:
            return "result"
        return str(self.reply[2]) if len(self.reply) > 2 else "none"


def prepare(charger: SimulatedCharger, recording: Recording) -> None:
    """Make the simulated charger answer like the recorded one, and add nothing of its own."""
    charger.configuration.update(recording.configuration)
    charger.answers["TriggerMessage"] = {"status": "Rejected"}


async def replay(
    charger: SimulatedCharger,
    recording: Recording,
    *,
    reply_within: float = 5,
) -> list[Exchange]:
    """Send the recording's frames one by one, each after the answer to the one before."""
    ours: dict[int, int] = {}
    originals = iter(recording.original_transaction_ids)
    exchanges = []
    for frame in recording.frames:
        sent = _with_our_transaction_id(frame, ours)
        try:
            reply: Message | None = await charger.call_raw(sent, timeout=reply_within)
        except TimeoutError:
            reply = None
        if frame[2] == "StartTransaction":
            original = next(originals)
            if original is not None and reply is not None and reply[0] == _RESULT:
                ours[original] = reply[2]["transactionId"]
        exchanges.append(Exchange(sent, reply))
    return exchanges


def _with_our_transaction_id(frame: Message, ours: dict[int, int]) -> Message:
    _, message_id, action, payload = frame
    original = payload.get("transactionId") if isinstance(payload, dict) else None
    if action not in _TRANSACTION_ACTIONS or original not in ours:
        return frame
    return [_CALL, message_id, action, {**payload, "transactionId": ours[original]}]
