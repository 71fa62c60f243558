"""Specification: a BackendTrafficPolicy's circuit breaker, each limit on its own, on the data plane.

`maxConnections` on its own: of slow requests sent at once, that many are answered after one
delay and the rest wait for a connection (all answered); `maxConnections` with
`maxPendingRequests`: beyond both, Envoy refuses at once with its 503 overflow. A gateway whose
limits drifted (connections raised, the queue shortened) fails exactly those checks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from gateway_config.loader import parse_stack_config
from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify import CheckResult, Target, verify
from gatestack.verify.circuit_breaker_checks import expectation
from tests.conftest import stack_raw_config

BREAKERS = {
    "connections": {"maxConnections": 3},
    "queue": {"maxConnections": 2, "maxPendingRequests": 3},
    "parallel": {"maxParallelRequests": 4},
}
CONNECTIONS = "BackendTrafficPolicy connections-breaker: route connections rule 0"
QUEUE = "BackendTrafficPolicy queue-breaker: route queue rule 0"
EXPECTED_PASSES = [
    f"{CONNECTIONS}: at most 3 connections: the next requests wait for one (1024 may)",
    f"{QUEUE}: at most 5 requests at once, then 503",
    f"{QUEUE}: at most 2 connections: the next requests wait for one (3 may)",
    "BackendTrafficPolicy parallel-breaker: route parallel rule 0: at most 4 requests at once, then 503",
]


def breaker_stack() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["backendTrafficPolicies"] = []
    for name, breaker in BREAKERS.items():
        config["routes"].append({"name": name, "hostnames": [f"{name}.example.com"], "parentRefs": [{"name": "eg", "sectionName": "http"}],
                                 "rules": [{"backendRefs": [{"name": "backend"}]}]})
        config["backendTrafficPolicies"].append({"name": f"{name}-breaker", "targetRefs": [{"kind": "HTTPRoute", "name": name}],
                                                 "circuitBreaker": breaker})
    return config


def test_capacity_and_first_wave_follow_envoy_gateways_defaults() -> None:
    policies = parse_stack_config(breaker_stack(), "stacks/Pulumi.breakers.yaml").backend_traffic_policies
    assert [expectation(policy.circuit_breaker) for policy in policies] == [(1024, 3), (5, 2), (4, 4)]


def checks_against(tmp_path: Path, drift: Any = None) -> list[CheckResult]:
    path = tmp_path / "Pulumi.breakers.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in breaker_stack().items()}}))
    source = load_stack(None, path)
    objects, ca_pems, material = rendered_for_proof(source)
    if drift is not None:
        drift({o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "BackendTrafficPolicy"})
    with run_local_gateway(objects, source.config.controller.version) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        return verify(source.config, targets, ca_pems, sample_size=20, material=material)


def test_each_limit_shows_on_the_data_plane(tmp_path: Path) -> None:
    results = checks_against(tmp_path)
    passed = {result.name for result in results if result.passed}
    failed = [result for result in results if not result.passed and not result.skipped]
    assert set(EXPECTED_PASSES) <= passed and not failed, failed or sorted(set(EXPECTED_PASSES) - passed)
    skipped = {result.name: result.detail for result in results if result.skipped}
    assert "more than verify sends" in skipped[f"{CONNECTIONS}: at most 1024 requests at once, then 503"]


def test_drifted_limits_fail_exactly_their_checks(tmp_path: Path) -> None:
    def drift(policies: dict[str, dict[str, Any]]) -> None:
        policies["connections-breaker"]["circuitBreaker"]["maxConnections"] = 6  # more connections
        policies["queue-breaker"]["circuitBreaker"]["maxPendingRequests"] = 1  # a shorter queue

    failed = {result.name for result in checks_against(tmp_path, drift) if not result.passed and not result.skipped}
    assert failed == {
        f"{CONNECTIONS}: at most 3 connections: the next requests wait for one (1024 may)",
        f"{QUEUE}: at most 5 requests at once, then 503",
        f"{QUEUE}: at most 2 connections: the next requests wait for one (3 may)",  # 2 of 5 refused
    }
