"""Stripe's form encoding decoded, and the `stripe` library's typed parameters read by
introspection: the checks tests/test_stripe_wire.py holds the kiosk's requests to."""

import annotationlib
import re
import typing
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import stripe
from typing_extensions import is_typeddict

# A form decoded: bracketed keys nested; arrays stay keyed "0", "1", ... until a type says so.
type Form = str | dict[str, Form]


# Decoding Stripe's form encoding (name[key][0][field]=value).

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def decode_form(raw: str) -> dict[str, Form]:
    """Nest a query string or form body by its bracketed keys; ValueError on a malformed one."""
    root: dict[str, Form] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw)):
        match = _KEY.fullmatch(key)
        if match is None:
            raise ValueError(f"malformed form key: {key!r}")
        *parents, last = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])]
        node = root
        for part in parents:
            child = node.setdefault(part or str(len(node)), {})
            if not isinstance(child, dict):
                raise ValueError(f"{key}: both a value and an object")
            node = child
        last = last or str(len(node))  # name[]=v: the next element
        if last in node:
            raise ValueError(f"{key}: sent twice")
        node[last] = value
    return root


# The library's typed parameters, read by introspection.


def join_path(base: str, key: str) -> str:
    return f"{base}[{key}]" if base else key


def _is_request_options(cls: type) -> bool:
    """Whether a params TypedDict inherits RequestOptions (api_key, idempotency_key, ...):
    those are headers and client settings, never form parameters."""
    bases: tuple[type, ...] = getattr(cls, "__orig_bases__", ())
    return any(
        b is stripe.RequestOptions or (is_typeddict(b) and _is_request_options(b)) for b in bases
    )


def fields(cls: type) -> dict[str, tuple[Any, bool]]:
    """A params TypedDict's form parameters: name -> (type, required)."""
    # FORWARDREF: RequestOptions names types it imports only for type checkers; those keys
    # are dropped below, and every form parameter's type resolves.
    hints = typing.get_type_hints(cls, include_extras=True, format=annotationlib.Format.FORWARDREF)
    options = stripe.RequestOptions.__required_keys__ | stripe.RequestOptions.__optional_keys__
    skip = options if _is_request_options(cls) else frozenset()
    total: bool = getattr(cls, "__total__", True)
    out: dict[str, tuple[Any, bool]] = {}
    for name, hint in hints.items():
        if name in skip:
            continue
        origin = typing.get_origin(hint)
        out[name] = (
            hint,
            origin is typing.Required or (total and origin is not typing.NotRequired),
        )
    return out


def alternatives(hint: Any) -> list[Any]:
    """The types a value may have: qualifiers unwrapped, unions flattened."""
    origin = typing.get_origin(hint)
    if origin in (typing.NotRequired, typing.Required, typing.Annotated):
        return alternatives(typing.get_args(hint)[0])
    if origin is typing.Union:
        return [alt for arg in typing.get_args(hint) for alt in alternatives(arg)]
    return [hint]


def enum_values(options: list[Any]) -> list[Any]:
    """The types a request value may have, an open enum closed: the library types each enum
    as `Literal[...] | str` so that values Stripe adds later type-check, but Stripe checks a
    request's value against the values it supports (docs.stripe.com/api/enums), which are
    the Literal's at the library's API version. `Literal[''] | str` (empty unsets) stays."""
    words = [
        arg
        for option in options
        if typing.get_origin(option) is typing.Literal
        for arg in typing.get_args(option)
        if arg != ""
    ]
    return [option for option in options if option is not str] if words else options


def is_map(hint: Any) -> bool:
    """Dict[str, X], or UntypedStripeObject[X] (a free hash such as metadata)."""
    origin = typing.get_origin(hint)
    return origin is dict or (isinstance(origin, type) and issubclass(origin, stripe.StripeObject))


def type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return re.sub(r"\b[\w.]+\.(?=\w)", "", repr(hint))  # typing.List[stripe.x.Y] -> List[Y]


# A form value is text: which texts each scalar type takes (Stripe's decimal strings included).
_SCALARS: dict[object, re.Pattern[str]] = {
    str: re.compile(r".*", re.DOTALL),
    int: re.compile(r"-?\d+"),
    bool: re.compile(r"true|false"),
    float: re.compile(r"-?\d+(\.\d+)?"),
    Decimal: re.compile(r"-?\d+(\.\d+)?"),
}


def _literal_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def problems(value: Form, hint: Any, path: str) -> list[str]:
    """What is wrong with a decoded form value where the library declares `hint`."""
    options = enum_values(alternatives(hint))
    if len(options) > 1:
        found = [problems(value, option, path) for option in options]
        if any(not found_here for found_here in found):
            return []
        # Name the trouble inside the alternatives of the value's shape, if they agree on it.
        shaped = [f for f, o in zip(found, options, strict=True) if _shape_fits(value, o)]
        if shaped and all(f == shaped[0] for f in shaped):
            return shaped[0]
        return [f"{path}: {_show(value)} fits none of {type_name(hint)}"]
    (hint,) = options
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if is_typeddict(hint):
        return object_problems(value, hint, path)
    if origin is typing.Literal:
        allowed = [_literal_text(arg) for arg in args]
        if isinstance(value, str) and value in allowed:
            return []
        return [f"{path}: {_show(value)} is not one of the allowed values {allowed}"]
    if origin is list:
        if not isinstance(value, dict) or set(value) != {str(i) for i in range(len(value))}:
            return [f"{path}: expected an array ({path}[0], {path}[1], ...), got {_show(value)}"]
        return [
            p for i in range(len(value)) for p in problems(value[str(i)], args[0], f"{path}[{i}]")
        ]
    if is_map(hint):
        if not isinstance(value, dict):
            return [f"{path}: expected a hash ({path}[key]=...), got {_show(value)}"]
        item = args[-1] if args else str
        return [p for key, sub in value.items() for p in problems(sub, item, join_path(path, key))]
    if hint is Any:
        return []
    if (pattern := _SCALARS.get(hint)) is not None:
        if isinstance(value, str) and pattern.fullmatch(value):
            return []
        return [f"{path}: {_show(value)} does not parse as {type_name(hint)}"]
    return [f"{path}: this check cannot read the declared type {type_name(hint)}"]


def object_problems(value: Form, cls: type, path: str = "") -> list[str]:
    """Unknown names (in Stripe's own words), missing required ones, and each field's value."""
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({path}[field]=...), got {_show(value)}"]
    declared = fields(cls)
    found = [
        f"Received unknown parameter: {join_path(path, k)}" for k in value if k not in declared
    ]
    found += [
        f"{join_path(path, name)}: missing required parameter ({cls.__name__})"
        for name, (_, required) in declared.items()
        if required and name not in value
    ]
    for name, sub in value.items():
        if name in declared:
            found += problems(sub, declared[name][0], join_path(path, name))
    return found


def _shape_fits(value: Form, hint: Any) -> bool:
    nested = is_typeddict(hint) or typing.get_origin(hint) is list or is_map(hint)
    return isinstance(value, dict) == nested


def _show(value: Form) -> str:
    return repr(value) if isinstance(value, str) else "an object"
