"""Rules that relate a policy to the rest of the stack, and its fields to each other.

Every policy's `targetRefs` must name something this stack declares: its Gateway (and, with
`sectionName`, one of its listeners) or one of its routes (and, with `sectionName`, a rule of
that route by its `name`). Two policies of one kind may not target the same thing: Envoy
Gateway would accept only the older one. The field rules mirror the CEL rules and documented
constraints of Envoy Gateway v1.9's CRDs, so a mistake is reported here, in the stack file's
terms, instead of by the API server or as a policy that is silently not Accepted.
"""

from __future__ import annotations

import re
from typing import Iterator

from pydantic_core import PydanticCustomError

from gateway_config.fields import validate_regular_expression
from gateway_config.models import ListenerConfig, StackConfig
from gateway_config.problems import Problem, dotted_path, repeated_values
from gateway_config.traffic_policies import (
    TLS_VERSION_ORDER,
    BackendTrafficPolicyConfig,
    ClientTls,
    ClientTrafficPolicyConfig,
    PolicyTargetRef,
)




def policy_problems(config: StackConfig) -> list[Problem]:
    """Every problem of the stack's traffic policies and client CAs, in a stable order (the
    SecurityPolicies' are `security_semantics.security_policy_problems`, which builds on the
    target and conflict rules here)."""
    return [
        *_client_ca_problems(config),
        *_backend_traffic_policy_problems(config),
        *_client_traffic_policy_problems(config),
    ]


# --- targets ---------------------------------------------------------------------------------


def routes_of_kind(config: StackConfig, kind: str) -> dict[str, object]:
    """The stack's routes of `kind` by name (HTTPRoute: `routes`, GRPCRoute: `grpcRoutes`)."""
    routes = config.routes if kind == "HTTPRoute" else getattr(config, "grpc_routes", [])
    return {route.name: route for route in routes}


def target_problems(
    config: StackConfig, refs: list[PolicyTargetRef], where: str, allowed_kinds: tuple[str, ...]
) -> Iterator[Problem]:
    """A target that does not exist, or of a kind this policy cannot attach to."""
    gateway_names = [gateway.name for gateway in config.all_gateways()]
    for index, ref in enumerate(refs):
        ref_where = dotted_path(where, "targetRefs", index)
        if ref.kind not in allowed_kinds:
            yield Problem(dotted_path(ref_where, "kind"), f"is {ref.kind}; this policy attaches to {' or '.join(allowed_kinds)} only")
            continue
        if ref.kind == "Gateway":
            gateway = config.gateway_named(ref.name)
            listeners = [listener.name for listener in gateway.listeners] if gateway is not None else []
            if gateway is None:
                declared = (
                    f"its Gateway is '{gateway_names[0]}'" if len(gateway_names) == 1
                    else "its Gateways are " + ", ".join(f"'{name}'" for name in gateway_names)
                )
                yield Problem(dotted_path(ref_where, "name"), f"Gateway '{ref.name}' is not this stack's; {declared}")
            elif ref.section_name is not None and ref.section_name not in listeners:
                yield Problem(
                    dotted_path(ref_where, "sectionName"),
                    f"Gateway '{ref.name}' has no listener '{ref.section_name}'; its listeners are: {', '.join(listeners)}",
                )
            continue
        routes = routes_of_kind(config, ref.kind)
        route = routes.get(ref.name)
        if route is None:
            declared = ", ".join(sorted(routes)) or "none"
            yield Problem(
                dotted_path(ref_where, "name"),
                f"{ref.kind} '{ref.name}' is not declared in this stack (declared: {declared})",
            )
            continue
        if ref.section_name is not None:
            rule_names = [rule.name for rule in route.rules if rule.name]
            if ref.section_name not in rule_names:
                named = ", ".join(rule_names) or "none (give the rule a name)"
                yield Problem(
                    dotted_path(ref_where, "sectionName"),
                    f"{ref.kind} '{ref.name}' has no rule named '{ref.section_name}'; its named rules: {named}",
                )


