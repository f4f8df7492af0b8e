"""The kiosk serving on loopback with a fake Stripe, as the payment tests drive it."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from aiohttp import ClientResponse, ClientSession, TCPConnector
from aiohttp.test_utils import TestServer

from bench.proc import free_ports
from fake_stripe.server import FakeStripe
from kiosk.app import DESK, STORE, create_app, server_options
from kiosk.config import KioskConfig, StripeSettings
from kiosk.payments import PaymentDesk
from kiosk.store import Payment

API_KEY = "sk_test_kiosk"
WEBHOOK_SECRET = "whsec_test_kiosk"


@dataclass
class Site:
    """The kiosk serving on loopback, its fake Stripe, and a browser-less guest."""

    config: KioskConfig
    fake: FakeStripe
    http: ClientSession
    kiosk: TestServer | None = None

    @property
    def url(self) -> str:
        """The kiosk's address (its public URL here)."""
        return self.config.public_url

    @property
    def desk(self) -> PaymentDesk:
        """The running kiosk's payment desk."""
        assert self.kiosk is not None
        return self.kiosk.app[DESK]

    async def start(self) -> None:
        """Start (or start again) the kiosk on the same port and database, run as
        `python -m kiosk` runs it."""
        self.kiosk = TestServer(
            create_app(self.config), host="127.0.0.1", port=int(self.url.rsplit(":", 1)[1])
        )
        await self.kiosk.start_server(**server_options(self.config))
        await self.desk.reconcile()  # what the kiosk does on start (in the background)

    async def stop(self) -> None:
        """Stop the kiosk (as a restart or a crash would)."""
        assert self.kiosk is not None
        await self.kiosk.close()
        self.kiosk = None

    async def post(self, path: str, **headers: str) -> ClientResponse:
        """A form on the kiosk's own pages sent, as a browser sends it (with its Origin)."""
        return await self.http.post(
            f"{self.url}{path}", allow_redirects=False, headers={"Origin": self.url, **headers}
        )

    @contextlib.asynccontextmanager
    async def guest_at(self, address: str) -> AsyncIterator[None]:
        """Requests from another client address for a while (loopback is all of 127/8)."""
        own = self.http
        async with ClientSession(connector=TCPConnector(local_addr=(address, 0))) as http:
            self.http = http
            try:
                yield
            finally:
                self.http = own

    async def payment(self, payment_id: str) -> Payment:
        """A payment as the kiosk's database has it."""
        assert self.kiosk is not None
        found = await self.kiosk.app[STORE].get(payment_id)
        assert found is not None
        return found

    async def scan_and_pay(self, charger_id: str = "CP-1", connector: int = 1) -> str:
        """A guest scans, presses pay, pays on Stripe's page; the payment's id."""
        checkout_id = await self.open_checkout(charger_id, connector)
        payment_id = await self.pay(checkout_id)
        return payment_id

    async def open_checkout(self, charger_id: str = "CP-1", connector: int = 1) -> str:
        """Press the pay button; the Checkout Session the guest is sent to."""
        page = await (await self.http.get(f"{self.url}/c/{charger_id}/{connector}")).text()
        assert "Pay by card and charge" in page
        response = await self.post(f"/c/{quote(charger_id, safe='')}/{connector}/pay")
        assert response.status == 303, await response.text()
        location = response.headers["Location"]
        assert location.startswith(f"{self.fake.public_url}/pay/cs_test_")
        return location.rsplit("/", 1)[1]

    async def pay(self, checkout_id: str) -> str:
        """The guest pays on the fake Checkout page; Stripe's webhook reaches the kiosk."""
        response = await self.http.post(
            f"{self.fake.public_url}/pay/{checkout_id}",
            data={"email": "guest@example.org"},
            allow_redirects=False,
        )
        assert response.status == 303
        success = response.headers["Location"]
        assert success.startswith(f"{self.url}/s/")
        await self.fake.settle()
        return success.rsplit("/", 1)[1]

    async def page(self, payment_id: str) -> str:
        """The guest's session page."""
        response = await self.http.get(f"{self.url}/s/{payment_id}")
        assert response.status == 200
        return await response.text()


@contextlib.asynccontextmanager
async def open_site(kiosk_config: KioskConfig, tmp_path: Path) -> AsyncIterator[Site]:
    """The kiosk and a fake Stripe serving on loopback ports, until the end of the block."""
    kiosk_port, stripe_port = free_ports(2)
    kiosk_url = f"http://127.0.0.1:{kiosk_port}"
    fake = FakeStripe(
        api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET,
        webhook_url=f"{kiosk_url}/stripe/webhook",
        public_url=f"http://127.0.0.1:{stripe_port}",
    )
    stripe_server = TestServer(fake.app(), host="127.0.0.1", port=stripe_port)
    await stripe_server.start_server()
    config = replace(
        kiosk_config,
        public_url=kiosk_url,
        database=tmp_path / "kiosk.sqlite3",
        stripe=StripeSettings(API_KEY, WEBHOOK_SECRET, fake.public_url),
        # Tests take the reconciliation steps themselves (desk.reconcile()).
        reconcile_every=timedelta(days=1),
    )
    async with ClientSession() as http:
        result = Site(config, fake, http)
        await result.start()
        yield result
        if result.kiosk is not None:
            await result.stop()
    await stripe_server.close()
