"""One Endpoint Picker (EPP) pod of an InferencePool, run as the real upstream `epp` binary.

The stack's `InferencePool` component declares the EPP Deployment as upstream's `inferencepool`
chart does; kwok makes its pods Running with an address. What a kubelet would then do for the
`epp` container, this does: mount its ConfigMap volume (the EndpointPickerConfig) into a folder
of the pod, resolve `$(VAR)` references and the downward API in its environment, give it the
credentials of its own ServiceAccount (a token from the TokenRequest API in a kubeconfig for
the local API server, so the Roles the component declares are what it runs with), and run its
arguments. A pod is recognised as an EPP by the chart's mode label
`inference.networking.k8s.io/igw-mode` and its container `epp`.

One thing differs from a real node, and only in how it is reached: the EPP binds every address
of the namespace on its ports (9002 ext_proc, 9003 gRPC health, 9090 metrics), which all pods
share here, and it has no flag for an address. It is therefore told to listen on free ports of
its own (`--grpc-port`, `--grpc-health-port`, `--metrics-port` added after the pod's own
arguments) and the node agent forwards `<pod IP>:<port>` to them, so Envoy, probes and scrapers
reach it at its pod address as in a cluster. Its readiness is the pod's readinessProbe: the gRPC
health service it names (`grpc.health.v1.Health/Check`) answering SERVING.
"""

from __future__ import annotations

import base64
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc
import yaml

from gatestack.cluster.processes import ManagedProcess
from gatestack.cluster.proxy_pod import expand_references, materialize_volumes, pod_fields, rewrite_mount_paths
from gatestack.echo_server import container_environment
from gateway_config.inference_manifests import EPP_CONTAINER, EPP_MODE_LABEL, EPP_SELECTOR_LABEL

# The EPP's listening ports: flag -> upstream default.
PORT_FLAGS = {"--grpc-port": 9002, "--grpc-health-port": 9003, "--metrics-port": 9090}
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
SERVING = 1  # grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING
TOKEN_SECONDS = 24 * 3600


def is_endpoint_picker_pod(pod: dict) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    containers = pod.get("spec", {}).get("containers") or []
    return EPP_MODE_LABEL in labels and any(container.get("name") == EPP_CONTAINER for container in containers)


def pool_of_pod(pod: dict) -> str:
    """The pool an EPP pod picks for: its `inferencepool: <pool>-epp` label without `-epp`."""
    value = (pod.get("metadata", {}).get("labels") or {}).get(EPP_SELECTOR_LABEL, "")
    return value.removesuffix("-epp")


def listening_ports(arguments: list[str]) -> dict[str, int]:
    """Flag -> port the EPP would listen on with these arguments (the last value wins, as pflag does)."""
    ports = dict(PORT_FLAGS)
    for index, argument in enumerate(arguments):
        for flag in PORT_FLAGS:
            if argument == flag and index + 1 < len(arguments):
                ports[flag] = int(arguments[index + 1])
            elif argument.startswith(f"{flag}="):
                ports[flag] = int(argument.split("=", 1)[1])
    return ports


def free_port() -> int:
    """A port nothing in the namespace listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def readiness_service(container: dict) -> str:
    return ((container.get("readinessProbe") or {}).get("grpc") or {}).get("service", "")


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
    """What to run for an EPP pod: its command, environment, and pod port -> local port."""

    command: list[str]
    environment: dict[str, str]
    forwards: dict[int, int]
    health_port: int
    health_service: str


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
    ports = listening_ports(arguments)
    local = {flag: free_port() for flag in ports}
    arguments += [f"{flag}={local[flag]}" for flag in ports]
    return EndpointPickerPlan(
        command=[str(epp_binary), *arguments],
        environment={**base_environment, **environment, "KUBECONFIG": str(kubeconfig), "HOME": str(directory)},
        forwards={ports[flag]: local[flag] for flag in ports},
        health_port=local["--grpc-health-port"],
        health_service=readiness_service(container),
    )


def endpoint_picker_process(pod: dict, plan: EndpointPickerPlan, log_path: Path) -> ManagedProcess:
    name = f"epp {pod['metadata']['namespace']}/{pod['metadata']['name']}"
    return ManagedProcess(name, plan.command, log_path, environment=plan.environment)


def health_check_request(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service} in protobuf wire format (field 1, a string)."""
    encoded = service.encode()
    return (b"\x0a" + bytes([len(encoded)]) + encoded) if encoded else b""


def is_serving(port: int, service: str, timeout: float = 1.0) -> bool:
    """The readinessProbe: the EPP's gRPC health service answers SERVING for `service`."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = channel.unary_unary(HEALTH_CHECK_METHOD, request_serializer=None, response_deserializer=None)
        try:
            answer = check(health_check_request(service), timeout=timeout)
        except grpc.RpcError:
            return False
    # HealthCheckResponse{status}: field 1, varint.
    return answer == bytes([0x08, SERVING])
