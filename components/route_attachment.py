"""What HTTP and gRPC routes share: the Gateways they attach to, the backends they forward to,
and the view of them that the stack file's route rules check."""

from __future__ import annotations

from typing import Any, Sequence, Union

import pulumi

from .echo_backend import EchoBackend
from .gateway import Gateway
from .validation import ArgumentProblem, check_rules, gateway_view, stack_view
from gateway_config.models import ParentRef
from gateway_config.semantics import Problem


def as_gateways(gateway: Union[Gateway, Sequence[Gateway]], component: str, name: str) -> list[Gateway]:
    """`gateway` as a list of Gateway components, at least one."""
    gateways = [gateway] if isinstance(gateway, Gateway) else list(gateway)
    if not gateways or not all(isinstance(item, Gateway) for item in gateways):
        raise ArgumentProblem(component, name, [Problem("gateway", "must be a Gateway component, or a list of at least one")])
    return gateways


def gateway_arguments(gateways: list[Gateway]) -> list[dict[str, Any]]:
    """What a route needs to know of its Gateways (Inputs, resolved with the route's own)."""
    return [{"name": item.gateway_name, "namespace": item.namespace, "listeners": item.listeners} for item in gateways]


def backend_arguments(backends: Sequence[EchoBackend]) -> list[dict[str, Any]]:
    """What a route needs to know of its backends: their settings (name, port, protocol)."""
    return [{"settings": backend.settings} for backend in backends]


def hostnames_argument(hostnames: Any) -> Any:
    """`hostnames` as the route's manifest and outputs take it: an Output as it is, else a list."""
    return hostnames if isinstance(hostnames, pulumi.Output) else list(hostnames)


def route_arguments(
    name: str,
    gateways: list[Gateway],
    *,
    namespace: Any,
    parent_refs: Sequence[Any],
    hostnames: Any,
    rules: Sequence[Any],
    backends: Sequence[EchoBackend],
) -> dict[str, Any]:
    """What an HTTP or gRPC route resolves before it is built: its namespace (default: the
    first Gateway's), its own settings, and what its Gateways and backends know."""
    return {
        "namespace": gateways[0].namespace if namespace is None else namespace,
        "route": {"name": name, "parentRefs": list(parent_refs), "hostnames": hostnames_argument(hostnames), "rules": list(rules)},
        "gateways": gateway_arguments(gateways),
        "backends": backend_arguments(backends),
    }


def default_parent_refs(route: dict[str, Any], namespace: str, gateways: list[dict[str, Any]]) -> dict[str, Any]:
    """Without `parentRefs` a route attaches to every listener of each of its Gateways. With one
    Gateway in its own namespace the builders' default (`[{name: <gateway>}]`) says that."""
    if route.get("parentRefs"):
        return route
    if len(gateways) == 1 and gateways[0]["namespace"] == namespace:
        return route
    refs = [{"name": item["name"], **({"namespace": item["namespace"]} if item["namespace"] != namespace else {})} for item in gateways]
    return {**route, "parentRefs": refs}


def check_against_gateways(
    component: str,
    name: str,
    section: str,
    namespace: str,
    route: Any,
    gateways: list[dict[str, Any]],
    arguments: dict[str, str],
    **sections: Any,
) -> None:
    """The stack file's route rules, once per Gateway the route is given: each view holds that
    Gateway (its name, namespace and listeners), with references to the route's other Gateways
    marked external there (they are checked in their own view)."""
    for gateway in gateways:
        own = (gateway["name"], gateway["namespace"])

        def viewed_ref(ref: ParentRef) -> ParentRef:
            # In this Gateway's view the route is in the Gateway's namespace (the rules compare a
            # parentRef's namespace with the stack's), and the route's other Gateways are elsewhere.
            if ref.external:
                return ref
            if (ref.name, ref.namespace or namespace) == own:
                return ref.model_copy(update={"namespace": None})
            return ref.model_copy(update={"external": True})

        viewed = route.model_copy(update={"parent_refs": [viewed_ref(ref) for ref in route.parent_refs]})
        config = gateway_view(gateway["name"], gateway["listeners"])
        key = "routes" if section.startswith("routes") else "grpc_routes"
        check_rules(
            stack_view(namespace, gateway=config, **{key: [viewed]}, **sections),
            section,
            component=component,
            name=name,
            arguments=arguments,
        )
