"""The kiosk's pages: plain HTML and CSS, phone first, no scripts needed to read them."""

from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import quote

from .store import (
    AUTHORISED,
    CANCELLED,
    CANCELLING,
    CAPTURED,
    CAPTURING,
    CHECKOUT,
    RELEASED,
    REVIEW,
    REVIEW_NOTE,
    Payment,
)

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
STATES = {
    "available": "Free: you can charge here now.",
    "occupied": "In use by another car.",
    "reserved": "Reserved for a guest who is paying.",
    "faulted": "Out of order.",
    "unavailable": "Out of service for maintenance.",
    "offline": "Not reachable at the moment.",
}
STYLE_PATH = "/style.css"
STYLE = """
body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:32rem;color:#111}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
.state{padding:.8rem;border-radius:.5rem;background:#eee;font-weight:600}
.state.available{background:#d9f7d9}.state.faulted,.state.offline{background:#fde2e2}
ul.price{padding-left:1.2rem;line-height:1.6}
.note{color:#555;font-size:.9rem}
.button{font-size:1.1rem;margin-top:1rem;padding:.8rem 1.2rem;border-radius:.5rem;border:0;background:#0a6;color:#fff;width:100%}
.button.stop{background:#c33}
table.figures{border-collapse:collapse;width:100%}table.figures td{padding:.3rem 0;border-bottom:1px solid #ddd}
table.figures td:last-child{text-align:right;font-weight:600}
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


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    # A page still waiting for something reloads itself: live updates without scripts. The
    # style is a file of its own: the pages' Content-Security-Policy allows no inline style.
    reload = "<meta http-equiv='refresh' content='5'>" if refresh else ""
    return (
        f"<!doctype html><html lang='en'><head>{reload}<meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><link rel='stylesheet' href='{STYLE_PATH}'></head>"
        f"<body>{body}</body></html>"
    )


def connector_page(site: str, connector: dict[str, Any], hold: Decimal, payments: bool) -> str:
    """A connector: whether it can charge now, the full price, and a pay button when it can
    charge now (`payments`: card payment is set up at this kiosk)."""
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
        " the real cost is taken and the rest released. Charging stops before it would cost"
        " more.</p>"
    )
    if not payments:
        body += "<p class='note'>Card payment is not set up at this kiosk.</p>"
    elif state == "available" and price is not None:
        pay = connector_path(connector["charger_id"], connector["connector_id"]) + "/pay"
        body += (
            f"<form method='post' action='{escape(pay)}'>"
            "<button id='pay' class='button'>Pay by card and charge</button></form>"
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


NOT_PAYABLE = {
    "not_available": "This connector cannot be paid for now: someone else is using or paying"
    " for it, or it is out of order.",
    "no_tariff": "No price is set for guests here.",
    "unreachable": "The charging service is not reachable at the moment.",
    "payment_unavailable": "Card payment is not available right now. Please try again later.",
    "unknown_connector": "This code does not belong to a charger here any more.",
    "too_many_holds": "You have begun paying at other connectors already. Finish or cancel"
    " those payments first, or try again later.",
    "cooling_down": "Your last payment for this connector was not finished. Please try again"
    " in a few minutes.",
}


def not_payable_page(site: str, reason: str, back: str) -> str:
    """Paying was refused before any money was asked for."""
    return _page(
        "Cannot pay here now",
        f"<p class='note'>{escape(site)}</p><h1>Cannot pay here now</h1>"
        f"<p class='state faulted'>{escape(NOT_PAYABLE.get(reason, reason))}</p>"
        f"<p>Nothing was charged. <a href='{escape(back)}'>Back to the connector</a></p>",
    )


def forbidden_page(site: str) -> str:
    """A form sent from another site (or with its origin hidden): nothing was done."""
    return _page(
        "Not done",
        f"<p class='note'>{escape(site)}</p><h1>Not done</h1>"
        "<p>This request did not come from this site's own pages, so nothing was changed and"
        " nothing was charged. Scan the code on the charger to start again.</p>",
    )


def cancel_page(site: str, payment: Payment) -> str:
    """Where Stripe's back link leads while the payment is still open: the guest decides
    whether to let the connector go (a POST: following a link changes nothing)."""
    place = f"{payment.charger_id}, connector {payment.connector_id}"
    action = f"/s/{payment.payment_id}/cancel"
    return _page(
        place,
        f"<p class='note'>{escape(site)}</p><h1>{escape(place)}</h1>"
        "<p class='state'>You left the payment page: nothing was charged.</p>"
        "<p>The connector is kept for you for a while. If you do not want to charge now,"
        " let it go so that others can:</p>"
        f"<form method='post' action='{escape(action)}'>"
        "<button id='cancel' class='button stop'>Cancel the payment</button></form>"
        "<p class='note'>Changed your mind? Go back to the payment page.</p>",
    )


def _figures(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><td>{escape(label)}</td><td id='{label.lower()}'>{escape(value)}</td></tr>"
        for label, value in rows
    )
    return f"<table class='figures'>{cells}</table>"


def _signed_readings(signed: dict[str, str] | None) -> str:
    """The meter's signed start and end readings, for the transparency software that checks
    a bill against the meter's own signature (German calibration law)."""
    if not signed:
        return ""
    return (
        "<details><summary>Signed meter readings</summary><p class='note'>Check them with the"
        " meter's transparency software.</p>"
        f"<p>Start ({escape(signed['start_at'])})</p>"
        f"<textarea readonly rows='4'>{escape(signed['start'])}</textarea>"
        f"<p>End ({escape(signed['end_at'])})</p>"
        f"<textarea readonly rows='4'>{escape(signed['end'])}</textarea></details>"
    )


