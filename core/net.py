"""IP addresses and CIDR ranges: the one way allow-lists are written and checked."""

import functools
import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_parse(value: str | None) -> IPAddress | None:
    """Return the IP address in `value`, or None when it is empty or not an address."""
    try:
        return ipaddress.ip_address(value) if value else None
    except ValueError:
        return None


def ip_normalize(value: str | None) -> str | None:
    """The canonical text of the IP address in `value` (IPv6 compressed), or None when it is not one."""
    address = ip_parse(value)
    return str(address) if address is not None else None


def cidrs_normalize(values: Iterable[str]) -> list[str]:
    """Return the canonical CIDRs (`10.0.0.7` → `10.0.0.7/32`), sorted, without duplicates.

    Host bits are dropped (`10.1.2.3/16` → `10.1.0.0/16`) and IPv6 is compressed; a ValueError
    names every value that is neither an address nor a range.
    """
    networks, bad = set(), []
    for value in values:
        try:
            networks.add(ipaddress.ip_network(value.strip(), strict=False).compressed)
        except ValueError:
            bad.append(value)
    if bad:
        raise ValueError(f"Not valid CIDR(s): {', '.join(bad)}.")
    return sorted(networks)


@functools.lru_cache(maxsize=1024)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    # Policies name the same few ranges on every decision: parsed once (issue 17).
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except (TypeError, ValueError):
        return None


def ip_in_cidrs(ip: str | None, cidrs: Iterable[str]) -> bool:
    """Tell whether `ip` falls in one of `cidrs` (no or a malformed address: never; a malformed range is skipped)."""
    address = ip_parse(ip)
    if address is None:
        return False
    for cidr in cidrs:
        network = _network(cidr) if isinstance(cidr, str | int) else None
        if network is not None and address in network:
            return True
    return False
