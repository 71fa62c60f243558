"""EnvoyGatewayController: the CRDs chart, then the controller chart's certgen hooks, then the
controller chart, or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from pulumi_envoy_gateway.chart_hooks import DEPENDS_ON, HELM_TEMPLATE
from pulumi_envoy_gateway.envoy_gateway_controller import retained_on_delete
from pulumi_envoy_gateway import EnvoyGatewayController
from tests.components import conftest
from tests.components.conftest import declare, depends_on, named, names, one_line, refusal

HOOK = {"helm.sh/hook": "pre-install, pre-upgrade"}


def hook_object(api_version: str, kind: str, name: str, namespace: str | None = "envoy-gateway-system", **annotations: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "annotations": {**HOOK, **annotations}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


# The shape of what `helm template` renders for gateway-helm v1.9.0 (templates/certgen*.yaml and
# envoy-gateway-deployment.yaml; the real render is read in tests/cluster/test_helm_charts_preview.py).
RENDERED = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "envoy-gateway", "namespace": "envoy-gateway-system"}},
    hook_object("v1", "ServiceAccount", "eg-gateway-helm-certgen", **{"helm.sh/hook-weight": "-1"}),
    hook_object("rbac.authorization.k8s.io/v1", "Role", "eg-gateway-helm-certgen", **{"helm.sh/hook-weight": "-1"}),
    hook_object("rbac.authorization.k8s.io/v1", "ClusterRole", "eg-gateway-helm-certgen:envoy-gateway-system", namespace=None),
    hook_object("batch/v1", "Job", "eg-gateway-helm-certgen"),
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "test", "annotations": {"helm.sh/hook": "test"}}},
]


class RenderingMocks(conftest._Mocks):
    """The mocks, answering the provider's `helm template` with RENDERED and keeping the request."""

    requests: list[dict[str, Any]] = []

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        if args.token == HELM_TEMPLATE:
            RenderingMocks.requests.append(json.loads(args.args["jsonOpts"]))
            return {"result": RENDERED}
        return super().call(args)


class RetainRecordingMonitor(conftest._RecordingMonitor):
    """The recording monitor, also keeping the names of resources registered with retainOnDelete."""

    retained: set[str] = set()

    def RegisterResource(self, request: Any) -> Any:
        if getattr(request, "retainOnDelete", False):
            RetainRecordingMonitor.retained.add(request.name)
        return super().RegisterResource(request)


