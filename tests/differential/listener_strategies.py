"""Hypothesis strategies for a Gateway's listeners, drawn across the classes Envoy Gateway's listener
validation tells apart.

Two listeners of one Gateway are judged by (Envoy Gateway v1.9, `internal/gatewayapi/listener.go`
validateConflictedLayer7Listeners, and the HTTPS overlap checks; Gateway API's "conflicted" rules):
- their ports: listeners of different ports never conflict;
- on one port, their protocols: HTTP beside HTTPS is ProtocolConflict for every listener of the port;
- on one port, their hostnames: the same one (or both none) is HostnameConflict; for HTTPS, hostnames
  that overlap (none beside any, a wildcard over a name) are OverlappingTLSConfig;
- an HTTPS listener's TLS mode: Terminate (written, or left to its default) is the only one served.
`listener_pairs()` draws one pair from every combination of these (`LISTENER_PAIR_CLASSES`, about equally
often), `listeners()` a Gateway's listeners: a third of the time such a pair, then listeners of the usual kind.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

HOSTNAMES = ["www.example.com", "api.example.com", "*.example.com", "example.org", "*.api.example.com", "foo.bar"]
PORTS = (80, 443, 8080, 8443)
PROTOCOLS = ("HTTP", "HTTPS")
# How two listeners' hostnames relate, as the HostnameConflict count and areOverlappingHostnames tell them apart.
HOSTNAME_RELATIONS: dict[str, tuple[str | None, str | None]] = {
    "neither has one": (None, None),
    "only the second has one": (None, "www.example.com"),
    "equal": ("www.example.com", "www.example.com"),
    "distinct": ("www.example.com", "api.example.com"),
    "a wildcard over the other": ("*.example.com", "www.example.com"),
    "a wildcard over a wildcard": ("*.example.com", "*.api.example.com"),
}
# The TLS mode an HTTPS listener writes: left to its default, or written.
TLS_MODES = (None, "Terminate")
LISTENER_PAIR_CLASSES = list(itertools.product(("same port", "other port"), itertools.product(PROTOCOLS, PROTOCOLS),
                                               HOSTNAME_RELATIONS, TLS_MODES))


def maybe(strategy: st.SearchStrategy, probability_of_none: float = 0.5) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy) if probability_of_none else strategy


@st.composite
def tls_block(draw, certificates: list[dict[str, Any]], namespace: str, mode: str | None = None) -> dict[str, Any]:
    """An HTTPS listener's tls: one or two of the stack's certificates, or an external one."""
    refs: list[dict[str, Any]] = []
    if certificates and draw(st.integers(0, 4)):
        # Sometimes two, as for an RSA and an ECDSA certificate of one name.
        for chosen in draw(st.lists(st.sampled_from(certificates), min_size=1, max_size=2,
                                    unique_by=lambda c: (c.get("namespace"), c["secretName"]))):
            refs.append({"name": chosen["secretName"], **({"namespace": chosen["namespace"]} if chosen.get("namespace") else {})})
    else:
        refs.append({"name": "shared-cert", "external": True})
        namespace_of_ref = draw(maybe(st.sampled_from([namespace, "certificates"])))
        if namespace_of_ref is not None:
            refs[0]["namespace"] = namespace_of_ref
    return {**({"mode": mode} if mode else {}), "certificateRefs": refs}


def _listener(name: str, protocol: str, port: int, hostname: str | None) -> dict[str, Any]:
    return {"name": name, "protocol": protocol, "port": port, **({"hostname": hostname} if hostname else {})}


@st.composite
def listener_pairs(draw, certificates: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """Two listeners of one class of `LISTENER_PAIR_CLASSES`."""
    ports, (first_protocol, second_protocol), relation, mode = draw(st.sampled_from(LISTENER_PAIR_CLASSES))
    first_port = draw(st.sampled_from(PORTS))
    second_port = first_port if ports == "same port" else draw(st.sampled_from([port for port in PORTS if port != first_port]))
    first_hostname, second_hostname = HOSTNAME_RELATIONS[relation]
    pair = [_listener(f"{first_protocol.lower()}-a", first_protocol, first_port, first_hostname),
            _listener(f"{second_protocol.lower()}-b", second_protocol, second_port, second_hostname)]
    for listener in pair:
        if listener["protocol"] == "HTTPS":
            listener["tls"] = draw(tls_block(certificates, namespace, mode))
    return pair


@st.composite
def listeners(draw, certificates: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """A Gateway's listeners: a third of the time a pair of `listener_pairs()` first; then up to three of the
    usual kind (HTTP on 80 or 8080, HTTPS on 443 or 8443), none on a port, protocol and hostname taken."""
    result: list[dict[str, Any]] = draw(listener_pairs(certificates, namespace)) if draw(st.integers(0, 2)) == 0 else []
    used_endpoints = {(item["port"], item["protocol"], item.get("hostname")) for item in result}
    # The pair's conflicts are the ones drawn: the usual listeners keep off a port the pair gives another protocol.
    protocol_of_port = {item["port"]: item["protocol"] for item in result}
    for index in range(draw(st.integers(0 if result else 1, 3 - len(result) // 2))):
        protocol = draw(st.sampled_from(PROTOCOLS))
        port = draw(st.sampled_from([80, 8080] if protocol == "HTTP" else [443, 8443]))
        hostname = draw(maybe(st.sampled_from(HOSTNAMES)))
        if (port, protocol, hostname) in used_endpoints or protocol_of_port.get(port, protocol) != protocol:
            continue
        used_endpoints.add((port, protocol, hostname))
        listener = _listener(f"{protocol.lower()}-{index}", protocol, port, hostname)
        if protocol == "HTTPS":
            listener["tls"] = draw(tls_block(certificates, namespace))
        if draw(st.integers(0, 3)) == 0:
            listener["allowedRoutes"] = {"namespaces": draw(st.sampled_from(["Same", "All"]))}
        result.append(listener)
    return result
