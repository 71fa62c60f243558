"""GrpcRoute: a GRPCRoute given its Gateway and gRPC backends."""

import pulumi

from pulumi_envoy_gateway import EchoBackend, Gateway, GrpcRoute
from tests.components.conftest import HTTP, declare, depends_on, named, names, one_line, refusal

SAY_HELLO = [{"matches": [{"method": {"service": "helloworld.Greeter", "method": "SayHello"}}], "backendRefs": [{"name": "greeter"}]}]


def test_sends_a_method_to_a_grpc_backend_and_waits_for_it() -> None:
    run = declare(lambda: GrpcRoute(
        "greeter", gateway=Gateway("eg", gateway_class="eg", listeners=[HTTP]), backends=[EchoBackend("greeter", protocol="grpc")],
        hostnames=pulumi.Output.from_input(["grpc.example.com"]), rules=SAY_HELLO,
    ))
    spec = named(run, "greeter-grpc-route").inputs["spec"]
    assert spec["hostnames"] == ["grpc.example.com"]
    assert spec["rules"][0]["backendRefs"] == [{"group": "", "kind": "Service", "name": "greeter", "port": 3000, "weight": 1}]
    assert {"eg-gateway", "greeter-service"} <= depends_on(run, "greeter-grpc-route")


def test_an_http_backend_is_refused_in_one_line_and_the_route_declares_nothing() -> None:
    def program():
        GrpcRoute("greeter", gateway=Gateway("eg", gateway_class="eg", listeners=[HTTP]), backends=[EchoBackend("greeter")], rules=SAY_HELLO)

    failure = refusal(program)
    assert one_line(failure) == (
        "GrpcRoute 'greeter': rules[0].backendRefs[0].name: backend 'greeter' speaks HTTP; a GRPCRoute needs gRPC backends: give it protocol: grpc"
    )
    assert "greeter-grpc-route" not in names(failure) and "greeter" not in [r.name for r in failure.resources if "GrpcRoute" in r.type]
