"""The kiosk's side of the integration's kiosk API (the only way it reaches Home Assistant)."""

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import aiohttp

from .ids import valid_charger_id, valid_connector_number

API = "/api/ev_charging/kiosk/v1"


class BridgeError(Exception):
    """The integration did not answer as hoped: `status` is the HTTP status (0: unreachable)
    and `error` the API's error code (`not_available`, `unknown_hold`, ...) when it gave one."""

    def __init__(self, status: int, detail: str, error: str | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.error = error

    @property
    def refused(self) -> bool:
        """The integration answered no (as opposed to not answering): retrying will not help."""
        return self.status in (400, 404, 409)


def _segment(value: str) -> str:
    """One path segment, percent-encoded whole: no id can add segments, a query or a fragment
    to a request to Home Assistant, and `.` or `..` (which URLs resolve) are refused."""
    if value in ("", ".", ".."):
        raise BridgeError(404, "not an id", "not_an_id")
    return quote(value, safe="")


class IntegrationBridge:
    """Requests to the integration, with the kiosk's key."""

    def __init__(self, session: aiohttp.ClientSession, ha_url: str, key: str) -> None:
        self._session = session
        self._base = f"{ha_url}{API}"
        self._headers = {"Authorization": f"Bearer {key}"}

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            async with self._session.request(
                method,
                f"{self._base}{path}",
                json=body,
                headers=self._headers,
                # Longer than the integration waits for a charger's answer (30 s), so a slow
                # charger's answer is not taken for none.
                timeout=aiohttp.ClientTimeout(total=45),
            ) as response:
                if response.status not in (200, 201):
                    text = await response.text()
                    error = None
                    if response.content_type == "application/json":
                        error = (await response.json()).get("error")
                    raise BridgeError(response.status, text, error)
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise BridgeError(0, str(err) or type(err).__name__) from err

    async def connectors(self) -> list[dict[str, Any]]:
        """Every connector with its state and guest price."""
        answer = await self._request("GET", "/connectors")
        return list(answer["connectors"])

    async def connector(self, charger_id: str, connector_id: int) -> dict[str, Any] | None:
        """One connector; None if the integration does not know it (or could not: a charger id
        or number the rule refuses is never sent)."""
        if not valid_charger_id(charger_id) or not valid_connector_number(connector_id):
            return None
        try:
            answer: dict[str, Any] = await self._request(
                "GET", f"/connectors/{_segment(charger_id)}/{connector_id}"
            )
        except BridgeError as err:
            if err.status == 404:
                return None
            raise
        return answer

    async def hold(self, charger_id: str, connector_id: int, minutes: int) -> dict[str, Any]:
        """Hold a connector for a guest who is paying (409 `not_available` if it cannot)."""
        answer: dict[str, Any] = await self._request(
            "POST",
            "/holds",
            {"charger_id": charger_id, "connector_id": connector_id, "minutes": minutes},
        )
        return answer

    async def release(self, hold_id: str) -> None:
        """Let the connector go again; a hold already gone is fine."""
        try:
            await self._request("DELETE", f"/holds/{_segment(hold_id)}")
        except BridgeError as err:
            if err.error != "unknown_hold":
                raise

    async def start_session(self, hold_id: str, cap: Decimal, reference: str) -> dict[str, Any]:
        """Start the paid session on the held connector; the same call again answers the same
        session (so a retry after a lost answer starts nothing twice)."""
        answer: dict[str, Any] = await self._request(
            "POST", "/sessions", {"hold_id": hold_id, "cap": str(cap), "reference": reference}
        )
        return answer

    async def session(self, session_id: str) -> dict[str, Any]:
        """A paid session's progress: state, energy, cost and whether the bill is final."""
        answer: dict[str, Any] = await self._request("GET", f"/sessions/{_segment(session_id)}")
        return answer

    async def stop_session(self, session_id: str) -> dict[str, Any]:
        """Stop the session (or cancel it if the car never started charging)."""
        answer: dict[str, Any] = await self._request(
            "POST", f"/sessions/{_segment(session_id)}/stop"
        )
        return answer
