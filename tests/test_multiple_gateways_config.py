"""Specification: a stack declares several Gateways (`gateways:` beside the seed's `gateway:`).

Each Gateway has its own listeners and, when it asks, a GatewayClass and an EnvoyProxy of its
own; routes choose theirs by `parentRefs` (a route without them attaches to the first Gateway,
the seed's), policies by a targetRef of kind Gateway. Bad references are refused with one line
`stacks/Pulumi.dev.yaml: <dotted.path>: <what is wrong; what is allowed>`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway_config.grpc_manifests import grpc_route_object
from gateway_config.inference_wiring import fail_open_patch_policy
from gateway_config.loader import ConfigError, parse_stack_config
from gateway_config.manifests import envoy_proxy_object, gateway_class_object, gateway_object, http_route_object
from gateway_config.models import StackConfig
from tests.conftest import stack_raw_config

STACK_FILE = "stacks/Pulumi.dev.yaml"
INTERNAL = {
    "name": "internal",
    "listeners": [{"name": "admin", "protocol": "HTTP", "port": 8080, "hostname": "*.internal.example.com"}],
}


def dev_with_internal_gateway(**internal: Any) -> dict[str, Any]:
    """The dev stack (the seed) plus a second Gateway `internal` and a route `admin` on it."""
    raw = copy.deepcopy(stack_raw_config("dev"))
    raw["gateways"] = [{**copy.deepcopy(INTERNAL), **internal}]
    raw["routes"].append({
        "name": "admin",
        "hostnames": ["admin.internal.example.com"],
        "parentRefs": [{"name": "internal"}],
        "rules": [{"backendRefs": [{"name": "backend"}]}],
    })
    return raw


def refusal(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(raw, STACK_FILE)
    return str(refused.value).splitlines()


# --- accepted -----------------------------------------------------------------------------------


def test_the_seed_gateway_comes_first_then_the_gateways_in_order() -> None:
    # GIVEN the dev stack with a second Gateway
    config = parse_stack_config(dev_with_internal_gateway(), STACK_FILE)
    # THEN both are the stack's, the seed's first, and routes without parentRefs attach to it
    assert [gateway.name for gateway in config.all_gateways()] == ["eg", "internal"]
    assert config.default_gateway is config.gateway
    assert http_route_object(config, config.routes[0])["spec"]["parentRefs"] == [{"name": "eg"}]
    assert [gateway.name for gateway in config.parent_gateways(config.routes[1])] == ["internal"]


def test_each_gateway_object_has_its_own_listeners_and_the_stack_s_class() -> None:
    config = parse_stack_config(dev_with_internal_gateway(), STACK_FILE)
    internal = config.gateway_named("internal")
    built = gateway_object(config, internal)
    assert built["metadata"]["name"] == "internal"
    assert built["spec"]["gatewayClassName"] == "eg"
    assert [listener["name"] for listener in built["spec"]["listeners"]] == ["admin"]
    assert "infrastructure" not in built["spec"]


def test_the_single_gateway_builders_are_unchanged_by_a_second_gateway() -> None:
    # The seed's objects come from the same builders, called without a Gateway as before.
    seed = parse_stack_config(stack_raw_config("dev"), STACK_FILE)
    config = parse_stack_config(dev_with_internal_gateway(), STACK_FILE)
    assert gateway_object(config) == gateway_object(config, config.gateway) == gateway_object(seed)
    assert gateway_class_object(config) == gateway_class_object(seed)
    assert envoy_proxy_object(config) == envoy_proxy_object(seed)


def test_a_stack_of_gateways_alone_attaches_routes_without_parent_refs_to_the_first() -> None:
    # GIVEN a stack without the seed's gateway, only gateways
    raw = copy.deepcopy(stack_raw_config("dev"))
    raw["gateways"] = [raw.pop("gateway"), copy.deepcopy(INTERNAL)]
    raw["gateways"][0]["name"] = "public"
    config = parse_stack_config(raw, STACK_FILE)
    # THEN the first of them takes the seed's place
    assert config.gateway is None
    assert config.default_gateway.name == "public"
    assert http_route_object(config, config.routes[0])["spec"]["parentRefs"] == [{"name": "public"}]
    assert gateway_object(config)["metadata"]["name"] == "public"


def test_a_gateway_may_have_its_own_gateway_class_pointing_at_the_stack_s_proxy() -> None:
    config = parse_stack_config(dev_with_internal_gateway(gatewayClass={"name": "internal"}), STACK_FILE)
    internal = config.gateway_named("internal")
    built = gateway_class_object(config, internal)
    assert built["metadata"]["name"] == "internal"
    assert built["spec"]["parametersRef"]["name"] == config.proxy_name
    assert gateway_object(config, internal)["spec"]["gatewayClassName"] == "internal"
    # The seed's Gateway keeps the stack's class.
    assert gateway_class_object(config, config.gateway)["metadata"]["name"] == "eg"


def test_a_gateway_may_have_its_own_envoy_proxy_named_in_its_infrastructure() -> None:
    config = parse_stack_config(dev_with_internal_gateway(proxy={"replicas": 3, "service": {"type": "ClusterIP"}}), STACK_FILE)
    internal = config.gateway_named("internal")
    proxy = envoy_proxy_object(config, internal)
    assert proxy["metadata"]["name"] == "internal-proxy" == config.proxy_name_of(internal)
    assert proxy["spec"]["provider"]["kubernetes"]["envoyDeployment"]["replicas"] == 3
    assert proxy["spec"]["provider"]["kubernetes"]["envoyService"]["type"] == "ClusterIP"
    assert gateway_object(config, internal)["spec"]["infrastructure"] == {
        "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": "internal-proxy"}
    }
    # A Gateway without a proxy of its own is shaped by the stack's.
    assert envoy_proxy_object(config, config.gateway) == envoy_proxy_object(config)


def test_policies_and_grpc_routes_name_their_gateway() -> None:
    raw = dev_with_internal_gateway()
    raw["backends"].append({"name": "grpc-echo", "protocol": "grpc"})
    raw["grpcRoutes"] = [{"name": "greeter", "parentRefs": [{"name": "internal", "sectionName": "admin"}],
                          "rules": [{"backendRefs": [{"name": "grpc-echo"}]}]}]
    raw["clientTrafficPolicies"] = [{"name": "internal-timeouts", "targetRefs": [{"kind": "Gateway", "name": "internal",
                                                                                   "sectionName": "admin"}],
                                     "timeout": {"http": {"requestReceivedTimeout": "5s"}}}]
    config = parse_stack_config(raw, STACK_FILE)
    assert grpc_route_object(config, config.grpc_routes[0])["spec"]["parentRefs"] == [{"name": "internal", "sectionName": "admin"}]


# --- refused ------------------------------------------------------------------------------------

# (case, change to the dev stack with the `internal` Gateway, the line (or lines) expected)
REFUSED = [
    ("a parentRef naming no Gateway of the stack",
     lambda raw: raw["routes"][1]["parentRefs"][0].update(name="intranet"),
     "routes.1.parentRefs.0.name: route 'admin' names Gateway 'intranet', which this stack does not declare; "
     "use one of 'eg', 'internal' or mark the reference external: true"),
    ("a sectionName the named Gateway does not have (the other one has it)",
     lambda raw: raw["routes"][1]["parentRefs"][0].update(sectionName="http"),
     "routes.1.parentRefs.0.sectionName: route 'admin' names listener 'http', which Gateway 'internal' does not "
     "have; its listeners are: admin"),
    ("two Gateways of one name",
     lambda raw: (raw["gateways"][0].update(name="eg"), raw["routes"][1]["parentRefs"][0].update(name="eg")),
     "gateways.0.name: Gateway name 'eg' is used more than once; each Gateway of the stack needs its own name"),
    ("a listener name twice on one Gateway",
     lambda raw: raw["gateways"][0]["listeners"].append({**raw["gateways"][0]["listeners"][0], "port": 8081}),
     [f"gateways.0.listeners.{index}.name: listener name 'admin' is used more than once; each listener needs its own name"
      for index in (0, 1)]),
    ("a route hostname no listener of its Gateway serves",
     lambda raw: raw["routes"][1].update(hostnames=["www.example.com"]),
     "routes.1.parentRefs.0: route 'admin' hostnames (www.example.com) match no hostname of any listener of Gateway "
     "'internal' (admin: *.internal.example.com), so it would attach nowhere (NoMatchingListenerHostname); use a "
     "hostname the listener serves, or another listener"),
    ("a policy targeting a Gateway the stack does not declare",
     lambda raw: raw.update(backendTrafficPolicies=[{"name": "retries", "targetRefs": [{"kind": "Gateway", "name": "intranet"}],
                                                      "retry": {"numRetries": 1}}]),
     "backendTrafficPolicies.0.targetRefs.0.name: Gateway 'intranet' is not this stack's; its Gateways are 'eg', 'internal'"),
    ("a policy naming a listener of the other Gateway",
     lambda raw: raw.update(backendTrafficPolicies=[{"name": "retries", "targetRefs": [{"kind": "Gateway", "name": "internal",
                                                                                         "sectionName": "https"}],
                                                      "retry": {"numRetries": 1}}]),
     "backendTrafficPolicies.0.targetRefs.0.sectionName: Gateway 'internal' has no listener 'https'; its listeners are: admin"),
    ("a GatewayClass of its own named as the stack's",
     lambda raw: raw["gateways"][0].update(gatewayClass={"name": "eg"}),
     "gateways.0.gatewayClass.name: GatewayClass 'eg' is already the stack's (gatewayClass.name); GatewayClasses are "
     "cluster-wide, so a Gateway's own needs a name of its own (or leave gatewayClass out to use the stack's)"),
    ("an EnvoyProxy of its own named as the stack's",
     lambda raw: raw["gateways"][0].update(proxy={"name": "eg-proxy"}),
     "gateways.0.proxy.name: EnvoyProxy 'eg-proxy' is already the stack's (proxy); give this Gateway's proxy a name of "
     "its own (proxy.name)"),
    ("a Gateway's own proxy with more minReplicas than maxReplicas",
     lambda raw: raw["gateways"][0].update(proxy={"autoscaling": {"minReplicas": 3, "maxReplicas": 2}}),
     "gateways.0.proxy.autoscaling.minReplicas: minReplicas (3) is above maxReplicas (2); it must be at most maxReplicas"),
]


@pytest.mark.parametrize(("case", "change", "line"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_a_bad_reference_between_gateways_is_refused_in_one_line(case: str, change, line: str | list[str]) -> None:
    # GIVEN the dev stack with a second Gateway, changed in one place
    raw = dev_with_internal_gateway()
    change(raw)
    # THEN the stack is refused with exactly that line (each entry at fault has its own)
    assert refusal(raw) == [f"{STACK_FILE}: {item}" for item in ([line] if isinstance(line, str) else line)]


def test_a_stack_without_any_gateway_is_refused_as_before() -> None:
    raw = copy.deepcopy(stack_raw_config("dev"))
    raw.pop("gateway")
    assert refusal(raw)[0] == f"{STACK_FILE}: gateway: is required but missing"
    raw["gateways"] = []
    assert refusal(raw)[0] == (f"{STACK_FILE}: gateways: is empty and there is no gateway; declare at least one "
                               "Gateway (gateway or gateways)")


def test_listeners_of_different_gateways_may_share_names_and_ports() -> None:
    # Each Gateway gets proxies and a Service of its own: its listeners are checked on their own.
    raw = dev_with_internal_gateway()
    raw["gateways"][0]["listeners"] = copy.deepcopy(raw["gateway"]["listeners"])
    raw["routes"][1]["hostnames"] = ["www.example.com"]
    config = parse_stack_config(raw, STACK_FILE)
    assert isinstance(config, StackConfig)


def test_a_fail_open_pool_gets_an_envoy_patch_policy_on_each_gateway_its_routes_use() -> None:
    # GIVEN the inference stack with a FailOpen pool, its route also on a second Gateway
    raw = copy.deepcopy(stack_raw_config("inference"))
    raw["inferencePools"][0]["failureMode"] = "FailOpen"
    raw["gateways"] = [{"name": "internal", "listeners": [{"name": "llm", "protocol": "HTTP", "port": 8080}]}]
    llm = next(route for route in raw["routes"] if route["name"] == "llm")
    llm["parentRefs"] = [{"name": raw["gateway"]["name"]}, {"name": "internal"}]
    config = parse_stack_config(raw, "stacks/Pulumi.inference.yaml")
    pool = config.inference_pools[0]
    # THEN each Gateway's EnvoyPatchPolicy targets it and patches its own listeners
    first = fail_open_patch_policy(config, pool)
    second = fail_open_patch_policy(config, pool, config.gateway_named("internal"))
    assert first["metadata"]["name"] == f"{pool.name}-fail-open"
    assert first["spec"]["targetRef"]["name"] == config.gateway.name
    assert second["metadata"]["name"] == f"{pool.name}-fail-open-internal"
    assert second["spec"]["targetRef"]["name"] == "internal"
    assert [patch["name"] for patch in second["spec"]["jsonPatches"]] == [f"{config.namespace}/internal/llm"]


def test_the_seed_gateway_has_no_class_or_proxy_of_its_own() -> None:
    # The seed's gateway uses the stack's gatewayClass and proxy: the keys are for gateways only.
    raw = dev_with_internal_gateway()
    raw["gateway"]["gatewayClass"] = {"name": "other"}
    assert refusal(raw)[0] == (
        f"{STACK_FILE}: gateway.gatewayClass: unknown key 'gatewayClass'; allowed keys: name, listeners, "
        "programmedTimeoutSeconds, annotations"
    )
