"""BackendTrafficPolicy: attached to route or Gateway components, after them."""

from pulumi_envoy_gateway import BackendTrafficPolicy, Gateway, WeightedRoute
from tests.components.conftest import HTTP, declare, depends_on, named, names, one_line, refusal

RULES = [{"name": "all", "backendRefs": [{"name": "elsewhere", "external": True, "port": 80}]}]


def route() -> WeightedRoute:
    return WeightedRoute("api", gateway=Gateway("eg", gateway_class="eg", listeners=[HTTP]), rules=RULES)


def test_targets_a_rule_of_a_route_and_waits_for_the_route_and_its_gateway() -> None:
    run = declare(lambda: BackendTrafficPolicy("api-retries", targets=[(route(), "all")], spec={"retry": {"numRetries": 2}}))
    spec = named(run, "api-retries-backend-traffic-policy").inputs["spec"]
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "api", "sectionName": "all"}]
    assert spec["retry"] == {"numRetries": 2}
    assert {"api-http-route", "eg-gateway"} <= depends_on(run, "api-retries-backend-traffic-policy")


def test_a_rule_the_route_does_not_have_is_refused_and_nothing_is_declared() -> None:
    failure = refusal(lambda: BackendTrafficPolicy("api-retries", targets=[(route(), "other")], spec={"retry": {"numRetries": 2}}))
    assert one_line(failure).startswith("BackendTrafficPolicy 'api-retries': targets[0].sectionName: ")
    assert not [r for r in failure.resources if "BackendTrafficPolicy" in r.type]


def test_a_bad_block_names_it_under_spec() -> None:
    failure = refusal(lambda: BackendTrafficPolicy("api-retries", targets=[route()], spec={"retry": {"numRetries": -1}}))
    assert one_line(failure).startswith("BackendTrafficPolicy 'api-retries': spec.retry.numRetries: is -1; it must be at least 0")


def test_a_target_that_is_not_a_component_is_refused() -> None:
    failure = refusal(lambda: BackendTrafficPolicy("api-retries", targets=["api"], spec={}))
    assert one_line(failure).startswith("BackendTrafficPolicy 'api-retries': targets[0]: must be a Gateway, WeightedRoute or GrpcRoute")
    assert names(failure) == []
