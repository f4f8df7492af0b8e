"""The kiosk's pages: plain HTML and CSS, phone first, no scripts needed to read them."""

from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import quote

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
STATES = {
    "available": "Free: you can charge here now.",
    "occupied": "In use by another car.",
    "reserved": "Reserved for a guest who is paying.",
    "faulted": "Out of order.",
    "unavailable": "Out of service for maintenance.",
    "offline": "Not reachable at the moment.",
}
STYLE = """
body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:32rem;color:#111}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
.state{padding:.8rem;border-radius:.5rem;background:#eee;font-weight:600}
.state.available{background:#d9f7d9}.state.faulted,.state.offline{background:#fde2e2}
ul.price{padding-left:1.2rem;line-height:1.6}
.note{color:#555;font-size:.9rem}
.sheet{display:flex;flex-wrap:wrap;gap:1rem;max-width:none}
.sticker{border:1px dashed #999;padding:.8rem;width:14rem;text-align:center;break-inside:avoid}
.sticker svg{width:12rem;height:12rem}
@media print{.sticker{border-style:solid}}
"""


def connector_path(charger_id: str, connector_id: int) -> str:
    """The connector page's path (what its QR code points at, after the public URL)."""
    return f"/c/{quote(charger_id, safe='')}/{connector_id}"


def _money(amount: str, currency: str) -> str:
    return f"{Decimal(amount):.2f} {currency}"


def price_words(price: dict[str, Any] | None) -> list[str]:
    """The full price in plain words, as EU AFIR asks for ad-hoc charging."""
    if price is None:
        return ["No price is set for guests: charging cannot be paid for here."]
    currency = price["currency"]
    now = price["price_per_kwh_now"] or price["price_per_kwh"]
    kwh = f"{_money(now, currency)} per kWh"
    if price["follows_market_price"]:
        kwh += " now (it follows the electricity market price)"
    elif price["time_of_use"]:
        bands = "; ".join(
            f"{'/'.join(DAYS[day] for day in band['weekdays'])} {band['start'][:5]}-"
            f"{band['end'][:5]}: {_money(band['price_per_kwh'], currency)}"
            for band in price["time_of_use"]
        )
        kwh += f" now; by time of day: {bands}"
    words = [kwh]
    if Decimal(price["session_fee"]) > 0:
        words.append(f"{_money(price['session_fee'], currency)} per session")
    if Decimal(price["idle_fee_per_minute"]) > 0:
        grace = int(price["idle_grace_minutes"])
        after = f", after {grace} free minutes" if grace else ""
        words.append(
            f"{_money(price['idle_fee_per_minute'], currency)} per minute the car stays"
            f" plugged in without charging{after}"
        )
    vat = price["vat_percent"]
    if Decimal(vat) == 0:
        words.append("No VAT is charged.")
    elif price["prices_include_vat"]:
        words.append(f"Prices include {vat} % VAT.")
    else:
        words.append(f"Prices exclude VAT; {vat} % is added.")
    return words


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def connector_page(site: str, connector: dict[str, Any], hold: Decimal) -> str:
    """A connector: whether it can charge now, and the full price before paying."""
    state = connector["state"]
    name = f"{connector['charger_id']}, connector {connector['connector_id']}"
    price = connector["price"]
    items = "".join(f"<li>{escape(line)}</li>" for line in price_words(price))
    currency = "" if price is None else f" {price['currency']}"
    body = (
        f"<p class='note'>{escape(site)}</p><h1>{escape(name)}</h1>"
        f"<p class='state {escape(state)}'>{escape(STATES.get(state, state))}</p>"
        f"<h2>Price</h2><ul class='price'>{items}</ul>"
        f"<p class='note'>Paying holds {hold:.2f}{escape(currency)} on your card; only"
        " the real cost is taken and the rest released.</p>"
        "<p class='note'>Card payment is not set up at this kiosk yet.</p>"
    )
    return _page(name, body)


def not_found_page(site: str) -> str:
    """A QR code that leads nowhere known (an old sticker)."""
    return _page(
        "Unknown connector",
        f"<p class='note'>{escape(site)}</p><h1>Unknown connector</h1>"
        "<p>This code does not belong to a charger here any more.</p>",
    )


def sticker_sheet(site: str, stickers: list[tuple[dict[str, Any], str, str]]) -> str:
    """Printable stickers: (connector, its page's URL, the QR code's SVG) each."""
    cards = "".join(
        "<div class='sticker'>"
        f"{svg}<p><strong>{escape(connector['charger_id'])}</strong>"
        f" · connector {connector['connector_id']}</p>"
        f"<p class='note'>{escape(price_words(connector['price'])[0])}</p>"
        f"<p class='note'>Scan to pay and charge · {escape(url)}</p></div>"
        for connector, url, svg in stickers
    )
    return _page(f"{site}: stickers", f"<h1>{escape(site)}</h1><div class='sheet'>{cards}</div>")
