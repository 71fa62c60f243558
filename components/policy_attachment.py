"""What the policies share: their targets (Gateways and routes, given as components), and the
view of them that the stack file's policy rules check."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import pulumi
from pydantic import BaseModel

from .gateway import Gateway
from .validation import ArgumentProblem, gateway_view, stack_view
from gateway_config.semantics import Problem

# A target: a Gateway or route component, or (component, sectionName) for one listener or rule.
Target = Union[Any, Tuple[Any, Optional[str]]]


def target_arguments(component: str, name: str, targets: Sequence[Target]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The target components, and their `targetRefs` (`{"kind", "name", "sectionName"?}`)."""
    components, refs = [], []
    for index, target in enumerate(targets):
        target_component, section_name = target if isinstance(target, tuple) else (target, None)
        kind = "Gateway" if isinstance(target_component, Gateway) else getattr(target_component, "route_kind", None)
        if kind is None:
            raise ArgumentProblem(
                component, name, [Problem(f"targets[{index}]", "must be a Gateway, WeightedRoute or GrpcRoute component, or (component, sectionName)")]
            )
        components.append(target_component)
        target_name = target_component.gateway_name if kind == "Gateway" else target_component.route_name
        refs.append({"kind": kind, "name": target_name, **({"sectionName": section_name} if section_name else {})})
    if not components:
        raise ArgumentProblem(component, name, [Problem("targets", "give at least one Gateway or route to attach to")])
    return components, refs


def the_gateway(targets: list[Any]) -> Gateway:
    """The Gateway of the targets: a Gateway target, else the first route's first Gateway."""
    return next((item for item in targets if isinstance(item, Gateway)), None) or targets[0].gateways[0]


def targets_and_gateway(targets: list[Any]) -> list[Any]:
    """What a policy waits for: its targets, and the Gateway whose listeners it was checked
    against (a route's, when it targets routes only)."""
    gateway = the_gateway(targets)
    return [*targets, *([gateway] if gateway not in targets else [])]


def view_arguments(targets: list[Any], namespace: Optional[pulumi.Input[str]]) -> dict[str, Any]:
    """What the policy rules need to know of the targets (Inputs, resolved with the policy's own)."""
    gateway = the_gateway(targets)
    return {
        "namespace": gateway.namespace if namespace is None else namespace,
        "gateway": {"name": gateway.gateway_name, "listeners": gateway.listeners},
        "routes": [item.settings for item in targets if getattr(item, "route_kind", None) == "HTTPRoute"],
        "grpcRoutes": [item.settings for item in targets if getattr(item, "route_kind", None) == "GRPCRoute"],
    }


def policy_view(values: dict[str, Any], **sections: Any):
    gateway = gateway_view(values["gateway"]["name"], values["gateway"]["listeners"])
    return stack_view(values["namespace"], gateway=gateway, routes=values["routes"], grpc_routes=values["grpcRoutes"], **sections)


def policy_data(name: str, spec: Union[BaseModel, Mapping[str, Any]], refs: list[dict[str, Any]]) -> dict[str, Any]:
    """The policy model's data: `spec` (the CRD's blocks in camelCase, or a policy model whose
    name and targets are replaced) with this component's name and targets."""
    data = spec.model_dump(by_alias=True, exclude_unset=True) if isinstance(spec, BaseModel) else dict(spec)
    return {**data, "name": name, "targetRefs": refs}


def spec_arguments(model: type[BaseModel]) -> dict[str, str]:
    """The policy model's keys -> where a message finds them: `spec.<key>`, `targets`, `name`."""
    keys = {info.alias or key: f"spec.{info.alias or key}" for key, info in model.model_fields.items()}
    return {**keys, "name": "name", "targetRefs": "targets"}
