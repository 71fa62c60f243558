"""Rules that relate the values of a stack's Gateway: its listeners (names, ports, TLS and the
certificates they serve), the certificates themselves, the proxy settings, and the images a
production stack must pin.

Each check returns `Problem`s with the dotted path of the value to fix; `semantics.py` gathers
them with every other rule module.
"""

from __future__ import annotations

from typing import Iterator

from gateway_config.fields import image_tag
from gateway_config.models import GatewayConfig, ListenerConfig, ProxyConfig, StackConfig
from gateway_config.problems import Problem, dotted_path, repeated_values

# Kubernetes: an object's name has at most 253 characters.
MAX_NAME_LENGTH = 253


def listener_problems(config: StackConfig) -> Iterator[Problem]:
    """The listener rules, for each Gateway on its own (listeners of two Gateways never clash)."""
    declared_certificates = {
        (config.certificate_namespace(certificate), certificate.secret_name) for certificate in config.certificates
    }
    for gateway in config.all_gateways():
        yield from _gateway_listener_problems(config, gateway, declared_certificates)


def _gateway_listener_problems(
    config: StackConfig, gateway: GatewayConfig, declared_certificates: set[tuple[str, str]]
) -> Iterator[Problem]:
    listeners = gateway.listeners
    duplicate_names = repeated_values([listener.name for listener in listeners])
    seen_endpoints: dict[tuple, str] = {}
    # The first listener on each port: Envoy Gateway (validateConflictedLayer7Listeners) marks every
    # listener of a port that mixes HTTP and HTTPS Conflicted (ProtocolConflict), and serves none of them.
    first_on_port: dict[int, ListenerConfig] = {}
    for index, listener in enumerate(listeners):
        where = dotted_path(config.gateway_key(gateway), "listeners", index)
        if listener.name in duplicate_names:
            yield Problem(
                dotted_path(where, "name"),
                f"listener name '{listener.name}' is used more than once; each listener needs its own name",
            )
        endpoint = (listener.port, listener.protocol, listener.hostname or "")
        if endpoint in seen_endpoints:
            yield Problem(
                where,
                f"listener '{listener.name}' has the same port ({listener.port}), protocol ({listener.protocol}) "
                f"and hostname ({listener.hostname or 'none'}) as listener '{seen_endpoints[endpoint]}'; "
                "listeners of one port and protocol must differ in hostname (HostnameConflict otherwise)",
            )
        else:
            seen_endpoints[endpoint] = listener.name
        first = first_on_port.setdefault(listener.port, listener)
        if first.protocol != listener.protocol:
            yield Problem(
                dotted_path(where, "port"),
                f"{listener.protocol} listener '{listener.name}' is on port {listener.port}, where {first.protocol} listener "
                f"'{first.name}' is; all listeners of a port must use one protocol (Envoy Gateway marks both Conflicted, "
                "ProtocolConflict, and serves neither): put HTTP and HTTPS on different ports, such as 80 and 443",
            )
        if listener.protocol == "HTTPS" and listener.tls is None:
            yield Problem(
                dotted_path(where, "tls"),
                f"HTTPS listener '{listener.name}' has no certificate; add "
                "tls.certificateRefs naming a Secret from 'certificates' (or one marked external: true)",
            )
        if listener.protocol == "HTTP" and listener.tls is not None:
            yield Problem(
                dotted_path(where, "tls"),
                f"HTTP listener '{listener.name}' has a tls block; only HTTPS listeners take one "
                "(remove tls, or set protocol: HTTPS)",
            )
        if listener.tls is not None:
            for ref_index, ref in enumerate(listener.tls.certificate_refs):
                namespace = ref.namespace or config.namespace
                if not ref.external and (namespace, ref.name) not in declared_certificates:
                    yield Problem(
                        dotted_path(where, "tls", "certificateRefs", ref_index, "name"),
                        f"certificate '{namespace}/{ref.name}' is not declared in 'certificates'; declare it "
                        f"there (secretName: {ref.name}) or mark the reference external: true",
                    )


