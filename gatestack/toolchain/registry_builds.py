"""What the local cluster's stand-in for Envoy Gateway's chart registry is made of: CNCF
Distribution's `registry` (the field's standard OCI registry), the `helm` CLI, and Envoy
Gateway's released charts packaged by that `helm`.

Upstream releases its charts to `oci://docker.io/envoyproxy` (`tools/make/helm.mk`:
`helm-generate`, then `helm package --version <v> --app-version <tag>`, then `helm push`). Docker
Hub cannot be reached here, so the local cluster runs a registry of its own under that name
(`gatestack.cluster.chart_registry`) and pushes into it the archives made here, with the same
steps: `helm_charts.write_released_charts` does `helm-generate` (values.yaml from its template),
and the `helm` built here packages each chart.

- `registry` is `github.com/distribution/distribution/v3/cmd/registry` at `REGISTRY_VERSION`
  (v3.1.2, the newest the Go module proxy serves; no replace directives, so `go install`);
- `helm` is `helm.sh/helm/v3/cmd/helm` at `HELM_VERSION`, the version the Kubernetes provider's
  go.mod pins (v3.18.6): the client that pushes is the one that pulls inside the provider, and
  the two builds share the Kubernetes libraries in Go's build cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from gatestack.paths import TOOLS_DIRECTORY, shown
from gatestack.progress import progress
from gatestack.toolchain.data_plane import DEFAULT_ENVOY_GATEWAY_VERSION
from gatestack.toolchain.go_build import GoTool, ToolchainError, check_version, ensure_go_tool, exclusive_lock
from gatestack.toolchain.helm_charts import RELEASED_CHARTS, write_released_charts

REGISTRY_VERSION = "v3.1.2"
REGISTRY_PACKAGE = "github.com/distribution/distribution/v3/cmd/registry"
# Where `registry --version` reads its version (upstream's Makefile sets it with -X).
REGISTRY_VERSION_SYMBOL = "github.com/distribution/distribution/v3/version.version"

HELM_VERSION = "v3.18.6"
HELM_PACKAGE = "helm.sh/helm/v3/cmd/helm"
# Where `helm version` reads its version (upstream's Makefile sets it with -X).
HELM_VERSION_SYMBOL = "helm.sh/helm/v3/internal/version.version"


def ensure_registry(version: str = REGISTRY_VERSION) -> Path:
    """Path of Distribution's `registry` at `version` (default v3.1.2), built if absent."""
    return ensure_go_tool(GoTool("registry", REGISTRY_PACKAGE, version, REGISTRY_VERSION_SYMBOL))


def ensure_helm(version: str = HELM_VERSION) -> Path:
    """Path of the `helm` CLI at `version` (default v3.18.6, the Kubernetes provider's), built if absent."""
    return ensure_go_tool(GoTool("helm", HELM_PACKAGE, version, HELM_VERSION_SYMBOL))


def helm_environment(home: Path) -> dict[str, str]:
    """The environment `helm` runs with: its config, cache, data and registry credentials in
    `home`, never in the user's own (~/.config/helm and the rest)."""
    return {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_REGISTRY_CONFIG": str(home / "config" / "registry.json"),
    }


def run_helm(
    helm: Path,
    arguments: list[str],
    home: Path,
    wrap: Callable[[list[str]], list[str]] = lambda command: command,
    environment: Mapping[str, str] | None = None,
) -> str:
    """`helm ARGUMENTS` (run through `wrap`, e.g. inside a network namespace, with `environment`
    added); what it printed (stdout, then stderr, where `helm push` reports), or a
    ToolchainError naming the command and helm's last line."""
    command = [str(helm), *arguments]
    completed = subprocess.run(
        wrap(command), env={**helm_environment(home), **(environment or {})}, capture_output=True, text=True
    )
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines()
        raise ToolchainError(f"`helm {' '.join(arguments)}` exited {completed.returncode}: {lines[-1] if lines else 'no output'}")
    return completed.stdout + completed.stderr


def packaged_chart_directory(version: str) -> Path:
    """`.tools/charts-<version>/`: the archives `ensure_packaged_charts` makes."""
    return TOOLS_DIRECTORY / f"charts-{check_version(version, 'Envoy Gateway')}"


def packaged_chart_files(version: str) -> list[Path]:
    """`<chart>-<version>.tgz` of each released chart (`helm package`'s names), made or not."""
    return [packaged_chart_directory(version) / f"{chart}-{version}.tgz" for chart in RELEASED_CHARTS]


def ensure_packaged_charts(version: str = DEFAULT_ENVOY_GATEWAY_VERSION, helm: Path | None = None) -> list[Path]:
    """Envoy Gateway's released charts of `version` as upstream's release makes them: written
    from the module zip with `helm-generate`'s values (`write_released_charts`), then
    `helm package <chart> --version <version> --app-version <version>`. Made once into
    `.tools/charts-<version>/` (through a staging folder renamed into place) and reused."""
    files = packaged_chart_files(version)
    if all(file.is_file() for file in files):
        return files
    helm = helm or ensure_helm()
    with exclusive_lock(f"charts-{version}"):
        if all(file.is_file() for file in files):
            return files
        progress(f"packaging Envoy Gateway's charts {version} with helm package into {shown(packaged_chart_directory(version))}")
        staging = Path(tempfile.mkdtemp(prefix=f".charts-{version}.", dir=TOOLS_DIRECTORY))
        try:
            sources = write_released_charts(version, staging / "source")
            archives = staging / "archives"
            archives.mkdir()
            for chart in sources:
                run_helm(
                    helm,
                    ["package", str(chart), "--version", version, "--app-version", version, "--destination", str(archives)],
                    staging / "helm",
                )
            missing = [file.name for file in files if not (archives / file.name).is_file()]
            if missing:
                raise ToolchainError(f"helm package wrote no {', '.join(missing)} into {archives}")
            archives.chmod(0o755)
            final = packaged_chart_directory(version)
            shutil.rmtree(final, ignore_errors=True)
            archives.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return files


def ensure_chart_registry_tools(envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> dict[str, object]:
    """The registry, helm and the packaged charts of `envoy_gateway_version`, by name."""
    helm = ensure_helm()
    return {
        "registry": ensure_registry(),
        "helm": helm,
        "charts": ensure_packaged_charts(envoy_gateway_version, helm),
    }
