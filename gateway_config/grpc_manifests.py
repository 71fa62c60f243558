"""The GRPCRoute built from a stack's `grpcRoutes` (Gateway API v1), like `manifests.py` does
for HTTPRoutes."""

from __future__ import annotations

from typing import Any

from gateway_config.kubernetes_objects import GATEWAY_API_VERSION, object_metadata
from gateway_config.manifests import header_modifier_object, request_mirror_object
from gateway_config.models import GrpcRouteConfig, GrpcRouteFilter, GrpcRouteRule, StackConfig


def _grpc_filter(route_filter: GrpcRouteFilter, ports: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {"type": route_filter.type}
    if route_filter.request_header_modifier is not None:
        result["requestHeaderModifier"] = header_modifier_object(route_filter.request_header_modifier)
    if route_filter.response_header_modifier is not None:
        result["responseHeaderModifier"] = header_modifier_object(route_filter.response_header_modifier)
    if route_filter.request_mirror is not None:
        result["requestMirror"] = request_mirror_object(route_filter.request_mirror, ports)
    return result


def _grpc_rule(config: StackConfig, rule: GrpcRouteRule) -> dict[str, Any]:
    ports = {backend.name: backend.port for backend in config.backends}
    result: dict[str, Any] = {}
    if rule.name is not None:
        result["name"] = rule.name
    if rule.matches:
        matches = []
        for match in rule.matches:
            entry: dict[str, Any] = {}
            if match.method is not None:
                entry["method"] = {
                    "type": match.method.type,
                    **({"service": match.method.service} if match.method.service else {}),
                    **({"method": match.method.method} if match.method.method else {}),
                }
            if match.headers:
                entry["headers"] = [{"type": h.type, "name": h.name, "value": h.value} for h in match.headers]
            matches.append(entry)
        result["matches"] = matches
    if rule.filters:
        result["filters"] = [_grpc_filter(route_filter, ports) for route_filter in rule.filters]
    result["backendRefs"] = [
        {
            "group": "", "kind": "Service", "name": ref.name,
            **({"namespace": ref.namespace} if ref.namespace else {}),
            **({"port": port} if (port := ref.port if ref.port is not None else ports.get(ref.name)) is not None else {}),
            "weight": ref.weight,
        }
        for ref in rule.backend_refs
    ]
    return result


def grpc_route_object(config: StackConfig, route: GrpcRouteConfig) -> dict[str, Any]:
    """A GRPCRoute; without parentRefs it attaches to every listener of the stack's Gateway."""
    parent_refs = [
        {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {}), **({"sectionName": ref.section_name} if ref.section_name else {})}
        for ref in route.parent_refs
    ] or [{"name": config.default_gateway.name}]
    spec: dict[str, Any] = {"parentRefs": parent_refs}
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    spec["rules"] = [_grpc_rule(config, rule) for rule in route.rules]
    return {"apiVersion": GATEWAY_API_VERSION, "kind": "GRPCRoute", "metadata": object_metadata(route.name, config.namespace), "spec": spec}
