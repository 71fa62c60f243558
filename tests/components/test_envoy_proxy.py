"""EnvoyProxy: how the controller runs the proxies, in a namespace that may come from an Output."""

import pulumi

from pulumi_envoy_gateway import EnvoyGatewayController, EnvoyProxy
from tests.components.conftest import declare, depends_on, named, names, namespace_output, one_line, refusal


def test_declares_the_proxy_settings_in_a_namespace_from_a_namespace_resource() -> None:
    # GIVEN a namespace Output and the controller WHEN the proxy is declared
    run = declare(lambda: EnvoyProxy(
        "eg-proxy", namespace=namespace_output(), controller=EnvoyGatewayController("envoy-gateway"),
        replicas=2, autoscaling={"maxReplicas": 4}, service={"type": "NodePort"},
    ))
    # THEN the EnvoyProxy is in that namespace and waits for it and for the controller
    proxy = named(run, "eg-proxy-envoy-proxy")
    assert proxy.inputs["metadata"] == {"name": "eg-proxy", "namespace": "apps"}
    kubernetes = proxy.inputs["spec"]["provider"]["kubernetes"]
    assert kubernetes["envoyDeployment"] == {"replicas": 2} and kubernetes["envoyService"] == {"type": "NodePort"}
    assert kubernetes["envoyHpa"]["maxReplicas"] == 4
    assert {"apps", "envoy-gateway-crds", "envoy-gateway-chart"} <= depends_on(run, "eg-proxy-envoy-proxy")


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    failure = refusal(lambda: EnvoyProxy("eg-proxy", autoscaling={"minReplicas": 5, "maxReplicas": 2}))
    assert one_line(failure) == (
        "EnvoyProxy 'eg-proxy': autoscaling.minReplicas: minReplicas (5) is above maxReplicas (2); it must be at most maxReplicas"
    )
    assert names(failure) == []


def test_a_namespace_output_that_resolves_bad_fails_before_the_proxy_is_created() -> None:
    failure = refusal(lambda: EnvoyProxy("eg-proxy", namespace=pulumi.Output.from_input("Not A Namespace")))
    assert one_line(failure).startswith("EnvoyProxy 'eg-proxy': namespace: 'Not A Namespace' is not a valid Kubernetes name")
    assert "eg-proxy-envoy-proxy" not in names(failure)
