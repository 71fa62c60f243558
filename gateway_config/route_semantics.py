"""Rules that relate a stack's HTTPRoutes to the rest of it: unique names, parents (the Gateway
and listener a route names), matches, filters given once with their block, and backends that
are declared, on the port they listen on, with a weight that lets traffic through.

Each check returns `Problem`s with the dotted path of the value to fix; `semantics.py` gathers
them with every other rule module. GRPCRoutes share the parent rules (`grpc_semantics.py`).
"""

from __future__ import annotations

from typing import Iterator

from gateway_config.models import BackendConfig, GrpcRouteConfig, RouteConfig, RouteRule, StackConfig
from gateway_config.problems import Problem, dotted_path, repeated_values

MAX_MATCHES_PER_ROUTE = 128

_FILTER_BLOCKS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "RequestMirror": "requestMirror",
}


def backend_problems(config: StackConfig) -> Iterator[Problem]:
    duplicate_names = repeated_values([backend.name for backend in config.backends])
    for index, backend in enumerate(config.backends):
        if backend.name in duplicate_names:
            yield Problem(
                dotted_path("backends", index, "name"),
                f"backend '{backend.name}' is declared more than once; backend names must be unique",
            )


def route_problems(config: StackConfig) -> Iterator[Problem]:
    duplicate_names = repeated_values([route.name for route in config.routes])
    # Built once: every rule's backendRefs are looked up in it.
    backends = {backend.name: backend for backend in config.backends}
    for index, route in enumerate(config.routes):
        where = dotted_path("routes", index)
        if route.name in duplicate_names:
            yield Problem(
                dotted_path(where, "name"),
                f"route '{route.name}' is declared more than once; route names must be unique",
            )
        yield from parent_ref_problems(config, route, where)
        total_matches = sum(len(rule.matches) for rule in route.rules)
        if total_matches > MAX_MATCHES_PER_ROUTE:
            yield Problem(
                dotted_path(where, "rules"),
                f"route '{route.name}' has {total_matches} matches over all its rules; "
                f"at most {MAX_MATCHES_PER_ROUTE} are allowed (split it into several routes)",
            )
        for rule_index, rule in enumerate(route.rules):
            yield from _rule_problems(config, rule, dotted_path(where, "rules", rule_index), backends)


def parent_ref_problems(config: StackConfig, route: RouteConfig | GrpcRouteConfig, where: str) -> Iterator[Problem]:
    """Each parentRef (not external) names one of the stack's Gateways, in its namespace, and
    with `sectionName` one of that Gateway's listeners."""
    names = [gateway.name for gateway in config.all_gateways()]
    for ref_index, ref in enumerate(route.parent_refs):
        if ref.external:
            continue
        ref_where = dotted_path(where, "parentRefs", ref_index)
        gateway = config.gateway_named(ref.name) if (ref.namespace or config.namespace) == config.namespace else None
        if gateway is None:
            choices = f"'{names[0]}'" if len(names) == 1 else "one of " + ", ".join(f"'{name}'" for name in names)
            yield Problem(
                dotted_path(ref_where, "name"),
                f"route '{route.name}' names Gateway '{ref.name}', which this stack does not declare; "
                f"use {choices} or mark the reference external: true",
            )
            continue
        listener_names = {listener.name for listener in gateway.listeners}
        if ref.section_name is not None and ref.section_name not in listener_names:
            yield Problem(
                dotted_path(ref_where, "sectionName"),
                f"route '{route.name}' names listener '{ref.section_name}', which Gateway "
                f"'{gateway.name}' does not have; its listeners are: {', '.join(sorted(listener_names))}",
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
            for duplicate in sorted(repeated_values(names)):
                yield Problem(
                    dotted_path(where, "matches", match_index, kind),
                    f"'{duplicate}' is matched more than once; match each name once",
                )


# Gateway API's CRDs refuse a repeat of every filter type but RequestMirror: a rule may copy its
# requests to several mirrors, one filter each.
REPEATABLE_FILTERS = frozenset({"RequestMirror"})


def _filter_problems(rule: RouteRule, where: str) -> Iterator[Problem]:
    types = [route_filter.type for route_filter in rule.filters if route_filter.type not in REPEATABLE_FILTERS]
    for duplicate in sorted(repeated_values(types)):
        yield Problem(
            dotted_path(where, "filters"),
            f"filter type {duplicate} is used more than once in this rule; merge them into one filter",
        )
    for filter_index, route_filter in enumerate(rule.filters):
        filter_where = dotted_path(where, "filters", filter_index)
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
            for duplicate in sorted(repeated_values(names)):
                yield Problem(
                    dotted_path(filter_where, expected_block),
                    f"header '{duplicate}' appears more than once in set/add/remove; name each header once",
                )
            if not names:
                yield Problem(dotted_path(filter_where, expected_block), "the modifier is empty; give set, add or remove")
        path_modifier = None
        if route_filter.request_redirect is not None:
            path_modifier = route_filter.request_redirect.path
        if route_filter.url_rewrite is not None:
            path_modifier = route_filter.url_rewrite.path
        if path_modifier is not None:
            modifier_where = dotted_path(filter_where, expected_block, "path")
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
            dotted_path(where, "backendRefs"),
            "a rule with a RequestRedirect filter answers with the redirect itself; remove its backendRefs",
        )
    if "RequestRedirect" in types and "URLRewrite" in types:
        yield Problem(dotted_path(where, "filters"), "RequestRedirect and URLRewrite cannot be used in the same rule")
    if "RequestRedirect" not in types and not rule.backend_refs:
        yield Problem(
            dotted_path(where, "backendRefs"),
            "the rule has no backendRefs and no RequestRedirect, so it would answer every request with 500; "
            "add a backend",
        )


def _backend_ref_problems(
    config: StackConfig, rule: RouteRule, where: str, backends: dict[str, BackendConfig]
) -> Iterator[Problem]:
    for ref_index, ref in enumerate(rule.backend_refs):
        ref_where = dotted_path(where, "backendRefs", ref_index)
        if ref.kind == "InferencePool":
            continue  # inference_semantics.py checks pool references
        if ref.external:
            if ref.port is None:
                yield Problem(dotted_path(ref_where, "port"), f"external backend '{ref.name}' needs a port")
            continue
        backend = backends.get(ref.name)
        if backend is None or (ref.namespace or config.namespace) != config.namespace:
            declared = ", ".join(sorted(backends)) or "none"
            yield Problem(
                dotted_path(ref_where, "name"),
                f"backend '{ref.name}' is not declared in 'backends' (declared: {declared}); "
                "declare it or mark the reference external: true",
            )
        elif ref.port is not None and ref.port != backend.port:
            yield Problem(
                dotted_path(ref_where, "port"),
                f"backend '{ref.name}' listens on port {backend.port}, not {ref.port}; use {backend.port} or omit port",
            )
    if rule.backend_refs and not rule.allow_zero_weight and all(ref.weight == 0 for ref in rule.backend_refs):
        yield Problem(
            dotted_path(where, "backendRefs"),
            "every backend of this rule has weight 0, so every request would get a 500; give one a positive "
            "weight, or set allowZeroWeight: true if that is intended",
        )
