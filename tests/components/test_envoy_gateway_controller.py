"""EnvoyGatewayController: the CRDs chart, then the controller chart, or nothing."""

from pulumi_envoy_gateway import EnvoyGatewayController
from tests.components.conftest import declare, depends_on, named, names, one_line, refusal


def test_installs_the_crds_before_the_controller_into_its_namespace() -> None:
    # GIVEN only a name WHEN the controller is declared
    run = declare(lambda: EnvoyGatewayController("envoy-gateway"))
    # THEN the pinned charts are declared, the controller's after the CRDs and its namespace
    crds, chart = named(run, "envoy-gateway-crds"), named(run, "envoy-gateway-chart")
    assert crds.inputs["version"] == chart.inputs["version"] == "v1.9.0"
    assert chart.inputs["namespace"] == "envoy-gateway-system" and chart.inputs["skipCrds"] is True
    assert depends_on(run, "envoy-gateway-chart") == {"envoy-gateway-crds", "envoy-gateway-namespace"}


def test_ready_is_what_custom_resources_wait_for() -> None:
    holder = {}
    declare(lambda: holder.update(controller=EnvoyGatewayController("eg", inference_pool_crd=True)))
    controller = holder["controller"]
    assert controller.ready == [controller.crds, controller.chart, controller.inference_pool_crd]


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
