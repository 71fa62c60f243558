"""Turn what the program declared into the Kubernetes objects a cluster would receive.

Kubernetes resources become their objects (apiVersion, kind, metadata, spec, ...), in the
order the program declared them. A Helm chart, which pulumi-kubernetes renders and applies
itself at deploy time, appears as a readable stand-in object:

    apiVersion: helm.sh/v4        # Pulumi's type token kubernetes:helm.sh/v4:Chart
    kind: Chart
    metadata: {name: <release>, namespace: <namespace>}
    spec: {chart: oci://..., version: ..., skipCrds: ..., values: {...}}

It is not a Kubernetes object; validators and the translator skip it. Reads of live
objects, components and pulumi-tls resources are left out (the certificates they compute
appear inside the Secrets that hold them).
"""

from __future__ import annotations

from typing import Any

import yaml

from gatestack.mock_engine.program_run import DeclaredResource, ProgramRun

HELM_CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
HELM_STAND_IN_API_VERSION = "helm.sh/v4"
# Secret values never appear in a render meant for people: this stands in for them.
SECRET_PLACEHOLDER = "<secret: computed at deploy time, never shown>"


def _is_kubernetes_object(resource: DeclaredResource) -> bool:
    return resource.custom and not resource.read and resource.type.startswith("kubernetes:")


def _helm_stand_in(resource: DeclaredResource) -> dict[str, Any]:
    inputs = resource.inputs
    metadata = {"name": inputs.get("name") or resource.name}
    if inputs.get("namespace"):
        metadata["namespace"] = inputs["namespace"]
    spec = {key: _sorted(inputs[key]) for key in ("chart", "version", "skipCrds", "values") if key in inputs}
    return {"apiVersion": HELM_STAND_IN_API_VERSION, "kind": "Chart", "metadata": metadata, "spec": spec}


def _sorted(value: Any) -> Any:
    """Keys in alphabetical order at every level: the same text for the same object, always."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _object(resource: DeclaredResource, hide_secrets: bool) -> dict[str, Any]:
    body = _sorted(resource.inputs)
    ordered = {key: body.pop(key) for key in ("apiVersion", "kind", "metadata") if key in body}
    ordered.update(body)
    if hide_secrets:
        for key in resource.secret_inputs:
            value = ordered.get(key)
            ordered[key] = (
                {item: SECRET_PLACEHOLDER for item in value} if isinstance(value, dict) else SECRET_PLACEHOLDER
            )
    return ordered


# The order a cluster needs them in, which is also the order a reviewer reads best.
_KIND_ORDER = [
    "Namespace",
    "Chart",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Service",
    "Deployment",
    "Secret",
    "ReferenceGrant",
    "EnvoyProxy",
    "GatewayClass",
    "Gateway",
    "HTTPRoute",
    "GRPCRoute",
    "ClientTrafficPolicy",
    "BackendTrafficPolicy",
    "SecurityPolicy",
    "InferencePool",
    "EnvoyExtensionPolicy",
    "EnvoyPatchPolicy",
]


def _position(kubernetes_object: dict[str, Any]) -> tuple:
    kind = kubernetes_object.get("kind", "")
    metadata = kubernetes_object.get("metadata") or {}
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    # The CRDs chart is applied before the controller chart.
    chart_rank = 0 if kind == "Chart" and "crds" in (kubernetes_object.get("spec") or {}).get("chart", "") else 1
    return (rank, chart_rank, metadata.get("namespace") or "", metadata.get("name") or "")


def kubernetes_objects(run: ProgramRun, hide_secrets: bool = True) -> list[dict[str, Any]]:
    """Every object the run declared, Helm charts as stand-ins, in a fixed order (by kind in
    the order a cluster needs them, then namespace and name), so the text never changes
    for an unchanged config."""
    objects = []
    for resource in run.resources:
        if resource.type == HELM_CHART_TYPE:
            objects.append(_helm_stand_in(resource))
        elif _is_kubernetes_object(resource):
            objects.append(_object(resource, hide_secrets))
    return sorted(objects, key=_position)


def is_helm_stand_in(kubernetes_object: dict[str, Any]) -> bool:
    return kubernetes_object.get("apiVersion") == HELM_STAND_IN_API_VERSION


# libyaml's emitter when PyYAML was built with it: the same text as the pure-Python
# SafeDumper (checked on every stack, with real certificates), about 5x faster, which is
# what a 1,000-route stack's 1 MB render spent most of its time on besides the program.
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """Multi-document YAML, keys in a stable order, long strings unwrapped."""
    return yaml.dump_all(
        objects,
        Dumper=_SAFE_DUMPER,
        sort_keys=False,
        width=1_000_000,
        default_flow_style=False,
        explicit_start=True,
    )
