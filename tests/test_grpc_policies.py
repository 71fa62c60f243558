"""Specification: policies on a GRPCRoute are proven with real gRPC calls.

Basic auth on one rule of a GRPCRoute (by the rule's name): a call without credentials or with
a wrong password gets UNAUTHENTICATED, a valid one OK, and the rule's routing checks carry the
credentials; a rate limit per x-tenant on the whole route: the calls after the limit are
refused on each rule. A gateway whose policies drifted (the limit raised, basic auth dropped)
fails exactly those checks. Real tools: egctl, Envoy, gRPC echo servers on 127.0.0.0/8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify import CheckResult, Target, verify
from gatestack.verify.grpc_policy_checks import as_metadata, grpc_effective_policy
from tests.test_grpc_routes import with_grpc

SAY_HELLO = "GRPCRoute greeter rule 0 (say-hello)"
ECHO = "GRPCRoute greeter rule 1 (echo)"
EXPECTED_PASSES = [
    f"{ECHO}: SecurityPolicy echo-basic: a call without basic auth gets UNAUTHENTICATED",
    f"{ECHO}: SecurityPolicy echo-basic: a call with basic auth the policy does not know gets UNAUTHENTICATED",
    f"{ECHO}: SecurityPolicy echo-basic: a call with valid credentials gets OK from echo-grpc",
    f"{ECHO}: /gatestack.Echo/Verify -> echo-grpc (http)",  # with the credentials
    f"{SAY_HELLO}: BackendTrafficPolicy greeter-limit: rate limit 0 5/Minute",
    f"{ECHO}: BackendTrafficPolicy greeter-limit: rate limit 0 5/Minute",
    f"{SAY_HELLO}: /helloworld.Greeter/SayHello -> greeter-v1|greeter-v2 (http)",  # no credentials needed
]


def grpc_policy_stack() -> dict[str, Any]:
    config = with_grpc()
    config["securityPolicies"] = [{"name": "echo-basic", "targetRefs": [{"kind": "GRPCRoute", "name": "greeter", "sectionName": "echo"}],
                                   "basicAuth": {"users": ["alice"]}}]
    config["backendTrafficPolicies"] = [{"name": "greeter-limit", "targetRefs": [{"kind": "GRPCRoute", "name": "greeter"}],
                                         "rateLimit": {"local": {"rules": [{"clientSelectors": [{"headers": [{"name": "x-tenant", "type": "Distinct"}]}],
                                                                            "limit": {"requests": 5, "unit": "Minute"}}]}}}]
    config["credentials"] = {"echo-basic": {"alice": "hunter-22"}}
    return config


def stack_path(directory: Path) -> Path:
    path = directory / "Pulumi.grpc-policies.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in grpc_policy_stack().items()}}))
    return path


def test_the_policy_on_a_named_rule_beats_the_one_on_the_route_and_credentials_become_metadata(tmp_path: Path) -> None:
    config = load_stack(None, stack_path(tmp_path)).config
    route = config.grpc_routes[0]
    assert grpc_effective_policy(config.security_policies, "http", route, route.rules[0]) is None
    assert grpc_effective_policy(config.security_policies, "http", route, route.rules[1]).name == "echo-basic"
    assert grpc_effective_policy(config.backend_traffic_policies, "http", route, route.rules[0]).name == "greeter-limit"
    assert as_metadata([("Authorization", "Basic x")]) == (("authorization", "Basic x"),)
    assert as_metadata([("?api_key", "k")]) is None  # a query parameter cannot ride on a gRPC call


def checks_against(tmp_path: Path, drift: Any = None) -> list[CheckResult]:
    source = load_stack(None, stack_path(tmp_path))
    objects, ca_pems, material = rendered_for_proof(source)
    if drift is not None:
        drift({o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] in ("SecurityPolicy", "BackendTrafficPolicy")})
    with run_local_gateway(objects, source.config.controller.version) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        return verify(source.config, targets, ca_pems, sample_size=20, material=material)


def test_every_grpc_policy_behaviour_holds_on_the_data_plane(tmp_path: Path) -> None:
    results = checks_against(tmp_path)
    passed = {result.name for result in results if result.passed}
    failed = [result for result in results if not result.passed and not result.skipped]
    assert set(EXPECTED_PASSES) <= passed and not failed, failed or sorted(set(EXPECTED_PASSES) - passed)


def test_drifted_grpc_policies_fail_exactly_their_checks(tmp_path: Path) -> None:
    def drift(policies: dict[str, dict[str, Any]]) -> None:
        policies["greeter-limit"]["rateLimit"]["local"]["rules"][0]["limit"]["requests"] = 50  # the limit raised
        policies["echo-basic"].pop("basicAuth")  # no authentication any more
        policies["echo-basic"]["cors"] = {"allowOrigins": ["https://www.example.com"]}

    failed = {result.name for result in checks_against(tmp_path, drift) if not result.passed and not result.skipped}
    assert failed == {
        f"{SAY_HELLO}: BackendTrafficPolicy greeter-limit: rate limit 0 5/Minute",
        f"{ECHO}: BackendTrafficPolicy greeter-limit: rate limit 0 5/Minute",
        f"{ECHO}: SecurityPolicy echo-basic: a call without basic auth gets UNAUTHENTICATED",
        f"{ECHO}: SecurityPolicy echo-basic: a call with basic auth the policy does not know gets UNAUTHENTICATED",
    }
