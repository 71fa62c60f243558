"""The only addresses anything of this project listens on or sends to, besides loopback: the
local cluster's ranges, which exist only inside the network namespaces the cluster makes (only
`lo` and the pods' bridge are up there, with no route out)."""

from __future__ import annotations

import ipaddress

POD_CIDR = "10.244.0.0/16"
# TEST-NET-2 (RFC 5737): documentation addresses, never routed anywhere, so a load-balancer
# address can only ever mean the cluster's own namespaces.
LOAD_BALANCER_CIDR = "198.51.100.0/24"
NODE_IP = "10.243.0.1"


def is_cluster_address(address: str) -> bool:
    """True for the addresses that exist only inside the namespaces the cluster made (pods, load
    balancers, the node, the pods' bridge)."""
    ip = ipaddress.ip_address(address)
    return (
        ip in ipaddress.ip_network(POD_CIDR)
        or ip in ipaddress.ip_network(LOAD_BALANCER_CIDR)
        or ip == ipaddress.ip_address(NODE_IP)
    )
