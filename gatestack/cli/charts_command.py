"""`gatestack charts`: Envoy Gateway's released Helm charts of a version, written into a folder."""

from __future__ import annotations

from pathlib import Path

import typer

from gatestack.cli.console import FAILED, fail
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, ToolchainError
from gatestack.toolchain.helm_charts import write_released_charts


def charts(
    version: str = typer.Option(DEFAULT_ENVOY_GATEWAY_VERSION, "--version", help="Envoy Gateway release, such as v1.9.0."),
    out: Path = typer.Option(..., "--out", help="Folder to write gateway-helm/ and gateway-crds-helm/ into."),
) -> None:
    """Write the released charts of a version (gateway-helm with its crds sub-chart, and
    gateway-crds-helm) from Envoy Gateway's Go module zip, for `controller.chartRepository:
    ./<folder>` (air-gapped and vendored installs). Only the two release steps of upstream's
    tools/make/helm.mk are applied: values.yaml from values.tmpl.yaml (the image
    docker.io/envoyproxy/gateway:<version>, IfNotPresent), and the chart's version and appVersion."""
    try:
        written = write_released_charts(version, out)
    except ToolchainError as error:
        fail(str(error), FAILED)
    for directory in written:
        typer.echo(f"{directory.name}: {directory}")
