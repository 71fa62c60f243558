"""WeightedRoute: an HTTPRoute given its Gateway and backends, checked against both."""

import pulumi

from pulumi_envoy_gateway import EchoBackend, EnvoyGatewayController, Gateway, GatewayClass, WeightedRoute
from tests.components.conftest import HTTP, declare, depends_on, named, names, one_line, refusal

SPLIT = [{"matches": [{"path": {"value": "/get"}}], "backendRefs": [{"name": "backend", "weight": 8}, {"name": "backend-2", "weight": 2}]}]
EXTERNAL = [{"backendRefs": [{"name": "elsewhere", "external": True, "port": 80}]}]


def gateway(name: str = "eg", hostname: str = "*.example.com") -> Gateway:
    return Gateway(name, gateway_class="eg", listeners=[{**HTTP, "hostname": hostname}])


def test_splits_traffic_and_waits_for_its_gateway_backends_and_the_controller() -> None:
    # GIVEN a Gateway built on the controller, two backends and an Output hostname
    def program():
        built = Gateway("eg", gateway_class=GatewayClass("eg", controller=EnvoyGatewayController("envoy-gateway")), listeners=[HTTP])
        backends = [EchoBackend("backend"), EchoBackend("backend-2")]
        WeightedRoute("backend", gateway=built, backends=backends, hostnames=[pulumi.Output.from_input("www.example.com")], rules=SPLIT)

    # WHEN the route is declared THEN it attaches to the Gateway, takes the backends' ports, and waits for all of them
    run = declare(program)
    spec = named(run, "backend-http-route").inputs["spec"]
    assert spec["parentRefs"] == [{"name": "eg"}] and spec["hostnames"] == ["www.example.com"]
    assert [(ref["name"], ref["port"], ref["weight"]) for ref in spec["rules"][0]["backendRefs"]] == [("backend", 3000, 8), ("backend-2", 3000, 2)]
    assert {"eg-gateway", "backend-service", "backend-2-deployment", "envoy-gateway-crds", "envoy-gateway-chart"} <= depends_on(run, "backend-http-route")


def test_a_path_that_is_not_one_is_refused_in_one_line_and_the_route_declares_nothing() -> None:
    # GIVEN a Gateway WHEN a route's path does not start with '/' THEN one line names the route and argument
    failure = refusal(lambda: WeightedRoute("api", gateway=gateway(), rules=[{"matches": [{"path": {"value": "api"}}], **EXTERNAL[0]}]))
    assert one_line(failure).startswith("WeightedRoute 'api': rules[0].matches[0].path: path 'api' does not start with '/'")
    assert names(failure) == ["eg", "eg-gateway", "eg-gateway-status"]


def test_a_path_with_a_character_gateway_api_refuses_is_refused_in_one_line() -> None:
    # GIVEN a Gateway WHEN a route's path has a space THEN the route's argument is named, as the stack file's field is
    failure = refusal(lambda: WeightedRoute("api", gateway=gateway(), rules=[{"matches": [{"path": {"value": "/a b"}}], **EXTERNAL[0]}]))
    assert one_line(failure).startswith("WeightedRoute 'api': rules[0].matches[0].path.value: path '/a b' contains the character ' '")


def test_a_listener_its_gateway_does_not_have_is_refused() -> None:
    failure = refusal(lambda: WeightedRoute("api", gateway=gateway(), parent_refs=[{"name": "eg", "sectionName": "https"}], rules=EXTERNAL))
    assert one_line(failure) == (
        "WeightedRoute 'api': parent_refs[0].sectionName: route 'api' names listener 'https', which Gateway 'eg' does not have; "
        "its listeners are: http"
    )


def test_a_backend_it_is_not_given_is_refused() -> None:
    failure = refusal(lambda: WeightedRoute("api", gateway=gateway(), rules=[{"backendRefs": [{"name": "backend"}]}]))
    assert one_line(failure).startswith("WeightedRoute 'api': rules[0].backendRefs[0].name: backend 'backend' is not declared in 'backends'")


def test_a_hostname_output_outside_the_listeners_fails_before_the_route_is_created() -> None:
    # GIVEN a Gateway for *.example.com WHEN the route's hostname Output resolves to another domain
    failure = refusal(lambda: WeightedRoute("api", gateway=gateway(), hostnames=[pulumi.Output.from_input("www.other.org")], rules=EXTERNAL))
    # THEN the update fails with the stack file's sentence and the HTTPRoute is never registered
    assert one_line(failure).startswith("WeightedRoute 'api': hostnames: route 'api' hostnames (www.other.org) match no hostname")
    assert "api" in names(failure) and "api-http-route" not in names(failure)


def test_a_route_given_two_gateways_attaches_to_both() -> None:
    run = declare(lambda: WeightedRoute("api", gateway=[gateway("public"), gateway("internal")], rules=EXTERNAL))
    assert named(run, "api-http-route").inputs["spec"]["parentRefs"] == [{"name": "public"}, {"name": "internal"}]
    assert {"public-gateway", "internal-gateway"} <= depends_on(run, "api-http-route")


def test_a_route_in_another_namespace_than_its_gateway_names_the_gateways_namespace() -> None:
    # GIVEN a Gateway in `edge` WHEN a route in `apps` is given it THEN its parentRef says where the Gateway is
    def program():
        edge = Gateway("eg", gateway_class="eg", namespace="edge", listeners=[{**HTTP, "allowedRoutes": {"namespaces": "All"}}])
        WeightedRoute("api", gateway=edge, namespace="apps", rules=EXTERNAL)

    route = named(declare(program), "api-http-route")
    assert route.inputs["metadata"]["namespace"] == "apps"
    assert route.inputs["spec"]["parentRefs"] == [{"name": "eg", "namespace": "edge"}]
