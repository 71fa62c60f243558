"""GatewayClass: Envoy Gateway's controller name, and a parametersRef to the EnvoyProxy it is given."""

from pulumi_envoy_gateway import EnvoyGatewayController, EnvoyProxy, GatewayClass
from tests.components.conftest import declare, depends_on, named, names, namespace_output, one_line, refusal


def test_points_at_its_envoy_proxy_and_waits_for_it_and_the_controller() -> None:
    # GIVEN an EnvoyProxy (in a namespace from an Output) built on the controller
    def program():
        controller = EnvoyGatewayController("envoy-gateway")
        GatewayClass("eg", envoy_proxy=EnvoyProxy("eg-proxy", namespace=namespace_output(), controller=controller))

    # WHEN the class is declared on it THEN it names the proxy and is created after it and the controller
    run = declare(program)
    spec = named(run, "eg-gateway-class").inputs["spec"]
    assert spec["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert spec["parametersRef"] == {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": "eg-proxy", "namespace": "apps"}
    assert {"eg-proxy-envoy-proxy", "envoy-gateway-crds", "envoy-gateway-chart"} <= depends_on(run, "eg-gateway-class")


def test_without_an_envoy_proxy_the_controller_defaults_apply() -> None:
    run = declare(lambda: GatewayClass("eg"))
    assert "parametersRef" not in named(run, "eg-gateway-class").inputs["spec"]


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    failure = refusal(lambda: GatewayClass("eg", description="x" * 65))
    assert one_line(failure).startswith("GatewayClass 'eg': description: ")
    assert names(failure) == []
