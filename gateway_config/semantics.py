"""Rules that relate several values of a stack config, checked once its shape is valid.

Each check returns `Problem`s with the dotted path of the value to fix. Together with the
single-value rules in `fields.py`, these refuse everything Gateway API, Envoy Gateway or
the API server would refuse later (or accept and then serve wrongly), so a typo never
reaches a cluster half-applied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterator

from gateway_config.fields import image_tag
from gateway_config.models import BackendConfig, RouteConfig, RouteRule, StackConfig

# Gateway API: at most 128 matches over all rules of one HTTPRoute.
MAX_MATCHES_PER_ROUTE = 128

_FILTER_BLOCKS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "RequestMirror": "requestMirror",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a stack config: where (dotted path) and what (a sentence)."""

    path: str
    message: str


def _path(*parts: object) -> str:
    return ".".join(str(part) for part in parts)


def find_problems(config: StackConfig) -> list[Problem]:
    """Every cross-value problem of `config`, in a stable order (empty when it is sound)."""
    return [
        *_listener_problems(config),
        *_certificate_problems(config),
        *_backend_problems(config),
        *_route_problems(config),
        *_gateway_api_problems(config),
        *_proxy_problems(config),
        *_production_problems(config),
        *_policy_problems(config),
        *_mirror_problems(config),
        *_grpc_route_problems(config),
        *_inference_problems(config),
    ]


def _inference_problems(config: StackConfig) -> list[Problem]:
    # Imported here: inference_semantics builds on this module's Problem.
    from gateway_config.inference_semantics import inference_problems

    return inference_problems(config)


def _grpc_route_problems(config: StackConfig) -> list[Problem]:
    # Imported here: grpc_semantics builds on this module's Problem and parent rules.
    from gateway_config.grpc_semantics import grpc_route_problems

    return list(grpc_route_problems(config))


def _mirror_problems(config: StackConfig) -> list[Problem]:
    # Imported here: mirror_semantics builds on this module's Problem.
    from gateway_config.mirror_semantics import mirror_problems

    return list(mirror_problems(config))


def _policy_problems(config: StackConfig) -> list[Problem]:
    # Imported here: policy_semantics builds on this module's Problem.
    from gateway_config.policy_semantics import policy_problems

    return policy_problems(config)


def _gateway_api_problems(config: StackConfig) -> list[Problem]:
    # Imported here: gateway_api_rules builds on this module's Problem.
    from gateway_config.gateway_api_rules import gateway_api_problems

    return gateway_api_problems(config)


def _duplicates(values: list[str]) -> set[str]:
    return {value for value, count in Counter(values).items() if count > 1}


def _listener_problems(config: StackConfig) -> Iterator[Problem]:
    listeners = config.gateway.listeners
    declared_certificates = {
        (config.certificate_namespace(certificate), certificate.secret_name) for certificate in config.certificates
    }
    duplicate_names = _duplicates([listener.name for listener in listeners])
    seen_endpoints: dict[tuple, str] = {}
    for index, listener in enumerate(listeners):
        where = _path("gateway", "listeners", index)
        if listener.name in duplicate_names:
            yield Problem(
                _path(where, "name"),
                f"listener name '{listener.name}' is used more than once; each listener needs its own name",
            )
        endpoint = (listener.port, listener.protocol, listener.hostname or "")
        if endpoint in seen_endpoints:
            yield Problem(
                where,
                f"listener '{listener.name}' has the same port ({listener.port}), protocol ({listener.protocol}) "
                f"and hostname ({listener.hostname or 'none'}) as listener '{seen_endpoints[endpoint]}'; "
                "listeners must differ in at least one of them",
            )
        else:
            seen_endpoints[endpoint] = listener.name
        if listener.protocol == "HTTPS" and listener.tls is None:
            yield Problem(
                _path(where, "tls"),
                f"HTTPS listener '{listener.name}' has no certificate; add "
                "tls.certificateRefs naming a Secret from 'certificates' (or one marked external: true)",
            )
        if listener.protocol == "HTTP" and listener.tls is not None:
            yield Problem(
                _path(where, "tls"),
                f"HTTP listener '{listener.name}' has a tls block; only HTTPS listeners take one "
                "(remove tls, or set protocol: HTTPS)",
            )
        if listener.tls is not None:
            for ref_index, ref in enumerate(listener.tls.certificate_refs):
                namespace = ref.namespace or config.namespace
                if not ref.external and (namespace, ref.name) not in declared_certificates:
                    yield Problem(
                        _path(where, "tls", "certificateRefs", ref_index, "name"),
                        f"certificate '{namespace}/{ref.name}' is not declared in 'certificates'; declare it "
                        f"there (secretName: {ref.name}) or mark the reference external: true",
                    )


