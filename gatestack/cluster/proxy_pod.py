"""One Envoy proxy pod of Envoy Gateway, run as a real Envoy configured by the controller's xDS.

The controller creates the proxy Deployment; kwok makes its pods Running with an address.
What a kubelet would then do, this does for the `envoy` container: mount its volumes
(ConfigMaps and Secrets written to a folder of the pod), resolve `$(VAR)` references in its
arguments from the container's environment, and run the command inside the pod's own network
namespace, where every address and port is the pod's (listeners on 0.0.0.0, the admin and
ready listeners on their usual ports, whatever the controller holds in the cluster's
namespace). One thing differs from a real node and is rewritten in the bootstrap the
controller rendered: the xDS cluster's address (`envoy-gateway.envoy-gateway-system.svc.
cluster.local.`) is the pods' bridge address, where the out-of-cluster controller serves xDS
in the cluster's namespace (there is no cluster DNS), or, for the proxies of a controller the
chart installed, the ready pod behind that Service (the node agent looks it up). Mount paths in the bootstrap and in the
mounted files (the SDS files name `/certs/...`) point at the pod's folder.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from gatestack.cluster.managed_controller import XDS_PORT
from gatestack.cluster.layout import BRIDGE_ADDRESS
from gatestack.cluster import netns
from gatestack.cluster.processes import ManagedProcess
from gatestack.stand_ins.echo_server import container_environment

PROXY_LABELS = {"app.kubernetes.io/managed-by": "envoy-gateway", "app.kubernetes.io/component": "proxy"}
ENVOY_CONTAINER = "envoy"
XDS_CLUSTER = "xds_cluster"
VARIABLE_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def is_proxy_pod(pod: dict) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in PROXY_LABELS.items())


def pod_fields(pod: dict) -> dict[str, str]:
    """Downward-API field values of a pod, as `fieldRef.fieldPath` names them."""
    metadata, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    fields = {
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIP": status.get("hostIP", ""),
    }
    for key, value in (metadata.get("labels") or {}).items():
        fields[f"metadata.labels['{key}']"] = value
    for key, value in (metadata.get("annotations") or {}).items():
        fields[f"metadata.annotations['{key}']"] = value
    return fields


def expand_references(text: str, environment: dict[str, str]) -> str:
    """`$(NAME)` -> its value, as the kubelet expands container arguments; unknown names stay."""
    return VARIABLE_REFERENCE.sub(lambda match: environment.get(match.group(1), match.group(0)), text)


def materialize_volumes(
    pod: dict, container: dict, directory: Path, read_object: Callable[[str, str, str], dict]
) -> dict[str, Path]:
    """Write the container's ConfigMap and Secret volumes into `directory`; return mountPath -> folder.

    `read_object(kind, namespace, name)` fetches a ConfigMap or Secret.
    """
    namespace = pod["metadata"]["namespace"]
    volumes = {volume["name"]: volume for volume in pod.get("spec", {}).get("volumes") or []}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"], {})
        folder = directory / "volumes" / mount["name"]
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, bytes] = {}
        if "configMap" in volume:
            data = read_object("ConfigMap", namespace, volume["configMap"]["name"])
            files = {key: value.encode() for key, value in (data.get("data") or {}).items()}
            items = volume["configMap"].get("items")
        elif "secret" in volume:
            data = read_object("Secret", namespace, volume["secret"]["secretName"])
            files = {key: base64.b64decode(value) for key, value in (data.get("data") or {}).items()}
            items = volume["secret"].get("items")
        else:
            items = None  # emptyDir and the like: an empty folder
        if items:
            files = {item["path"]: files[item["key"]] for item in items if item["key"] in files}
        for relative, content in files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(0o600)
        mounts[mount["mountPath"].rstrip("/")] = folder
    return mounts


def rewrite_mount_paths(text: str, mounts: dict[str, Path]) -> str:
    """Every `<mountPath>/...` in `text` -> the pod folder that holds that volume."""
    for mount_path in sorted(mounts, key=len, reverse=True):
        text = re.sub(rf"(?<![\w/.-]){re.escape(mount_path)}/", f"{mounts[mount_path]}/", text)
    return text


def _socket_addresses(node: Any) -> list[dict]:
    found: list[dict] = []
    if isinstance(node, dict):
        if "socket_address" in node and isinstance(node["socket_address"], dict):
            found.append(node["socket_address"])
        for value in node.values():
            found.extend(_socket_addresses(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_socket_addresses(value))
    return found


def xds_service(bootstrap: dict) -> Optional[tuple[str, str]]:
    """(namespace, name) of the Service the xDS cluster names (`<name>.<namespace>.svc...`), or None."""
    for cluster in bootstrap.get("static_resources", {}).get("clusters") or []:
        if cluster.get("name") == XDS_CLUSTER:
            for address in _socket_addresses(cluster):
                parts = str(address.get("address", "")).split(".")
                if len(parts) > 2 and parts[2] == "svc":
                    return parts[1], parts[0]
    return None


def rewrite_bootstrap(bootstrap: dict, controller_address: str = BRIDGE_ADDRESS) -> dict:
    """The controller's bootstrap with its xDS cluster at `controller_address` (see module doc)."""
    static = bootstrap.get("static_resources", {})
    for cluster in static.get("clusters") or []:
        if cluster.get("name") == XDS_CLUSTER:
            for address in _socket_addresses(cluster):
                address["address"] = controller_address
                address["port_value"] = address.get("port_value", XDS_PORT)
            cluster["type"] = "STATIC"
            cluster.pop("dns_lookup_family", None)
    return bootstrap


