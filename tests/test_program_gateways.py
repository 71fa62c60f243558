"""Specification: a stack with several Gateways (`gateways:` beside `gateway:`), under the mock engine.

One Gateway component per entry, the seed's first; an entry's own GatewayClass and EnvoyProxy
when it asks for them; routes attached by their parentRefs (the first Gateway without any);
GATEWAY_HOSTS maps each Gateway to its address and GATEWAY_HOST stays the first's.
"""

from __future__ import annotations

import copy
from typing import Any

from gatestack.mock_engine.program_run import ProgramRun, run_program
from tests.conftest import stack_raw_config

COMPONENT = "api-gateway:components:"


def with_internal_gateway() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["gateways"] = [{
        "name": "internal",
        "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}],
        "gatewayClass": {"name": "eg-internal"},
        "proxy": {"replicas": 2},
    }]
    config["routes"].append({"name": "internal-api", "parentRefs": [{"name": "internal"}], "rules": [{"backendRefs": [{"name": "backend"}]}]})
    return config


def declared(run: ProgramRun, name: str):
    (resource,) = [r for r in run.resources if r.name == name]
    return resource


def dependencies(run: ProgramRun, name: str) -> set[str]:
    by_urn = {r.urn: r.name for r in run.resources}
    return {by_urn[urn] for urn in declared(run, name).dependencies}


def test_each_gateway_is_a_component_with_its_own_class_and_proxy_when_it_asks() -> None:
    run = run_program("dev", with_internal_gateway())
    # The SDK registers resources asynchronously: the order between two components is not a promise, the set is.
    assert sorted(r.name for r in run.resources if r.type == f"{COMPONENT}Gateway") == ["eg", "internal"]
    assert sorted(r.name for r in run.resources if r.type == f"{COMPONENT}GatewayClass") == ["eg", "eg-internal"]
    assert sorted(r.name for r in run.resources if r.type == f"{COMPONENT}EnvoyProxy") == ["eg-proxy", "internal-proxy"]
    internal = declared(run, "internal-gateway").inputs["spec"]
    assert internal["gatewayClassName"] == "eg-internal"
    assert internal["infrastructure"]["parametersRef"]["name"] == "internal-proxy"
    assert {"eg-internal-gateway-class", "internal-proxy-envoy-proxy", "envoy-gateway-chart"} <= dependencies(run, "internal-gateway")


def test_the_first_gateway_is_declared_as_before() -> None:
    before = {r.urn: r.inputs for r in run_program("dev", stack_raw_config("dev")).resources}
    after = {r.urn: r.inputs for r in run_program("dev", with_internal_gateway()).resources}
    assert all(after[urn] == inputs for urn, inputs in before.items() if "internal" not in urn)


def test_routes_attach_by_their_parent_refs_and_wait_for_that_gateway() -> None:
    run = run_program("dev", with_internal_gateway())
    assert declared(run, "internal-api-http-route").inputs["spec"]["parentRefs"] == [{"name": "internal"}]
    assert "internal-gateway" in dependencies(run, "internal-api-http-route")
    assert "eg-gateway" not in dependencies(run, "internal-api-http-route")
    assert declared(run, "backend-http-route").inputs["spec"]["parentRefs"] == [{"name": "eg"}]


def test_gateway_hosts_maps_every_gateway_and_gateway_host_is_the_first() -> None:
    run = run_program("dev", with_internal_gateway(), gateway_address="10.0.0.7")
    assert run.outputs["GATEWAY_HOSTS"] == {"eg": "10.0.0.7", "internal": "10.0.0.7"}
    assert run.outputs["GATEWAY_HOST"] == "10.0.0.7" and run.outputs["HTTP_URL"] == "http://10.0.0.7"
