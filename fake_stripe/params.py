"""Every form parameter the fake Stripe accepts, per endpoint, and Stripe's answer to any other.

One declaration for the fake's handlers and for tests/test_stripe_wire.py, which checks each
name against the `stripe` library's own typed parameters: a parameter Stripe drops in a later
API version then fails a test instead of passing here.
"""

from collections.abc import Mapping

from aiohttp import web

# A parameter's shape: str or int (a form value), dict (a free string map such as metadata),
# [spec] (an array, sent as name[0], name[1], ...), {name: spec} (an object, name[key]).
type Spec = type[object] | list[Spec] | dict[str, Spec]

EXPAND: dict[str, Spec] = {"expand": [str]}
# Since API version 2026-09-30.endive, payment_method_types is no create parameter any more.
SESSION_CREATE: dict[str, Spec] = {
    "mode": str,
    "allowed_payment_method_types": [str],
    "line_items": [
        {
            "quantity": int,
            "price_data": {
                "currency": str,
                "unit_amount": int,
                "product_data": {"name": str, "description": str},
            },
        }
    ],
    "payment_intent_data": {"capture_method": str, "metadata": dict, "description": str},
    "metadata": dict,
    "client_reference_id": str,
    "success_url": str,
    "cancel_url": str,
    "expires_at": int,
    "customer_email": str,
    "locale": str,
    **EXPAND,
}
CAPTURE: dict[str, Spec] = {"amount_to_capture": int, **EXPAND}
CANCEL: dict[str, Spec] = {"cancellation_reason": str, **EXPAND}
UPDATE_INTENT: dict[str, Spec] = {"metadata": dict, "description": str, **EXPAND}
LIST: dict[str, Spec] = {"limit": int, **EXPAND}

ACCEPTED: dict[tuple[str, str], dict[str, Spec]] = {
    ("POST", "/v1/checkout/sessions"): SESSION_CREATE,
    ("GET", "/v1/checkout/sessions/{id}"): EXPAND,
    ("POST", "/v1/checkout/sessions/{id}/expire"): EXPAND,
    ("GET", "/v1/payment_intents/{id}"): EXPAND,
    ("POST", "/v1/payment_intents/{id}"): UPDATE_INTENT,
    ("POST", "/v1/payment_intents/{id}/capture"): CAPTURE,
    ("POST", "/v1/payment_intents/{id}/cancel"): CANCEL,
    ("GET", "/v1/charges"): LIST,
}
"""Per (HTTP method, aiohttp route template): the parameters that endpoint of the fake reads."""

UNKNOWN_DOC_URL = "https://stripe.com/docs/error-codes/parameter-unknown"


def unknown_parameter(params: Mapping[str, object], spec: dict[str, Spec]) -> str | None:
    """The first parameter the spec does not declare, named as Stripe names it
    (`line_items[0][price]`); None if every name is declared.

    `params` is the form as the fake's `unflatten` nests it: arrays still keyed "0", "1", ...
    Values' types are the handlers' concern; a free map (dict) takes any keys."""
    return _unknown(params, spec, "")


def _unknown(value: object, spec: Spec, name: str) -> str | None:
    if not isinstance(value, Mapping):
        return None  # a scalar where a nested one was declared: a type error, not a name
    if isinstance(spec, list):
        for index, item in value.items():
            if (found := _unknown(item, spec[0], f"{name}[{index}]")) is not None:
                return found
        return None
    if not isinstance(spec, dict):
        return None
    for key, item in value.items():
        param = f"{name}[{key}]" if name else str(key)
        if key not in spec:
            return param
        if (found := _unknown(item, spec[key], param)) is not None:
            return found
    return None


def endpoint_spec(method: str, route: str) -> dict[str, Spec]:
    """The declaration for an endpoint of the fake (`route` as aiohttp's canonical template,
    /v1/payment_intents/{id}); LookupError names an endpoint left undeclared."""
    method = "GET" if method.upper() == "HEAD" else method.upper()  # aiohttp's HEAD beside GET
    try:
        return ACCEPTED[method, route]
    except KeyError:
        raise LookupError(
            f"fake_stripe.params declares no parameters for {method} {route}"
        ) from None


def refusal(param: str) -> web.Response:
    """Stripe's answer to a parameter it does not know: 400, invalid_request_error,
    parameter_unknown. Stripe saves no idempotent result for it (validation failed)."""
    error = {
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "doc_url": UNKNOWN_DOC_URL,
        "message": f"Received unknown parameter: {param}",
        "param": param,
    }
    return web.json_response({"error": error}, status=400)


def refuse_unknown(request: web.Request, params: Mapping[str, object]) -> web.Response | None:
    """Stripe's 400 for the first parameter the request's endpoint does not accept; None if
    all are known, or if no endpoint matched (the router answers that with 404 or 405)."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    unknown = unknown_parameter(params, endpoint_spec(request.method, resource.canonical))
    return None if unknown is None else refusal(unknown)
