"""`gatestack conformance`: the whole offline proof of a stack, with the real data plane."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.console import CONFIG_OPTION, FAILED, SAMPLE_SIZE_OPTION, STACK_OPTION, stack_or_exit
from gatestack.offline_proof.conformance_run import run_conformance


def conformance(
    stack: Optional[str] = STACK_OPTION,
    config_file: Optional[Path] = CONFIG_OPTION,
    sample_size: int = SAMPLE_SIZE_OPTION,
) -> None:
    """Prove the stack offline with the real data plane; exit 1 on any failure.

    1. render with real certificate material (as pulumi-tls would make it);
    2. validate every object (Envoy Gateway's CRD schemas and CEL rules, Kubernetes schemas);
    3. translate with Envoy Gateway's egctl, failing on any status condition not True;
    4. run the translated config in a real Envoy on 127.0.0.1 with an echo server per Service;
    5. run `verify` against it.
    """
    if not run_conformance(stack_or_exit(stack, config_file), sample_size=sample_size):
        raise typer.Exit(FAILED)
