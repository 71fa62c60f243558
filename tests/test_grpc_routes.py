"""Specification: GRPCRoutes, from the stack file to real gRPC calls through Envoy.

A stack with gRPC backends (`protocol: grpc`) and a GRPCRoute that sends one method to an 8:2
split with a metadata filter, and a service to another backend, is refused when broken (naming
the field), becomes Gateway API's GRPCRoute with h2c backends, and passes the offline proof with
gRPC calls; a gateway whose route drifted fails exactly the affected checks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import grpc
import pytest
import yaml

from gateway_config.grpc_manifests import grpc_route_object
from gateway_config.loader import ConfigError, parse_stack_config
from gateway_config.manifests import echo_backend_objects
from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.stand_ins.echo_server import EchoContext
from gatestack.stand_ins.grpc_echo_server import GrpcEchoServer
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.mock_engine.program_run import run_program
from gatestack.stack_source import load_stack
from gatestack.verify import Target, verify
from tests.conftest import stack_raw_config
from tests.test_conformance import conformance, passed_checks

STACK_FILE = "stacks/Pulumi.dev.yaml"
SAY_HELLO = "GRPCRoute greeter rule 0 (say-hello)"


def with_grpc() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["certificates"][0]["dnsNames"] = ["www.example.com", "grpc.example.com"]
    config["backends"] += [{"name": "greeter-v1", "protocol": "grpc"}, {"name": "greeter-v2", "protocol": "grpc"},
                           {"name": "echo-grpc", "protocol": "grpc"}]
    config["grpcRoutes"] = [{"name": "greeter", "hostnames": ["grpc.example.com"], "rules": [
        {"name": "say-hello", "matches": [{"method": {"service": "helloworld.Greeter", "method": "SayHello"}}],
         "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-route", "value": "say-hello"}]}}],
         "backendRefs": [{"name": "greeter-v1", "weight": 8}, {"name": "greeter-v2", "weight": 2}]},
        {"name": "echo", "matches": [{"method": {"service": "gatestack.Echo"}}], "backendRefs": [{"name": "echo-grpc"}]},
    ]}]
    return config


def rule(c: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return c["grpcRoutes"][0]["rules"][index]


REFUSED: list[tuple[str, Callable[[dict], None], str, str]] = [
    ("an HTTP backend", lambda c: rule(c)["backendRefs"][0].update(name="backend"),
     "grpcRoutes.0.rules.0.backendRefs.0.name", "a GRPCRoute needs gRPC backends: give it protocol: grpc"),
    ("an undeclared backend", lambda c: rule(c)["backendRefs"][0].update(name="nowhere"),
     "grpcRoutes.0.rules.0.backendRefs.0.name", "not declared in 'backends'"),
    ("a service that is not one", lambda c: rule(c)["matches"][0]["method"].update(service="hello world"),
     "grpcRoutes.0.rules.0.matches.0.method", "not a gRPC service"),
    ("a method that is not one", lambda c: rule(c)["matches"][0]["method"].update(method="Say-Hello"),
     "grpcRoutes.0.rules.0.matches.0.method", "not a gRPC method name"),
    ("a method match without service or method", lambda c: rule(c)["matches"][0].update(method={"type": "Exact"}),
     "grpcRoutes.0.rules.0.matches.0.method", "give service, method or both"),
    ("a filter gRPC routes lack", lambda c: rule(c)["filters"][0].update(type="URLRewrite"),
     "grpcRoutes.0.rules.0.filters.0.type", "allowed values"),
    ("a filter without its block", lambda c: rule(c)["filters"][0].update(type="ResponseHeaderModifier"),
     "grpcRoutes.0.rules.0.filters.0", "needs exactly the block 'responseHeaderModifier'"),
    ("a listener the Gateway lacks", lambda c: c["grpcRoutes"][0].update(parentRefs=[{"name": "eg", "sectionName": "grpc"}]),
     "grpcRoutes.0.parentRefs.0.sectionName", "does not have"),
    ("a rule without backends", lambda c: rule(c, 1).update(backendRefs=[]), "grpcRoutes.0.rules.1.backendRefs", "at least 1"),
    ("two routes with one name", lambda c: c["grpcRoutes"].append(copy.deepcopy(c["grpcRoutes"][0])), "grpcRoutes.0.name", "more than once"),
    ("a policy on a GRPCRoute rule that does not exist", lambda c: c.update(backendTrafficPolicies=[
        {"name": "p", "targetRefs": [{"kind": "GRPCRoute", "name": "greeter", "sectionName": "nope"}], "retry": {}}]),
     "backendTrafficPolicies.0.targetRefs.0.sectionName", "no rule named 'nope'"),
]


@pytest.mark.parametrize("mutation, path, fragment", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_broken_grpc_route_is_refused_naming_the_field(mutation: Callable[[dict], None], path: str, fragment: str) -> None:
    config = with_grpc()
    mutation(config)
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(config, STACK_FILE)
    lines = [line for line in str(raised.value).splitlines() if line.startswith(f"{STACK_FILE}: {path}: ")]
    assert any(fragment in line for line in lines), str(raised.value)


def test_the_grpc_route_and_its_h2c_backends_are_gateway_apis() -> None:
    config = parse_stack_config(with_grpc(), STACK_FILE)
    route = grpc_route_object(config, config.grpc_routes[0])
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["kind"] == "GRPCRoute"
    assert route["spec"]["parentRefs"] == [{"name": "eg"}] and route["spec"]["hostnames"] == ["grpc.example.com"]
    first = route["spec"]["rules"][0]
    assert first["matches"] == [{"method": {"type": "Exact", "service": "helloworld.Greeter", "method": "SayHello"}}]
    assert first["filters"] == [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-route", "value": "say-hello"}]}}]
    assert first["backendRefs"][0] == {"group": "", "kind": "Service", "name": "greeter-v1", "port": 3000, "weight": 8}
    objects = echo_backend_objects(next(b for b in config.backends if b.name == "greeter-v1"), "default")
    assert objects["service"]["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"
    assert {"name": "GRPC_ECHO_SERVER", "value": "true"} in objects["deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]


def test_the_program_declares_a_grpc_route_component_after_its_backends() -> None:
    run = run_program("dev", with_grpc())
    (component,) = [r for r in run.resources if r.type == "api-gateway:components:GrpcRoute"]
    assert component.name == "greeter"
    (route,) = run.of_type("kubernetes:gateway.networking.k8s.io/v1:GRPCRoute")
    services = {r.name: r.urn for r in run.of_type("kubernetes:core/v1:Service")}
    assert services["greeter-v1-service"] in route.dependencies and services["backend-service"] not in route.dependencies


def test_the_grpc_stand_in_answers_any_method_with_what_it_saw() -> None:
    server = GrpcEchoServer("127.0.0.1", 0, EchoContext(namespace="default", pods=("greeter-v1-abc-xyz",))).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            call = channel.unary_unary("/helloworld.Greeter/SayHello", request_serializer=None, response_deserializer=None)
            body, state = call.with_call(b"", metadata=[("x-one", "1"), ("x-echo-set-header", "x-back:2")], timeout=5)
        document = json.loads(body)
        assert (document["service"], document["method"], document["pod"]) == ("helloworld.Greeter", "SayHello", "greeter-v1-abc-xyz")
        assert document["metadata"]["x-one"] == ["1"]
        assert ("x-back", "2") in tuple(state.initial_metadata())
    finally:
        server.stop()
    with pytest.raises(ValueError, match="loopback"):
        GrpcEchoServer("0.0.0.0", 0).start()


def stack_file(directory: Path) -> Path:
    path = directory / "Pulumi.grpc.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in with_grpc().items()}}))
    return path


def test_grpc_calls_reach_the_backends_their_method_selects_with_the_declared_split(tmp_path: Path) -> None:
    result = conformance("--config", str(stack_file(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert {
        f"{SAY_HELLO}: /helloworld.Greeter/SayHello -> greeter-v1|greeter-v2 (http)",
        f"{SAY_HELLO}: metadata x-route: say-hello reaches the backend",
        f"{SAY_HELLO}: split greeter-v1 8 : greeter-v2 2 over 200 calls",
        "GRPCRoute greeter rule 1 (echo): /gatestack.Echo/Verify -> echo-grpc (http)",
        "GRPCRoute greeter: /gatestack.verify.NoSuchService/Verify on grpc.example.com gets UNIMPLEMENTED",
    } <= set(passed_checks(result.stdout))


def test_a_drifted_grpc_route_fails_exactly_the_affected_checks(tmp_path: Path) -> None:
    source = load_stack(None, stack_file(tmp_path))
    objects, ca_pems, material = rendered_for_proof(source)
    route = next(o for o in objects if o["kind"] == "GRPCRoute")
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 8  # the split moved to 1:1
    route["spec"]["rules"][1]["matches"][0]["method"]["service"] = "gatestack.Other"  # the service no longer routed
    with run_local_gateway(objects, source.config.controller.version) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        results = verify(source.config, targets, ca_pems, material=material)
    assert {r.name for r in results if not r.passed and not r.skipped} == {
        f"{SAY_HELLO}: split greeter-v1 8 : greeter-v2 2 over 200 calls",
        "GRPCRoute greeter rule 1 (echo): /gatestack.Echo/Verify -> echo-grpc (http)",
    }
