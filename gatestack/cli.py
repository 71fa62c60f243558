"""`python -m gatestack`: render, prove and smoke-test a stack's gateway.

- `render`       every Kubernetes object the stack declares, as multi-document YAML
- `conformance`  the whole offline proof: real certificates, upstream validators, Envoy
                 Gateway's translator, a real Envoy with echo backends, then `verify`
- `verify`       checks derived from the stack's config, sent to a running gateway
- `local`        the stack's gateway running on 127.0.0.1 until Ctrl-C
- `tools`        install the pinned tools (egctl, kubectl-validate, actionlint) into .tools/;
                 `--cluster` / `--engine` add the local cluster's and the Pulumi engine's binaries

Every command takes `--stack NAME` (stacks/Pulumi.NAME.yaml) or `--config FILE`.
Exit codes: 0 success, 1 a check or proof failed, 2 bad config or usage.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn, Optional

import typer

from gateway_config.loader import ConfigError
from gatestack.stack_source import StackSource, load_stack

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Render, prove and smoke-test the API gateway a Pulumi stack declares.",
)

StackOption = typer.Option(None, "--stack", help="Stack name: reads stacks/Pulumi.NAME.yaml.")
ConfigOption = typer.Option(None, "--config", help="A stack file to read instead of --stack.")


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _stack(stack: Optional[str], config_file: Optional[Path]) -> StackSource:
    try:
        return load_stack(stack, config_file)
    except ConfigError as error:
        _fail(str(error), 2)


@contextmanager
def _step(title: str) -> Iterator[None]:
    """Print a step and how long it took, so a long proof shows where it is."""
    typer.echo(f"==> {title}", err=True)
    started = time.monotonic()
    yield
    typer.echo(f"    done in {time.monotonic() - started:.1f}s", err=True)


@app.command()
def render(
    stack: Optional[str] = StackOption,
    config_file: Optional[Path] = ConfigOption,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Print every Kubernetes object the stack declares (multi-document YAML).

    Runs the real program under the Pulumi SDK's mock engine. Certificates and keys appear
    as `<computed at deploy time: ...>` placeholders and Secret values as `<secret: ...>`;
    Helm charts appear as `apiVersion: helm.sh/v4, kind: Chart` stand-ins.
    """
    from gatestack.program import ProgramFailed, run_program
    from gatestack.render import kubernetes_objects, to_yaml

    source = _stack(stack, config_file)
    try:
        run = run_program(source.name, source.raw_config)
    except ProgramFailed as error:
        _fail(str(error), 2)
    text = to_yaml(kubernetes_objects(run))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@app.command()
def verify(
    host: str = typer.Option(..., "--host", help="The gateway's address (the stack output GATEWAY_HOST)."),
    stack: Optional[str] = StackOption,
    config_file: Optional[Path] = ConfigOption,
    http_port: Optional[int] = typer.Option(None, "--http-port", help="Port of the HTTP listener (default: as declared)."),
    https_port: Optional[int] = typer.Option(None, "--https-port", help="Port of the HTTPS listener (default: as declared)."),
    ca_file: Optional[Path] = typer.Option(None, "--ca-file", help="CA certificate (PEM) the HTTPS listeners' certificates chain to."),
    sample_size: int = typer.Option(200, "--sample-size", help="Requests per weighted split check."),
    client_certificates: Optional[Path] = typer.Option(
        None,
        "--client-certificates",
        help="JSON of mutual-TLS clients, as `pulumi stack output CLIENT_CERTIFICATES --show-secrets --json` prints it.",
    ),
    credentials: Optional[Path] = typer.Option(
        None,
        "--credentials",
        help="YAML or JSON of basic-auth passwords, API keys and JWTs or signing keys a legitimate client holds "
        "(gatestack/verify/credentials_file.py); checks needing what it leaves out are not checked.",
    ),
    state_directory: Optional[Path] = typer.Option(
        None,
        "--state-dir",
        help="The local cluster's state directory: lets verify stop and start an inference pool's Endpoint Picker.",
    ),
) -> None:
    """Send the checks derived from the stack's config to a running gateway; exit 1 on any failure."""
    import json

    from gatestack.verify import Target, format_table
    from gatestack.verify import verify as run_checks
    from gatestack.verify.material import ProofMaterial

    source = _stack(stack, config_file)
    targets = {}
    for listener in source.config.gateway.listeners:
        override = http_port if listener.protocol == "HTTP" else https_port
        targets[listener.name] = Target(host, override if override is not None else listener.port)
    ca_pems = None
    if ca_file is not None:
        ca_pem = ca_file.read_text()
        ca_pems = {certificate.secret_name: ca_pem for certificate in source.config.certificates}
    material = None
    if client_certificates is not None:
        material = ProofMaterial.from_outputs({"CLIENT_CERTIFICATES": json.loads(client_certificates.read_text())})
    if credentials is not None:
        from gatestack.verify.credentials_file import CredentialsFileError, load_credentials

        try:
            material = load_credentials(credentials, source.config, material)
        except CredentialsFileError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
    inference = None
    if state_directory is not None:
        from gatestack.cluster.layout import ClusterLayout
        from gatestack.cluster.lifecycle import start_endpoint_picker, stop_endpoint_picker
        from gatestack.verify import EndpointPickerControl, InferenceEnvironment

        layout = ClusterLayout(state_directory.resolve())
        inference = InferenceEnvironment(
            control=EndpointPickerControl(
                stop=lambda namespace, pool: stop_endpoint_picker(layout, namespace, pool),
                start=lambda namespace, pool: start_endpoint_picker(layout, namespace, pool),
            )
        )
    results = run_checks(source.config, targets, ca_pems, sample_size=sample_size, material=material, inference=inference)
    typer.echo(format_table(results))
    # A check verify could not make (e.g. a regular-expression path) is listed as not
    # checked; only failures fail the command.
    if any(not result.passed and not result.skipped for result in results):
        raise typer.Exit(1)