def _certificate_problems(config: StackConfig) -> Iterator[Problem]:
    keys = [f"{config.certificate_namespace(c)}/{c.secret_name}" for c in config.certificates]
    duplicate_keys = _duplicates(keys)
    # Each certificate's Pulumi resources are named after its secretName, whatever its namespace.
    duplicate_names = _duplicates([c.secret_name for c in config.certificates])
    for index, certificate in enumerate(config.certificates):
        where = _path("certificates", index)
        if keys[index] in duplicate_keys:
            yield Problem(
                _path(where, "secretName"),
                f"Secret '{keys[index]}' is declared more than once; each certificate needs its own secretName",
            )
        elif certificate.secret_name in duplicate_names:
            yield Problem(
                _path(where, "secretName"),
                f"secretName '{certificate.secret_name}' is used by another certificate too (in another namespace); "
                "the stack names a certificate's resources after it, and Pulumi refuses two resources of one name, "
                "so each certificate needs its own secretName",
            )
        for field, hours in (("validityHours", certificate.validity_hours), ("caValidityHours", certificate.ca_validity_hours)):
            if hours <= certificate.early_renewal_hours:
                yield Problem(
                    _path(where, field),
                    f"{field} ({hours}) is not longer than earlyRenewalHours ({certificate.early_renewal_hours}), "
                    "so the certificate would be renewed on every update; make it longer than the renewal window",
                )


def _backend_problems(config: StackConfig) -> Iterator[Problem]:
    duplicate_names = _duplicates([backend.name for backend in config.backends])
    for index, backend in enumerate(config.backends):
        if backend.name in duplicate_names:
            yield Problem(
                _path("backends", index, "name"),
                f"backend '{backend.name}' is declared more than once; backend names must be unique",
            )


def _route_problems(config: StackConfig) -> Iterator[Problem]:
    duplicate_names = _duplicates([route.name for route in config.routes])
    # Built once: every rule's backendRefs are looked up in it.
    backends = {backend.name: backend for backend in config.backends}
    for index, route in enumerate(config.routes):
        where = _path("routes", index)
        if route.name in duplicate_names:
            yield Problem(
                _path(where, "name"),
                f"route '{route.name}' is declared more than once; route names must be unique",
            )
        yield from _parent_ref_problems(config, route, where)
        total_matches = sum(len(rule.matches) for rule in route.rules)
        if total_matches > MAX_MATCHES_PER_ROUTE:
            yield Problem(
                _path(where, "rules"),
                f"route '{route.name}' has {total_matches} matches over all its rules; "
                f"at most {MAX_MATCHES_PER_ROUTE} are allowed (split it into several routes)",
            )
        for rule_index, rule in enumerate(route.rules):
            yield from _rule_problems(config, rule, _path(where, "rules", rule_index), backends)


