"""The kiosk's rules at the HTTP edge for a public, hostile network: only its own pages may
change anything, every answer carries the browser security headers, and whom a request came
from (for the hold limits) is worked out once, here."""

import logging
from collections.abc import Collection, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from yarl import URL

_LOGGER = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = {
    # The pages load nothing but their own stylesheet; nobody may frame them (clickjacking
    # the pay button).
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The session page's address is the guest's only key to it: never sent to another site
    # (Stripe's page included), while the kiosk's own forms still show where they came from.
    "Referrer-Policy": "same-origin",
}

type Origin = tuple[str, str, int | None]
type Network = IPv4Network | IPv6Network


def origin_of(url: str) -> Origin | None:
    """Scheme, host and port of an absolute http(s) URL; None for anything else (`null`)."""
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if not parsed.absolute or parsed.scheme not in ("http", "https") or parsed.host is None:
        return None
    return parsed.scheme, parsed.host.lower(), parsed.port


def same_origin(public_url: str, exempt: Collection[str], refusal: str) -> Middleware:
    """Refuse every state-changing request (any method but GET, HEAD, OPTIONS) whose Origin (or,
    without one, Referer) is not the kiosk's public URL: another site cannot make a visitor's
    browser hold a connector. `exempt` paths authenticate otherwise (Stripe's signed webhook);
    `refusal` is the page answered."""
    expected = origin_of(public_url)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in SAFE_METHODS and request.path not in exempt:
            # An Origin that is there but wrong is not overridden by a Referer.
            sent = request.headers.get("Origin") or request.headers.get("Referer")
            if sent is None or origin_of(sent) != expected:
                _LOGGER.warning(
                    "Refused a %s to %.60s from %s: sent from %.60r",
                    request.method,
                    request.path,
                    request.remote,
                    sent,
                )
                raise web.HTTPForbidden(text=refusal, content_type="text/html")
        return await handler(request)

    return check


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the headers on every answer, error pages and redirects included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def client_address(request: web.Request, trusted_proxies: Sequence[Network]) -> str:
    """Whom a request counts against: the peer's address or, when the peer is a trusted
    reverse proxy, the nearest address in X-Forwarded-For that is not one. IPv6 by /64 (what
    one subscriber usually gets: any address in it is theirs to use)."""
    peer = _address(request.remote)
    if peer is not None and _within(peer, trusted_proxies):
        hops = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
        for hop in reversed(hops):
            forwarded = _address(hop.strip())
            if forwarded is None:
                break  # what comes before an unreadable hop cannot be trusted
            peer = forwarded
            if not _within(forwarded, trusted_proxies):
                break
    if peer is None:
        return request.remote or "unknown"
    if isinstance(peer, IPv6Address):
        if peer.ipv4_mapped is not None:
            return str(peer.ipv4_mapped)
        return str(ip_network(f"{peer}/64", strict=False))
    return str(peer)


def _address(text: str | None) -> IPv4Address | IPv6Address | None:
    try:
        return None if text is None else ip_address(text)
    except ValueError:
        return None


def _within(address: IPv4Address | IPv6Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)
