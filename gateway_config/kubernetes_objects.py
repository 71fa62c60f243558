"""The pieces every Kubernetes object built by this package shares: API groups and versions,
metadata, resource requirements, and the merge of Helm values.

The manifest builders (`manifests.py`, `grpc_manifests.py`, `policy_manifests.py`,
`inference_manifests.py`, `inference_wiring.py`) take them from here, so a group or version
is written once.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from gateway_config.base import ResourceRequirements

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
GATEWAY_API_VERSION = f"{GATEWAY_API_GROUP}/v1"
# v1beta1 is served by every Gateway API release that has ReferenceGrant (v1 only from 1.5),
# so it also works where the platform ships older Gateway API CRDs (e.g. ACK).
REFERENCE_GRANT_API_VERSION = f"{GATEWAY_API_GROUP}/v1beta1"
ENVOY_GATEWAY_GROUP = "gateway.envoyproxy.io"
# Envoy Gateway's EnvoyProxy and its policies (Backend/Client/Security/Extension/PatchPolicy).
ENVOY_GATEWAY_API_VERSION = f"{ENVOY_GATEWAY_GROUP}/v1alpha1"


def object_metadata(name: str, namespace: str | None, **extra: Any) -> dict[str, Any]:
    """`metadata` of an object: its name, its namespace (None: cluster-scoped), then each of
    `extra` (labels, annotations) that is not empty."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata.update({key: dict(value) if isinstance(value, Mapping) else value for key, value in extra.items() if value})
    return metadata


def resources_dict(resources: ResourceRequirements) -> dict[str, Any]:
    """A Kubernetes ResourceRequirements from the config's, leaving out empty parts."""
    result: dict[str, Any] = {}
    if resources.requests:
        result["requests"] = dict(resources.requests)
    if resources.limits:
        result["limits"] = dict(resources.limits)
    return result


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
