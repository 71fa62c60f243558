"""`gatestack cluster ...` and the real-engine commands `up`, `preview`, `destroy`.

- `cluster up|down|status`  the embedded local cluster (see gatestack/cluster/)
- `cluster exec -- CMD`     run CMD inside the cluster's network namespace, KUBECONFIG set
- `up --stack NAME`         build what is missing, start the cluster, `pulumi preview` and
                            `pulumi up` the stack with the real engine, print its outputs,
                            `verify` it through Envoy Gateway's own data plane
- `preview --stack NAME`    the cluster, then `pulumi preview` only
- `destroy --stack NAME`    `pulumi destroy` the stack from the cluster
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, Optional

import typer

from gatestack.cluster.layout import ClusterLayout

cluster_app = typer.Typer(no_args_is_help=True, help="The embedded local cluster (Kubernetes + Envoy Gateway).")

StateOption = typer.Option(
    None, "--state-dir", help="The cluster's state directory (default .local/cluster in the repository)."
)


def _echo(message: str) -> None:
    typer.echo(message, err=True)


def _layout(state_directory: Optional[Path]) -> ClusterLayout:
    return ClusterLayout(state_directory.resolve()) if state_directory else ClusterLayout()


def _start_cluster(layout: ClusterLayout) -> None:
    from gatestack.cluster.binaries import cluster_binaries
    from gatestack.cluster.lifecycle import ClusterError, up
    from gatestack.toolchain import ToolchainError

    try:
        up(layout, cluster_binaries, _echo)
    except (ClusterError, ToolchainError) as error:
        _echo(f"error: {error}")
        raise typer.Exit(1)


@cluster_app.command("up")
def cluster_up(state_directory: Optional[Path] = StateOption) -> None:
    """Start the local cluster (build its binaries first if missing); it runs until `cluster down`."""
    layout = _layout(state_directory)
    _start_cluster(layout)
    typer.echo(f"KUBECONFIG={layout.kubeconfig} (reachable inside the namespace: `python -m gatestack cluster exec -- kubectl get pods -A`)")


@cluster_app.command("down")
def cluster_down(state_directory: Optional[Path] = StateOption) -> None:
    """Stop the local cluster and remove its namespace and state (stacks deployed into it included)."""
    from gatestack.cluster.lifecycle import down

    down(_layout(state_directory), _echo)


@cluster_app.command("status")
def cluster_status(state_directory: Optional[Path] = StateOption) -> None:
    """Print whether the cluster runs, its proxies and its load balancers (JSON)."""
    from gatestack.cluster.lifecycle import status

    typer.echo(json.dumps(status(_layout(state_directory)), indent=1))


@cluster_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def cluster_exec(context: typer.Context, state_directory: Optional[Path] = StateOption) -> None:
    """Run a command inside the cluster's network namespace, with KUBECONFIG set
    (e.g. `cluster exec -- curl -H "Host: www.example.com" http://$GATEWAY_HOST/get`)."""
    from gatestack.cluster.binaries import kubectl_directory
    from gatestack.cluster.lifecycle import ClusterError, inside_command, inside_environment, require_running

    layout = _layout(state_directory)
    try:
        require_running(layout)
    except ClusterError as error:
        _echo(f"error: {error}")
        raise typer.Exit(1)
    command = list(context.args) or [os.environ.get("SHELL", "/bin/sh")]
    environment = inside_environment(layout)
    environment["PATH"] = f"{kubectl_directory()}{os.pathsep}{environment.get('PATH', '')}"
    raise typer.Exit(subprocess.run(inside_command(layout, command), env=environment).returncode)


def seed_curl_lines(config, host: str, ca_file: Optional[Path]) -> list[str]:
    """The seed guide's `curl` commands for the stack's first route hostname and listeners (and an
    OpenAI-style completion for each route to an InferencePool)."""
    from gatestack.verify.inference_checks import openai_prefix
    from gatestack.verify.inference_pods import pool_models

    pool_routes = [route for route in config.routes if any(ref.kind == "InferencePool" for rule in route.rules for ref in rule.backend_refs)]
    hostnames = [name for route in config.routes if route not in pool_routes for name in route.hostnames if "*" not in name]
    hostname = hostnames[0] if hostnames else "www.example.com"
    lines = []
    http_listener = next((listener for listener in config.gateway.listeners if listener.protocol == "HTTP"), None)
    for route in pool_routes if http_listener is not None else []:
        rule = next(rule for rule in route.rules if any(ref.kind == "InferencePool" for ref in rule.backend_refs))
        pool = next((pool for pool in config.inference_pools if pool.name == rule.backend_refs[0].name), None)
        model = (pool_models(config, pool) or ["model"])[0] if pool is not None else "model"
        route_host = next((name for name in route.hostnames if "*" not in name), "www.example.com")
        port = "" if http_listener.port == 80 else f":{http_listener.port}"
        body = json.dumps({"model": model, "prompt": "Hello", "max_tokens": 16})
        path = f"{openai_prefix(rule) or '/v1'}/completions"
        lines.append(f"curl -H \"Host: {route_host}\" -H 'Content-Type: application/json' -d '{body}' http://{host}{port}{path}")
    for listener in config.gateway.listeners:
        if listener.protocol == "HTTP":
            port = "" if listener.port == 80 else f":{listener.port}"
            lines.append(f'curl -H "Host: {hostname}" http://{host}{port}/get')
        elif ca_file is not None:
            port = "" if listener.port == 443 else f":{listener.port}"
            lines.append(f"curl --resolve {hostname}:{listener.port}:{host} --cacert {ca_file} https://{hostname}{port}/get")
    return lines


def register(app: typer.Typer, load_stack: Callable, step: Callable) -> None:
    """Add `cluster` and the real-engine commands to the main app."""
    app.add_typer(cluster_app, name="cluster")

    def deploy_context(stack: str, state_directory: Optional[Path]):
        from gatestack.cluster.binaries import pulumi_engine_binaries
        from gatestack.engine.deploy import pulumi_for

        layout = _layout(state_directory)
        source = load_stack(stack, None)
        _start_cluster(layout)
        return layout, source, pulumi_for(layout, stack, pulumi_engine_binaries())

    @app.command("up")
    def up_command(
        stack: str = typer.Option("dev", "--stack", help="Stack name: stacks/Pulumi.NAME.yaml."),
        state_directory: Optional[Path] = StateOption,
        sample_size: int = typer.Option(200, "--sample-size", help="Requests per weighted split check."),
    ) -> None:
        """Deploy a stack into the local cluster with the real Pulumi engine, then verify it."""
        from gatestack.cluster.binaries import kubectl_binary
        from gatestack.engine.deploy import ensure_certificate_secrets, ensure_client_authorities, run_verify
        from gatestack.engine.pulumi_cli import PulumiCommandFailed

        with step("local cluster (Kubernetes v1.36, kwok node, Envoy Gateway controller)"):
            layout, source, pulumi = deploy_context(stack, state_directory)
        with step("certificates and client CAs as existing Secrets"):
            for name in ensure_certificate_secrets(layout, kubectl_binary(), source.config):
                _echo(
                    f"    certificate {name}: supplied as an existing Secret (source: existingSecret) with the "
                    "material TlsCert would generate; pulumi-tls's provider cannot be built on this machine"
                )
            client_certificates = ensure_client_authorities(layout, kubectl_binary(), source.config, stack)
            for authority in source.config.client_certificate_authorities:
                _echo(
                    f"    client CA {authority.name}: supplied as an existing Secret (source: existingSecret) with the "
                    f"material ClientCertificateAuthority would generate; its client certificates are in {client_certificates}"
                )
        try:
            with step(f"pulumi preview --stack {stack}"):
                pulumi.select_stack(stack)
                pulumi.preview(stack)
            with step(f"pulumi up --stack {stack}"):
                pulumi.up(stack)
            outputs = pulumi.outputs(stack)
        except PulumiCommandFailed as error:
            _echo(f"error: {error}")
            raise typer.Exit(1)
        ca_file = None
        if outputs.get("CA_CERT_PEM"):
            ca_file = pulumi.layout.root / f"{stack}-ca.crt"
            ca_file.write_text(outputs["CA_CERT_PEM"])
        for name, value in outputs.items():
            shown = f"written to {ca_file}" if name == "CA_CERT_PEM" else value
            if name != "CA_CERTS":
                typer.echo(f"{name}: {shown}")
        host = outputs["GATEWAY_HOST"]
        with step(f"verify {stack} against GATEWAY_HOST {host}"):
            code = run_verify(layout, stack, host, ca_file, sample_size, client_certificates)
        typer.echo(f"\nstack {stack} is up in the local cluster. The seed's commands, inside its network namespace:")
        for line in seed_curl_lines(source.config, host, ca_file):
            typer.echo(f"  .venv/bin/python -m gatestack cluster exec -- {line}")
        typer.echo("`make down` stops the cluster.")
        if code != 0:
            raise typer.Exit(1)

    @app.command("preview")
    def preview_command(
        stack: str = typer.Option("dev", "--stack", help="Stack name: stacks/Pulumi.NAME.yaml."),
        state_directory: Optional[Path] = StateOption,
        diff: bool = typer.Option(False, "--diff", help="Show property-level differences."),
    ) -> None:
        """`pulumi preview` of a stack against the local cluster."""
        from gatestack.engine.pulumi_cli import PulumiCommandFailed

        layout, source, pulumi = deploy_context(stack, state_directory)
        try:
            pulumi.select_stack(stack)
            pulumi.preview(stack, diff=diff)
        except PulumiCommandFailed:
            raise typer.Exit(1)

    @app.command("destroy")
    def destroy_command(
        stack: str = typer.Option("dev", "--stack", help="Stack name: stacks/Pulumi.NAME.yaml."),
        state_directory: Optional[Path] = StateOption,
        unprotect: bool = typer.Option(
            False, "--unprotect", help="First `pulumi state unprotect --all` (production stacks protect their controller and CA)."
        ),
    ) -> None:
        """`pulumi destroy` of a stack in the local cluster, and its certificate Secrets."""
        from gatestack.cluster.binaries import kubectl_binary
        from gatestack.engine.deploy import delete_certificate_secrets
        from gatestack.engine.pulumi_cli import PulumiCommandFailed

        layout, source, pulumi = deploy_context(stack, state_directory)
        try:
            pulumi.select_stack(stack)
            if unprotect:
                pulumi.unprotect_all(stack)
            pulumi.destroy(stack)
        except PulumiCommandFailed:
            raise typer.Exit(1)
        delete_certificate_secrets(layout, kubectl_binary(), source.config)

