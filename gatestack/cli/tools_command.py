"""`gatestack tools`: the pinned tools, built from the Go module proxy into .tools/."""

from __future__ import annotations

import typer

from gatestack.cli.console import FAILED, fail
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, ToolchainError, ensure_tools


def tools(
    version: str = typer.Option(DEFAULT_ENVOY_GATEWAY_VERSION, "--version", help="Envoy Gateway version whose egctl to build."),
    cluster: bool = typer.Option(
        False, "--cluster", help="Also build the local cluster's binaries (etcd, kube-*, kwok, envoy-gateway, the charts' registry and helm)."
    ),
    engine: bool = typer.Option(
        False, "--engine", help="Also build the Pulumi engine (CLI, Python language host, Kubernetes provider)."
    ),
) -> None:
    """Install the pinned tools into .tools/ (a second run reuses them)."""
    try:
        installed = ensure_tools(version, cluster=cluster, engine=engine)
    except ToolchainError as error:
        fail(str(error), FAILED)
    for name, path in installed.items():
        typer.echo(f"{name}: {path}")
