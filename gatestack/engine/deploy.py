"""Deploy a stack into the local cluster with the real engine, and prove it.

`make up` (`python -m gatestack up --stack NAME`) runs, each step timed:
1. the local cluster (started if it is not running: without an Envoy Gateway of its own for a
   stack that installs it from its charts, `controller.install: true`, with one otherwise);
2. the stack's certificates as existing Secrets (made once per cluster, kept after);
3. `pulumi preview` then `pulumi up` of the project's program in the local-cluster workspace;
4. the stack outputs (`GATEWAY_HOST`, ...);
5. `verify` of the stack object deployed, against `GATEWAY_HOST`, i.e. through Envoys configured by Envoy
   Gateway's own xDS, run inside the cluster's namespace like every client of the cluster.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Optional

from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.chart_registry import command_with_registry_names, registry_client_environment
from gatestack.cluster.lifecycle import has_envoy_gateway, inside_command, inside_environment
from gatestack.engine.pulumi_cli import PulumiCli, link_binaries
from gatestack.engine.workspace import EngineLayout, prepare_workspace
from gatestack.paths import REPOSITORY_ROOT, VIRTUALENV
from gatestack.stand_ins.existing_secrets import client_authority_material, existing_certificate_secrets
from gatestack.verify.verification_run import VerificationRequest


def engine_layout(cluster: ClusterLayout) -> EngineLayout:
    """The engine's state lives and dies with the cluster it describes."""
    return EngineLayout(cluster.state_directory / "pulumi")


def kubectl_inside(cluster: ClusterLayout, kubectl: Path, arguments: list[str], stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        inside_command(cluster, [str(kubectl), *arguments]),
        input=stdin,
        capture_output=True,
        text=True,
        env=inside_environment(cluster),
    )


def ensure_certificate_secrets(cluster: ClusterLayout, kubectl: Path, config) -> list[str]:
    """Create each certificate's Secret (and its namespace) unless it exists; return their names."""
    created = []
    for secret in existing_certificate_secrets(config):
        namespace = secret["metadata"]["namespace"]
        kubectl_inside(cluster, kubectl, ["create", "namespace", namespace])  # exists already: fine
        result = kubectl_inside(cluster, kubectl, ["create", "-f", "-"], stdin=json.dumps(secret))
        if result.returncode != 0 and "AlreadyExists" not in result.stderr:
            raise RuntimeError(f"could not create Secret {namespace}/{secret['metadata']['name']}: {result.stderr.strip()}")
        created.append(f"{namespace}/{secret['metadata']['name']}")
    return created


def ensure_client_authorities(cluster: ClusterLayout, kubectl: Path, config, stack: str) -> Optional[Path]:
    """Create each client CA's Secret (`ca.crt`) unless it exists, and return the file of the
    client certificates it signed (CLIENT_CERTIFICATES' shape, for `verify
    --client-certificates`), or None for a stack without client CAs. The material is made once
    per cluster and kept (owner-only) beside the stack's state, so the Secret and the client
    certificates always belong together."""
    if not config.client_certificate_authorities:
        return None
    state = engine_layout(cluster).root
    state.mkdir(parents=True, exist_ok=True)
    material_file = state / f"{stack}-client-authorities.json"
    clients_file = state / f"{stack}-client-certificates.json"
    if material_file.exists():
        material = json.loads(material_file.read_text())
    else:
        secrets, clients = client_authority_material(config)
        material = {"secrets": secrets, "clients": clients}
        material_file.touch(mode=0o600)
        material_file.write_text(json.dumps(material))
    for secret in material["secrets"]:
        namespace = secret["metadata"]["namespace"]
        kubectl_inside(cluster, kubectl, ["create", "namespace", namespace])  # exists already: fine
        result = kubectl_inside(cluster, kubectl, ["create", "-f", "-"], stdin=json.dumps(secret))
        if result.returncode != 0 and "AlreadyExists" not in result.stderr:
            raise RuntimeError(f"could not create Secret {namespace}/{secret['metadata']['name']}: {result.stderr.strip()}")
    clients_file.touch(mode=0o600)
    clients_file.write_text(json.dumps(material["clients"]))
    return clients_file


def delete_certificate_secrets(cluster: ClusterLayout, kubectl: Path, config) -> None:
    for certificate in config.certificates:
        namespace = config.certificate_namespace(certificate)
        kubectl_inside(cluster, kubectl, ["delete", "secret", "-n", namespace, certificate.secret_name, "--ignore-not-found"])
    for authority in config.client_certificate_authorities:
        kubectl_inside(cluster, kubectl, ["delete", "secret", "-n", config.namespace, authority.name, "--ignore-not-found"])


def pulumi_for(
    cluster: ClusterLayout,
    stack: str,
    engine_binaries: dict[str, Path],
    stack_file_text: Optional[str] = None,
    program: Path = REPOSITORY_ROOT,
) -> PulumiCli:
    """A PulumiCli for `stack` in the cluster's workspace (workspace and links refreshed);
    `program` is the folder whose program runs (an earlier commit's checkout, for upgrades).

    The stack runs as the cluster's mode has it: with `controller.install: false` in a cluster
    that runs Envoy Gateway itself, as written in one without (which serves Envoy Gateway's
    charts under their registry's name: the engine runs where that name resolves and trusts it,
    `chart_registry`)."""
    layout = engine_layout(cluster)
    link_binaries(layout, engine_binaries)
    virtualenv = VIRTUALENV
    workspace = prepare_workspace(layout, stack, virtualenv, stack_file_text, program, has_envoy_gateway(cluster))
    return PulumiCli(
        layout,
        workspace,
        cluster.kubeconfig,
        virtualenv,
        wrap=lambda command: command_with_registry_names(cluster, command),
        added_environment=registry_client_environment(cluster),
    )


def run_verify_inside(cluster: ClusterLayout, request: VerificationRequest) -> bool:
    """`request` run inside the cluster's namespace, where the Gateway's address exists; its
    table goes to stdout. The request travels as a pickle (see `verification_run`)."""
    command = [sys.executable, "-m", "gatestack.verify.verification_run"]
    return subprocess.run(inside_command(cluster, command), input=pickle.dumps(request), cwd=REPOSITORY_ROOT).returncode == 0