def certificate_problems(config: StackConfig) -> Iterator[Problem]:
    keys = [f"{config.certificate_namespace(c)}/{c.secret_name}" for c in config.certificates]
    duplicate_keys = repeated_values(keys)
    # Each certificate's Pulumi resources are named after its secretName, whatever its namespace.
    duplicate_names = repeated_values([c.secret_name for c in config.certificates])
    for index, certificate in enumerate(config.certificates):
        where = dotted_path("certificates", index)
        if keys[index] in duplicate_keys:
            yield Problem(
                dotted_path(where, "secretName"),
                f"Secret '{keys[index]}' is declared more than once; each certificate needs its own secretName",
            )
        elif certificate.secret_name in duplicate_names:
            yield Problem(
                dotted_path(where, "secretName"),
                f"secretName '{certificate.secret_name}' is used by another certificate too (in another namespace); "
                "the stack names a certificate's resources after it, and Pulumi refuses two resources of one name, "
                "so each certificate needs its own secretName",
            )
        for field, hours in (("validityHours", certificate.validity_hours), ("caValidityHours", certificate.ca_validity_hours)):
            if hours <= certificate.early_renewal_hours:
                yield Problem(
                    dotted_path(where, field),
                    f"{field} ({hours}) is not longer than earlyRenewalHours ({certificate.early_renewal_hours}), "
                    "so the certificate would be renewed on every update; make it longer than the renewal window",
                )


def _proxies(config: StackConfig) -> list[tuple[str, ProxyConfig]]:
    """Every EnvoyProxy's settings with where they are: the stack's, then each Gateway's own."""
    own = [(f"{config.gateway_key(gateway)}.proxy", gateway.own_proxy) for gateway in config.all_gateways() if gateway.own_proxy]
    return [("proxy", config.proxy), *own]


def proxy_problems(config: StackConfig) -> Iterator[Problem]:
    for where, proxy in _proxies(config):
        if proxy.autoscaling is not None and proxy.autoscaling.min_replicas > proxy.autoscaling.max_replicas:
            yield Problem(
                f"{where}.autoscaling.minReplicas",
                f"minReplicas ({proxy.autoscaling.min_replicas}) is above maxReplicas "
                f"({proxy.autoscaling.max_replicas}); it must be at most maxReplicas",
            )
        budget = proxy.disruption_budget
        if budget is not None and (budget.min_available is None) == (budget.max_unavailable is None):
            yield Problem(f"{where}.disruptionBudget", "give exactly one of minAvailable or maxUnavailable")


def gateway_problems(config: StackConfig) -> Iterator[Problem]:
    """Several Gateways: each needs its own name, and what it declares of its own (a GatewayClass,
    cluster-wide; an EnvoyProxy, in the stack's namespace) must not take another's name."""
    gateways = config.all_gateways()
    seen_names: set[str] = set()
    classes: dict[str, str] = {config.gateway_class.name: "the stack's (gatewayClass.name)"}
    proxies: dict[str, str] = {config.proxy_name: "the stack's (proxy)"}
    for gateway in gateways:
        where = config.gateway_key(gateway)
        if gateway.name in seen_names:  # the first of that name keeps it
            yield Problem(
                f"{where}.name",
                f"Gateway name '{gateway.name}' is used more than once; each Gateway of the stack needs its own name",
            )
        seen_names.add(gateway.name)
        if gateway.own_gateway_class is not None:
            name = gateway.own_gateway_class.name
            if name in classes:
                yield Problem(
                    f"{where}.gatewayClass.name",
                    f"GatewayClass '{name}' is already {classes[name]}; GatewayClasses are cluster-wide, so a Gateway's own "
                    "needs a name of its own (or leave gatewayClass out to use the stack's)",
                )
            classes.setdefault(name, f"Gateway '{gateway.name}''s")
        proxy_name = gateway.own_proxy_name
        if proxy_name is not None:
            named = gateway.own_proxy.name is not None
            key = f"{where}.proxy.name" if named else f"{where}.proxy"
            if not named and len(proxy_name) > MAX_NAME_LENGTH:
                yield Problem(
                    key,
                    f"the Gateway's EnvoyProxy is named after it ('<name>-proxy', {len(proxy_name)} characters), and a "
                    f"name has at most {MAX_NAME_LENGTH}; set proxy.name",
                )
            elif proxy_name in proxies:
                yield Problem(
                    key,
                    f"EnvoyProxy '{proxy_name}' is already {proxies[proxy_name]}; give this Gateway's proxy a name of its "
                    "own (proxy.name)",
                )
            proxies.setdefault(proxy_name, f"Gateway '{gateway.name}''s")


def production_problems(config: StackConfig) -> Iterator[Problem]:
    if not config.production:
        return
    images = [(dotted_path("backends", index, "image"), backend.image) for index, backend in enumerate(config.backends)]
    images += [(f"{where}.image", proxy.image) for where, proxy in _proxies(config) if proxy.image is not None]
    for where, image in images:
        tag = image_tag(image)
        if "@sha256:" not in image and tag in (None, "latest"):
            yield Problem(
                where,
                f"image '{image}' has {'no tag' if tag is None else 'the tag latest'}; a production stack "
                "needs a pinned tag (e.g. ':v1.2.3') or a digest",
            )
