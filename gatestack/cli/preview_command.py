"""`gatestack preview`: `pulumi preview` of a stack against the local cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.cluster_commands import start_local_cluster
from gatestack.cli.console import DEPLOY_STACK_OPTION, FAILED, STATE_OPTION, cluster_layout, stack_or_exit
from gatestack.cluster.binaries import pulumi_engine_binaries
from gatestack.engine.deploy import pulumi_for
from gatestack.engine.pulumi_cli import PulumiCommandFailed
from gatestack.engine.workspace import deployed_to_local_cluster


def preview(
    stack: str = DEPLOY_STACK_OPTION,
    state_directory: Optional[Path] = STATE_OPTION,
    diff: bool = typer.Option(False, "--diff", help="Show property-level differences."),
) -> None:
    """`pulumi preview` of a stack against the local cluster (started if it is not running)."""
    deployed = deployed_to_local_cluster(stack_or_exit(stack, None))
    layout = cluster_layout(state_directory)
    start_local_cluster(layout)
    pulumi = pulumi_for(layout, deployed.name, pulumi_engine_binaries(), deployed.text)
    try:
        pulumi.select_stack(deployed.name)
        pulumi.preview(deployed.name, diff=diff)
    except PulumiCommandFailed:
        raise typer.Exit(FAILED)