def _target_key(ref: PolicyTargetRef) -> str:
    return f"{ref.kind} {ref.name}" + (f" section {ref.section_name}" if ref.section_name else "")


def conflict_problems(policies: list, key: str, kind: str) -> Iterator[Problem]:
    """Duplicate policy names, and two policies of one kind on the same target."""
    for name in sorted(repeated_values(policy.name for policy in policies)):
        index = next(i for i, policy in enumerate(policies) if policy.name == name)
        yield Problem(dotted_path(key, index, "name"), f"{kind} '{name}' is declared more than once; names must be unique")
    owner: dict[str, str] = {}
    for index, policy in enumerate(policies):
        own_targets: set[str] = set()
        for ref_index, ref in enumerate(policy.target_refs):
            target = _target_key(ref)
            if target in own_targets:
                # Envoy Gateway attaches the policy once and reports the second as a conflict with itself.
                yield Problem(dotted_path(key, index, "targetRefs", ref_index),
                              f"{target} is listed more than once in {kind} '{policy.name}'; list each target once")
                continue
            own_targets.add(target)
            if target in owner and owner[target] != policy.name:
                yield Problem(
                    dotted_path(key, index, "targetRefs", ref_index),
                    f"{target} is already the target of {kind} '{owner[target]}'; Envoy Gateway applies only one "
                    f"{kind} per target, so merge the two",
                )
            owner.setdefault(target, policy.name)


# --- client certificate authorities ------------------------------------------------------------


def _client_ca_problems(config: StackConfig) -> Iterator[Problem]:
    authorities = getattr(config, "client_certificate_authorities", [])
    server_secrets = {certificate.secret_name for certificate in config.certificates if config.certificate_namespace(certificate) == config.namespace}
    for name in sorted(repeated_values(ca.name for ca in authorities)):
        index = next(i for i, ca in enumerate(authorities) if ca.name == name)
        yield Problem(dotted_path("clientCertificateAuthorities", index, "name"), f"client CA '{name}' is declared more than once")
    for index, ca in enumerate(authorities):
        where = dotted_path("clientCertificateAuthorities", index)
        if ca.name in server_secrets:
            yield Problem(
                dotted_path(where, "name"),
                f"Secret '{ca.name}' is already a server certificate's (certificates); give the client CA its own name",
            )
        if ca.source == "existingSecret" and ca.clients:
            yield Problem(
                dotted_path(where, "clients"),
                "client certificates can only be issued by a CA the stack generates (source: generate); "
                "with existingSecret whoever holds the CA's key issues them",
            )
        for client in sorted(repeated_values(ca.clients)):
            yield Problem(dotted_path(where, "clients"), f"client '{client}' is listed more than once")


# --- BackendTrafficPolicy ----------------------------------------------------------------------


def _backend_traffic_policy_problems(config: StackConfig) -> Iterator[Problem]:
    policies: list[BackendTrafficPolicyConfig] = getattr(config, "backend_traffic_policies", [])
    yield from conflict_problems(policies, "backendTrafficPolicies", "BackendTrafficPolicy")
    for index, policy in enumerate(policies):
        where = dotted_path("backendTrafficPolicies", index)
        yield from target_problems(config, policy.target_refs, where, ("Gateway", "HTTPRoute", "GRPCRoute"))
        if not any((policy.retry, policy.timeout, policy.circuit_breaker, policy.rate_limit, policy.health_check, policy.load_balancer)):
            yield Problem(where, f"BackendTrafficPolicy '{policy.name}' sets nothing; give at least one of retry, "
                          "timeout, circuitBreaker, rateLimit, healthCheck, loadBalancer")
        yield from _retry_problems(policy, where)
        yield from _rate_limit_problems(policy, where)
        yield from _load_balancer_problems(policy, where)
        yield from _weighted_split_problems(config, policy, where)


