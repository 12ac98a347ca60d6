"""Which address a request came from, for lockouts, audit logs and the session list.

X-Forwarded-For is just a request header: anyone can send one. It is believed only when the
direct peer (the TCP connection's address) is a configured proxy (`trusted_proxies`, default
loopback: Caddy on this machine) and `trusted_proxy_hops` says how many proxies append to it.
A client that reaches the app's port directly is therefore always known by its own address.

Pure functions of (peer, header, settings): the API (`energyapp.api.deps.client_ip`), the
scheme middleware (`energyapp.api.proxy`) and the Reflex states all call these.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from energyapp.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_LENGTH = 64


def parse_ip(text: str | None) -> IPAddress | None:
    """An address from a peer or an X-Forwarded-For entry (`1.2.3.4`, `1.2.3.4:5678`, `::1`,
    `[::1]:5678`); IPv4-mapped IPv6 becomes IPv4. None when it is not an address."""
    value = (text or "").strip()
    if value.startswith("[") and "]" in value:  # [v6] or [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def is_trusted_proxy(peer: str | None) -> bool:
    """True when forwarded headers from this direct peer count: a proxy is configured
    (`trusted_proxy_hops` > 0) and the peer is in `trusted_proxies`."""
    settings = get_settings()
    if not settings.trusted_proxy_hops:
        return False
    address = parse_ip(peer)
    if address is None:
        return False
    return any(address in network for network in _networks(tuple(settings.trusted_proxies)))


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """The client's address: the direct peer, unless the peer is a trusted proxy; then the
    X-Forwarded-For entry `trusted_proxy_hops` from the right (each proxy appends the address
    it saw). Several X-Forwarded-For headers are read as one comma list, in order. An entry
    that is not an IP address is ignored in favour of the peer."""
    peer = (peer or "").strip()[:MAX_LENGTH]
    if not forwarded_for or not is_trusted_proxy(peer):
        return peer
    entries = [part.strip() for part in forwarded_for.split(",") if part.strip()]
    if not entries:
        return peer
    hops = get_settings().trusted_proxy_hops
    # Fewer entries than hops: the request skipped an outer proxy; the leftmost entry was
    # still written by a trusted one.
    address = parse_ip(entries[-min(hops, len(entries))])
    return str(address)[:MAX_LENGTH] if address is not None else peer