def session_page(
    site: str,
    payment: Payment,
    session: dict[str, Any] | None,
    now: datetime,
) -> str:
    """The guest's own page for a paid session: where it is, what it costs, a stop button,
    and at the end the receipt. It reloads itself while something is still to happen."""
    place = f"{payment.charger_id}, connector {payment.connector_id}"
    currency = payment.currency
    head = f"<p class='note'>{escape(site)}</p><h1>{escape(place)}</h1>"
    if payment.state in (CAPTURING, CAPTURED):
        assert payment.captured is not None
        released = payment.hold_amount - payment.captured
        rows = [
            ("Energy", f"{payment.energy_kwh or 0:.3f} kWh"),
            ("Paid", f"{payment.captured:.2f} {currency}"),
            ("Released", f"{released:.2f} {currency} of the {payment.hold_amount:.2f} held"),
            ("Date", payment.created_at.strftime("%Y-%m-%d %H:%M UTC")),
            ("Reference", payment.intent_id or ""),
        ]
        email = f" Stripe e-mails the receipt to {payment.email}." if payment.email else ""
        body = (
            f"<h2>Receipt</h2><p class='state available'>Thank you: charging is over.</p>"
            f"{_figures(rows)}<p class='note'>Only the cost above is taken from your card;"
            f" the rest of the hold is released.{escape(email)}</p>"
            f"{_signed_readings((session or {}).get('signed_meter_values'))}"
        )
    elif payment.state in (CANCELLING, CANCELLED, RELEASED):
        body = (
            f"<p class='state'>{escape(payment.note or 'Nothing was charged.')}</p>"
            "<p>The hold on your card is released.</p>"
            f"<p><a href='{escape(connector_path(payment.charger_id, payment.connector_id))}'>"
            "Back to the connector</a></p>"
        )
    elif payment.state == REVIEW:
        # The bill was flagged: nothing is taken until the owner has looked.
        rows = [
            ("Energy", f"{payment.energy_kwh or 0:.3f} kWh (being checked)"),
            ("Held", f"{payment.hold_amount:.2f} {currency}"),
            ("Date", payment.created_at.strftime("%Y-%m-%d %H:%M UTC")),
            ("Reference", payment.intent_id or ""),
        ]
        body = (
            f"<p class='state'>{escape(payment.note or REVIEW_NOTE)}</p>{_figures(rows)}"
            "<p class='note'>The charger's meter readings need a second look before anything"
            " is taken from your card. The hold ends by itself if nobody takes it.</p>"
        )
    elif payment.state == CHECKOUT:
        body = "<p class='state'>Waiting for your payment to be confirmed…</p>"
    elif payment.state == AUTHORISED or session is None:
        body = "<p class='state'>Your card is held. Starting the charger…</p>"
    else:
        minutes = int((now - payment.created_at).total_seconds() // 60)
        cost = "0.00" if session["cost"] is None else f"{Decimal(session['cost']):.2f}"
        energy = (
            "0.000" if session["energy_kwh"] is None else f"{Decimal(session['energy_kwh']):.3f}"
        )
        waiting = session["state"] == "waiting"
        state = (
            "Plug in your car now: if it does not start charging within a few minutes, the"
            " hold on your card is released."
            if waiting
            else "Charging."
            if session["state"] == "charging"
            else "Charging has stopped. Unplug your car: your receipt follows."
        )
        rows = [
            ("Energy", f"{energy} kWh"),
            ("Cost", f"{cost} {currency} so far (at most {payment.hold_amount:.2f})"),
            ("Time", f"{minutes} min since you paid"),
        ]
        stop = "Cancel" if waiting else "Stop charging"
        body = (
            f"<p class='state available'>{escape(state)}</p>{_figures(rows)}"
            f"<form method='post' action='/s/{escape(payment.payment_id)}/stop'>"
            f"<button id='stop' class='button stop'>{stop}</button></form>"
            "<p class='note'>Keep this page to follow the session and get your receipt.</p>"
        )
    settled = (CAPTURED, CANCELLED, RELEASED, REVIEW)
    return _page(place, head + body, refresh=payment.state not in settled)
