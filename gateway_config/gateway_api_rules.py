"""Rules of Gateway API and Envoy Gateway that relate several values: how routes attach to
listeners and how listeners share ports (as Envoy Gateway decides them), the CEL rules that
relate several values of a route, and the lengths of the names the program derives.

Each was found by the differential test (`tests/differential/`): a config the program used to
accept that kubectl-validate or `egctl x translate` then refused or flagged. Hostname matching
mirrors Envoy Gateway v1.9 (`internal/gatewayapi/helpers.go` computeHosts and
`listener.go` areOverlappingHostnames), so the program refuses exactly what would not attach.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator

from gateway_config.fields import duration_milliseconds
from gateway_config.models import GatewayConfig, ListenerConfig, RouteConfig, StackConfig
from gateway_config.problems import Problem


MAX_NAME_LENGTH = 253


def gateway_api_problems(config: StackConfig) -> list[Problem]:
    return [*_derived_name_problems(config), *_listener_certificate_problems(config), *_listener_overlap_problems(config),
            *_route_problems(config)]


def _derived_name_problems(config: StackConfig) -> Iterator[Problem]:
    """Names the program makes from others: the EnvoyProxy's and the ReferenceGrants'."""
    if config.proxy.name is None and len(config.proxy_name) > MAX_NAME_LENGTH:
        yield Problem("gatewayClass.name",
                      f"the EnvoyProxy is named after the GatewayClass ('<name>-proxy', {len(config.proxy_name)} characters), "
                      f"and a name has at most {MAX_NAME_LENGTH}; shorten the name or set proxy.name")
    for index, certificate in enumerate(config.certificates):
        grant = f"{config.default_gateway.name}-{certificate.secret_name}"
        if config.certificate_namespace(certificate) != config.namespace and len(grant) > MAX_NAME_LENGTH:
            yield Problem(f"certificates.{index}.secretName",
                          f"the ReferenceGrant for this Secret is named '<gateway name>-<secretName>' ({len(grant)} "
                          f"characters), and a name has at most {MAX_NAME_LENGTH}; shorten one of them")


# --- hostnames, as Envoy Gateway matches them ------------------------------------------------


def _wildcard_matches(wildcard: str, hostname: str) -> bool:
    suffix = wildcard[1:]
    if not hostname.startswith("*"):
        return hostname.endswith(suffix) and len(hostname) > len(suffix)
    remaining = hostname[1:]
    if not remaining.endswith(suffix):
        return False
    rest = remaining[: len(remaining) - len(suffix)]
    return bool(rest) and rest.startswith(".")


def _intersection(listener: ListenerConfig, route_hostnames: list[str], others: list[ListenerConfig]) -> set[str]:
    """The hostnames a route serves on `listener` (computeHosts): empty means it does not attach there."""
    listener_hostname = listener.hostname or ""
    if not route_hostnames:
        return {listener_hostname or "*"}
    hosts: set[str] = set()
    for hostname in route_hostnames:
        if not listener_hostname or listener_hostname == hostname:
            hosts.add(hostname)
        elif listener_hostname.startswith("*") and hostname.startswith("*"):
            if _wildcard_matches(hostname, listener_hostname):
                hosts.add(listener_hostname)
            if _wildcard_matches(listener_hostname, hostname):
                hosts.add(hostname)
        elif listener_hostname.startswith("*"):
            if _wildcard_matches(listener_hostname, hostname):
                hosts.add(hostname)
        elif hostname.startswith("*") and _wildcard_matches(hostname, listener_hostname):
            hosts.add(listener_hostname)
    # A hostname another listener on the same port names exactly belongs to that listener.
    for other in others:
        if other is not listener and other.port == listener.port and other.hostname:
            hosts.discard(other.hostname)
    return hosts


def _overlap(first: str | None, second: str | None) -> bool:
    """areOverlappingHostnames: no hostname overlaps everything; else equal, or one label under a wildcard."""
    if first is None or second is None:
        return True

    def matches(this: str, other: str) -> bool:
        if other.startswith("*") and not this.startswith("*"):
            return this.endswith(other[1:]) and "." not in this[: len(this) - len(other) + 1]
        return this == other

    return matches(first, second) or matches(second, first)


def _listener_overlap_problems(config: StackConfig) -> Iterator[Problem]:
    """HTTPS listeners of one Gateway sharing a port whose hostnames or certificate names overlap:
    Envoy Gateway flags both (OverlappingTLSConfig) and turns HTTP/2 off for them."""
    names_of = {
        (config.certificate_namespace(certificate), certificate.secret_name): certificate.effective_dns_names
        for certificate in config.certificates
    }
    for gateway in config.all_gateways():
        yield from _gateway_listener_overlap_problems(config, gateway, names_of)


def _gateway_listener_overlap_problems(config: StackConfig, gateway: GatewayConfig, names_of: dict) -> Iterator[Problem]:
    listeners = list(enumerate(gateway.listeners))
    https = [(index, listener) for index, listener in listeners if listener.protocol == "HTTPS"]
    flagged: set[int] = set()
    for position, (index, listener) in enumerate(https):
        for other_index, other in https[position + 1:]:
            if other.port != listener.port or index in flagged:
                continue
            reason = None
            shared = {(ref.namespace or config.namespace, ref.name) for ref in _refs(listener)} & {
                (ref.namespace or config.namespace, ref.name) for ref in _refs(other)}
            if shared:
                reason = f"serves the same certificate ({', '.join(sorted('/'.join(key) for key in shared))})"
            elif _overlap(listener.hostname, other.hostname):
                reason = (f"its hostname ({listener.hostname or 'none: every name'}) overlaps listener "
                          f"'{other.name}''s ({other.hostname or 'none: every name'})")
            else:
                for first in _certificate_names(config, listener, names_of):
                    for second in _certificate_names(config, other, names_of):
                        if reason is None and _overlap(first, second):
                            reason = f"its certificate's name {first} overlaps listener '{other.name}''s certificate name {second}"
            if reason is not None:
                flagged.add(index)
                yield Problem(
                    f"{config.gateway_key(gateway)}.listeners.{index}",
                    f"HTTPS listener '{listener.name}' shares port {listener.port} with '{other.name}' and {reason}; "
                    "Envoy Gateway flags both (OverlappingTLSConfig) and serves them without HTTP/2. Give them "
                    "distinct hostnames and certificates, or put both certificates on one listener",
                )


def _listener_certificate_problems(config: StackConfig) -> Iterator[Problem]:
    """A listener's certificates, as Envoy Gateway loads them (tls.go parseCertsFromTLSSecretsData): for
    each name a certificate holds (its DNS names, else its common name) one certificate per key
    algorithm. A second one, or the same Secret listed twice, is refused (PartiallyInvalidCertificateRef)."""
    declared = {(config.certificate_namespace(certificate), certificate.secret_name): certificate
                for certificate in config.certificates}
    for gateway in config.all_gateways():
        yield from _gateway_listener_certificate_problems(config, gateway, declared)


def _gateway_listener_certificate_problems(config: StackConfig, gateway: GatewayConfig, declared: dict) -> Iterator[Problem]:
    for index, listener in enumerate(gateway.listeners):
        holder: dict[tuple[str, str], str] = {}
        seen: set[tuple[str, str]] = set()
        for ref_index, ref in enumerate(_refs(listener)):
            key = (ref.namespace or config.namespace, ref.name)
            where = f"{config.gateway_key(gateway)}.listeners.{index}.tls.certificateRefs.{ref_index}"
            if key in seen:
                yield Problem(where, f"certificate '{'/'.join(key)}' is listed more than once on listener '{listener.name}'; "
                              "Envoy Gateway refuses the second copy (PartiallyInvalidCertificateRef): list each certificate once")
                continue
            seen.add(key)
            certificate = declared.get(key)
            if certificate is None:  # external: its names and key are not known here
                continue
            for name in dict.fromkeys(certificate.effective_dns_names):
                pair = (certificate.key_algorithm, name)
                if pair in holder:
                    yield Problem(where, f"certificate '{'/'.join(key)}' holds a {pair[0]} key for {name}, as '{holder[pair]}' on "
                                  f"listener '{listener.name}' does; Envoy Gateway serves one certificate per key algorithm "
                                  "and name (PartiallyInvalidCertificateRef): give one another keyAlgorithm or other dnsNames")
                    break
                holder[pair] = "/".join(key)


def _refs(listener: ListenerConfig) -> list:
    return list(listener.tls.certificate_refs) if listener.tls is not None else []


def _certificate_names(config: StackConfig, listener: ListenerConfig, names_of: dict) -> list[str]:
    return [name for ref in _refs(listener) for name in names_of.get((ref.namespace or config.namespace, ref.name), [])]


# --- routes ----------------------------------------------------------------------------------


def _route_problems(config: StackConfig) -> Iterator[Problem]:
    for index, route in enumerate(config.routes):
        where = f"routes.{index}"
        yield from _rule_name_problems(route, where)
        yield from _timeout_problems(route, where)
        yield from _parent_ref_problems(route, where)
        yield from _hostname_problems(config, route, where)


def _rule_name_problems(route: RouteConfig, where: str) -> Iterator[Problem]:
    counts = Counter(rule.name for rule in route.rules if rule.name is not None)
    for rule_index, rule in enumerate(route.rules):
        if rule.name is not None and counts[rule.name] > 1:
            yield Problem(f"{where}.rules.{rule_index}.name",
                          f"rule name '{rule.name}' is used more than once in route '{route.name}'; rule names must be unique within a route")


def _timeout_problems(route: RouteConfig, where: str) -> Iterator[Problem]:
    for rule_index, rule in enumerate(route.rules):
        timeouts = rule.timeouts
        if timeouts is None or timeouts.request is None or timeouts.backend_request is None:
            continue
        request = duration_milliseconds(timeouts.request)
        if request and duration_milliseconds(timeouts.backend_request) > request:
            yield Problem(f"{where}.rules.{rule_index}.timeouts.backendRequest",
                          f"backendRequest ({timeouts.backend_request}) is longer than request ({timeouts.request}); "
                          "it must be at most the request timeout (or request '0s': no limit)")


def _parent_ref_problems(route: RouteConfig, where: str) -> Iterator[Problem]:
    """Gateway API: two references to the same parent must each name a listener, and different ones."""
    groups: dict[tuple, list[int]] = {}
    for ref_index, ref in enumerate(route.parent_refs):
        groups.setdefault((ref.name, ref.namespace), []).append(ref_index)
    for indices in groups.values():
        if len(indices) < 2:
            continue
        sections = [route.parent_refs[i].section_name for i in indices]
        for i, section in zip(indices, sections):
            if section is None:
                yield Problem(f"{where}.parentRefs.{i}.sectionName",
                              f"route '{route.name}' names Gateway '{route.parent_refs[i].name}' more than once; "
                              "each of those references needs a sectionName (a listener)")
            elif sections.count(section) > 1:
                yield Problem(f"{where}.parentRefs.{i}.sectionName",
                              f"route '{route.name}' names listener '{section}' of Gateway '{route.parent_refs[i].name}' "
                              "more than once; name each listener once")


def _hostname_problems(config: StackConfig, route: RouteConfig, where: str) -> Iterator[Problem]:
    """A route attaches to a listener only where their hostnames intersect (NoMatchingListenerHostname),
    on the Gateway each parentRef names (the first Gateway without parentRefs)."""
    refs = route.parent_refs or []
    targets = [(f"{where}.hostnames", config.default_gateway, None)] if not refs else []
    for ref_index, ref in enumerate(refs):
        gateway = None
        if not ref.external and (ref.namespace or config.namespace) == config.namespace:
            gateway = config.gateway_named(ref.name)
        if gateway is not None and (ref.section_name is None or ref.section_name in {l.name for l in gateway.listeners}):
            targets.append((f"{where}.parentRefs.{ref_index}", gateway, ref.section_name))
    for path, gateway, section in targets:
        listeners = gateway.listeners
        by_name = {listener.name: listener for listener in listeners}
        candidates = [by_name[section]] if section is not None else listeners
        if any(_intersection(listener, list(route.hostnames), listeners) for listener in candidates):
            continue
        scope = f"listener '{section}'" if section else f"any listener of Gateway '{gateway.name}'"
        offered = ", ".join(f"{listener.name}: {listener.hostname or 'any'}" for listener in candidates)
        yield Problem(
            path,
            f"route '{route.name}' hostnames ({', '.join(route.hostnames)}) match no hostname of {scope} "
            f"({offered}), so it would attach nowhere (NoMatchingListenerHostname); use a hostname the listener "
            "serves, or another listener",
        )