def admin_port(bootstrap: dict) -> int:
    return int(bootstrap["admin"]["address"]["socket_address"]["port_value"])


@dataclass
class ProxyPodPlan:
    """What to run for a proxy pod: the Envoy command line, its environment, its admin port."""

    command: list[str]
    environment: dict[str, str]
    admin_port: int


def plan_proxy_pod(
    pod: dict,
    envoy_binary: Path,
    directory: Path,
    read_object: Callable[[str, str, str], dict],
    base_environment: dict[str, str],
    xds_address: Callable[[str, str], str] = lambda namespace, name: BRIDGE_ADDRESS,
) -> ProxyPodPlan:
    """`xds_address(namespace, name)` is where the controller behind the xDS Service the bootstrap
    names listens [the out-of-cluster controller on the pods' bridge]."""
    containers = {container["name"]: container for container in pod["spec"]["containers"]}
    container = containers[ENVOY_CONTAINER]
    metadata = pod["metadata"]
    environment = container_environment(container, metadata["namespace"], metadata["name"], pod_fields(pod))
    mounts = materialize_volumes(pod, container, directory, read_object)
    for folder in set(mounts.values()):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".yaml", ".yml"):
                path.write_text(rewrite_mount_paths(path.read_text(), mounts))
    arguments = [expand_references(argument, environment) for argument in container.get("args") or []]
    bootstrap = None
    for index, argument in enumerate(arguments[:-1]):
        if argument == "--config-yaml":
            bootstrap = yaml.safe_load(rewrite_mount_paths(arguments[index + 1], mounts))
            service = xds_service(bootstrap)
            bootstrap = rewrite_bootstrap(bootstrap, xds_address(*service) if service else BRIDGE_ADDRESS)
            arguments[index + 1] = yaml.safe_dump(bootstrap, sort_keys=False)
    if bootstrap is None:
        raise ValueError(f"proxy pod {metadata['namespace']}/{metadata['name']} has no --config-yaml argument")
    (directory / "bootstrap.yaml").write_text(arguments[arguments.index("--config-yaml") + 1])
    command = [str(envoy_binary), *arguments, "--use-dynamic-base-id"]
    process_environment = {**base_environment, **environment}
    return ProxyPodPlan(command=command, environment=process_environment, admin_port=admin_port(bootstrap))


def proxy_process(pod: dict, plan: ProxyPodPlan, log_path: Path, network_namespace: str) -> ManagedProcess:
    """Envoy, run inside the pod's network namespace."""
    name = f"envoy {pod['metadata']['namespace']}/{pod['metadata']['name']}"
    return ManagedProcess(name, netns.command_inside(network_namespace, plan.command), log_path, environment=plan.environment)
