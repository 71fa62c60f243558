"""Helpers of the real-engine tests of examples/: the package as a user installs it (a wheel in a
virtualenv outside the repository), a Pulumi workspace per example, and requests sent through
the Gateways from inside the cluster's namespace."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway_config.models import CertificateConfig
from gatestack.cluster.binaries import kubectl_binary
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import inside_command
from gatestack.engine.deploy import engine_layout
from gatestack.paths import REPOSITORY_ROOT
from gatestack.engine.pulumi_cli import PulumiCli, link_binaries
from gatestack.engine.workspace import prepare_program_workspace
from gatestack.stand_ins.existing_secrets import TLS_SECRET_TYPE, certificate_files
from tests.cluster.cluster_support import kubectl

EXAMPLES = REPOSITORY_ROOT / "examples"
TRAFFIC_CLIENT = Path(__file__).resolve().parent / "traffic_client.py"


@dataclass(frozen=True)
class PackageInstall:
    """A virtualenv outside the repository with the package's wheel installed, and the times."""

    virtualenv: Path
    wheel: Path
    build_seconds: float
    install_seconds: float


def source_copy(destination: Path) -> Path:
    """The repository's files as a clone would have them (tracked and not ignored), so the
    build leaves nothing in the work tree and sees no local leftovers."""
    listed = subprocess.run(
        ["git", "-C", str(REPOSITORY_ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in listed:
        source = REPOSITORY_ROOT / name
        if not name or name.startswith(".") or not source.is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def install_package(folder: Path) -> PackageInstall:
    """`python -m build --wheel` of the repository, then a new virtualenv in `folder` (outside
    the repository) and `pip install <wheel>`, its dependencies from the package index."""
    started = time.monotonic()
    source = source_copy(folder / "source")
    dist = folder / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)], check=True, capture_output=True)
    (wheel,) = dist.glob("gatestack-*.whl")
    built = time.monotonic()
    virtualenv = folder / "venv"
    # With pip in it: the language host lists the program's packages with `python -m pip list`.
    subprocess.run([sys.executable, "-m", "venv", str(virtualenv)], check=True)
    subprocess.run(
        [str(virtualenv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True,
    )
    installed = time.monotonic()
    return PackageInstall(virtualenv, wheel, built - started, installed - built)


def example_cli(
    cluster: ClusterLayout, engine_binaries: dict[str, Path], example: str, stack: str, virtualenv: Path, config: dict[str, Any]
) -> PulumiCli:
    """`pulumi` for `stack` of examples/<example>, run with `virtualenv`, its config `config`
    (keys without the project prefix), in the cluster's engine state (one backend for all, so
    an application's stack can read the platform's outputs)."""
    layout = engine_layout(cluster)
    link_binaries(layout, engine_binaries)
    program = EXAMPLES / example
    project = yaml.safe_load((program / "Pulumi.yaml").read_text())["name"]
    workspace = prepare_program_workspace(layout, program, stack, virtualenv, {f"{project}:{key}": value for key, value in config.items()})
    pulumi = PulumiCli(layout, workspace, cluster.kubeconfig, virtualenv, wrap=lambda command: inside_command(cluster, command))
    pulumi.select_stack(stack)
    return pulumi


def create_tls_secret(cluster: ClusterLayout, namespace: str, certificate: dict[str, Any]) -> None:
    """The namespace, and in it the kubernetes.io/tls Secret `certificate` (a stack file's
    certificate entry) describes, made as TlsCert would (tls.crt, tls.key, ca.crt)."""
    settings = CertificateConfig.model_validate(certificate)
    kubectl(cluster, "create", "namespace", namespace, check=False)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": settings.secret_name, "namespace": namespace},
        "type": TLS_SECRET_TYPE,
        "data": {key: base64.b64encode(pem.encode()).decode() for key, pem in certificate_files(settings).items()},
    }
    created = subprocess.run(
        inside_command(cluster, [str(kubectl_binary()), "create", "-f", "-"]), input=json.dumps(secret), capture_output=True, text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
    )
    assert created.returncode == 0 or "AlreadyExists" in created.stderr, created.stderr


def request(cluster: ClusterLayout, address: str, port: int, host: str, path: str = "/") -> dict[str, Any]:
    """One GET to `address:port` with `Host: host`, from inside the cluster's namespace:
    `{"status": ..., "body": <the echo JSON, or text>}`."""
    result = subprocess.run(
        inside_command(cluster, [sys.executable, str(TRAFFIC_CLIENT), "once", address, str(port), host, path]),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def steady_client(cluster: ClusterLayout, address: str, port: int, host: str, stop_file: Path, max_requests: int, max_seconds: float) -> subprocess.Popen:
    """A client sending GETs one after the other until `stop_file` exists (bounded by count
    and time), started now; its JSON summary is on stdout when it ends."""
    command = [sys.executable, str(TRAFFIC_CLIENT), "steady", address, str(port), host, "/", str(stop_file), str(max_requests), str(max_seconds)]
    return subprocess.Popen(inside_command(cluster, command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
