"""`gatestack cluster up|down|status|exec`: the embedded local cluster (see gatestack/cluster/).

- `cluster up|down|status`  start (`--without-envoy-gateway`: for stacks that install it), stop,
                            or describe the cluster
- `cluster exec -- CMD`     run CMD inside the cluster's network namespace, KUBECONFIG set
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.console import FAILED, STATE_OPTION, cluster_layout, fail
from gatestack.cluster.binaries import cluster_binaries, kubectl_binary, kubectl_directory, pulumi_engine_binaries
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.chart_registry import command_with_registry_names, registry_client_environment
from gatestack.cluster.lifecycle import ClusterError, down, inside_environment, require_running, status, up
from gatestack.engine.deploy import ensure_certificate_secrets, ensure_client_authorities, pulumi_for
from gatestack.engine.pulumi_cli import PulumiCli
from gatestack.engine.workspace import deployed_to_local_cluster
from gatestack.progress import progress, step
from gatestack.stack_source import StackSource
from gatestack.toolchain import ToolchainError
from gatestack.toolchain.registry_builds import HELM_VERSION
from gatestack.toolchain.go_build import installed_binary

cluster_app = typer.Typer(no_args_is_help=True, help="The embedded local cluster (Kubernetes + Envoy Gateway).")


def start_local_cluster(layout: ClusterLayout, envoy_gateway: bool = True, why: str = "") -> None:
    """Start the cluster unless it runs (building missing binaries first), with or without an
    Envoy Gateway of its own (`lifecycle.up`); failures, a running cluster of the other mode
    included, exit 1 with one line (`why` the mode, first)."""
    try:
        up(layout, cluster_binaries, progress, envoy_gateway=envoy_gateway)
    except (ClusterError, ToolchainError) as error:
        fail(f"error: {why}{error}", FAILED)


def local_cluster_title(source: StackSource) -> str:
    """The `==> local cluster (...)` step's title: which cluster the stack needs."""
    if source.config.controller.install:
        return "local cluster (Kubernetes v1.36, kwok node; Envoy Gateway installed by the stack from its charts)"
    return "local cluster (Kubernetes v1.36, kwok node, Envoy Gateway controller)"


def engine_in_local_cluster(source: StackSource, state_directory: Optional[Path]) -> tuple[StackSource, ClusterLayout, PulumiCli]:
    """For `up`, `preview` and `destroy`: the stack as the local cluster runs it
    (`deployed_to_local_cluster`), the cluster (started if it is not running), and the
    engine with that stack written into its workspace.

    A stack that installs Envoy Gateway (`controller.install: true`, as written) needs a cluster
    without one of its own, as kind, EKS or GKE start; one that does not (`install: false`)
    needs the cluster's managed controller, as on ACK with its add-on. A running cluster of
    the other mode is refused with one line."""
    installs = source.config.controller.install
    deployed = deployed_to_local_cluster(source, managed_controller=not installs)
    layout = cluster_layout(state_directory)
    why = (
        f"stack {source.name} installs Envoy Gateway from its charts (controller.install: true) and needs a cluster without one: "
        if installs
        else f"stack {source.name} uses the cluster's Envoy Gateway (controller.install: false) and needs a cluster with one: "
    )
    start_local_cluster(layout, envoy_gateway=not installs, why=why)
    return deployed, layout, pulumi_for(layout, deployed.name, pulumi_engine_binaries(), deployed.text)


def supply_existing_secrets(layout: ClusterLayout, source: StackSource) -> Optional[Path]:
    """The step before the engine runs a stack (`up`, and `preview`, which reads them): each
    certificate and client CA as an existing Secret, made from the stack as written with the
    material TlsCert and ClientCertificateAuthority would generate there (the deployed stack
    reads it from the Secrets); the file of the client certificates, or None."""
    with step("certificates and client CAs as existing Secrets"):
        for name in ensure_certificate_secrets(layout, kubectl_binary(), source.config):
            progress(
                f"    certificate {name}: supplied as an existing Secret (source: existingSecret) with the "
                "material TlsCert would generate; pulumi-tls's provider cannot be built on this machine"
            )
        client_certificates = ensure_client_authorities(layout, kubectl_binary(), source.config, source.name)
        for authority in source.config.client_certificate_authorities:
            progress(
                f"    client CA {authority.name}: supplied as an existing Secret (source: existingSecret) with the "
                f"material ClientCertificateAuthority would generate; its client certificates are in {client_certificates}"
            )
    return client_certificates


@cluster_app.command("up")
def cluster_up(
    state_directory: Optional[Path] = STATE_OPTION,
    without_envoy_gateway: bool = typer.Option(
        False,
        "--without-envoy-gateway",
        help="No Envoy Gateway of the cluster's own (as kind, EKS or GKE start): stacks with controller.install: true "
        "install it from its charts, served under oci://docker.io/envoyproxy by the cluster's stand-in registry.",
    ),
) -> None:
    """Start the local cluster (build its binaries first if missing); it runs until `cluster down`."""
    layout = cluster_layout(state_directory)
    start_local_cluster(layout, envoy_gateway=not without_envoy_gateway)
    typer.echo(f"KUBECONFIG={layout.kubeconfig} (reachable inside the namespace: `python -m gatestack cluster exec -- kubectl get pods -A`)")


@cluster_app.command("down")
def cluster_down(state_directory: Optional[Path] = STATE_OPTION) -> None:
    """Stop the local cluster and remove its namespace and state (stacks deployed into it included)."""
    down(cluster_layout(state_directory), progress)


@cluster_app.command("status")
def cluster_status(state_directory: Optional[Path] = STATE_OPTION) -> None:
    """Print whether the cluster runs, its proxies and its load balancers (JSON)."""
    typer.echo(json.dumps(status(cluster_layout(state_directory)), indent=1))


@cluster_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def cluster_exec(context: typer.Context, state_directory: Optional[Path] = STATE_OPTION) -> None:
    """Run a command inside the cluster's network namespace, with KUBECONFIG set and kubectl and
    helm on PATH (e.g. `cluster exec -- curl -H "Host: www.example.com" http://$GATEWAY_HOST/get`;
    in a cluster without an Envoy Gateway of its own, `cluster exec -- helm show chart
    oci://docker.io/envoyproxy/gateway-helm --version v1.9.0` reads the registry's stand-in)."""
    layout = cluster_layout(state_directory)
    try:
        require_running(layout)
    except ClusterError as error:
        fail(f"error: {error}", FAILED)
    command = list(context.args) or [os.environ.get("SHELL", "/bin/sh")]
    environment = {**inside_environment(layout), **registry_client_environment(layout)}
    helm = installed_binary("helm", HELM_VERSION)
    on_path = [kubectl_directory(), *([helm.parent] if helm.is_file() else [])]
    environment["PATH"] = os.pathsep.join([*map(str, on_path), environment.get("PATH", "")])
    raise typer.Exit(subprocess.run(command_with_registry_names(layout, command), env=environment).returncode)
