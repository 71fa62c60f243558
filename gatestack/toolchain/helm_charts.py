"""Envoy Gateway's released Helm charts, written from the Go module zip of a version.

The module zip of `github.com/envoyproxy/gateway@<version>` (the one the controller is built
from) holds `charts/gateway-helm/` (with its `charts/crds` sub-chart) and
`charts/gateway-crds-helm/` as they are in the repository at the tag. Two release steps of
upstream's `tools/make/helm.mk` are not in it, and are done here exactly, nothing else:

- `helm-generate`: `values.yaml` is `values.tmpl.yaml` put through `envsubst` with
  `GatewayImage=docker.io/envoyproxy/gateway:<tag>` and `GatewayImagePullPolicy=IfNotPresent`,
  for each chart that has a `values.tmpl.yaml`;
- `helm-package --version <version> --app-version <tag>`: `version` and `appVersion` of the
  chart's `Chart.yaml` (the module source says `v0.0.0-latest` and `latest`).

Every other file is copied byte for byte. `envsubst` replaces every `$NAME` and `${NAME}`,
an unset one with nothing; a template holding any variable but those two is refused rather
than emptied silently. The archive `helm package` would write also leaves out what the chart's
`.helmignore` names (gateway-helm's `*.tmpl.*`); Helm applies the same `.helmignore` when it
loads a chart directory, so the directory installs as the archive does.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from gatestack.toolchain.data_plane import envoy_gateway_module_directory
from gatestack.toolchain.go_build import ToolchainError, check_version

# The charts of a release: the controller (with its CRDs as the `crds` sub-chart) and the CRDs alone.
# gateway-addons-helm is left out: it depends on remote charts (prometheus, grafana, ...).
RELEASED_CHARTS = ("gateway-helm", "gateway-crds-helm")
GATEWAY_IMAGE_REPOSITORY = "docker.io/envoyproxy/gateway"
GATEWAY_IMAGE_PULL_POLICY = "IfNotPresent"
# envsubst's variable references: $NAME and ${NAME}.
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
# A top-level `version:` or `appVersion:` line of Chart.yaml (no indentation: not a dependency's).
_TOP_LEVEL_KEY = r"^{key}:[^\n]*$"


def release_values(tag: str) -> dict[str, str]:
    """The variables `helm-generate` substitutes into `values.tmpl.yaml` for a release `tag`."""
    return {"GatewayImage": f"{GATEWAY_IMAGE_REPOSITORY}:{tag}", "GatewayImagePullPolicy": GATEWAY_IMAGE_PULL_POLICY}


def substitute(template: str, variables: dict[str, str], source: Path) -> str:
    """`template` as `envsubst` with `variables` set would print it; any other variable is an error."""
    unknown = sorted({first or second for first, second in _VARIABLE.findall(template)} - set(variables))
    if unknown:
        raise ToolchainError(
            f"{source} refers to {', '.join(unknown)}, which the release steps do not set "
            f"(envsubst would leave it empty); only {', '.join(sorted(variables))} are known"
        )
    return _VARIABLE.sub(lambda match: variables[match.group(1) or match.group(2)], template)


def packaged_chart_file(text: str, version: str, app_version: str, source: Path) -> str:
    """Chart.yaml with `version` and `appVersion` set, as `helm package --version --app-version`
    sets them; every other line as it was (the result is checked to parse to exactly that)."""
    original = yaml.safe_load(text)
    result = text
    for key, value in (("version", version), ("appVersion", app_version)):
        result, count = re.subn(_TOP_LEVEL_KEY.format(key=key), f'{key}: "{value}"', result, flags=re.MULTILINE)
        if count != 1:
            raise ToolchainError(f"{source} has {count} top-level '{key}:' lines, expected one")
    if yaml.safe_load(result) != {**original, "version": version, "appVersion": app_version}:
        raise ToolchainError(f"{source}: setting version and appVersion changed more than those two")
    return result


def _copy_tree(source: Path, target: Path) -> None:
    """Copy `source` to `target`, contents only: the module cache's files are read-only, the copy is not."""
    target.mkdir(parents=True)
    for entry in sorted(source.iterdir()):
        if entry.is_symlink():
            raise ToolchainError(f"{entry} is a symbolic link; a chart from the module zip has none")
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        else:
            shutil.copyfile(entry, target / entry.name)


def write_released_chart(module: Path, chart: str, version: str, output: Path) -> Path:
    """Write `chart` of the module source `module` at release `version` into `output/<chart>`,
    replacing a chart written there before; return the chart's directory."""
    source = module / "charts" / chart
    if not (source / "Chart.yaml").is_file():
        raise ToolchainError(f"{source} is not a chart (no Chart.yaml): Envoy Gateway {version} has no {chart}")
    staging = output / f".{chart}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    _copy_tree(source, staging)
    template = source / "values.tmpl.yaml"
    if template.is_file():
        (staging / "values.yaml").write_text(substitute(template.read_text(), release_values(version), template))
    chart_file = source / "Chart.yaml"
    (staging / "Chart.yaml").write_text(packaged_chart_file(chart_file.read_text(), version, version, chart_file))
    destination = output / chart
    shutil.rmtree(destination, ignore_errors=True)
    staging.rename(destination)
    return destination


def write_released_charts(version: str, output: Path) -> list[Path]:
    """Write Envoy Gateway's released charts of `version` (gateway-helm with its crds sub-chart,
    and gateway-crds-helm) from its Go module zip into `output`; return their directories.

    The chart version and the image tag are both the release tag (`v1.9.0`), as upstream
    releases them (`helm install eg oci://docker.io/envoyproxy/gateway-helm --version v1.9.0`).
    """
    check_version(version, "Envoy Gateway")
    module = envoy_gateway_module_directory(version)
    output.mkdir(parents=True, exist_ok=True)
    return [write_released_chart(module, chart, version, output) for chart in RELEASED_CHARTS]
