"""`gatestack destroy`: `pulumi destroy` of a stack in the local cluster, and its certificate Secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.cluster_commands import engine_in_local_cluster
from gatestack.cli.console import DEPLOY_STACK_OPTION, FAILED, STATE_OPTION, stack_or_exit
from gatestack.cluster.binaries import kubectl_binary
from gatestack.engine.deploy import delete_certificate_secrets
from gatestack.engine.pulumi_cli import PulumiCommandFailed


def destroy(
    stack: str = DEPLOY_STACK_OPTION,
    state_directory: Optional[Path] = STATE_OPTION,
    unprotect: bool = typer.Option(
        False, "--unprotect", help="First `pulumi state unprotect --all` (production stacks protect their controller and CA)."
    ),
) -> None:
    """`pulumi destroy` of a stack in the local cluster, and its certificate Secrets."""
    deployed, layout, pulumi = engine_in_local_cluster(stack_or_exit(stack, None), state_directory)
    try:
        pulumi.select_stack(deployed.name)
        if unprotect:
            pulumi.unprotect_all(deployed.name)
        pulumi.destroy(deployed.name)
    except PulumiCommandFailed:
        raise typer.Exit(FAILED)
    delete_certificate_secrets(layout, kubectl_binary(), deployed.config)
