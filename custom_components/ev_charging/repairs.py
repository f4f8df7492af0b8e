"""Repair flows: sessions flagged for review are looked at, then marked reviewed; chargers
accepted automatically are vouched for, so they get the tag list."""

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .runtime import ISSUE_TAG_LIST_WITHHELD, EvChargingConfigEntry, async_update_review_issue

# The review list names this many items; the ledger keeps them all.
LISTED = 10


class _ConfirmFlow(RepairsFlow):
    """A repair of this integration's entry: one confirm step."""

    def __init__(self, entry: EvChargingConfigEntry) -> None:
        self.entry = entry

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Straight to the confirm step."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Show what the repair is about; on submit, repair it."""
        raise NotImplementedError


class ReviewFlow(_ConfirmFlow):
    """Shows what was flagged; confirming marks it all reviewed."""

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """List them; on submit they are marked reviewed."""
        ledger = self.entry.runtime_data.ledger
        if user_input is not None:
            await ledger.mark_reviewed(dt_util.utcnow())
            await async_update_review_issue(self.hass, self.entry)
            return self.async_create_entry(data={})
        reviews = await ledger.open_reviews()
        lines = [
            f"- {r['at'][:16].replace('T', ' ')} {r['charger_id']}"
            f" transaction {r['transaction_id']}: {r['kind']} {r['detail']}".rstrip()
            for r in reviews[:LISTED]
        ]
        if len(reviews) > LISTED:
            lines.append(f"- … and {len(reviews) - LISTED} more")
        return self.async_show_form(
            step_id="confirm", description_placeholders={"reviews": "\n".join(lines)}
        )


class TrustFlow(_ConfirmFlow):
    """The owner confirms that the automatically accepted chargers are theirs."""

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """On submit every charger listed gets the tag list from now on."""
        central = self.entry.runtime_data.central
        withheld = central.withheld_chargers()
        if user_input is not None:
            await central.trust(withheld)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm", description_placeholders={"chargers": ", ".join(withheld)}
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The flow that fixes an issue of this integration."""
    entry = hass.config_entries.async_get_entry(str((data or {})["entry_id"]))
    assert entry is not None
    if issue_id == ISSUE_TAG_LIST_WITHHELD:
        return TrustFlow(entry)
    return ReviewFlow(entry)
