"""Specification: a BackendTrafficPolicy's active health checks are proven by their timing.

A backend told to fail its health checks is taken out (at once for an unexpected status, after
`unhealthyThreshold` x `interval` for connection resets) and readmitted after
`healthyThreshold` x `interval`; the victim is chosen so that Envoy's panic mode cannot hide the
ejection; the statistical widening of the windows is the one the module docstring states. A
gateway whose thresholds or expected statuses drifted from the config fails exactly those checks.
Real tools for the data-plane part: egctl, Envoy, echo servers on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import socket
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from gateway_config.loader import parse_stack_config
from gatestack.stand_ins.echo_server import EchoContext, EchoServer
from gatestack.verify.health_checks import HealthSettings, choose_victim, counted_rate, miss_run
from tests.test_traffic_policy_conformance import BACKEND, checks_against_drifted, policy, policy_stack

STACK_FILE = "stacks/Pulumi.policies.yaml"
STATUS_CHECK = (f"{BACKEND}: backend answering its health checks with 503 gets no traffic after the next check "
                "(within 1.25s: an unexpected status counts at once)")
EJECT_CHECK = (f"{BACKEND}: backend failing its health checks (connection resets) gets traffic until 3 x 1s, "
               "none after (last request between 1.25s and 3.25s)")
RETURN_CHECK = f"{BACKEND}: backend gets traffic again 1 x 1s after its health checks pass (first request between 0.00s and 1.75s)"
HEALTH_TIMING_CHECKS = [STATUS_CHECK, EJECT_CHECK, RETURN_CHECK]


def rule_with(*backends: tuple[str, int], replicas: dict[str, int] | None = None) -> tuple[Any, dict[str, int]]:
    config = policy_stack()
    config["backends"] = [{"name": name, "replicas": (replicas or {}).get(name, 1)} for name, _ in backends]
    config["routes"][0]["rules"][0]["backendRefs"] = [{"name": name, "weight": weight} for name, weight in backends]
    config["routes"][0]["rules"][0].pop("filters", None)
    config["routes"] = config["routes"][:1]
    config["backendTrafficPolicies"] = config["backendTrafficPolicies"][:1]
    parsed = parse_stack_config(config, STACK_FILE)
    return parsed.routes[0].rules[0], {backend.name: backend.replicas for backend in parsed.backends}


def test_the_victim_is_the_backend_with_the_largest_share() -> None:
    assert choose_victim(*rule_with(("backend", 8), ("backend-2", 2))) == ("backend", Fraction(4, 5), "")


def test_a_victim_whose_replicas_are_most_endpoints_is_not_chosen_as_panic_mode_would_hide_its_ejection() -> None:
    rule, replicas = rule_with(("stable", 9), ("canary", 1), replicas={"stable": 3})
    assert choose_victim(rule, replicas) == ("canary", Fraction(1, 10), "")


def test_a_rule_with_one_backend_cannot_show_an_ejection() -> None:
    victim, _, why_not = choose_victim(*rule_with(("backend", 1)))
    assert victim is None and "panic mode" in why_not


def test_the_windows_widen_by_the_misses_a_share_makes_likely_to_one_in_two_million() -> None:
    assert miss_run(Fraction(4, 5)) == 10  # 0.2^9 = 5.1e-7 > 5e-7 >= 0.2^10
    assert miss_run(Fraction(1, 2)) == 21
    assert miss_run(Fraction(1, 10)) == 138


def resilience_with_address_limit(requests: int) -> Any:
    config = policy_stack()  # 5/Minute per x-client header, `requests`/Minute per client address
    config["backendTrafficPolicies"][0]["rateLimit"]["local"]["rules"][1]["limit"]["requests"] = requests
    return parse_stack_config(config, STACK_FILE).backend_traffic_policies[0]


def test_the_poll_rate_fits_the_policys_own_limits_and_ignores_limits_keyed_by_a_header() -> None:
    assert counted_rate(resilience_with_address_limit(500), 35) == 20.0
    assert counted_rate(resilience_with_address_limit(300), 35) == pytest.approx((300 + 5 * 35) / 35)
    assert counted_rate(resilience_with_address_limit(60), 35) is None  # 2.7 a second


def test_envoy_gateways_defaults_and_a_failing_status_outside_the_expected_ones() -> None:
    config = parse_stack_config(policy_stack(), STACK_FILE)
    active = config.backend_traffic_policies[0].health_check.active
    settings = HealthSettings.of(active)
    assert (settings.interval, settings.timeout, settings.unhealthy, settings.healthy) == (1.0, 1.0, 3, 1)
    assert settings.failing_status() == 503
    assert HealthSettings(3, 1, 3, 1, (200, 503)).failing_status() == 500


def health_check(port: int) -> tuple[int | None, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health", headers={"User-Agent": "Envoy/HC"})
        return connection.getresponse().status, ""
    except (ConnectionError, http.client.RemoteDisconnected, socket.timeout) as error:
        return None, type(error).__name__
    finally:
        connection.close()


def test_an_echo_server_fails_health_checks_of_the_named_deployment_only_and_only_for_the_time_asked() -> None:
    with EchoServer("127.0.0.1", 0, EchoContext(pods=("web-abc-xyz",))) as web, \
            EchoServer("127.0.0.1", 0, EchoContext(pods=("api-abc-xyz",))) as api:
        connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
        connection.request("GET", "/", headers={"X-Echo-Health-Fail": "web;60000;503"})
        assert connection.getresponse().status == 200  # the instruction itself is answered normally
        assert health_check(web.port)[0] == 503
        assert health_check(api.port)[0] == 200
        connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
        connection.request("GET", "/", headers={"X-Echo-Health-Fail": "web;60000;reset"})
        connection.getresponse().read()
        assert health_check(web.port)[0] is None
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        connection.request("GET", "/get", headers={"X-Echo-Health-Fail": "web;0;reset"})
        assert connection.getresponse().status == 200  # ordinary requests are never failed
        assert health_check(web.port)[0] == 200


def test_drifted_health_check_thresholds_and_statuses_fail_exactly_their_checks(tmp_path: Path) -> None:
    def drift(objects: list[dict[str, Any]]) -> None:
        active = policy(objects, "BackendTrafficPolicy", "backend-resilience")["healthCheck"]["active"]
        active["unhealthyThreshold"] = 1  # taken out at the first reset, not the third
        active["healthyThreshold"] = 3  # readmitted after three passing checks, not one
        active["http"]["expectedStatuses"] = [200, 503]  # 503 counted as healthy

    results = checks_against_drifted(tmp_path, drift)
    failed = {result.name for result in results if not result.passed and not result.skipped}
    assert failed == set(HEALTH_TIMING_CHECKS), [r for r in results if "health" in r.name]
