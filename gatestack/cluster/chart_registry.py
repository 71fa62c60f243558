"""A stand-in for Envoy Gateway's chart registry, `oci://docker.io/envoyproxy`, inside the cluster.

Upstream publishes its charts to Docker Hub (`helm install eg
oci://docker.io/envoyproxy/gateway-helm --version v1.9.0`), which cannot be reached from here.
A cluster started without an Envoy Gateway of its own (the mode of `controller.install: true`)
therefore runs CNCF Distribution's `registry` inside its network namespace, and serves under
Docker Hub's names exactly the charts upstream's release pushes there, packaged and pushed by
`helm` itself (`gatestack.toolchain.registry_builds`). Stack files keep their default
`chartRepository`; the Kubernetes provider pulls through Helm's own registry client.

How a client inside the namespace finds it:
- **names**: Helm's OCI client (oras-go v2, `registry.Reference.Host`) sends requests for
  `docker.io/...` to `registry-1.docker.io`, as Docker does; both names resolve to the
  registry's address through `/etc/netns/<namespace>/hosts`, iproute2's own mechanism:
  `ip netns exec <namespace> CMD` runs CMD in a private mount namespace with that file
  bind-mounted over `/etc/hosts` (`command_with_registry_names`). Nothing else on the machine
  sees it; `cluster down` removes it.
- **trust**: the registry serves TLS with a certificate for those two names signed by the
  cluster's CA; `SSL_CERT_FILE` names a bundle of the machine's roots plus that CA, which Go's
  TLS (Helm, the provider) reads in place of the system's (`registry_client_environment`).

No packet leaves the namespace: the registry listens on the namespace's loopback only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import ssl
from pathlib import Path
from typing import Callable

import yaml

from gatestack.cluster import netns
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.pki import ClusterPki, ensure_serving_certificate
from gatestack.cluster.processes import ManagedProcess, StartupError, wait_for
from gatestack.toolchain.registry_builds import run_helm
from gatestack.toolchain.go_build import ToolchainError

CHART_REPOSITORY = "oci://docker.io/envoyproxy"
# docker.io is what a reference names; registry-1.docker.io is where oras-go sends it.
REGISTRY_NAMES = ("docker.io", "registry-1.docker.io")
REGISTRY_ADDRESS = "127.0.0.1"
REGISTRY_PORT = 443
# Machine-wide roots, to which the cluster's CA is added (Debian's ca-certificates bundle).
SYSTEM_ROOTS = Path("/etc/ssl/certs/ca-certificates.crt")
NETNS_CONFIG_DIRECTORY = Path("/etc/netns")
STARTUP_TIMEOUT_SECONDS = 30


def registry_directory(layout: ClusterLayout) -> Path:
    return layout.state_directory / "chart-registry"


def hosts_file(layout: ClusterLayout) -> Path:
    """`/etc/netns/<namespace>/hosts`: what `ip netns exec <namespace>` mounts over /etc/hosts."""
    return NETNS_CONFIG_DIRECTORY / layout.network_namespace / "hosts"


def trusted_roots_file(layout: ClusterLayout) -> Path:
    """The bundle `SSL_CERT_FILE` names: the machine's roots and the cluster's CA."""
    return registry_directory(layout) / "trusted-roots.pem"


def command_with_registry_names(layout: ClusterLayout, command: list[str]) -> list[str]:
    """`command` to run inside the cluster's network namespace where Docker Hub's names resolve
    to the stand-in registry: through `ip netns exec` when the cluster runs one (its hosts file
    exists), else as every command enters the namespace (`nsenter --net`)."""
    if hosts_file(layout).is_file():
        return ["ip", "netns", "exec", layout.network_namespace, *command]
    return netns.command_inside(layout.network_namespace, command)


def registry_client_environment(layout: ClusterLayout) -> dict[str, str]:
    """What a client of the stand-in registry adds to its environment: `SSL_CERT_FILE`, when
    the cluster runs the registry (nothing otherwise)."""
    roots = trusted_roots_file(layout)
    return {"SSL_CERT_FILE": str(roots)} if roots.is_file() else {}


def write_hosts_file(layout: ClusterLayout) -> Path:
    """The machine's /etc/hosts plus Docker Hub's names at the registry's address, as the
    namespace's own hosts file."""
    path = hosts_file(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    machine = Path("/etc/hosts").read_text() if Path("/etc/hosts").is_file() else "127.0.0.1 localhost\n"
    path.write_text(
        f"{machine.rstrip()}\n"
        f"# gatestack local cluster ({layout.state_directory}): Envoy Gateway's chart registry stand-in\n"
        f"{REGISTRY_ADDRESS} {' '.join(REGISTRY_NAMES)}\n"
    )
    return path


def remove_hosts_file(layout: ClusterLayout) -> None:
    """Remove `/etc/netns/<namespace>/` (only what `write_hosts_file` put there is expected),
    and `/etc/netns` itself once no namespace has files there."""
    directory = hosts_file(layout).parent
    if directory.is_dir():
        shutil.rmtree(directory)
    try:
        NETNS_CONFIG_DIRECTORY.rmdir()
    except OSError:  # absent, or another namespace's files are there
        pass


def write_trusted_roots(layout: ClusterLayout, pki: ClusterPki) -> Path:
    roots = trusted_roots_file(layout)
    machine = SYSTEM_ROOTS.read_text() if SYSTEM_ROOTS.is_file() else ""
    roots.write_text(machine.rstrip() + "\n" + pki.ca_certificate.read_text())
    return roots


def registry_config(layout: ClusterLayout, certificate: Path, key: Path) -> dict:
    """Distribution's configuration: filesystem storage in the cluster's state, TLS on the
    namespace's loopback, port 443 as Docker Hub's."""
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(registry_directory(layout) / "storage")}},
        "http": {
            "addr": f"{REGISTRY_ADDRESS}:{REGISTRY_PORT}",
            "secret": secrets.token_urlsafe(32),
            "tls": {"certificate": str(certificate), "key": str(key)},
        },
    }


