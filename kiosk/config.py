"""The kiosk's settings, from environment variables (a container's natural configuration)."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

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
    },
    extra=vol.REMOVE_EXTRA,
)


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
        )
