"""Specification of verify's policy logic that needs no gateway: which policy is in effect
where, what a retry or timeout setting implies, which client addresses a listener believes."""

from __future__ import annotations

import ipaddress

import pytest

from gateway_config.loader import parse_stack_config
from gateway_config.models import RouteTimeouts
from gatestack.verify.backend_policy_checks import failure_mode, timeout_expectation
from gatestack.verify.client_identity import AddressChooser
from gatestack.verify.policy_targets import effective_listener_policy, effective_policy
from tests.test_traffic_policy_config import with_policies


def config_with(backend_policies: list[dict], client_policies: list[dict] | None = None):
    raw = with_policies()
    raw["backendTrafficPolicies"] = backend_policies
    raw["clientTrafficPolicies"] = client_policies if client_policies is not None else raw["clientTrafficPolicies"]
    return parse_stack_config(raw, "stacks/Pulumi.dev.yaml")


def retry_policy(policy_name: str, **target: str) -> dict:
    return {"name": policy_name, "targetRefs": [target], "retry": {}}


def test_the_most_specific_policy_is_in_effect_rule_over_route_over_listener_over_gateway() -> None:
    config = config_with([
        retry_policy("gateway", kind="Gateway", name="eg"),
        retry_policy("listener", kind="Gateway", name="eg", sectionName="https"),
        retry_policy("route", kind="HTTPRoute", name="backend"),
        retry_policy("rule", kind="HTTPRoute", name="backend", sectionName="main"),
    ])
    route, rule = config.routes[0], config.routes[0].rules[0]
    policies = config.backend_traffic_policies
    assert effective_policy(policies, "https", route, rule).name == "rule"
    assert effective_policy(policies[:3], "https", route, rule).name == "route"
    assert effective_policy(policies[:2], "https", route, rule).name == "listener"
    assert effective_policy(policies[:2], "http", route, rule).name == "gateway"
    assert effective_policy(policies[:1], "http", route, rule).name == "gateway"


def test_a_listener_policy_beats_a_gateway_policy() -> None:
    config = config_with([], [
        {"name": "all", "targetRefs": [{"kind": "Gateway", "name": "eg"}], "tls": {"minVersion": "1.3"}},
        {"name": "one", "targetRefs": [{"kind": "Gateway", "name": "eg", "sectionName": "https"}], "tls": {"minVersion": "1.2"}},
    ])
    assert effective_listener_policy(config.client_traffic_policies, "https").name == "one"
    assert effective_listener_policy(config.client_traffic_policies, "http").name == "all"


@pytest.mark.parametrize(
    "retry_on, mode",
    [
        (None, "503"),  # Envoy Gateway's default includes retriable-status-codes 503
        ({"triggers": ["5xx"]}, "503"),
        ({"triggers": ["gateway-error"]}, "503"),
        ({"triggers": ["retriable-status-codes"], "httpStatusCodes": [503]}, "503"),
        ({"triggers": ["retriable-status-codes"], "httpStatusCodes": [429]}, None),
        ({"triggers": ["reset"]}, "reset"),
        ({"triggers": ["connect-failure"]}, None),
    ],
)
def test_a_backend_fails_in_the_way_the_triggers_retry(retry_on: dict | None, mode: str | None) -> None:
    retry = {"numRetries": 1, **({"retryOn": retry_on} if retry_on else {})}
    config = config_with([{"name": "p", "targetRefs": [{"kind": "HTTPRoute", "name": "backend"}], "retry": retry}])
    assert failure_mode(config.backend_traffic_policies[0].retry) == mode


def test_a_route_timeout_takes_precedence_over_the_policy_and_a_per_try_timeout_can_end_sooner() -> None:
    config = config_with([{
        "name": "p", "targetRefs": [{"kind": "HTTPRoute", "name": "backend"}],
        "timeout": {"http": {"requestTimeout": "9s"}}, "retry": {"perRetry": {"timeout": "2s"}},
    }])
    policy, rule = config.backend_traffic_policies[0], config.routes[0].rules[0]
    assert timeout_expectation(rule, policy) == (2.0, 9.0, "BackendTrafficPolicy p requestTimeout 9s, per-try timeout 2s")
    timed = rule.model_copy(update={"timeouts": RouteTimeouts.model_validate({"request": "4s", "backendRequest": "3s"})})
    assert timeout_expectation(timed, policy)[1:] == (3.0, "route timeout 3s, per-try timeout 2s")
    assert timeout_expectation(rule, None) is None


def test_a_gateway_on_this_machine_sees_other_loopback_addresses_as_other_clients() -> None:
    chooser = AddressChooser(num_trusted_hops=None, trusted_cidrs=[], target_is_loopback=True)
    first, second = chooser.address_in("0.0.0.0/0"), chooser.address_in("0.0.0.0/0")
    assert first.headers == () and first.source != second.source
    assert ipaddress.ip_address(first.source) in ipaddress.ip_network("127.0.0.0/8") and first.source != "127.0.0.1"
    assert chooser.address_in("10.0.0.0/8") is None  # no local address is in that range


def test_a_gateway_trusting_forwarded_for_gets_the_address_as_a_header() -> None:
    chooser = AddressChooser(num_trusted_hops=2, trusted_cidrs=[], target_is_loopback=False)
    request = chooser.address_in("10.0.0.0/8")
    forwarded = dict(request.headers)["X-Forwarded-For"].split(", ")
    assert ipaddress.ip_address(forwarded[0]) in ipaddress.ip_network("10.0.0.0/8")
    assert len(forwarded) == 2 and request.source is None  # the client, then one trusted proxy


def test_a_remote_gateway_that_trusts_nothing_cannot_be_given_another_address() -> None:
    chooser = AddressChooser(num_trusted_hops=None, trusted_cidrs=[], target_is_loopback=False)
    assert chooser.address_in("0.0.0.0/0") is None