def answers_v2(ca_file: Path) -> bool:
    """The registry answers `GET /v2/` (the OCI distribution API's base) over TLS verified for
    Docker Hub's name against the cluster's CA."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection((REGISTRY_ADDRESS, REGISTRY_PORT), timeout=2) as raw:
        with context.wrap_socket(raw, server_hostname=REGISTRY_NAMES[1]) as connection:
            connection.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {REGISTRY_NAMES[1]}\r\nConnection: close\r\n\r\n".encode())
            return connection.recv(64).startswith(b"HTTP/1.1 200")


def start_chart_registry(
    registry: Path, helm: Path, chart_files: list[Path], layout: ClusterLayout, pki: ClusterPki,
    log: Callable[[str], None] = lambda _: None,
) -> ManagedProcess:
    """Start the registry (inside the cluster's namespace, where the supervisor runs), then push
    each packaged chart in `chart_files` into it with `helm push <chart> oci://docker.io/envoyproxy`
    as upstream's release does; return the running registry."""
    directory = registry_directory(layout)
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = ensure_serving_certificate(pki, "chart-registry", list(REGISTRY_NAMES))
    write_trusted_roots(layout, pki)
    write_hosts_file(layout)
    config_file = directory / "config.yml"
    config_file.write_text(yaml.safe_dump(registry_config(layout, certificate, key), sort_keys=False))
    process = ManagedProcess(
        "chart registry",
        [str(registry), "serve", str(config_file)],
        layout.logs_directory / "chart-registry.log",
        # Traces to the log only: without this, OpenTelemetry's autoexport would send them to an
        # OTLP collector on localhost:4318, which nothing runs.
        environment={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
    ).start()
    wait_for("the chart registry to answer GET /v2/", lambda: answers_v2(pki.ca_certificate), STARTUP_TIMEOUT_SECONDS, process)
    for chart in chart_files:
        try:
            pushed = run_helm(
                helm, ["push", str(chart), CHART_REPOSITORY], directory / "helm",
                wrap=lambda command: command_with_registry_names(layout, command),
                environment=registry_client_environment(layout),
            )
        except ToolchainError as error:
            process.stop()
            raise StartupError(f"pushing {chart.name} into the chart registry failed: {error}") from None
        log(f"pushed {chart.name}: {' '.join(pushed.split())}")
    return process