@app.command()
def conformance(
    stack: Optional[str] = StackOption,
    config_file: Optional[Path] = ConfigOption,
    sample_size: int = typer.Option(200, "--sample-size", help="Requests per weighted split check."),
) -> None:
    """Prove the stack offline with the real data plane; exit 1 on any failure.

    1. render with real certificate material (as pulumi-tls would make it);
    2. validate every object (Envoy Gateway's CRD schemas and CEL rules, Kubernetes schemas);
    3. translate with Envoy Gateway's egctl, failing on any status condition not True;
    4. run the translated config in a real Envoy on 127.0.0.1 with an echo server per Service;
    5. run `verify` against it.
    """
    from gatestack.conformance import run_conformance

    source = _stack(stack, config_file)
    passed = run_conformance(source, sample_size=sample_size, step=_step, echo=typer.echo)
    if not passed:
        raise typer.Exit(1)


@app.command()
def local(
    stack: Optional[str] = StackOption,
    config_file: Optional[Path] = ConfigOption,
) -> None:
    """Run the stack's gateway on 127.0.0.1 (as `conformance` does) until interrupted."""
    from gatestack.conformance import local_gateway_for

    source = _stack(stack, config_file)
    with local_gateway_for(source, step=_step) as (gateway, ca_files, _material):
        typer.echo(f"gateway {source.config.gateway.name} of stack {source.name} is running:")
        for curl_line in _curl_lines(source, gateway.listeners, ca_files):
            typer.echo(f"  {curl_line}")
        typer.echo("Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopping", err=True)


def _curl_lines(source: StackSource, listeners: dict[str, tuple[str, int]], ca_files: dict[str, Path]) -> list[str]:
    lines = []
    config = source.config
    by_name = {listener.name: listener for listener in config.gateway.listeners}
    for route in config.routes:
        hostname = route.hostnames[0] if route.hostnames else "gatestack-verify.example"
        first_match = route.rules[0].matches[0] if route.rules[0].matches else None
        path = first_match.path.value if first_match and first_match.path and first_match.path.type != "RegularExpression" else "/"
        attached = [ref.section_name for ref in route.parent_refs if ref.section_name] or list(listeners)
        for listener_name in attached:
            if listener_name not in listeners:
                continue
            address, port = listeners[listener_name]
            listener = by_name[listener_name]
            if listener.protocol == "HTTPS":
                secret = listener.tls.certificate_refs[0].name
                ca = f" --cacert {ca_files[secret]}" if secret in ca_files else ""
                lines.append(f"curl --resolve {hostname}:{port}:{address}{ca} https://{hostname}:{port}{path}")
            else:
                lines.append(f'curl -H "Host: {hostname}" http://{address}:{port}{path}')
    return lines


@app.command()
def tools(
    version: str = typer.Option("v1.9.0", "--version", help="Envoy Gateway version whose egctl to build."),
    cluster: bool = typer.Option(
        False, "--cluster", help="Also build the local cluster's binaries (etcd, kube-*, kwok, envoy-gateway)."
    ),
    engine: bool = typer.Option(
        False, "--engine", help="Also build the Pulumi engine (CLI, Python language host, Kubernetes provider)."
    ),
) -> None:
    """Install the pinned tools into .tools/ (a second run reuses them)."""
    from gatestack.toolchain import ToolchainError, ensure_tools

    try:
        installed = ensure_tools(version, cluster=cluster, engine=engine)
    except ToolchainError as error:
        _fail(str(error), 1)
    for name, path in installed.items():
        typer.echo(f"{name}: {path}")


from gatestack.cli_cluster import register as _register_cluster_commands  # noqa: E402 - needs the helpers above

_register_cluster_commands(app, load_stack=_stack, step=_step)


def main() -> None:
    app()


# The click command behind the typer app: what the documentation's CLI reference (mkdocs-click)
# reads, so the reference is the commands' own help.
click_command = typer.main.get_command(app)
