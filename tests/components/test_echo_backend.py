"""EchoBackend: the seed's echo app (ServiceAccount, Service, Deployment), hardened."""

import pulumi

from pulumi_envoy_gateway import EchoBackend
from tests.components.conftest import declare, depends_on, named, names, namespace_output, one_line, refusal


def test_declares_the_echo_app_in_a_namespace_from_a_namespace_resource() -> None:
    run = declare(lambda: EchoBackend("backend", namespace=namespace_output(), port=8080))
    service = named(run, "backend-service")
    assert service.inputs["metadata"]["namespace"] == "apps"
    assert service.inputs["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": 8080}]
    assert {"apps", "backend-service-account"} <= depends_on(run, "backend-deployment")


def test_a_grpc_backend_says_h2c() -> None:
    run = declare(lambda: EchoBackend("greeter", protocol="grpc"))
    assert named(run, "greeter-service").inputs["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    failure = refusal(lambda: EchoBackend("backend", protocol="websocket"))
    assert one_line(failure).startswith("EchoBackend 'backend': protocol: is 'websocket'; allowed values: ")
    assert names(failure) == []


def test_a_namespace_output_that_resolves_bad_fails_before_the_objects_are_created() -> None:
    failure = refusal(lambda: EchoBackend("backend", namespace=pulumi.Output.from_input("Bad_Namespace")))
    assert one_line(failure).startswith("EchoBackend 'backend': namespace: 'Bad_Namespace' is not a valid Kubernetes name")
    assert names(failure) == ["backend"]
