"""Who may charge where: the owner's ID tag list and the answers it gives chargers.

OCPP 1.6 ID tags are case-insensitive strings of at most 20 characters (CiString20Type),
so tags are looked up case-folded and answered as the owner typed them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_TAG_LENGTH = 20


class TagStatus(StrEnum):
    """The idTagInfo statuses of OCPP 1.6 (AuthorizationStatus)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class UnknownTagPolicy(StrEnum):
    """What happens to a tag that is not in the list."""

    REJECT = "reject"
    ACCEPT = "accept"


def tag_key(id_tag: str) -> str:
    """How a tag is compared: OCPP's ID tags are case-insensitive ASCII (CiString). Only
    ASCII letters fold: a long s (U+017F) must not make "simtag" out of another tag."""
    return id_tag.lower() if id_tag.isascii() else id_tag


@dataclass(frozen=True, slots=True)
class IdTag:
    """One card or token the owner knows."""

    id_tag: str
    name: str = ""
    user_id: str | None = None
    """The Home Assistant user this tag belongs to, if any."""
    expires: datetime | None = None
    blocked: bool = False
    parent: str | None = None
    """The parentIdTag: tags sharing one may stop each other's sessions (a household)."""
    chargers: frozenset[str] = frozenset()
    """The chargers this tag may charge on; empty means every charger."""
    account: str | None = None
    """Who pays for this tag's sessions (a condo unit with two cars: one account)."""

    def allowed_on(self, charger_id: str) -> bool:
        """Whether this tag may be used on a charger at all."""
        return not self.chargers or charger_id in self.chargers


@dataclass(frozen=True, slots=True)
class TagList:
    """The owner's tags and policies; immutable, replaced as a whole when edited."""

    tags: Mapping[str, IdTag] = field(default_factory=dict)
    """tag_key(tag) -> tag."""
    unknown_tags: UnknownTagPolicy = UnknownTagPolicy.REJECT
    always_accepted: frozenset[str] = frozenset()
    """Keys of tags accepted everywhere: Home Assistant's own tag for remote starts."""
    free_charging: frozenset[str] = frozenset()
    """Chargers on which anyone may charge, whatever the tag."""

    @classmethod
    def of(
        cls,
        tags: Iterable[IdTag],
        *,
        unknown_tags: UnknownTagPolicy = UnknownTagPolicy.REJECT,
        always_accepted: Iterable[str] = (),
        free_charging: Iterable[str] = (),
    ) -> TagList:
        """A list from tags as the owner entered them."""
        return cls(
            {tag_key(tag.id_tag): tag for tag in tags},
            unknown_tags,
            frozenset(tag_key(tag) for tag in always_accepted),
            frozenset(free_charging),
        )

    def find(self, id_tag: str) -> IdTag | None:
        """The owner's record of a tag, if any."""
        return self.tags.get(tag_key(id_tag))

    def id_tag_info(self, id_tag: str, charger_id: str, now: datetime) -> dict[str, Any]:
        """The idTagInfo answering Authorize or StartTransaction for this tag on this charger."""
        if charger_id in self.free_charging or tag_key(id_tag) in self.always_accepted:
            return {"status": TagStatus.ACCEPTED.value}
        tag = self.find(id_tag)
        if tag is None:
            accepted = self.unknown_tags is UnknownTagPolicy.ACCEPT
            return {"status": (TagStatus.ACCEPTED if accepted else TagStatus.INVALID).value}
        if not tag.allowed_on(charger_id):
            return {"status": TagStatus.INVALID.value}
        return self._info(tag, now)

    def status(self, id_tag: str, now: datetime) -> str | None:
        """A listed tag's own status (wherever it may charge); None if not listed."""
        tag = self.find(id_tag)
        return None if tag is None else str(self._info(tag, now)["status"])

    def account_of(self, id_tag: str) -> str | None:
        """The account a tag's sessions are billed to: its own, else its parent tag's."""
        tag = self.find(id_tag)
        if tag is None:
            return None
        if tag.account is None and tag.parent and (parent := self.find(tag.parent)) is not None:
            return parent.account
        return tag.account

    def local_list(self, charger_id: str, now: datetime) -> dict[str, dict[str, Any]]:
        """What a charger keeps to authorize while it cannot reach us: tag -> idTagInfo.

        Tags not allowed on the charger are left out, so offline the charger refuses them
        as it refuses any tag it does not know.
        """
        return {
            tag.id_tag: self._info(tag, now)
            for tag in self.tags.values()
            if tag.allowed_on(charger_id)
        }

    def _info(self, tag: IdTag, now: datetime) -> dict[str, Any]:
        # A blocked or expired parent (a household, a condo unit) holds back all its tags.
        parent = self.find(tag.parent) if tag.parent else None
        family = [tag] if parent is None or parent is tag else [tag, parent]
        info: dict[str, Any] = {"status": TagStatus.ACCEPTED.value}
        expiries = [member.expires for member in family if member.expires is not None]
        if any(member.blocked for member in family):
            info["status"] = TagStatus.BLOCKED.value
        elif expiries and min(expiries) <= now:
            info["status"] = TagStatus.EXPIRED.value
        if expiries:
            info["expiry_date"] = min(expiries).isoformat()
        if tag.parent:
            info["parent_id_tag"] = tag.parent
        return info
