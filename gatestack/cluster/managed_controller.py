"""Envoy Gateway's real controller, run out of cluster in the role of ACK's managed add-on.

The upstream `envoy-gateway` binary at the stack's controller version, with its own
`certgen` making the control plane's certificates as the Helm chart's job would
(`envoy-gateway`, `envoy`, ... Secrets in `envoy-gateway-system`). With `provider:
Kubernetes` the controller reads its xDS certificates from the fixed path `/certs`, which
cannot be configured; it therefore runs chrooted into a directory of the state folder that
holds `/certs`, its config and a kubeconfig, so the machine's root is never touched. It is a
static Go binary (built with CGO_ENABLED=0) and needs nothing else in that root.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.request
from pathlib import Path

import yaml

from gatestack.cluster.control_plane import kubectl
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.processes import ManagedProcess, StartupError, wait_for

CONTROLLER_NAMESPACE = "envoy-gateway-system"
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
XDS_PORT = 18000
HEALTH_PORT = 8081
# Ports the controller holds on every address of the cluster's namespace. Pods have namespaces
# of their own, so a pod may use any of them.
CONTROLLER_PORTS = frozenset({XDS_PORT, 18002, 19001, 8080, HEALTH_PORT, 9443})
STARTUP_TIMEOUT_SECONDS = 120


def controller_config() -> dict:
    """The EnvoyGateway config the Helm chart would mount (defaults, Kubernetes provider), with
    EnvoyPatchPolicy enabled: a FailOpen InferencePool's wiring needs one (as a stack that
    installs the controller sets it, components/envoy_gateway_controller.py)."""
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyGateway",
        "gateway": {"controllerName": CONTROLLER_NAME},
        "provider": {"type": "Kubernetes"},
        "logging": {"level": {"default": "info"}},
        "extensionApis": {"enableEnvoyPatchPolicy": True},
    }


def controller_environment(kubeconfig: str) -> dict[str, str]:
    return {
        "PATH": "/",
        "HOME": "/tmp",
        "KUBECONFIG": kubeconfig,
        "ENVOY_GATEWAY_NAMESPACE": CONTROLLER_NAMESPACE,
    }


def link_or_copy(source: Path, destination: Path) -> None:
    """`destination` becomes a hard link to `source` (a copy across filesystems), replacing it."""
    if destination.exists():
        destination.unlink()
    try:
        os.link(source, destination)
    except OSError:  # another filesystem
        shutil.copy2(source, destination)


def secret_data(kubectl_binary: Path, layout: ClusterLayout, namespace: str, name: str) -> dict[str, bytes]:
    secret = json.loads(kubectl(kubectl_binary, layout, "get", "secret", "-n", namespace, name, "-o", "json"))
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def prepare_root(binary: Path, kubectl_binary: Path, layout: ClusterLayout) -> Path:
    """The controller's root directory: the binary, /certs, /config, /kubeconfig, /tmp."""
    root = controller_root(layout)
    for directory in ("certs", "config", "tmp"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    link_or_copy(binary, root / "envoy-gateway")
    shutil.copy2(layout.kubeconfig, root / "kubeconfig")
    (root / "config" / "envoy-gateway.yaml").write_text(yaml.safe_dump(controller_config(), sort_keys=False))
    for key, value in secret_data(kubectl_binary, layout, CONTROLLER_NAMESPACE, "envoy-gateway").items():
        path = root / "certs" / key
        path.write_bytes(value)
        path.chmod(0o600)
    return root


def controller_healthy() -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{HEALTH_PORT}/readyz", timeout=2) as response:
        return response.status == 200


def start_envoy_gateway(binary: Path, kubectl_binary: Path, layout: ClusterLayout) -> ManagedProcess:
    """Namespace, certgen, then the controller (until its /readyz answers)."""
    prepare_envoy_gateway(binary, kubectl_binary, layout)
    return run_controller(layout)


def prepare_envoy_gateway(binary: Path, kubectl_binary: Path, layout: ClusterLayout) -> Path:
    """The controller's namespace and certificates (certgen), and its root directory."""
    kubectl(
        kubectl_binary,
        layout,
        "apply",
        "--server-side",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CONTROLLER_NAMESPACE}}),
    )
    certgen = ManagedProcess(
        "envoy-gateway certgen",
        [str(binary), "certgen", "--disable-topology-injector"],
        layout.logs_directory / "envoy-gateway-certgen.log",
        environment=dict(controller_environment(str(layout.kubeconfig)), PATH=os.environ.get("PATH", "")),
    ).start()
    assert certgen.process is not None
    if certgen.process.wait(timeout=STARTUP_TIMEOUT_SECONDS) != 0:
        raise StartupError(f"Envoy Gateway's certgen failed: {certgen.failure()}")
    return prepare_root(binary, kubectl_binary, layout)


def controller_root(layout: ClusterLayout) -> Path:
    return layout.state_directory / "envoy-gateway-root"


def run_controller(layout: ClusterLayout) -> ManagedProcess:
    """Start the controller chrooted into its prepared root; return once /readyz answers."""
    root = controller_root(layout)

    def enter_root() -> None:
        os.chroot(root)
        os.chdir("/")

    controller = ManagedProcess(
        "envoy-gateway",
        ["/envoy-gateway", "server", "--config-path", "/config/envoy-gateway.yaml"],
        layout.logs_directory / "envoy-gateway.log",
        environment=controller_environment("/kubeconfig"),
        preexec=enter_root,
    ).start()
    wait_for("Envoy Gateway controller /readyz", controller_healthy, STARTUP_TIMEOUT_SECONDS, controller)
    return controller
