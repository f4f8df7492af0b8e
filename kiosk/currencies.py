"""Amounts as Stripe counts them, per currency: its minor units, the steps it accepts, and the
least it charges.

Source for every table here: Stripe's "Supported currencies" page,
https://docs.stripe.com/currencies (sections "Minor units in API amounts", "Zero-decimal
currencies", "Three-decimal currencies", "Special cases" and "Minimum and maximum charge
amounts").
"""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

# Stripe's own zero- and three-decimal currencies (its lists, not ISO 4217's: MGA, for one).
ZERO_DECIMAL = frozenset(
    ("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND")
) | {"VUV", "XAF", "XOF", "XPF"}
THREE_DECIMAL = frozenset(("BHD", "JOD", "KWD", "OMR", "TND"))
# Stripe's partners take three-decimal amounts only with a last digit of 0; ISK is charged in
# whole krónur but written with two decimals (500 is 5 ISK).
STEP = {**dict.fromkeys(THREE_DECIMAL, 10), "ISK": 100}
# The least Stripe charges, by currency ("Minimum charge amount" at
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). Stripe sets it by
# the settlement currency; for a charge in the account's own currency these are the figures.
# Other currencies have a minimum too (the equivalent of the settlement currency's), which the
# kiosk cannot know: Stripe's answer to the Checkout Session tells then.
MINIMUM_CHARGE = {
    "USD": Decimal("0.50"),
    "AED": Decimal("2.00"),
    "AUD": Decimal("0.50"),
    "BGN": Decimal("1.00"),
    "BRL": Decimal("0.50"),
    "CAD": Decimal("0.50"),
    "CHF": Decimal("0.50"),
    "CZK": Decimal("15.00"),
    "DKK": Decimal("2.50"),
    "EUR": Decimal("0.50"),
    "GBP": Decimal("0.30"),
    "HKD": Decimal("4.00"),
    "HUF": Decimal("175.00"),
    "INR": Decimal("0.50"),
    "JPY": Decimal(50),
    "MXN": Decimal(10),
    "MYR": Decimal(2),
    "NOK": Decimal("3.00"),
    "NZD": Decimal("0.50"),
    "PLN": Decimal("2.00"),
    "RON": Decimal("2.00"),
    "SEK": Decimal("3.00"),
    "SGD": Decimal("0.50"),
    "THB": Decimal(10),
}


def exponent(currency: str) -> int:
    """How many decimals Stripe's minor unit of the currency has (2 for EUR: cents)."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def minor_units(amount: Decimal, currency: str) -> int:
    """An amount in the smallest unit Stripe counts for the currency (cents for EUR), rounded
    half up to that unit (a hold the owner set; exact ones are checked by hold_problem)."""
    scaled = amount.scaleb(exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def capture_units(amount: Decimal, currency: str) -> int:
    """What Stripe is asked to capture for a cost: in minor units and in the steps Stripe takes
    (tens for three-decimal currencies), always rounded down, never up: the guest agreed to
    pay the cost, not a fils more, so the rounding (under one step) is the site's loss."""
    step = STEP.get(currency.upper(), 1)
    units = int(amount.scaleb(exponent(currency)).to_integral_value(rounding=ROUND_DOWN))
    return units - units % step


def hold_problem(hold: Decimal, currency: str) -> str | None:
    """Why Stripe cannot hold this amount in this currency (in words for the owner); None if
    it can."""
    code = currency.upper()
    step = STEP.get(code, 1)
    units = hold.scaleb(exponent(code))
    if units != units.to_integral_value() or int(units) % step:
        smallest = Decimal(step).scaleb(-exponent(code))
        return f"a hold of {hold} {code} is not a whole number of {smallest} {code}"
    minimum = MINIMUM_CHARGE.get(code)
    if minimum is not None and hold < minimum:
        return f"a hold of {hold} {code} is below Stripe's minimum charge of {minimum} {code}"
    return None
