"""Hypothesis strategies for a Gateway's listeners, drawn across the classes the Gateway CRD, Gateway API's
"conflicted" rules and Envoy Gateway's listener validation tell apart.

Two listeners of one Gateway are judged by (Gateway API v1.6 `gateway_types.go`, "distinct" and
"compatible" listeners; Envoy Gateway v1.9 `internal/gatewayapi/validate.go`
validateConflictedProtocolsListeners, validateConflictedHostnameListeners,
validateConflictedLayer4Listeners, validateTLSConfiguration, and `listener.go`'s HTTPS overlap checks):
- their ports: listeners of different ports never conflict;
- on one port, their protocols: UDP beside anything is compatible, HTTPS beside TLS too; any other two
  different protocols are ProtocolConflict for every listener of the port (HTTP beside HTTPS among them);
  two TCP or two UDP listeners of a port conflict;
- on one port, their hostnames: the same one (or both none) is HostnameConflict; for HTTPS, hostnames
  that overlap (none beside any, a wildcard over a name) are OverlappingTLSConfig; a TCP or UDP listener
  may have none (the CRD's CEL rule);
- each listener's TLS: left out, its mode left to the default, or one of the CRD's modes; the CRD
  refuses TLS on HTTP, TCP and UDP, a mode other than Terminate on HTTPS and none on TLS, and Envoy
  Gateway refuses an HTTPS listener without it.
The protocols and TLS modes are read from the vendored Gateway CRD (the strings its listener CEL rules
compare `protocol` with; `tls.mode`'s enum), so a new CRD version brings its own.
`listener_pairs()` draws one pair from every combination of these (`LISTENER_PAIR_CLASSES`: the second
listener takes the pair's TLS setting, the first its protocol's usual one), half the time among the
classes of the program's own protocols; `listeners()` a Gateway's listeners: a third of the time such a
pair, then listeners of the usual kind.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

from gatestack.differential.crd_patterns import compared_values, enum_values

HOSTNAMES = ["www.example.com", "api.example.com", "*.example.com", "example.org", "*.api.example.com", "foo.bar"]
PORTS = (80, 443, 8080, 8443)
# The protocols the program serves (its routes attach to these), and those the Gateway CRD's rules tell apart.
PROTOCOLS = ("HTTP", "HTTPS")
CRD_PROTOCOLS = tuple(compared_values("Gateway", ("spec", "listeners"), "protocol"))
# The protocols that take a tls block (Terminate unless written otherwise), and what the first one of a pair writes.
USUAL_TLS = {"HTTPS": "mode left to its default", "TLS": "Passthrough"}
# How two listeners' hostnames relate, as the HostnameConflict count and areOverlappingHostnames tell them apart.
HOSTNAME_RELATIONS: dict[str, tuple[str | None, str | None]] = {
    "neither has one": (None, None),
    "only the second has one": (None, "www.example.com"),
    "equal": ("www.example.com", "www.example.com"),
    "distinct": ("www.example.com", "api.example.com"),
    "a wildcard over the other": ("*.example.com", "www.example.com"),
    "a wildcard over a wildcard": ("*.example.com", "*.api.example.com"),
}
# A listener's tls: left out, written with its mode left to the default, or with one of the CRD's modes.
TLS_SETTINGS = ("left out", "mode left to its default", *enum_values("Gateway", ("spec", "listeners", "[]", "tls", "mode")))
PORT_RELATIONS = ("same port", "other port")
LISTENER_PAIR_CLASSES = list(itertools.product(PORT_RELATIONS, itertools.product(CRD_PROTOCOLS, CRD_PROTOCOLS),
                                               HOSTNAME_RELATIONS, TLS_SETTINGS))
# The classes of two listeners the program may accept: its protocols, the second one's tls as its protocol needs.
SERVED_PAIR_CLASSES = [(ports, protocols, relation, tls) for ports, protocols, relation, tls in LISTENER_PAIR_CLASSES
                       if set(protocols) <= set(PROTOCOLS) and (tls == "left out") == (protocols[1] == "HTTP")
                       and tls != "Passthrough"]


def maybe(strategy: st.SearchStrategy, probability_of_none: float = 0.5) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy) if probability_of_none else strategy


@st.composite
def tls_block(draw, certificates: list[dict[str, Any]], namespace: str, mode: str | None = None) -> dict[str, Any]:
    """A listener's tls: one or two of the stack's certificates, or an external one; `mode` written if given."""
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
    """Two listeners of one class of `LISTENER_PAIR_CLASSES`: half the time one of `SERVED_PAIR_CLASSES`."""
    ports, (first_protocol, second_protocol), relation, second_tls = draw(
        st.one_of(st.sampled_from(SERVED_PAIR_CLASSES), st.sampled_from(LISTENER_PAIR_CLASSES)))
    first_port = draw(st.sampled_from(PORTS))
    second_port = first_port if ports == "same port" else draw(st.sampled_from([port for port in PORTS if port != first_port]))
    first_hostname, second_hostname = HOSTNAME_RELATIONS[relation]
    pair = [_listener(f"{first_protocol.lower()}-a", first_protocol, first_port, first_hostname),
            _listener(f"{second_protocol.lower()}-b", second_protocol, second_port, second_hostname)]
    for listener, tls in zip(pair, (USUAL_TLS.get(first_protocol, "left out"), second_tls)):
        if tls != "left out":
            mode = None if tls == "mode left to its default" else tls
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
