"""The kiosk's settings, from environment variables (a container's natural configuration)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
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
        # A restricted key is enough: write access to Checkout Sessions and PaymentIntents.
        vol.Inclusive("EV_CHARGING_STRIPE_API_KEY", "stripe"): vol.Match(
            r"^(sk|rk)_(test|live)_\S+$", msg="a Stripe secret or restricted key (sk_/rk_)"
        ),
        vol.Inclusive("EV_CHARGING_STRIPE_WEBHOOK_SECRET", "stripe"): vol.Match(
            r"^whsec_\S+$", msg="the webhook endpoint's signing secret (whsec_)"
        ),
        vol.Optional("EV_CHARGING_STRIPE_API_BASE", default="https://api.stripe.com"): _url,
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
