"""Money: Decimal amounts, the currency's minor unit and the one rounding rule.

Amounts are never floats. Everything is kept exact until a session's gross total, which is
rounded half-up to the currency's minor unit; net and tax are derived from that rounded gross
so that net + tax == gross to the cent on every session and every statement.
"""

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 currencies whose minor unit is not the hundredth; every other has two decimals.
_EXPONENTS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}


def decimals(currency: str) -> int:
    """How many decimals the currency's minor unit has: 2 for EUR, 0 for JPY."""
    return _EXPONENTS.get(currency.upper(), 2)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of a currency: Decimal("0.01") for EUR, Decimal("1") for JPY."""
    return Decimal(1).scaleb(-decimals(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit (0.005 EUR -> 0.01 EUR)."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def split_gross(gross: Decimal, vat_percent: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """Net and tax of a rounded gross amount; they add up to it exactly."""
    net = round_money(gross * 100 / (100 + vat_percent), currency)
    return net, gross - net
