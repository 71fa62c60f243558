"""What the commands share: their common options, and how they report progress and failure.

Exit codes: 0 success, 1 a check, proof or deploy failed, 2 bad config or usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn, Optional

import typer

from gateway_config.loader import ConfigError
from gatestack.cluster.layout import ClusterLayout
from gatestack.stack_source import StackSource, load_stack

STACK_OPTION = typer.Option(None, "--stack", help="Stack name: reads stacks/Pulumi.NAME.yaml.")
CONFIG_OPTION = typer.Option(None, "--config", help="A stack file to read instead of --stack.")
DEPLOY_STACK_OPTION = typer.Option("dev", "--stack", help="Stack name: stacks/Pulumi.NAME.yaml.")
STATE_OPTION = typer.Option(None, "--state-dir", help="The cluster's state directory (default .local/cluster in the repository).")
SAMPLE_SIZE_OPTION = typer.Option(200, "--sample-size", help="Requests per weighted split check.")

BAD_INPUT = 2
FAILED = 1


def fail(message: str, code: int) -> NoReturn:
    """Print `message` on stderr and leave with `code` (no traceback: the message says it all)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def stack_or_exit(stack: Optional[str], config_file: Optional[Path]) -> StackSource:
    """The stack `--stack` or `--config` names, read and validated once; bad input exits 2."""
    try:
        return load_stack(stack, config_file)
    except ConfigError as error:
        fail(str(error), BAD_INPUT)


def cluster_layout(state_directory: Optional[Path]) -> ClusterLayout:
    """The local cluster in `--state-dir` (default `.local/cluster`)."""
    return ClusterLayout(state_directory.resolve()) if state_directory else ClusterLayout()

