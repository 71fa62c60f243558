"""A Pulumi program of its own that installs Envoy Gateway from the charts `gatestack charts`
writes into a local directory (gateway-helm and gateway-crds-helm of `VERSION`), run by the real
engine against the session's local cluster in namespace `NAMESPACE`; shared by the preview and
the install tests of those charts."""

from __future__ import annotations

from pathlib import Path

from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import inside_command
from gatestack.engine.deploy import engine_layout
from gatestack.engine.pulumi_cli import PulumiCli, link_binaries
from gatestack.engine.workspace import prepare_program_workspace
from gatestack.paths import VIRTUALENV
from gatestack.toolchain.helm_charts import write_released_charts

VERSION = "v1.9.0"
# Apart from the cluster's own controller (the managed mode) in `envoy-gateway-system`: this
# stack's destroy deletes its namespace, with everything in it.
NAMESPACE = "eg-charts"
CERTGEN = "eg-gateway-helm-certgen"
CRDS = ("envoyproxies.gateway.envoyproxy.io", "backendtrafficpolicies.gateway.envoyproxy.io")
PROGRAM = '''"""Envoy Gateway installed from the charts in a local directory, and nothing else."""
import pulumi
from pulumi_envoy_gateway import EnvoyGatewayController

config = pulumi.Config()
EnvoyGatewayController(
    "envoy-gateway", namespace="eg-charts", version=config.require("version"), chart_repository=config.require("chartRepository")
)
'''


def program_engine(cluster: ClusterLayout, engine_binaries: dict[str, Path], folder: Path, text: str, stack: str) -> PulumiCli:
    """The real engine on `text` as a program of its own, its charts written by `gatestack charts`
    into `folder`, `stack` selected."""
    write_released_charts(VERSION, folder / "charts")
    program = folder / "chart-install"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: chart-install\nruntime: python\n")
    (program / "__main__.py").write_text(text)
    layout = engine_layout(cluster)
    link_binaries(layout, engine_binaries)
    config = {"chart-install:version": VERSION, "chart-install:chartRepository": str(folder / "charts")}
    workspace = prepare_program_workspace(layout, program, stack, VIRTUALENV, config)
    pulumi = PulumiCli(layout, workspace, cluster.kubeconfig, VIRTUALENV, wrap=lambda command: inside_command(cluster, command))
    pulumi.select_stack(stack)
    return pulumi


def state_objects(pulumi: PulumiCli, stack: str) -> set[tuple[str, str]]:
    """(type, metadata.name) of each Kubernetes object in the stack's state."""
    resources = pulumi.export(stack)["deployment"].get("resources") or []
    return {(item["type"], ((item.get("inputs") or {}).get("metadata") or {}).get("name")) for item in resources}