def _parent_ref_problems(config: StackConfig, route: RouteConfig, where: str) -> Iterator[Problem]:
    listener_names = {listener.name for listener in config.gateway.listeners}
    for ref_index, ref in enumerate(route.parent_refs):
        if ref.external:
            continue
        ref_where = _path(where, "parentRefs", ref_index)
        if ref.name != config.gateway.name or (ref.namespace or config.namespace) != config.namespace:
            yield Problem(
                _path(ref_where, "name"),
                f"route '{route.name}' names Gateway '{ref.name}', which this stack does not declare; "
                f"use '{config.gateway.name}' or mark the reference external: true",
            )
        elif ref.section_name is not None and ref.section_name not in listener_names:
            yield Problem(
                _path(ref_where, "sectionName"),
                f"route '{route.name}' names listener '{ref.section_name}', which Gateway "
                f"'{config.gateway.name}' does not have; its listeners are: {', '.join(sorted(listener_names))}",
            )


def _rule_problems(config: StackConfig, rule: RouteRule, where: str, backends: dict[str, BackendConfig]) -> Iterator[Problem]:
    yield from _match_problems(rule, where)
    yield from _filter_problems(rule, where)
    yield from _backend_ref_problems(config, rule, where, backends)


def _match_problems(rule: RouteRule, where: str) -> Iterator[Problem]:
    for match_index, match in enumerate(rule.matches):
        for kind, entries in (("headers", match.headers), ("queryParams", match.query_params)):
            # Header names are case-insensitive; query parameter names are not.
            names = [entry.name.lower() if kind == "headers" else entry.name for entry in entries]
            for duplicate in sorted(_duplicates(names)):
                yield Problem(
                    _path(where, "matches", match_index, kind),
                    f"'{duplicate}' is matched more than once; match each name once",
                )


def _filter_problems(rule: RouteRule, where: str) -> Iterator[Problem]:
    types = [route_filter.type for route_filter in rule.filters]
    for duplicate in sorted(_duplicates(types)):
        yield Problem(
            _path(where, "filters"),
            f"filter type {duplicate} is used more than once in this rule; merge them into one filter",
        )
    for filter_index, route_filter in enumerate(rule.filters):
        filter_where = _path(where, "filters", filter_index)
        expected_block = _FILTER_BLOCKS[route_filter.type]
        present = [
            block
            for block, value in (
                ("requestHeaderModifier", route_filter.request_header_modifier),
                ("responseHeaderModifier", route_filter.response_header_modifier),
                ("requestRedirect", route_filter.request_redirect),
                ("urlRewrite", route_filter.url_rewrite),
                ("requestMirror", route_filter.request_mirror),
            )
            if value is not None
        ]
        if present != [expected_block]:
            yield Problem(
                filter_where,
                f"a {route_filter.type} filter needs exactly the block '{expected_block}'"
                + (f" (found: {', '.join(present)})" if present else " (it is missing)"),
            )
            continue
        modifier = route_filter.request_header_modifier or route_filter.response_header_modifier
        if modifier is not None:
            names = [pair.name.lower() for pair in (*modifier.set, *modifier.add)] + [name.lower() for name in modifier.remove]
            for duplicate in sorted(_duplicates(names)):
                yield Problem(
                    _path(filter_where, expected_block),
                    f"header '{duplicate}' appears more than once in set/add/remove; name each header once",
                )
            if not names:
                yield Problem(_path(filter_where, expected_block), "the modifier is empty; give set, add or remove")
        path_modifier = None
        if route_filter.request_redirect is not None:
            path_modifier = route_filter.request_redirect.path
        if route_filter.url_rewrite is not None:
            path_modifier = route_filter.url_rewrite.path
        if path_modifier is not None:
            modifier_where = _path(filter_where, expected_block, "path")
            wanted = "replaceFullPath" if path_modifier.type == "ReplaceFullPath" else "replacePrefixMatch"
            value = path_modifier.replace_full_path if wanted == "replaceFullPath" else path_modifier.replace_prefix_match
            other = path_modifier.replace_prefix_match if wanted == "replaceFullPath" else path_modifier.replace_full_path
            if value is None or other is not None:
                yield Problem(modifier_where, f"a {path_modifier.type} path modifier needs '{wanted}' and nothing else")
            if path_modifier.type == "ReplacePrefixMatch":
                # No matches is Gateway API's default match, PathPrefix '/'.
                prefix_matches = [m for m in rule.matches if m.path is None or m.path.type == "PathPrefix"]
                if rule.matches and (len(rule.matches) != 1 or len(prefix_matches) != 1):
                    yield Problem(
                        modifier_where,
                        "ReplacePrefixMatch needs the rule to have exactly one match, with a PathPrefix path "
                        f"(this rule has {len(rule.matches)} matches, {len(prefix_matches)} of them PathPrefix)",
                    )
    if "RequestRedirect" in types and rule.backend_refs:
        yield Problem(
            _path(where, "backendRefs"),
            "a rule with a RequestRedirect filter answers with the redirect itself; remove its backendRefs",
        )
    if "RequestRedirect" in types and "URLRewrite" in types:
        yield Problem(_path(where, "filters"), "RequestRedirect and URLRewrite cannot be used in the same rule")
    if "RequestRedirect" not in types and not rule.backend_refs:
        yield Problem(
            _path(where, "backendRefs"),
            "the rule has no backendRefs and no RequestRedirect, so it would answer every request with 500; "
            "add a backend",
        )


