"""The program as it was before it became a package (issue #17), and the upgrade from it.

The real-engine tests deploy every stack with that earlier program first, then update it with
this one, as an operator's `pulumi up` after pulling would: `pulumi preview` of this code must
plan no replacement and no deletion (a renamed component type or parent would replace every
Kubernetes object of the stack). The earlier program is a `git archive` of its commit in a
folder of its own; the workspace's `main` points at it, so its own `components/` and
`gateway_config/` are imported (the program's folder comes first on the language host's path).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from gatestack.cluster.layout import ClusterLayout
from gatestack.engine.deploy import pulumi_for
from gatestack.paths import REPOSITORY_ROOT
from gatestack.engine.pulumi_cli import preview_steps, resource_type_of
from tests.cluster.cluster_support import Deployment, deploy

# The last commit before the components became the `pulumi_envoy_gateway` package.
PREVIOUS_COMMIT = "9805766"
# Steps of `pulumi preview` that would remove or recreate an object of the stack.
DESTRUCTIVE_OPERATIONS = ("replace", "create-replacement", "delete-replaced", "delete", "discard")


def checkout_previous_code(destination: Path) -> Path:
    """The files of PREVIOUS_COMMIT under `destination` (a full clone has it; CI clones fully)."""
    resolved = subprocess.run(
        ["git", "-C", str(REPOSITORY_ROOT), "rev-parse", "--verify", f"{PREVIOUS_COMMIT}^{{commit}}"],
        capture_output=True, text=True,
    )
    if resolved.returncode != 0:
        raise RuntimeError(
            f"commit {PREVIOUS_COMMIT} (the program before issue #17) is not in this clone: "
            f"the upgrade test needs the full history (git fetch --unshallow): {resolved.stderr.strip()}"
        )
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY_ROOT), "archive", "--format=tar", resolved.stdout.strip()],
        capture_output=True, check=True,
    )
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    return destination


def stacks_of(program: Path) -> set[str]:
    return {path.name.split(".")[1] for path in (program / "stacks").glob("Pulumi.*.yaml")}


def operation_counts(steps: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in steps:
        if resource_type_of(step.get("urn", "")) == "pulumi:pulumi:Stack":
            continue
        counts[step.get("op", "?")] = counts.get(step.get("op", "?"), 0) + 1
    return counts


def from_empty_preview(cluster: ClusterLayout, engine_binaries: dict[str, Path], stack: str) -> list[dict]:
    """What this code's `pulumi preview` plans for `stack`'s config on a stack that holds
    nothing yet (a fresh stack name, previewed only, then removed)."""
    fresh = f"{stack}-from-empty"
    text = (REPOSITORY_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    pulumi = pulumi_for(cluster, fresh, engine_binaries, text)
    pulumi.select_stack(fresh)
    try:
        return preview_steps(pulumi.preview(fresh, json_output=True).stdout)
    finally:
        pulumi.remove_stack(fresh)
        (pulumi.workspace / "stacks" / f"Pulumi.{fresh}.yaml").unlink(missing_ok=True)


def upgrade(cluster: ClusterLayout, engine_binaries: dict[str, Path], stack: str) -> Deployment:
    """`stack`, deployed with the previous code, updated with this one: `pulumi preview --json`
    (kept as `upgrade_steps`), `pulumi up`; `preview_steps` is this code's preview of the same
    config from empty, which is what the program declares."""
    deployment = deploy(cluster, engine_binaries, stack)
    deployment.upgrade_steps = deployment.preview_steps
    counts = operation_counts(deployment.upgrade_steps)
    print(f"upgrade of {stack} from {PREVIOUS_COMMIT}: preview planned {counts}", flush=True)
    deployment.preview_steps = from_empty_preview(cluster, engine_binaries, stack)
    # pulumi_for rewrote the shared workspace for the fresh stack: point it back at this one.
    deployment.pulumi = pulumi_for(cluster, stack, engine_binaries)
    return deployment