def duration_seconds(value: str) -> float:
    """A Gateway API duration ('1m30s', '250ms') in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"([0-9]+)(ms|h|m|s)", value))


def _retry_problems(policy: BackendTrafficPolicyConfig, where: str) -> Iterator[Problem]:
    retry = policy.retry
    if retry is None:
        return
    if retry.retry_on is not None and retry.retry_on.http_status_codes and "retriable-status-codes" not in retry.retry_on.triggers:
        yield Problem(
            dotted_path(where, "retry", "retryOn", "httpStatusCodes"),
            "status codes are only retried with the trigger 'retriable-status-codes'; add it to triggers",
        )
    back_off = retry.per_retry.back_off if retry.per_retry else None
    if back_off is not None and back_off.base_interval and back_off.max_interval:
        if duration_seconds(back_off.max_interval) < duration_seconds(back_off.base_interval):
            yield Problem(
                dotted_path(where, "retry", "perRetry", "backOff", "maxInterval"),
                f"is {back_off.max_interval}, shorter than baseInterval {back_off.base_interval}; it must be at least baseInterval",
            )
    if back_off is not None and back_off.max_interval and not back_off.base_interval:
        yield Problem(dotted_path(where, "retry", "perRetry", "backOff"), "maxInterval needs a baseInterval")


_UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400}


def _default_rate_limit_problems(rules: list, where: str) -> Iterator[Problem]:
    """Envoy Gateway (buildLocalRateLimit): the one rule without clientSelectors is the target's default
    limit, and every rule's unit must be a whole multiple of the default's (Second without one)."""
    defaults = [index for index, rule in enumerate(rules) if not rule.client_selectors]
    for index in defaults[1:]:
        yield Problem(dotted_path(where, "rateLimit", "local", "rules", index, "clientSelectors"),
                      f"rule {defaults[0]} already has no clientSelectors (the default limit); only one rule may go "
                      "without them, so give this one clientSelectors")
    default_unit = rules[defaults[0]].limit.unit if defaults else "Second"
    for index, rule in enumerate(rules):
        if _UNIT_SECONDS.get(rule.limit.unit, 1) % _UNIT_SECONDS.get(default_unit, 1):
            yield Problem(dotted_path(where, "rateLimit", "local", "rules", index, "limit", "unit"),
                          f"is {rule.limit.unit}, shorter than the default rule's {default_unit}; Envoy's local rate limit "
                          "needs every rule's unit to be a whole multiple of the default's")


def _rate_limit_problems(policy: BackendTrafficPolicyConfig, where: str) -> Iterator[Problem]:
    if policy.rate_limit is None:
        return
    yield from _default_rate_limit_problems(policy.rate_limit.local.rules, where)
    for rule_index, rule in enumerate(policy.rate_limit.local.rules):
        rule_where = dotted_path(where, "rateLimit", "local", "rules", rule_index)
        for selector_index, selector in enumerate(rule.client_selectors):
            selector_where = dotted_path(rule_where, "clientSelectors", selector_index)
            if not (selector.headers or selector.source_cidr or selector.path or selector.methods):
                yield Problem(selector_where, "a client selector needs at least one of headers, sourceCIDR, path, methods")
            for header_index, header in enumerate(selector.headers):
                header_where = dotted_path(selector_where, "headers", header_index)
                if header.type == "Distinct":
                    if header.value is not None or header.invert:
                        yield Problem(header_where, "a Distinct header match counts each value on its own; give no value or invert")
                elif header.value is None:
                    yield Problem(dotted_path(header_where, "value"), f"a {header.type} header match needs a value")
                elif header.type == "RegularExpression":
                    try:
                        validate_regular_expression(header.value)
                    except PydanticCustomError as error:
                        yield Problem(dotted_path(header_where, "value"), str(error))
            for duplicate in sorted(repeated_values(header.name.lower() for header in selector.headers)):
                yield Problem(dotted_path(selector_where, "headers"), f"header '{duplicate}' is matched more than once")


def _load_balancer_problems(policy: BackendTrafficPolicyConfig, where: str) -> Iterator[Problem]:
    balancer = policy.load_balancer
    if balancer is None:
        return
    balancer_where = dotted_path(where, "loadBalancer")
    if balancer.type != "ConsistentHash":
        if balancer.consistent_hash is not None:
            yield Problem(dotted_path(balancer_where, "consistentHash"), f"is only used with type ConsistentHash, not {balancer.type}")
        return
    hashing = balancer.consistent_hash
    if hashing is None:
        yield Problem(balancer_where, "type ConsistentHash needs consistentHash (type SourceIP, Header or Cookie)")
        return
    needed = {"Header": "header", "Cookie": "cookie", "SourceIP": None}[hashing.type]
    present = [name for name, value in (("header", hashing.header), ("cookie", hashing.cookie)) if value is not None]
    if present != ([needed] if needed else []):
        wanted = f"exactly the block '{needed}'" if needed else "neither header nor cookie"
        yield Problem(dotted_path(balancer_where, "consistentHash"), f"consistent hashing on {hashing.type} takes {wanted}")


def targeted_rules(config: StackConfig, refs: list[PolicyTargetRef]) -> Iterator[tuple[str, int, object]]:
    """(route name, rule index, rule) of every HTTPRoute rule the targets cover."""
    for ref in refs:
        for route in config.routes:
            if ref.kind == "HTTPRoute" and ref.name != route.name:
                continue
            attached = config.parent_gateways(route)
            if ref.kind == "Gateway" and attached and all(gateway.name != ref.name for gateway in attached):
                continue  # the route attaches to the stack's other Gateways only
            # The references to the targeted Gateway decide which of its listeners the route is on.
            parents = [parent for parent in route.parent_refs if parent.name == ref.name] or route.parent_refs
            if ref.kind == "Gateway" and ref.section_name is not None and parents and not any(
                parent.section_name in (None, ref.section_name) for parent in parents
            ):
                continue
            if ref.kind not in ("Gateway", "HTTPRoute"):
                continue
            for index, rule in enumerate(route.rules):
                if ref.kind == "HTTPRoute" and ref.section_name is not None and rule.name != ref.section_name:
                    continue
                yield route.name, index, rule


def _weighted_split_problems(config: StackConfig, policy: BackendTrafficPolicyConfig, where: str) -> Iterator[Problem]:
    # Seen on the data plane: Envoy's Maglev balancer picks among all of a rule's endpoints
    # alike, so an 8:2 split became about 1:1 (94/106 of 200 requests).
    if policy.load_balancer is None or policy.load_balancer.type != "ConsistentHash":
        return
    seen: set[tuple[str, int]] = set()
    for route_name, index, rule in targeted_rules(config, policy.target_refs):
        if (route_name, index) in seen:
            continue
        seen.add((route_name, index))
        weights = {ref.weight for ref in rule.backend_refs if ref.weight > 0}
        if len(weights) > 1:
            split = ":".join(str(ref.weight) for ref in rule.backend_refs)
            yield Problem(
                dotted_path(where, "loadBalancer", "type"),
                f"ConsistentHash ignores backend weights (Envoy's Maglev balancer treats every endpoint alike), "
                f"so route '{route_name}' rule {index}'s split {split} would not hold; give its backends equal "
                "weights or use another load balancer",
            )


# --- ClientTrafficPolicy -----------------------------------------------------------------------


def _client_traffic_policy_problems(config: StackConfig) -> Iterator[Problem]:
    policies: list[ClientTrafficPolicyConfig] = getattr(config, "client_traffic_policies", [])
    yield from conflict_problems(policies, "clientTrafficPolicies", "ClientTrafficPolicy")
    authorities = {ca.name for ca in getattr(config, "client_certificate_authorities", [])}
    for index, policy in enumerate(policies):
        where = dotted_path("clientTrafficPolicies", index)
        yield from target_problems(config, policy.target_refs, where, ("Gateway",))
        yield from _shared_http_port_problems(config, policy, where)
        if not any((policy.tls, policy.timeout, policy.client_ip_detection, policy.connection)):
            yield Problem(where, f"ClientTrafficPolicy '{policy.name}' sets nothing; give at least one of tls, timeout, "
                          "clientIPDetection, connection")
        tls = policy.tls
        if tls is not None:
            targeted = [_listener(config, ref) for ref in policy.target_refs if ref.section_name]
            if targeted and all(listener is not None and listener.protocol != "HTTPS" for listener in targeted):
                yield Problem(dotted_path(where, "tls"), "targets only HTTP listeners; TLS settings apply to HTTPS listeners")
            yield from _tls_problems(tls, dotted_path(where, "tls"), authorities, config)
        detection = policy.client_ip_detection
        if detection is not None:
            forwarded = detection.x_forwarded_for
            if (forwarded.num_trusted_hops is None) == (not forwarded.trusted_cidrs):
                yield Problem(
                    dotted_path(where, "clientIPDetection", "xForwardedFor"),
                    "give exactly one of numTrustedHops and trustedCIDRs",
                )


def _listener(config: StackConfig, ref: PolicyTargetRef) -> ListenerConfig | None:
    """The listener a target's sectionName names on the Gateway it names, or None. A Gateway the
    stack does not declare (a problem of its own) is read as the first one."""
    gateway = config.gateway_named(ref.name) or config.default_gateway
    return next((listener for listener in gateway.listeners if listener.name == ref.section_name), None)


def _shared_http_port_problems(config: StackConfig, policy: ClientTrafficPolicyConfig, where: str) -> Iterator[Problem]:
    """Envoy Gateway (validatePortOverlapForClientTrafficPolicy): HTTP listeners of one port share one filter
    chain, so a ClientTrafficPolicy may not target one of them alone."""
    for ref_index, ref in enumerate(policy.target_refs):
        listener = _listener(config, ref)
        if ref.kind != "Gateway" or listener is None or listener.protocol != "HTTP":
            continue
        gateway = config.gateway_named(ref.name) or config.default_gateway
        sharing = [item.name for item in gateway.listeners if item is not listener and item.port == listener.port]
        if sharing:
            yield Problem(dotted_path(where, "targetRefs", ref_index, "sectionName"),
                          f"HTTP listener '{listener.name}' shares port {listener.port} with {', '.join(sharing)}, and HTTP "
                          "listeners of one port share their connections: Envoy Gateway refuses a ClientTrafficPolicy on one "
                          "of them alone; target the whole Gateway, or give the listener a port of its own")


def _tls_problems(tls: ClientTls, where: str, authorities: set[str], config: StackConfig) -> Iterator[Problem]:
    low = TLS_VERSION_ORDER.get(tls.min_version or "1.2", -1)
    high = TLS_VERSION_ORDER.get(tls.max_version or "1.3", 99)
    if tls.min_version not in (None, "Auto") and tls.max_version not in (None, "Auto") and low > high:
        yield Problem(dotted_path(where, "minVersion"), f"is {tls.min_version}, above maxVersion {tls.max_version}")
    elif tls.min_version is None and tls.max_version not in (None, "Auto") and high < TLS_VERSION_ORDER["1.2"]:
        yield Problem(
            dotted_path(where, "maxVersion"),
            f"is {tls.max_version}, below the default minVersion 1.2; set minVersion too",
        )
    if tls.ciphers and tls.min_version == "1.3":
        yield Problem(dotted_path(where, "ciphers"), "have no effect with minVersion 1.3 (TLS 1.3 suites are fixed); remove them")
    for duplicate in sorted(repeated_values(tls.ciphers)):
        yield Problem(dotted_path(where, "ciphers"), f"'{duplicate}' is listed more than once")
    if tls.alpn_protocols is not None:
        for duplicate in sorted(repeated_values(tls.alpn_protocols)):
            yield Problem(dotted_path(where, "alpnProtocols"), f"'{duplicate}' is listed more than once")
    validation = tls.client_validation
    if validation is not None:
        for ref_index, ref in enumerate(validation.ca_certificate_refs):
            if ref.external:
                continue
            if ref.name not in authorities or (ref.namespace or config.namespace) != config.namespace:
                declared = ", ".join(sorted(authorities)) or "none"
                yield Problem(
                    dotted_path(where, "clientValidation", "caCertificateRefs", ref_index, "name"),
                    f"client CA '{ref.name}' is not declared in clientCertificateAuthorities (declared: {declared}); "
                    "declare it or mark the reference external: true",
                )
