"""Requests that look like they come from a chosen client: a header value, a client address.

A rate limit or an IP rule keyed by the client's address needs requests from other addresses.
Two honest ways exist: the gateway trusts X-Forwarded-For (a ClientTrafficPolicy with
`clientIPDetection.xForwardedFor`), so the address is a header; or the gateway is on this
machine, so the request can leave from another loopback address (127.0.0.0/8 is all local).
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

# Addresses of the documentation range (RFC 5737) stand for "some proxy in front" in XFF.
FRONT_PROXY_ADDRESS = "192.0.2.1"


@dataclass(frozen=True)
class ClientRequest:
    """Extra headers and a local source address that make a request come from one client."""

    headers: tuple[tuple[str, str], ...] = ()
    source: Optional[str] = None
    description: str = ""


def fresh_value() -> str:
    return f"gatestack-{uuid.uuid4().hex[:12]}"


@dataclass
class AddressChooser:
    """Picks client addresses a listener will believe, per its client IP detection."""

    num_trusted_hops: Optional[int]
    trusted_cidrs: list[str]
    target_is_loopback: bool
    used: set[str] = field(default_factory=set)

    @classmethod
    def for_listener(cls, client_policy: Any, target_host: str) -> "AddressChooser":
        forwarded = client_policy.client_ip_detection.x_forwarded_for if client_policy and client_policy.client_ip_detection else None
        try:
            loopback = ipaddress.ip_address(target_host).is_loopback
        except ValueError:
            loopback = False
        return cls(
            num_trusted_hops=forwarded.num_trusted_hops if forwarded else None,
            trusted_cidrs=list(forwarded.trusted_cidrs) if forwarded else [],
            target_is_loopback=loopback,
        )

    @property
    def trusts_forwarded_for(self) -> bool:
        if self.num_trusted_hops:
            return True
        # With trusted CIDRs, X-Forwarded-For counts when the peer (this machine) is trusted.
        return any(ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(cidr, strict=False) for cidr in self.trusted_cidrs)

    def address_in(self, cidr: str, fresh: bool = True) -> Optional[ClientRequest]:
        """A request from an address in `cidr` (a new one each call when `fresh`), or None
        when no such address can be made to look like the client's."""
        network = ipaddress.ip_network(cidr, strict=False)
        if network.version != 4:
            return None
        if self.trusts_forwarded_for:
            address = self._pick(network, avoid_trusted=True, fresh=fresh)
            if address is None:
                return None
            chain = [address] + [FRONT_PROXY_ADDRESS] * max((self.num_trusted_hops or 1) - 1, 0)
            return ClientRequest((("X-Forwarded-For", ", ".join(chain)),), None, f"X-Forwarded-For {address}")
        if self.target_is_loopback:
            loopback = ipaddress.ip_network("127.0.0.0/8")
            if not network.overlaps(loopback):
                return None
            inside = network if network.subnet_of(loopback) else loopback
            address = self._pick(inside, avoid_trusted=False, fresh=fresh)
            return ClientRequest((), address, f"from {address}") if address else None
        return None

    def _pick(self, network: ipaddress.IPv4Network, avoid_trusted: bool, fresh: bool) -> Optional[str]:
        for _ in range(200):
            if network.num_addresses <= 2:
                candidate = str(network.network_address)
            else:
                candidate = str(network.network_address + random.randrange(1, network.num_addresses - 1))
            if candidate == "127.0.0.1" or (fresh and candidate in self.used):
                continue
            if avoid_trusted and any(
                ipaddress.ip_address(candidate) in ipaddress.ip_network(cidr, strict=False) for cidr in self.trusted_cidrs
            ):
                continue
            self.used.add(candidate)
            return candidate
        return None

    def address_outside(self, cidrs: list[str]) -> Optional[ClientRequest]:
        """A request from an address in none of `cidrs`, or None."""
        networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
        candidates = ["203.0.113.77", "198.51.100.23", "192.0.2.200"] if self.trusts_forwarded_for else ["127.0.0.1", "127.201.7.9"]
        for candidate in candidates:
            if any(ipaddress.ip_address(candidate) in network for network in networks):
                continue
            request = self.address_in(f"{candidate}/32", fresh=False)
            if request is not None or candidate == "127.0.0.1":
                return request or ClientRequest((), None, "from 127.0.0.1")
        return None
