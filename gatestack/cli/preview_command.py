"""`gatestack preview`: `pulumi preview` of a stack against the local cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.cluster_commands import engine_in_local_cluster, supply_existing_secrets
from gatestack.cli.console import DEPLOY_STACK_OPTION, FAILED, STATE_OPTION, stack_or_exit
from gatestack.engine.pulumi_cli import PulumiCommandFailed


def preview(
    stack: str = DEPLOY_STACK_OPTION,
    state_directory: Optional[Path] = STATE_OPTION,
    diff: bool = typer.Option(False, "--diff", help="Show property-level differences."),
) -> None:
    """`pulumi preview` of a stack against the local cluster (started if it is not running;
    the stack's certificates supplied as existing Secrets first, as `up` does)."""
    source = stack_or_exit(stack, None)
    deployed, layout, pulumi = engine_in_local_cluster(source, state_directory)
    supply_existing_secrets(layout, source)
    try:
        pulumi.select_stack(deployed.name)
        pulumi.preview(deployed.name, diff=diff)
    except PulumiCommandFailed:
        raise typer.Exit(FAILED)
