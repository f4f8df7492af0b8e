"""Keeping a charger's local authorization list equal to the owner's tag list.

A charger with the list authorizes residents while it cannot reach Home Assistant. OCPP
1.6 sends it with SendLocalList: a Full update replaces the list, a Differential one adds,
changes or (an entry without idTagInfo) removes tags. Each update carries a list version
the charger reports back through GetLocalListVersion, which is how we know whether the
charger still holds what we last sent.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .authorization import tag_key

FULL = "Full"
DIFFERENTIAL = "Differential"
# GetLocalListVersion answers -1 when the charger has no local list at all.
NOT_SUPPORTED_VERSION = -1

type Entries = Mapping[str, Mapping[str, Any]]
"""id tag -> idTagInfo."""


@dataclass(frozen=True, slots=True)
class SentList:
    """The list a charger last accepted from us."""

    version: int
    entries: Entries


@dataclass(frozen=True, slots=True)
class ListUpdate:
    """One SendLocalList message."""

    update_type: str
    version: int
    entries: list[dict[str, Any]]
    """localAuthorizationList: {"id_tag", "id_tag_info"}; without id_tag_info it is removed."""


def plan_updates(
    sent: SentList | None,
    charger_version: int,
    wanted: Entries,
    max_per_message: int | None = None,
) -> list[ListUpdate]:
    """The messages that bring the charger from what it holds to the wanted list.

    Differential when the charger still reports the version we last sent, else Full. A
    list longer than the charger takes in one message (SendLocalListMaxLength) goes out as
    a Full first part followed by Differential parts, each with the next version.
    """
    if charger_version == NOT_SUPPORTED_VERSION:
        return []
    in_step = sent is not None and sent.version == charger_version
    if in_step:
        assert sent is not None
        entries = _differences(sent.entries, wanted)
        if not entries:
            return []
        update_type = DIFFERENTIAL
    else:
        if not wanted and charger_version == 0:
            return []  # nothing held, nothing wanted
        entries = [_entry(tag, info) for tag, info in sorted(wanted.items())]
        update_type = FULL
    size = max_per_message if max_per_message and max_per_message > 0 else len(entries) or 1
    version = max(charger_version, sent.version if sent else 0)
    updates = []
    for start in range(0, max(len(entries), 1), size):
        version += 1
        updates.append(ListUpdate(update_type, version, entries[start : start + size]))
        update_type = DIFFERENTIAL
    return updates


def apply_update(held: Entries, update: ListUpdate) -> dict[str, dict[str, Any]]:
    """What a charger holds after it accepted an update."""
    by_key = (
        {}
        if update.update_type == FULL
        else {tag_key(tag): (tag, dict(info)) for tag, info in held.items()}
    )
    for entry in update.entries:
        key = tag_key(entry["id_tag"])
        if "id_tag_info" in entry:
            by_key[key] = (entry["id_tag"], entry["id_tag_info"])
        else:
            by_key.pop(key, None)
    return dict(by_key.values())


def _differences(held: Entries, wanted: Entries) -> list[dict[str, Any]]:
    held_by_key = {tag_key(tag): (tag, info) for tag, info in held.items()}
    wanted_keys = {tag_key(tag) for tag in wanted}
    removed = [
        {"id_tag": tag} for key, (tag, _) in sorted(held_by_key.items()) if key not in wanted_keys
    ]
    changed = [
        _entry(tag, info)
        for tag, info in sorted(wanted.items())
        if held_by_key.get(tag_key(tag)) != (tag, info)
    ]
    return removed + changed


def _entry(tag: str, info: Mapping[str, Any]) -> dict[str, Any]:
    return {"id_tag": tag, "id_tag_info": dict(info)}
