"""Offline schema validation of the Kubernetes objects a stack renders, with kubectl-validate.

What is checked:
- Gateway API and Envoy Gateway custom resources (GatewayClass, Gateway, HTTPRoute,
  ReferenceGrant, EnvoyProxy, ...) against the CRDs Envoy Gateway ships for the given version:
  OpenAPI schemas and their CEL rules (``x-kubernetes-validations``), via ``--local-crds``.
- Native objects (Service, Deployment, ServiceAccount, Secret, Namespace, HorizontalPodAutoscaler,
  PodDisruptionBudget, ...) against the Kubernetes OpenAPI schemas built into kubectl-validate
  for ``DEFAULT_KUBERNETES_VERSION`` (1.32, the newest it embeds).

Defaults and why:
- kubectl-validate never talks to a cluster or to GitHub here: it runs with an empty kubeconfig
  and without in-cluster variables (it would otherwise ask the current cluster for schemas),
  and only with a Kubernetes version whose schemas it embeds (others are fetched from GitHub).
- Each object is written to its own file, so every problem names the object it belongs to.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import yaml

from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, envoy_gateway_crd_directory, ensure_kubectl_validate
from gateway_config.inference_manifests import INFERENCE_POOL_CRD_FILE

DEFAULT_KUBERNETES_VERSION = "1.32"

# Versions whose native schemas the pinned kubectl-validate embeds; any other version would make
# it download schemas from api.github.com, which the network rule forbids.
EMBEDDED_KUBERNETES_VERSIONS = frozenset(f"1.{minor}" for minor in range(23, 33))

# Bounded so a wedged validator cannot hang a test run.
VALIDATION_TIMEOUT_SECONDS = 300


class ValidationToolError(RuntimeError):
    """kubectl-validate itself failed (bad arguments, unreadable CRDs), as opposed to finding problems."""


def describe_object(manifest: object) -> str:
    """A short human name for an object: ``HTTPRoute default/backend`` or ``GatewayClass eg``."""
    if not isinstance(manifest, dict):
        return f"a {type(manifest).__name__} that is not a Kubernetes object"
    kind = manifest.get("kind") or "object without kind"
    metadata = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    name = metadata.get("name") or "<no name>"
    namespace = metadata.get("namespace")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def problems_from_status(subject: str, status: dict) -> list[str]:
    """Turn one kubectl-validate result (a Kubernetes ``Status``) into readable problem sentences."""
    if status.get("status") == "Success":
        return []
    causes = (status.get("details") or {}).get("causes") or []
    if not causes:
        return [f"{subject}: {status.get('message') or 'rejected without a message'}"]
    problems = []
    for cause in causes:
        field = cause.get("field")
        message = cause.get("message") or cause.get("reason") or "invalid"
        problems.append(f"{subject}: {field}: {message}" if field else f"{subject}: {message}")
    return problems


def kubectl_validate_environment(empty_kubeconfig: Path) -> dict[str, str]:
    """Environment for kubectl-validate that cannot reach any cluster."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    }
    environment["KUBECONFIG"] = str(empty_kubeconfig)
    return environment


def validate_objects(
    objects: list[dict],
    envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
) -> list[str]:
    """Validate ``objects`` offline; return one sentence per problem, or an empty list when all are valid.

    ``envoy_gateway_version`` (default v1.9.0) selects the CRDs custom resources are checked
    against; ``kubernetes_version`` (default 1.32) the built-in schemas for native objects.
    Raises ``ValidationToolError`` when the validator could not run at all.
    """
    if kubernetes_version not in EMBEDDED_KUBERNETES_VERSIONS:
        raise ValueError(
            f"Kubernetes version {kubernetes_version!r} has no schemas embedded in kubectl-validate; "
            f"use one of {', '.join(sorted(EMBEDDED_KUBERNETES_VERSIONS, key=lambda v: int(v.split('.')[1])))}"
        )
    problems: list[str] = []
    validatable: list[tuple[str, dict]] = []
    for position, manifest in enumerate(objects):
        subject = describe_object(manifest)
        if not isinstance(manifest, dict):
            problems.append(f"object #{position + 1}: {subject}")
        elif not manifest.get("apiVersion") or not manifest.get("kind"):
            problems.append(f"object #{position + 1} ({subject}): apiVersion and kind are both required")
        else:
            validatable.append((subject, manifest))
    if not validatable:
        return problems

    crd_directory = envoy_gateway_crd_directory(envoy_gateway_version)
    kubectl_validate = ensure_kubectl_validate()
    with tempfile.TemporaryDirectory(prefix="gatestack-validate-") as scratch:
        scratch_path = Path(scratch)
        empty_kubeconfig = scratch_path / "kubeconfig"
        empty_kubeconfig.write_text("")
        subject_by_file: dict[str, str] = {}
        for position, (subject, manifest) in enumerate(validatable):
            path = scratch_path / f"object-{position:04d}.yaml"
            path.write_text(yaml.safe_dump(manifest, sort_keys=False))
            subject_by_file[str(path)] = subject
        command = [
            str(kubectl_validate),
            "--local-crds", str(crd_directory),
            "--local-crds", str(crd_directory / "generated"),
            # The InferencePool CRD (Gateway API Inference Extension v1.5.0) that inference stacks use.
            "--local-crds", str(INFERENCE_POOL_CRD_FILE.parent),
            "--version", kubernetes_version,
            "--output", "json",
            *subject_by_file,
        ]
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=kubectl_validate_environment(empty_kubeconfig),
            timeout=VALIDATION_TIMEOUT_SECONDS,
        )
    # Exit codes: 0 valid, 1 problems found; 2 (arguments) and 3 (internal) mean it could not judge.
    if completed.returncode not in (0, 1):
        detail = (completed.stderr.strip() or completed.stdout.strip()).splitlines()
        raise ValidationToolError(
            f"kubectl-validate could not run (exit {completed.returncode}): {detail[-1] if detail else 'no output'}"
        )
    try:
        results = json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise ValidationToolError(
            f"kubectl-validate printed no JSON result: {completed.stdout[:200]!r} {completed.stderr[:200]!r}"
        ) from None
    for path, subject in subject_by_file.items():
        for status in results.get(path, []):
            problems.extend(problems_from_status(subject, status))
    if completed.returncode == 1 and not problems:
        raise ValidationToolError("kubectl-validate reported failure but no problem could be read from its output")
    return problems
