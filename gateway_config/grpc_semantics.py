"""Rules for GRPCRoutes: unique names, parents and backends that exist, backends that speak gRPC,
filters given once with their block, and mirrors to declared backends."""

from __future__ import annotations

from collections import Counter
from typing import Iterator

from gateway_config.models import GrpcRouteConfig, StackConfig
from gateway_config.problems import Problem
from gateway_config.route_semantics import REPEATABLE_FILTERS, parent_ref_problems

_BLOCKS = {"RequestHeaderModifier": "requestHeaderModifier", "ResponseHeaderModifier": "responseHeaderModifier", "RequestMirror": "requestMirror"}


def grpc_route_problems(config: StackConfig) -> Iterator[Problem]:
    names = Counter(route.name for route in config.grpc_routes)
    backends = {backend.name: backend for backend in config.backends}
    for index, route in enumerate(config.grpc_routes):
        where = f"grpcRoutes.{index}"
        if names[route.name] > 1:
            yield Problem(f"{where}.name", f"GRPCRoute '{route.name}' is declared more than once; route names must be unique")
        yield from parent_ref_problems(config, route, where)
        rule_names = Counter(rule.name for rule in route.rules if rule.name)
        for rule_index, rule in enumerate(route.rules):
            rule_where = f"{where}.rules.{rule_index}"
            if rule.name and rule_names[rule.name] > 1:
                yield Problem(f"{rule_where}.name", f"rule name '{rule.name}' is used more than once in this route")
            yield from _rule_problems(config, route, rule, rule_where, backends)


def _rule_problems(config: StackConfig, route: GrpcRouteConfig, rule, where: str, backends: dict) -> Iterator[Problem]:
    for type_name, count in Counter(f.type for f in rule.filters).items():
        if count > 1 and type_name not in REPEATABLE_FILTERS:
            yield Problem(f"{where}.filters", f"filter type {type_name} is used more than once in this rule; merge them")
    for filter_index, route_filter in enumerate(rule.filters):
        present = [block for block, value in (("requestHeaderModifier", route_filter.request_header_modifier),
                                              ("responseHeaderModifier", route_filter.response_header_modifier),
                                              ("requestMirror", route_filter.request_mirror)) if value is not None]
        if present != [_BLOCKS[route_filter.type]]:
            yield Problem(f"{where}.filters.{filter_index}", f"a {route_filter.type} filter needs exactly the block '{_BLOCKS[route_filter.type]}'")
        mirror = route_filter.request_mirror
        if mirror is not None and not mirror.backend_ref.external:
            target = backends.get(mirror.backend_ref.name)
            if target is None:
                yield Problem(f"{where}.filters.{filter_index}.requestMirror.backendRef.name",
                              f"backend '{mirror.backend_ref.name}' is not declared in 'backends'")
            elif target.protocol != "grpc":
                yield Problem(f"{where}.filters.{filter_index}.requestMirror.backendRef.name",
                              f"backend '{target.name}' speaks HTTP; a GRPCRoute copies gRPC calls: give it protocol: grpc")
        if mirror is not None and mirror.percent is not None and mirror.fraction is not None:
            yield Problem(f"{where}.filters.{filter_index}.requestMirror", "give percent or fraction, not both")
    for match_index, match in enumerate(rule.matches):
        for name, count in Counter(h.name.lower() for h in match.headers).items():
            if count > 1:
                yield Problem(f"{where}.matches.{match_index}.headers", f"'{name}' is matched more than once; match each name once")
    for ref_index, ref in enumerate(rule.backend_refs):
        ref_where = f"{where}.backendRefs.{ref_index}"
        if ref.external:
            if ref.port is None:
                yield Problem(f"{ref_where}.port", f"external backend '{ref.name}' needs a port")
            continue
        backend = backends.get(ref.name)
        if backend is None or (ref.namespace or config.namespace) != config.namespace:
            yield Problem(f"{ref_where}.name", f"backend '{ref.name}' is not declared in 'backends' (declared: {', '.join(sorted(backends)) or 'none'})")
        elif backend.protocol != "grpc":
            yield Problem(f"{ref_where}.name", f"backend '{ref.name}' speaks HTTP; a GRPCRoute needs gRPC backends: give it protocol: grpc")
        elif ref.port is not None and ref.port != backend.port:
            yield Problem(f"{ref_where}.port", f"backend '{ref.name}' listens on port {backend.port}, not {ref.port}")
    if all(ref.weight == 0 for ref in rule.backend_refs):
        yield Problem(f"{where}.backendRefs", "every backend of this rule has weight 0, so every call would fail; give one a positive weight")
