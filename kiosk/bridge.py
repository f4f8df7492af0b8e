"""The kiosk's side of the integration's kiosk API (the only way it reaches Home Assistant)."""

from typing import Any

import aiohttp

API = "/api/ev_charging/kiosk/v1"


class BridgeError(Exception):
    """The integration did not answer as hoped; `status` is the HTTP status (0: unreachable)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


class IntegrationBridge:
    """Requests to the integration, with the kiosk's key."""

    def __init__(self, session: aiohttp.ClientSession, ha_url: str, key: str) -> None:
        self._session = session
        self._base = f"{ha_url}{API}"
        self._headers = {"Authorization": f"Bearer {key}"}

    async def _get(self, path: str) -> Any:
        try:
            async with self._session.get(
                f"{self._base}{path}",
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                if response.status != 200:
                    raise BridgeError(response.status, await response.text())
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise BridgeError(0, str(err) or type(err).__name__) from err

    async def connectors(self) -> list[dict[str, Any]]:
        """Every connector with its state and guest price."""
        answer = await self._get("/connectors")
        return list(answer["connectors"])

    async def connector(self, charger_id: str, connector_id: int) -> dict[str, Any] | None:
        """One connector; None if the integration does not know it."""
        try:
            answer: dict[str, Any] = await self._get(f"/connectors/{charger_id}/{connector_id}")
        except BridgeError as err:
            if err.status == 404:
                return None
            raise
        return answer
