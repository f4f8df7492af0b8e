"""The kiosk's settings, from environment variables (a container's natural configuration)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

import voluptuous as vol


def _amount(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation as err:
        raise vol.Invalid(f"not an amount: {value!r}") from err
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise vol.Invalid(f"an amount like 30.00 is needed, not {value!r}")
    return amount


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise vol.Invalid(f"a http(s) URL is needed, not {value!r}")
    return value.rstrip("/")


def _networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())
    except ValueError as err:
        raise vol.Invalid(f"addresses or networks separated by commas are needed: {err}") from err


def _count(minimum: int) -> vol.All:
    return vol.All(vol.Coerce(int), vol.Range(min=minimum, max=1000))


SCHEMA = vol.Schema(
    {
        vol.Required("EV_CHARGING_HA_URL"): _url,
        vol.Required("EV_CHARGING_KIOSK_KEY"): vol.All(str, vol.Length(min=20)),
        vol.Required("EV_CHARGING_KIOSK_PUBLIC_URL"): _url,
        vol.Optional("EV_CHARGING_KIOSK_HOLD", default="30.00"): _amount,
        vol.Optional("EV_CHARGING_KIOSK_SITE", default="EV charging"): vol.All(
            str, vol.Length(min=1, max=80)
        ),
        vol.Optional("EV_CHARGING_KIOSK_PORT", default="8080"): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=65535)
        ),
        vol.Optional("EV_CHARGING_KIOSK_DATABASE", default="kiosk.sqlite3"): vol.All(
            str, vol.Length(min=1)
        ),
        # A restricted key is enough: write on Checkout Sessions and PaymentIntents, read on
        # Charges (checked at start: stripe_gateway.NEEDED_PERMISSIONS).
        vol.Inclusive("EV_CHARGING_STRIPE_API_KEY", "stripe"): vol.Match(
            r"^(sk|rk)_(test|live)_\S+$", msg="a Stripe secret or restricted key (sk_/rk_)"
        ),
        vol.Inclusive("EV_CHARGING_STRIPE_WEBHOOK_SECRET", "stripe"): vol.Match(
            r"^whsec_\S+$", msg="the webhook endpoint's signing secret (whsec_)"
        ),
        vol.Optional("EV_CHARGING_STRIPE_API_BASE", default="https://api.stripe.com"): _url,
        vol.Optional("EV_CHARGING_KIOSK_HEADER_TIMEOUT", default="5"): vol.All(
            vol.Coerce(float), vol.Range(min=0.1, max=120)
        ),
        vol.Optional("EV_CHARGING_KIOSK_OPEN_HOLDS_PER_CLIENT", default="2"): _count(1),
        vol.Optional("EV_CHARGING_KIOSK_HOLDS_PER_CLIENT_HOUR", default="6"): _count(1),
        vol.Optional("EV_CHARGING_KIOSK_HOLD_COOLDOWN", default="15"): _count(0),
        vol.Optional("EV_CHARGING_KIOSK_TRUSTED_PROXIES", default=""): _networks,
    },
    extra=vol.REMOVE_EXTRA,
)


@dataclass(frozen=True, slots=True)
class StripeSettings:
    """The Stripe account guests pay into."""

    api_key: str
    webhook_secret: str
    """The signing secret of the kiosk's webhook endpoint (`/stripe/webhook`)."""
    api_base: str = "https://api.stripe.com"


@dataclass(frozen=True, slots=True)
class HoldLimits:
    """How much one client address may hold while paying: a hold reserves the connector at the
    charger (residents cannot use it either) and costs nothing until it is paid."""

    open_per_client: int = 2
    """Holds not paid yet at once (a guest who went back to pick another connector still can)."""
    per_client_hour: int = 6
    """Holds begun in any hour, paid or not."""
    cooldown: timedelta = timedelta(minutes=15)
    """How long a connector whose hold ended unpaid cannot be held again by the same address."""


@dataclass(frozen=True, slots=True)
class KioskConfig:
    """What the kiosk needs to run."""

    ha_url: str
    """Where the integration's kiosk API is (Home Assistant's address, not public)."""
    kiosk_key: str
    """The key made under the integration's options; it opens only the kiosk API."""
    public_url: str
    """Where guests reach the kiosk (what the QR codes point at)."""
    hold: Decimal = Decimal("30.00")
    """What a guest's card is held for; only the real cost is taken."""
    site_name: str = "EV charging"
    port: int = 8080
    database: Path = Path("kiosk.sqlite3")
    """The kiosk's own record of payments (keep it: it is what prevents charging twice)."""
    stripe: StripeSettings | None = None
    """None: card payment is not set up, the pages only show states and prices."""
    reconcile_every: timedelta = timedelta(seconds=20)
    header_timeout: float = 5.0
    """Seconds a connection may take to send a request's headers (and stay idle between
    requests) before it is closed: half-open connections cannot pile up."""
    hold_limits: HoldLimits = HoldLimits()
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    """Reverse proxies whose X-Forwarded-For names the client (for the hold limits)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KioskConfig:
        """From environment variables; raises vol.Invalid saying which one is wrong."""
        data = SCHEMA({str(key): env[str(key)] for key in SCHEMA.schema if str(key) in env})
        return cls(
            ha_url=data["EV_CHARGING_HA_URL"],
            kiosk_key=data["EV_CHARGING_KIOSK_KEY"],
            public_url=data["EV_CHARGING_KIOSK_PUBLIC_URL"],
            hold=data["EV_CHARGING_KIOSK_HOLD"],
            site_name=data["EV_CHARGING_KIOSK_SITE"],
            port=data["EV_CHARGING_KIOSK_PORT"],
            database=Path(data["EV_CHARGING_KIOSK_DATABASE"]),
            stripe=(
                StripeSettings(
                    data["EV_CHARGING_STRIPE_API_KEY"],
                    data["EV_CHARGING_STRIPE_WEBHOOK_SECRET"],
                    data["EV_CHARGING_STRIPE_API_BASE"],
                )
                if "EV_CHARGING_STRIPE_API_KEY" in data
                else None
            ),
            header_timeout=data["EV_CHARGING_KIOSK_HEADER_TIMEOUT"],
            hold_limits=HoldLimits(
                data["EV_CHARGING_KIOSK_OPEN_HOLDS_PER_CLIENT"],
                data["EV_CHARGING_KIOSK_HOLDS_PER_CLIENT_HOUR"],
                timedelta(minutes=data["EV_CHARGING_KIOSK_HOLD_COOLDOWN"]),
            ),
            trusted_proxies=data["EV_CHARGING_KIOSK_TRUSTED_PROXIES"],
        )


def read_settings_file(text: str) -> dict[str, str]:
    """NAME=value lines, as in an env file (`docker run --env-file`); # starts a comment."""
    settings = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise vol.Invalid(f"line {number}: NAME=value expected")
        settings[name.strip()] = value.strip().strip("\"'")
    return settings
