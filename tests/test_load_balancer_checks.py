"""Specification: a BackendTrafficPolicy's load-balancing algorithm is proven by which pod answers.

A backend of three replicas runs as three endpoints (one echo server per pod, as Envoy Gateway
programs a cluster from EndpointSlices); RoundRobin answers in strict rotation, Random does not
and, with one pod busy, still sends it a third of the requests, LeastRequest a ninth; a
ConsistentHash on a cookie or the client address keeps each key on one endpoint whatever else
varies. A gateway running another algorithm than the config's fails exactly that check.
Real tools for the data-plane part: egctl, Envoy, echo servers on 127.0.0.0/8.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify import CheckResult, Target, verify
from gatestack.verify.load_balancer_checks import is_strict_rotation, load_sample, observed_backend, rotation_probability
from tests.conftest import stack_raw_config

ALGORITHMS = {
    "round-robin": {"type": "RoundRobin"},
    "random": {"type": "Random"},
    "least-request": {"type": "LeastRequest"},
    "cookie": {"type": "ConsistentHash", "consistentHash": {"type": "Cookie", "cookie": {"name": "session", "ttl": "1h"}}},
    "source": {"type": "ConsistentHash", "consistentHash": {"type": "SourceIP"}},
}


def balancer_stack() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["backends"].append({"name": "pool", "replicas": 3})
    config["backendTrafficPolicies"] = []
    for name, balancer in ALGORITHMS.items():
        config["routes"].append({"name": name, "hostnames": [f"{name}.example.com"], "parentRefs": [{"name": "eg", "sectionName": "http"}],
                                 "rules": [{"backendRefs": [{"name": "pool"}]}]})
        config["backendTrafficPolicies"].append({"name": f"{name}-balancing", "targetRefs": [{"kind": "HTTPRoute", "name": name}],
                                                 "loadBalancer": balancer})
    return config


def write_stack(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / "Pulumi.balancers.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in config.items()}}))
    return path


def checks_against(tmp_path: Path, drift: Any = None) -> list[CheckResult]:
    source = load_stack(None, write_stack(tmp_path, balancer_stack()))
    objects, ca_pems, material = rendered_for_proof(source)
    if drift is not None:
        drift(objects)
    with run_local_gateway(objects, source.config.controller.version) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        return verify(source.config, targets, ca_pems, sample_size=200, material=material)


def test_a_strict_rotation_holds_every_pod_in_every_window() -> None:
    assert is_strict_rotation(["a", "b", "c", "a", "b", "c", "a"], 3)
    assert not is_strict_rotation(["a", "b", "c", "a", "c", "b"], 3)
    assert not is_strict_rotation(["a", "a", "b", "b"], 2)


def test_chance_of_a_rotation_from_random_picks_is_r_factorial_over_r_to_the_m() -> None:
    assert rotation_probability(2, 4) == Fraction(2, 16)
    assert rotation_probability(3, 60) < Fraction(1, 10**20)


def test_the_busy_pod_sample_separates_least_request_from_random() -> None:
    n, least, random = load_sample(3)
    assert n == 400 and least[1] < random[0]
    assert load_sample(2)[0] == 400  # 1/4 against 1/2: 200 requests would overlap


def test_the_observed_backend_is_the_one_with_most_replicas(tmp_path: Path) -> None:
    config = load_stack(None, write_stack(tmp_path, balancer_stack())).config
    replicas = {backend.name: backend.replicas for backend in config.backends}
    assert observed_backend(config.routes[1].rules[0], replicas) == ("pool", 3)
    assert observed_backend(config.routes[0].rules[0], replicas) is None  # backend and backend-2, one pod each


EXPECTED_PASSES = [
    "BackendTrafficPolicy round-robin-balancing: route round-robin rule 0: RoundRobin: pool's 3 endpoints answer in strict rotation (by chance with Random or LeastRequest: 2e-95)",
    "BackendTrafficPolicy random-balancing: route random rule 0: Random: pool's 3 endpoints do not answer in strict rotation (RoundRobin would)",
    "BackendTrafficPolicy random-balancing: route random rule 0: Random: with one of pool's 3 endpoints busy, it gets 1/R of the requests (89..180 of 400; LeastRequest 17..77, Random 89..180)",
    "BackendTrafficPolicy least-request-balancing: route least-request rule 0: LeastRequest: with one of pool's 3 endpoints busy, it gets 1/R^2 of the requests (17..77 of 400; LeastRequest 17..77, Random 89..180)",
    "BackendTrafficPolicy cookie-balancing: route cookie rule 0: ConsistentHash on cookie session: each key sticks to one endpoint, whatever else the requests vary",
    "BackendTrafficPolicy cookie-balancing: route cookie rule 0: ConsistentHash: a request without cookie session is answered with Set-Cookie session",
    "BackendTrafficPolicy source-balancing: route source rule 0: ConsistentHash on the client address: each key sticks to one endpoint, whatever else the requests vary",
]


def test_every_algorithm_shows_on_the_data_plane(tmp_path: Path) -> None:
    results = checks_against(tmp_path)
    passed = {result.name for result in results if result.passed}
    failed = [result for result in results if not result.passed and not result.skipped]
    assert set(EXPECTED_PASSES) <= passed and not failed, failed or sorted(set(EXPECTED_PASSES) - passed)


def test_a_gateway_running_other_algorithms_fails_exactly_their_checks(tmp_path: Path) -> None:
    swapped = {
        "round-robin": {"type": "Random"},
        "random": {"type": "LeastRequest"},
        "least-request": {"type": "RoundRobin"},
        "cookie": {"type": "ConsistentHash", "consistentHash": {"type": "SourceIP"}},
        "source": {"type": "RoundRobin"},
    }

    def drift(objects: list[dict[str, Any]]) -> None:
        for item in objects:
            if item["kind"] == "BackendTrafficPolicy":
                item["spec"]["loadBalancer"] = swapped[item["metadata"]["name"].removesuffix("-balancing")]

    results = checks_against(tmp_path, drift)
    failed = {result.name for result in results if not result.passed and not result.skipped}
    assert failed == set(EXPECTED_PASSES) - {EXPECTED_PASSES[1]}, sorted(failed)
