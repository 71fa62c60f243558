"""One Endpoint Picker (EPP) pod of an InferencePool, run as the real upstream `epp` binary.

The stack's `InferencePool` component declares the EPP Deployment as upstream's `inferencepool`
chart does; kwok makes its pods Running with an address. What a kubelet would then do for the
`epp` container, this does: mount its ConfigMap volume (the EndpointPickerConfig) into a folder
of the pod, resolve `$(VAR)` references and the downward API in its environment, give it the
credentials of its own ServiceAccount (a token from the TokenRequest API in a kubeconfig for
the local API server, so the Roles the component declares are what it runs with), and run its
arguments. A pod is recognised as an EPP by the chart's mode label
`inference.networking.k8s.io/igw-mode` and its container `epp`.

It runs inside the pod's own network namespace, so it binds its ports (9002 ext_proc, 9003 gRPC
health, 9090 metrics, or what its arguments say) on the pod's address as in a cluster, and
reaches the API server over the pods' bridge (`BRIDGE_ADDRESS`, which the API server's
certificate names). Its readiness is the pod's readinessProbe, run by the node agent
(`container_probes.py`): the gRPC health service it names answering SERVING.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from gatestack.cluster import netns
from gatestack.cluster.layout import API_SERVER_PORT, BRIDGE_ADDRESS
from gatestack.cluster.processes import ManagedProcess
from gatestack.cluster.proxy_pod import expand_references, materialize_volumes, pod_fields, rewrite_mount_paths
from gatestack.stand_ins.echo_server import container_environment
from gateway_config.inference_manifests import EPP_CONTAINER, EPP_MODE_LABEL, EPP_SELECTOR_LABEL

TOKEN_SECONDS = 24 * 3600
# Where a pod reaches the API server: the cluster's namespace over the pods' bridge.
API_SERVER_URL_FOR_PODS = f"https://{BRIDGE_ADDRESS}:{API_SERVER_PORT}"


def is_endpoint_picker_pod(pod: dict) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    containers = pod.get("spec", {}).get("containers") or []
    return EPP_MODE_LABEL in labels and any(container.get("name") == EPP_CONTAINER for container in containers)


def pool_of_pod(pod: dict) -> str:
    """The pool an EPP pod picks for: its `inferencepool: <pool>-epp` label without `-epp`."""
    value = (pod.get("metadata", {}).get("labels") or {}).get(EPP_SELECTOR_LABEL, "")
    return value.removesuffix("-epp")


def service_account_kubeconfig(server: str, ca_pem: bytes, token: str) -> str:
    """A kubeconfig that authenticates as a ServiceAccount (its token), trusting the cluster's CA."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
            "users": [{"name": "service-account", "user": {"token": token}}],
            "contexts": [{"name": "pod", "context": {"cluster": "local", "user": "service-account"}}],
            "current-context": "pod",
        },
        sort_keys=False,
    )


@dataclass
class EndpointPickerPlan:
    """What to run for an EPP pod: its command and environment."""

    command: list[str]
    environment: dict[str, str]


def plan_endpoint_picker_pod(
    pod: dict,
    epp_binary: Path,
    directory: Path,
    read_object: Callable[[str, str, str], dict],
    kubeconfig: Path,
    base_environment: dict[str, str],
) -> EndpointPickerPlan:
    container = next(item for item in pod["spec"]["containers"] if item["name"] == EPP_CONTAINER)
    metadata = pod["metadata"]
    environment = container_environment(container, metadata["namespace"], metadata["name"], pod_fields(pod))
    mounts = materialize_volumes(pod, container, directory, read_object)
    arguments = [rewrite_mount_paths(expand_references(argument, environment), mounts) for argument in container.get("args") or []]
    return EndpointPickerPlan(
        command=[str(epp_binary), *arguments],
        environment={**base_environment, **environment, "KUBECONFIG": str(kubeconfig), "HOME": str(directory)},
    )


def endpoint_picker_process(pod: dict, plan: EndpointPickerPlan, log_path: Path, network_namespace: str) -> ManagedProcess:
    """The EPP, run inside the pod's network namespace."""
    name = f"epp {pod['metadata']['namespace']}/{pod['metadata']['name']}"
    return ManagedProcess(name, netns.command_inside(network_namespace, plan.command), log_path, environment=plan.environment)
