"""`gatestack cluster up|down|status|exec`: the embedded local cluster (see gatestack/cluster/).

- `cluster up|down|status`  start, stop, or describe the cluster
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
from gatestack.cluster.binaries import cluster_binaries, kubectl_directory, pulumi_engine_binaries
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import ClusterError, down, inside_command, inside_environment, require_running, status, up
from gatestack.engine.deploy import pulumi_for
from gatestack.engine.pulumi_cli import PulumiCli
from gatestack.engine.workspace import deployed_to_local_cluster
from gatestack.progress import progress
from gatestack.stack_source import StackSource
from gatestack.toolchain import ToolchainError

cluster_app = typer.Typer(no_args_is_help=True, help="The embedded local cluster (Kubernetes + Envoy Gateway).")


def start_local_cluster(layout: ClusterLayout) -> None:
    """Start the cluster unless it runs (building missing binaries first); failures exit 1."""
    try:
        up(layout, cluster_binaries, progress)
    except (ClusterError, ToolchainError) as error:
        fail(f"error: {error}", FAILED)


def engine_in_local_cluster(source: StackSource, state_directory: Optional[Path]) -> tuple[StackSource, ClusterLayout, PulumiCli]:
    """For `up`, `preview` and `destroy`: the stack as the local cluster runs it
    (`deployed_to_local_cluster`), the cluster (started if it is not running), and the
    engine with that stack written into its workspace."""
    deployed = deployed_to_local_cluster(source)
    layout = cluster_layout(state_directory)
    start_local_cluster(layout)
    return deployed, layout, pulumi_for(layout, deployed.name, pulumi_engine_binaries(), deployed.text)


@cluster_app.command("up")
def cluster_up(state_directory: Optional[Path] = STATE_OPTION) -> None:
    """Start the local cluster (build its binaries first if missing); it runs until `cluster down`."""
    layout = cluster_layout(state_directory)
    start_local_cluster(layout)
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
    """Run a command inside the cluster's network namespace, with KUBECONFIG set
    (e.g. `cluster exec -- curl -H "Host: www.example.com" http://$GATEWAY_HOST/get`)."""
    layout = cluster_layout(state_directory)
    try:
        require_running(layout)
    except ClusterError as error:
        fail(f"error: {error}", FAILED)
    command = list(context.args) or [os.environ.get("SHELL", "/bin/sh")]
    environment = inside_environment(layout)
    environment["PATH"] = f"{kubectl_directory()}{os.pathsep}{environment.get('PATH', '')}"
    raise typer.Exit(subprocess.run(inside_command(layout, command), env=environment).returncode)