@pytest.fixture
def rendering(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    RenderingMocks.requests = []
    monkeypatch.setattr(conftest, "_Mocks", RenderingMocks)
    return RenderingMocks.requests


@pytest.fixture
def retained(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    RetainRecordingMonitor.retained = set()
    monkeypatch.setattr(conftest, "_RecordingMonitor", RetainRecordingMonitor)
    return RetainRecordingMonitor.retained


def test_installs_the_crds_before_the_controller_into_its_namespace() -> None:
    # GIVEN only a name WHEN the controller is declared
    run = declare(lambda: EnvoyGatewayController("envoy-gateway"))
    # THEN the pinned charts are declared, the controller's after the CRDs and its namespace
    crds, chart = named(run, "envoy-gateway-crds"), named(run, "envoy-gateway-chart")
    assert crds.inputs["version"] == chart.inputs["version"] == "v1.9.0"
    assert chart.inputs["namespace"] == "envoy-gateway-system" and chart.inputs["skipCrds"] is True
    assert depends_on(run, "envoy-gateway-chart") == {"envoy-gateway-crds", "envoy-gateway-namespace", "envoy-gateway-certgen"}


def test_a_deployed_controller_keeps_its_urns_so_it_updates_in_place() -> None:
    # GIVEN the URNs a stack deployed before the certgen hook holds WHEN declared now
    run = declare(lambda: EnvoyGatewayController("envoy-gateway"))
    # THEN they are the same (no replacement, no alias needed), and the hook is one new resource
    # (URNs as the SDK's mock monitor spells them: the children's without the stack's type)
    component = "urn:pulumi:test::components-test::api-gateway:components:EnvoyGatewayController"
    assert {resource.name: resource.urn for resource in run.resources} == {
        "envoy-gateway": "urn:pulumi:test::components-test::pulumi:pulumi:Stack$api-gateway:components:EnvoyGatewayController::envoy-gateway",
        "envoy-gateway-namespace": f"{component}$kubernetes:core/v1:Namespace::envoy-gateway-namespace",
        "envoy-gateway-crds": f"{component}$kubernetes:helm.sh/v4:Chart::envoy-gateway-crds",
        "envoy-gateway-chart": f"{component}$kubernetes:helm.sh/v4:Chart::envoy-gateway-chart",
        "envoy-gateway-certgen": f"{component}$kubernetes:yaml/v2:ConfigGroup::envoy-gateway-certgen",
    }


def test_the_certgen_hooks_the_chart_renders_are_declared_before_the_controller(rendering: list[dict[str, Any]]) -> None:
    # GIVEN the provider's render of gateway-helm, hooks included WHEN the controller is declared
    run = declare(lambda: EnvoyGatewayController("envoy-gateway", values={"deployment": {"pod": {"labels": {"team": "edge"}}}}))
    # THEN the render was of the controller's chart, release, namespace and values, without CRDs
    chart = named(run, "envoy-gateway-chart").inputs
    (request,) = rendering
    assert (request["chart"], request["version"], request["release_name"], request["namespace"]) == (
        chart["chart"], "v1.9.0", chart["name"], "envoy-gateway-system"
    )
    assert request["values"] == chart["values"] and request["skip_crd_rendering"] is True
    # AND its pre-install hooks (and nothing else) are one ConfigGroup, in the namespace's wake
    hooks = named(run, "envoy-gateway-certgen").inputs["objs"]
    assert [(item["kind"], item["metadata"]["name"]) for item in hooks] == [
        ("ServiceAccount", "eg-gateway-helm-certgen"),
        ("Role", "eg-gateway-helm-certgen"),
        ("ClusterRole", "eg-gateway-helm-certgen:envoy-gateway-system"),
        ("Job", "eg-gateway-helm-certgen"),
    ]
    assert depends_on(run, "envoy-gateway-certgen") == {"envoy-gateway-namespace"}
    # AND the Job waits for its ServiceAccount and RBAC, as Helm runs a hook Job after them
    assert hooks[-1]["metadata"]["annotations"][DEPENDS_ON] == (
        "/namespaces/envoy-gateway-system/ServiceAccount/eg-gateway-helm-certgen,"
        "rbac.authorization.k8s.io/namespaces/envoy-gateway-system/Role/eg-gateway-helm-certgen,"
        "rbac.authorization.k8s.io/ClusterRole/eg-gateway-helm-certgen:envoy-gateway-system"
    )


def test_a_local_chart_is_rendered_from_its_path(rendering: list[dict[str, Any]], tmp_path: Path) -> None:
    # GIVEN both charts packaged in a local directory, as `helm pull` saves them
    for chart in ("gateway-helm", "gateway-crds-helm"):
        (tmp_path / f"{chart}-v1.9.0.tgz").write_bytes(b"archive")
    declare(lambda: EnvoyGatewayController("envoy-gateway", chart_repository=str(tmp_path)))
    # THEN the hooks are rendered from that archive, as a path (the provider pulls a `chart`)
    (request,) = rendering
    assert request["path"] == str(tmp_path / "gateway-helm-v1.9.0.tgz") and "chart" not in request


def test_the_crds_are_retained_on_delete_and_nothing_else_is(retained: set[str]) -> None:
    # GIVEN a controller with the InferencePool CRD WHEN declared
    run = declare(lambda: EnvoyGatewayController("envoy-gateway", inference_pool_crd=True))
    # THEN the CRDs chart and the CRD are registered with retainOnDelete, the controller not
    assert retained == {"envoy-gateway-crds", "envoy-gateway-inference-pool-crd"}
    assert {"envoy-gateway-chart", "envoy-gateway-certgen", "envoy-gateway-namespace"} <= set(names(run))


def test_each_object_of_the_crds_chart_is_retained_on_delete() -> None:
    # GIVEN an object the provider declares for the CRDs chart WHEN the chart's transform runs
    args = pulumi.ResourceTransformArgs(
        custom=True,
        type_="kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        name="envoy-gateway-crds:gateways.gateway.networking.k8s.io",
        props={},
        opts=pulumi.ResourceOptions(protect=True),
    )
    result = retained_on_delete(args)
    # THEN it is kept in the cluster on delete, its other options untouched
    assert result.opts.retain_on_delete is True and result.opts.protect is True


def test_ready_is_what_custom_resources_wait_for() -> None:
    holder = {}
    declare(lambda: holder.update(controller=EnvoyGatewayController("eg", inference_pool_crd=True)))
    controller = holder["controller"]
    assert controller.ready == [controller.crds, controller.chart, controller.inference_pool_crd]
    assert controller.certgen is not None


def test_install_false_declares_nothing_and_is_ready_at_once() -> None:
    holder = {}
    run = declare(lambda: holder.update(controller=EnvoyGatewayController("envoy-gateway", install=False)))
    assert names(run) == ["envoy-gateway"] and holder["controller"].ready == []


def test_values_are_merged_over_the_curated_ones() -> None:
    run = declare(lambda: EnvoyGatewayController("envoy-gateway", values={"deployment": {"pod": {"labels": {"team": "edge"}}}}))
    deployment = named(run, "envoy-gateway-chart").inputs["values"]["deployment"]
    assert deployment == {"replicas": 1, "pod": {"labels": {"team": "edge"}}}


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    # GIVEN a version that is not one WHEN declared THEN one line names the component and
    # argument (in the stack file's words), and nothing is registered
    failure = refusal(lambda: EnvoyGatewayController("envoy-gateway", version="latest"))
    assert one_line(failure).startswith("EnvoyGatewayController 'envoy-gateway': version: ")
    assert names(failure) == []


def test_an_https_helm_repository_is_passed_as_the_repository() -> None:
    # GIVEN a classic Helm repository WHEN declared THEN Helm is told the repository and the
    # chart's name (its index.yaml says where the archive is), not a URL of one archive
    run = declare(lambda: EnvoyGatewayController("envoy-gateway", chart_repository="https://charts.example.com"))
    chart = named(run, "envoy-gateway-chart")
    assert chart.inputs["chart"] == "gateway-helm"
    assert chart.inputs["repositoryOpts"] == {"repo": "https://charts.example.com"}


def test_a_chart_repository_that_is_none_is_one_line_naming_the_argument() -> None:
    failure = refusal(lambda: EnvoyGatewayController("envoy-gateway", chart_repository="docker.io/envoyproxy"))
    assert one_line(failure).startswith("EnvoyGatewayController 'envoy-gateway': chart_repository: 'docker.io/envoyproxy'")
    assert names(failure) == []
