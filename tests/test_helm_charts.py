"""Specification: Envoy Gateway's released charts, written by `gatestack charts` from the Go module
zip, and a stack that installs them from a local directory (`controller.chartRepository`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gateway_config.loader import ConfigError, parse_stack_config
from gatestack.cli.app import app
from gatestack.mock_engine.program_run import ProgramFailed, ProgramRun, run_program
from gatestack.toolchain import ToolchainError
from gatestack.toolchain.data_plane import envoy_gateway_module_directory
from gatestack.toolchain.helm_charts import RELEASED_CHARTS, substitute
from tests.conftest import stack_raw_config

VERSION = "v1.9.0"
# What the released charts of v1.9.0 say (`helm show values/chart oci://docker.io/envoyproxy/gateway-helm
# --version v1.9.0`): upstream's release steps with IMAGE=docker.io/envoyproxy/gateway and TAG=v1.9.0.
RELEASED_IMAGE = "docker.io/envoyproxy/gateway:v1.9.0"
RELEASED_PULL_POLICY = "IfNotPresent"
HELM_CHART_TYPE = "kubernetes:helm.sh/v4:Chart"


@pytest.fixture(scope="module")
def charts_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The charts `gatestack charts --version v1.9.0 --out DIR` wrote."""
    out = tmp_path_factory.mktemp("vendored") / "charts"
    result = CliRunner().invoke(app, ["charts", "--version", VERSION, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{chart}: {out / chart}" for chart in RELEASED_CHARTS]
    return out


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


# --- gatestack charts -------------------------------------------------------------------------


def test_the_controller_chart_has_the_released_image_and_pull_policy(charts_directory: Path) -> None:
    image = read_yaml(charts_directory / "gateway-helm" / "values.yaml")["global"]["images"]["envoyGateway"]
    assert image["image"] == RELEASED_IMAGE and image["pullPolicy"] == RELEASED_PULL_POLICY


@pytest.mark.parametrize("chart", RELEASED_CHARTS)
def test_each_chart_has_the_released_chart_and_app_version(charts_directory: Path, chart: str) -> None:
    metadata = read_yaml(charts_directory / chart / "Chart.yaml")
    assert (metadata["name"], metadata["version"], metadata["appVersion"]) == (chart, VERSION, VERSION)


def test_the_crds_sub_chart_travels_with_the_controller_chart(charts_directory: Path) -> None:
    sub_chart = charts_directory / "gateway-helm" / "charts" / "crds"
    assert read_yaml(sub_chart / "Chart.yaml")["name"] == "crds"
    assert (sub_chart / "crds" / "gatewayapi-crds.yaml").is_file()


@pytest.mark.parametrize("chart", RELEASED_CHARTS)
def test_nothing_but_the_two_release_steps_is_written(charts_directory: Path, chart: str) -> None:
    # GIVEN the chart as the module zip holds it
    source = envoy_gateway_module_directory(VERSION) / "charts" / chart
    original, written = files_of(source), files_of(charts_directory / chart)
    # THEN the same files plus values.yaml, each byte for byte but Chart.yaml and values.yaml
    assert set(written) == set(original) | {"values.yaml"}
    assert {name for name in original if original[name] != written[name]} <= {"Chart.yaml", "values.yaml"}
    # AND Chart.yaml differs in version and appVersion only
    assert read_yaml(charts_directory / chart / "Chart.yaml") == {
        **read_yaml(source / "Chart.yaml"), "version": VERSION, "appVersion": VERSION
    }
    # AND values.yaml is the template with the image and pull policy filled in, nothing else
    template = (source / "values.tmpl.yaml").read_text()
    filled = template.replace("${GatewayImage}", RELEASED_IMAGE).replace("${GatewayImagePullPolicy}", RELEASED_PULL_POLICY)
    assert (charts_directory / chart / "values.yaml").read_text() == filled


def test_a_second_run_replaces_the_charts(charts_directory: Path) -> None:
    before = {chart: files_of(charts_directory / chart) for chart in RELEASED_CHARTS}
    (charts_directory / "gateway-helm" / "stale.txt").write_text("from an earlier run")
    assert CliRunner().invoke(app, ["charts", "--version", VERSION, "--out", str(charts_directory)]).exit_code == 0
    assert {chart: files_of(charts_directory / chart) for chart in RELEASED_CHARTS} == before


def test_a_template_variable_the_release_does_not_set_is_refused() -> None:
    with pytest.raises(ToolchainError, match=r"refers to ImageTag, which the release steps do not set"):
        substitute("image: ${GatewayImage}\ntag: $ImageTag\n", {"GatewayImage": RELEASED_IMAGE}, Path("values.tmpl.yaml"))


def test_a_version_that_is_not_one_exits_1_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["charts", "--version", "latest", "--out", str(tmp_path)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1 and "latest" in result.output


# --- the program installs them ----------------------------------------------------------------


def dev_with_repository(repository: str) -> dict[str, Any]:
    config = stack_raw_config("dev")
    config["controller"] = {**config["controller"], "install": True, "chartRepository": repository}
    return config


def charts_declared(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {resource.inputs["name"]: resource.inputs for resource in run.of_type(HELM_CHART_TYPE)}


def test_the_program_declares_the_charts_from_the_local_directory(charts_directory: Path) -> None:
    # GIVEN dev with its charts from the directory `gatestack charts` wrote
    run = run_program("dev", dev_with_repository(str(charts_directory)))
    # THEN both Charts are the unpacked charts there, with no repository
    charts = charts_declared(run)
    assert {release: inputs["chart"] for release, inputs in charts.items()} == {
        "eg-crds": str(charts_directory / "gateway-crds-helm"),
        "eg": str(charts_directory / "gateway-helm"),
    }
    assert all("repositoryOpts" not in inputs and inputs["version"] == VERSION for inputs in charts.values())


def test_the_program_runs_the_controller_charts_certgen_hook_before_the_controller(charts_directory: Path) -> None:
    # GIVEN dev with its charts from a local directory WHEN the program runs
    run = run_program("dev", dev_with_repository(str(charts_directory)))
    # THEN gateway-helm's certgen hook (which helm.v4.Chart skips) is a ConfigGroup the
    # controller's Chart waits for (its objects are the provider's render, not the mocks')
    (certgen,) = run.of_type("kubernetes:yaml/v2:ConfigGroup")
    (controller_chart,) = [resource for resource in run.of_type(HELM_CHART_TYPE) if resource.inputs["name"] == "eg"]
    assert certgen.name.endswith("-certgen") and certgen.urn in controller_chart.dependencies


def test_a_relative_directory_is_the_project_directorys(charts_directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(charts_directory.parent)
    charts = charts_declared(run_program("dev", dev_with_repository("./charts")))
    assert charts["eg"]["chart"] == str(charts_directory / "gateway-helm")


def test_packaged_charts_as_helm_pull_saves_them_are_used(tmp_path: Path) -> None:
    for chart in RELEASED_CHARTS:
        (tmp_path / f"{chart}-{VERSION}.tgz").write_bytes(b"archive")
    charts = charts_declared(run_program("dev", dev_with_repository(str(tmp_path))))
    assert charts["eg"]["chart"] == str(tmp_path / f"gateway-helm-{VERSION}.tgz")


def test_an_oci_registry_names_the_chart_in_it() -> None:
    charts = charts_declared(run_program("dev", dev_with_repository("oci://registry.example.com/mirror/")))
    assert charts["eg"]["chart"] == "oci://registry.example.com/mirror/gateway-helm" and "repositoryOpts" not in charts["eg"]


def test_an_https_repository_is_given_as_the_repository_not_the_chart() -> None:
    charts = charts_declared(run_program("dev", dev_with_repository("https://charts.example.com/envoy")))
    assert charts["eg-crds"]["chart"] == "gateway-crds-helm"
    assert charts["eg-crds"]["repositoryOpts"] == {"repo": "https://charts.example.com/envoy"}


def test_a_local_chart_of_another_version_stops_the_program_with_one_line(tmp_path: Path) -> None:
    # GIVEN the module source's charts, not released ones (Chart.yaml says v0.0.0-latest)
    source = envoy_gateway_module_directory(VERSION) / "charts"
    for chart in RELEASED_CHARTS:
        (tmp_path / chart).mkdir()
        (tmp_path / chart / "Chart.yaml").write_text((source / chart / "Chart.yaml").read_text())
    with pytest.raises(ProgramFailed) as failed:
        run_program("dev", dev_with_repository(str(tmp_path)))
    message = str(failed.value)
    assert "\n" not in message and "chart_repository: " in message
    assert "version 'v0.0.0-latest', not 'gateway-crds-helm' version 'v1.9.0'" in message
    assert f"gatestack charts --version v1.9.0 --out {tmp_path}" in message


def test_a_directory_without_the_charts_stops_the_program_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program("dev", dev_with_repository(str(tmp_path)))
    assert "\n" not in str(failed.value)
    assert f"holds neither gateway-crds-helm-{VERSION}.tgz nor gateway-crds-helm/Chart.yaml" in str(failed.value)


# --- the stack file refuses what is not a chart repository ------------------------------------


@pytest.mark.parametrize(
    ("repository", "fragment"),
    [
        ("docker.io/envoyproxy", "'docker.io/envoyproxy' is not a chart repository; allowed: an oci:// registry"),
        ("http://charts.example.com", "is not a chart repository; allowed: "),
        ("vendor/charts", "is not a chart repository; allowed: "),
        ("./vendor/gateway-helm-v1.9.0.tgz", "is one chart archive, and both gateway-helm and gateway-crds-helm"),
    ],
)
def test_a_bad_chart_repository_is_refused_with_one_line(repository: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(dev_with_repository(repository), "stacks/Pulumi.dev.yaml")
    # THEN one line names the file, the field, what is wrong and what is allowed (after it, the
    # loader's usual note that cross-references wait for the shape to be right)
    problem_lines = [line for line in str(refused.value).splitlines() if line.startswith("stacks/")]
    assert len(problem_lines) == 1
    assert problem_lines[0].startswith("stacks/Pulumi.dev.yaml: controller.chartRepository: ") and fragment in problem_lines[0]
