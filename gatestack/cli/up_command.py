"""`gatestack up` (`make up`): deploy a stack into the local cluster with the real Pulumi
engine, print its outputs, and `verify` the stack object deployed through Envoy Gateway's own
data plane."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gateway_config.models import StackConfig
from gatestack.cli.cluster_commands import engine_in_local_cluster, local_cluster_title, supply_existing_secrets
from gatestack.cli.console import DEPLOY_STACK_OPTION, FAILED, SAMPLE_SIZE_OPTION, STATE_OPTION, fail, stack_or_exit
from gatestack.engine.deploy import run_verify_inside
from gatestack.engine.pulumi_cli import PulumiCommandFailed
from gatestack.progress import step
from gatestack.verify.inference_checks import openai_prefix
from gatestack.verify.inference_pods import pool_models
from gatestack.verify.verification_run import VerificationRequest


def up(
    stack: str = DEPLOY_STACK_OPTION,
    state_directory: Optional[Path] = STATE_OPTION,
    sample_size: int = SAMPLE_SIZE_OPTION,
) -> None:
    """Deploy a stack into the local cluster with the real Pulumi engine, then verify it."""
    source = stack_or_exit(stack, None)
    with step(local_cluster_title(source)):
        deployed, layout, pulumi = engine_in_local_cluster(source, state_directory)
    client_certificates = supply_existing_secrets(layout, source)
    try:
        with step(f"pulumi preview --stack {stack}"):
            pulumi.select_stack(stack)
            pulumi.preview(stack)
        with step(f"pulumi up --stack {stack}"):
            pulumi.up(stack)
        outputs = pulumi.outputs(stack)
    except PulumiCommandFailed as error:
        fail(f"error: {error}", FAILED)
    ca_file = None
    if outputs.get("CA_CERT_PEM"):
        ca_file = pulumi.layout.root / f"{stack}-ca.crt"
        ca_file.write_text(outputs["CA_CERT_PEM"])
    for name, value in outputs.items():
        shown = f"written to {ca_file}" if name == "CA_CERT_PEM" else value
        if name != "CA_CERTS":
            typer.echo(f"{name}: {shown}")
    host = outputs["GATEWAY_HOST"]
    request = VerificationRequest(
        stack=deployed,
        host=host,
        ca_pem=outputs.get("CA_CERT_PEM") or None,
        sample_size=sample_size,
        client_certificates=None if client_certificates is None else json.loads(client_certificates.read_text()),
        cluster_state_directory=layout.state_directory,  # the inference checks stop and start an EPP
    )
    with step(f"verify {stack} against GATEWAY_HOST {host}"):
        passed = run_verify_inside(layout, request)
    typer.echo(f"\nstack {stack} is up in the local cluster. The seed's commands, inside its network namespace:")
    for line in seed_curl_lines(deployed.config, host, ca_file):
        typer.echo(f"  .venv/bin/python -m gatestack cluster exec -- {line}")
    typer.echo("`make down` stops the cluster.")
    if not passed:
        raise typer.Exit(FAILED)


def seed_curl_lines(config: StackConfig, host: str, ca_file: Optional[Path]) -> list[str]:
    """The seed guide's `curl` commands for the stack's first route hostname and listeners (and an
    OpenAI-style completion for each route to an InferencePool)."""
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
