"""Envoy Gateway's own pods, as its Helm chart declares them, run as a kubelet would run them.

Two pods of gateway-helm: the controller's (the `envoy-gateway` Deployment: label
`control-plane: envoy-gateway`, container `envoy-gateway` with arguments `server ...`) and the
certgen Job's (a container whose command is `envoy-gateway certgen`). For either, the node
agent runs the real `envoy-gateway` binary built at the image's tag
(`docker.io/envoyproxy/gateway:<tag>` -> `.tools/envoy-gateway-<tag>/envoy-gateway`; a tag
that is not built fails the container with that sentence), with the container's own command
and arguments, inside the pod's network namespace, chrooted into a root directory of the pod
that holds what the container image and the kubelet would put there:

- the binary at the image's entrypoint, `/usr/local/bin/envoy-gateway`;
- each ConfigMap, Secret and emptyDir volume at its `mountPath` (`/config`, `/certs`, ...),
  read from the API server when the container starts (a Secret that does not exist yet, as
  `envoy-gateway` before certgen ran, fails the start and is retried with back-off);
- the ServiceAccount's credentials where client-go's in-cluster config reads them,
  `/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}` (a token from the
  TokenRequest API, the cluster's CA), with `KUBERNETES_SERVICE_HOST`/`_PORT` naming the API
  server on the pods' bridge, as the kubelet sets them for the `kubernetes` Service.

The controller reads its certificates from the fixed path `/certs` (managed_controller.py), so
a root of its own is what lets two controllers (the cluster's managed one and a chart's) run
side by side without touching the machine's root.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from gatestack.cluster import netns
from gatestack.cluster.containers import ContainerStartError
from gatestack.cluster.layout import API_SERVER_PORT, BRIDGE_ADDRESS
from gatestack.cluster.managed_controller import link_or_copy
from gatestack.cluster.processes import ManagedProcess
from gatestack.cluster.proxy_pod import expand_references, materialize_volumes, pod_fields
from gatestack.stand_ins.echo_server import container_environment
from gatestack.toolchain.go_build import installed_binary

IMAGE_REPOSITORY = "docker.io/envoyproxy/gateway"
# The image's ENTRYPOINT, and the PATH of its (distroless) base image.
IMAGE_ENTRYPOINT = "/usr/local/bin/envoy-gateway"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTROLLER_LABEL = ("control-plane", "envoy-gateway")
CONTROLLER_CONTAINER = "envoy-gateway"
CERTGEN_COMMAND = ["envoy-gateway", "certgen"]
SERVICE_ACCOUNT_DIRECTORY = "var/run/secrets/kubernetes.io/serviceaccount"
# The start of the /etc/hosts the kubelet writes into every container.
KUBELET_HOSTS_FILE = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
# The kubelet mounts a token valid for an hour and refreshes it; a day outlives any test run.
TOKEN_SECONDS = 24 * 3600


def controller_container(pod: dict) -> dict | None:
    """The chart's controller container of `pod`, or None when `pod` is not the controller's."""
    labels = pod.get("metadata", {}).get("labels") or {}
    if labels.get(CONTROLLER_LABEL[0]) != CONTROLLER_LABEL[1]:
        return None
    for container in pod.get("spec", {}).get("containers") or []:
        if container.get("name") == CONTROLLER_CONTAINER and (container.get("args") or [""])[0] == "server":
            return container
    return None


def is_controller_pod(pod: dict) -> bool:
    return controller_container(pod) is not None


def is_certgen_container(container: dict) -> bool:
    return (container.get("command") or [])[:2] == CERTGEN_COMMAND


def is_certgen_pod(pod: dict) -> bool:
    return any(is_certgen_container(container) for container in pod.get("spec", {}).get("containers") or [])


def binary_for_image(image: str) -> Path:
    """The `envoy-gateway` binary built at the image's tag.

    Raises ContainerStartError (the reason the pod's status shows) for another repository, an
    image without a tag, or a tag that has not been built."""
    repository, _, tag = image.rpartition(":")
    if repository.startswith("envoyproxy/"):
        repository = f"docker.io/{repository}"
    if repository != IMAGE_REPOSITORY or not tag or "/" in tag or "@" in image:
        raise ContainerStartError(f"image {image} cannot be run here: only {IMAGE_REPOSITORY}:<tag> is, as the envoy-gateway binary built at that tag")
    binary = installed_binary("envoy-gateway", tag)
    if not binary.is_file():
        raise ContainerStartError(
            f"image {image} cannot be run here: envoy-gateway {tag} has not been built ({binary} is missing; "
            f"gatestack.toolchain builds it with ensure_envoy_gateway({tag!r}))"
        )
    return binary


def container_root(pod_directory: Path, container: dict) -> Path:
    """The root directory a container of the pod runs chrooted in."""
    return pod_directory / "root" / container["name"]


def prepare_image(root: Path, binary: Path) -> None:
    """What the image and the kubelet put in `root`: the binary at its entrypoint, an empty
    `/tmp` (each start of a container is on a fresh copy of its image's files), and the
    kubelet's `/etc/hosts`, by which `localhost` resolves (the shutdown-manager's handler
    reaches Envoy's admin at `localhost:19000`; Go's resolver finds no DNS server here)."""
    entrypoint = root / IMAGE_ENTRYPOINT.lstrip("/")
    entrypoint.parent.mkdir(parents=True, exist_ok=True)
    if not entrypoint.exists() or entrypoint.stat().st_ino != binary.stat().st_ino:
        link_or_copy(binary, entrypoint)
    shutil.rmtree(root / "tmp", ignore_errors=True)
    (root / "tmp").mkdir()
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "hosts").write_text(KUBELET_HOSTS_FILE)


def prepare_root(
    pod: dict,
    container: dict,
    root: Path,
    binary: Path,
    read_object: Callable[[str, str, str], dict],
    token: str,
    ca_pem: bytes,
) -> None:
    """Fill `root` for one start of `container`: binary, volumes at their mountPaths, credentials.

    `read_object(kind, namespace, name)` fetches a ConfigMap or Secret. Volumes and credentials
    are written anew each start, as the kubelet remounts them."""
    prepare_image(root, binary)
    staging = root / ".volumes"
    shutil.rmtree(staging, ignore_errors=True)
    for mount_path, folder in materialize_volumes(pod, container, staging, read_object).items():
        target = root / mount_path.lstrip("/")
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
    credentials = root / SERVICE_ACCOUNT_DIRECTORY
    credentials.mkdir(parents=True, exist_ok=True)
    for name, content in (("token", token.encode()), ("ca.crt", ca_pem), ("namespace", pod["metadata"]["namespace"].encode())):
        (credentials / name).write_bytes(content)
        (credentials / name).chmod(0o600)


def container_command(container: dict, root: Path) -> list[str]:
    """The container's command and arguments as the runtime would exec them: the image's
    entrypoint without `command`, a bare name resolved on the image's PATH inside `root`."""
    command = list(container.get("command") or [IMAGE_ENTRYPOINT])
    if "/" not in command[0]:
        found = [f"{folder}/{command[0]}" for folder in IMAGE_PATH.split(":") if (root / folder.lstrip("/") / command[0]).is_file()]
        command[0] = found[0] if found else command[0]
    return [*command, *(container.get("args") or [])]


def envoy_gateway_process(pod: dict, container: dict, root: Path, log_path: Path, network_namespace: str) -> ManagedProcess:
    """The container's process: in the pod's network namespace, chrooted into `root`, with the
    container's environment (`$(VAR)` references in its arguments expanded from it)."""
    metadata = pod["metadata"]
    environment = {
        **container_environment(container, metadata["namespace"], metadata["name"], pod_fields(pod)),
        "PATH": IMAGE_PATH,
        "HOME": "/tmp",
        "KUBERNETES_SERVICE_HOST": BRIDGE_ADDRESS,
        "KUBERNETES_SERVICE_PORT": str(API_SERVER_PORT),
    }
    command = [expand_references(part, environment) for part in container_command(container, root)]
    return ManagedProcess(
        f"{container['name']} {metadata['namespace']}/{metadata['name']}",
        netns.command_inside(network_namespace, ["chroot", str(root), *command]),
        log_path,
        environment=environment,
    )
