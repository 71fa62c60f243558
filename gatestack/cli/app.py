"""`gatestack`: render, prove, deploy and smoke-test the API gateway a Pulumi stack declares.

- `render`       every Kubernetes object the stack declares, as multi-document YAML
- `conformance`  the whole offline proof: real certificates, upstream validators, Envoy
                 Gateway's translator, a real Envoy with echo backends, then `verify`
- `verify`       checks derived from the stack's config, sent to a running gateway
- `local`        the stack's gateway running on 127.0.0.1 until Ctrl-C
- `tools`        install the pinned tools into .tools/ (`--cluster`, `--engine` for more)
- `charts`       Envoy Gateway's released Helm charts of a version, written into a folder
- `cluster ...`  the embedded local cluster: `up`, `down`, `status`, `exec -- CMD`
- `up`, `preview`, `destroy`   the real Pulumi engine against the local cluster

The offline commands take `--stack NAME` (stacks/Pulumi.NAME.yaml) or `--config FILE`.
Exit codes: 0 success, 1 a check, proof or deploy failed, 2 bad config or usage.
"""

from __future__ import annotations

import typer

from gatestack.cli.charts_command import charts
from gatestack.cli.cluster_commands import cluster_app
from gatestack.cli.conformance_command import conformance
from gatestack.cli.destroy_command import destroy
from gatestack.cli.local_command import local
from gatestack.cli.preview_command import preview
from gatestack.cli.render_command import render
from gatestack.cli.tools_command import tools
from gatestack.cli.up_command import up
from gatestack.cli.verify_command import verify

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Render, prove and smoke-test the API gateway a Pulumi stack declares.",
)
for command in (render, verify, conformance, local, tools, charts):
    app.command()(command)
app.add_typer(cluster_app, name="cluster")
for command in (up, preview, destroy):
    app.command()(command)

# The click command behind the typer app: what the documentation's CLI reference (mkdocs-click)
# reads, so the reference is the commands' own help.
click_command = typer.main.get_command(app)


def main() -> None:
    app()