def _backend_ref_problems(
    config: StackConfig, rule: RouteRule, where: str, backends: dict[str, BackendConfig]
) -> Iterator[Problem]:
    for ref_index, ref in enumerate(rule.backend_refs):
        ref_where = _path(where, "backendRefs", ref_index)
        if ref.kind == "InferencePool":
            continue  # inference_semantics.py checks pool references
        if ref.external:
            if ref.port is None:
                yield Problem(_path(ref_where, "port"), f"external backend '{ref.name}' needs a port")
            continue
        backend = backends.get(ref.name)
        if backend is None or (ref.namespace or config.namespace) != config.namespace:
            declared = ", ".join(sorted(backends)) or "none"
            yield Problem(
                _path(ref_where, "name"),
                f"backend '{ref.name}' is not declared in 'backends' (declared: {declared}); "
                "declare it or mark the reference external: true",
            )
        elif ref.port is not None and ref.port != backend.port:
            yield Problem(
                _path(ref_where, "port"),
                f"backend '{ref.name}' listens on port {backend.port}, not {ref.port}; use {backend.port} or omit port",
            )
    if rule.backend_refs and not rule.allow_zero_weight and all(ref.weight == 0 for ref in rule.backend_refs):
        yield Problem(
            _path(where, "backendRefs"),
            "every backend of this rule has weight 0, so every request would get a 500; give one a positive "
            "weight, or set allowZeroWeight: true if that is intended",
        )


def _proxy_problems(config: StackConfig) -> Iterator[Problem]:
    proxy = config.proxy
    if proxy.autoscaling is not None and proxy.autoscaling.min_replicas > proxy.autoscaling.max_replicas:
        yield Problem(
            "proxy.autoscaling.minReplicas",
            f"minReplicas ({proxy.autoscaling.min_replicas}) is above maxReplicas "
            f"({proxy.autoscaling.max_replicas}); it must be at most maxReplicas",
        )
    budget = proxy.disruption_budget
    if budget is not None and (budget.min_available is None) == (budget.max_unavailable is None):
        yield Problem("proxy.disruptionBudget", "give exactly one of minAvailable or maxUnavailable")


def _production_problems(config: StackConfig) -> Iterator[Problem]:
    if not config.production:
        return
    images = [(_path("backends", index, "image"), backend.image) for index, backend in enumerate(config.backends)]
    if config.proxy.image is not None:
        images.append(("proxy.image", config.proxy.image))
    for where, image in images:
        tag = image_tag(image)
        if "@sha256:" not in image and tag in (None, "latest"):
            yield Problem(
                where,
                f"image '{image}' has {'no tag' if tag is None else 'the tag latest'}; a production stack "
                "needs a pinned tag (e.g. ':v1.2.3') or a digest",
            )
