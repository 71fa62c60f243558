"""Helpers of the real-engine tests: kubectl inside the cluster, and deploying a stack the
way `make up` does."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from gatestack.cluster.binaries import kubectl_binary
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import inside_command, inside_environment
from gatestack.paths import REPOSITORY_ROOT
from gatestack.engine.deploy import ensure_certificate_secrets, ensure_client_authorities, pulumi_for
from gatestack.engine.pulumi_cli import PulumiCli, preview_steps
from gatestack.stack_source import load_stack


def kubectl(cluster: ClusterLayout, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        inside_command(cluster, [str(kubectl_binary()), *arguments]),
        capture_output=True,
        text=True,
        env=inside_environment(cluster),
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def kubectl_json(cluster: ClusterLayout, *arguments: str) -> Any:
    return json.loads(kubectl(cluster, *arguments, "-o", "json").stdout)


@dataclass
class Deployment:
    """One stack deployed with the real engine: what preview planned and what up printed."""

    stack: str
    pulumi: PulumiCli
    preview_steps: list[dict]
    up_output: str
    outputs: dict[str, Any]
    config: Any
    client_certificates: Optional[Path]
    # For a stack deployed with the previous code first: what this code's preview planned then
    # (`pulumi preview --json` lists no `same` steps); None for a stack deployed with this code only.
    upgrade_steps: Optional[list[dict]] = None


def deploy(
    cluster: ClusterLayout,
    engine_binaries: dict[str, Path],
    stack: str,
    stack_file_text: Optional[str] = None,
    program: Path = REPOSITORY_ROOT,
    preview: bool = True,
) -> Deployment:
    """Secrets, `pulumi preview --json`, `pulumi up`, outputs: what `make up` does, with the
    program in `program` (the repository, or an earlier commit's checkout)."""
    source = load_stack(stack, None)
    ensure_certificate_secrets(cluster, kubectl_binary(), source.config)
    client_certificates = ensure_client_authorities(cluster, kubectl_binary(), source.config, stack)
    pulumi = pulumi_for(cluster, stack, engine_binaries, stack_file_text, program)
    pulumi.select_stack(stack)
    steps = preview_steps(pulumi.preview(stack, json_output=True).stdout) if preview else []
    up_output = pulumi.up(stack).stdout
    return Deployment(stack, pulumi, steps, up_output, pulumi.outputs(stack), source.config, client_certificates)
