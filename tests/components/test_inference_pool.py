"""InferencePool: a pool of ModelServers, its Endpoint Picker, and the policies on the routes using it."""

from pulumi_envoy_gateway import EnvoyGatewayController, Gateway, GatewayClass, InferencePool, ModelServer, WeightedRoute
from tests.components.conftest import HTTP, declare, depends_on, named, names, namespace_output, one_line, refusal

LABELS = {"inference.example.com/pool": "llama"}
POOL = {"selector": LABELS, "targetPorts": [{"number": 8000}]}
TO_POOL = [{"backendRefs": [{"kind": "InferencePool", "name": "llama"}]}]


def servers(namespace="default") -> list[ModelServer]:
    return [ModelServer("vllm", model="meta-llama/Llama-3.1-8B-Instruct", spec={"labels": LABELS}, namespace=namespace)]


def test_a_pool_used_by_a_route_gets_its_policies_after_the_route_and_the_crd() -> None:
    # GIVEN the controller with the InferencePool CRD, a route forwarding to the pool, model servers
    def program():
        controller = EnvoyGatewayController("envoy-gateway", inference_pool_crd=True)
        gateway = Gateway("eg", gateway_class=GatewayClass("eg", controller=controller), listeners=[HTTP])
        route = WeightedRoute("llm", gateway=gateway, rules=TO_POOL, inference_pools=[{"name": "llama", **POOL}])
        namespace = namespace_output("default")
        InferencePool("llama", spec=POOL, model_servers=servers(namespace), routes=[route], namespace=namespace)

    # WHEN the pool is declared THEN the route forwards to the pool's Service, and the pool's
    # policies target the route and wait for it and the CRD
    run = declare(program)
    assert named(run, "llm-http-route").inputs["spec"]["rules"][0]["backendRefs"][0]["name"] == "llama"
    extension = named(run, "llama-envoy-extension-policy").inputs["spec"]
    assert extension["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "llm"}]
    assert {"llm-http-route", "envoy-gateway-inference-pool-crd"} <= depends_on(run, "llama-backend-traffic-policy")
    assert {"vllm-deployment", "default"} <= depends_on(run, "llama-inference-pool")


def test_without_routes_the_pool_declares_no_policies() -> None:
    run = declare(lambda: InferencePool("llama", spec=POOL, model_servers=servers()))
    assert "llama-inference-pool" in names(run)
    assert not [name for name in names(run) if name.endswith("-policy")]


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    failure = refusal(lambda: InferencePool("llama", spec={**POOL, "failureMode": "Sometimes"}))
    assert one_line(failure).startswith("InferencePool 'llama': spec.failureMode: is 'Sometimes'; allowed values: ")
    assert names(failure) == []


def test_a_fail_open_pool_patches_each_gateway_its_routes_attach_to() -> None:
    # GIVEN routes on two Gateways forwarding to a FailOpen pool
    def program():
        public, internal = (Gateway(name, gateway_class="eg", listeners=[HTTP]) for name in ("public", "internal"))
        pools = [{"name": "llama", **POOL}]
        routes = [WeightedRoute(f"llm-{item.gateway_name}", gateway=item, rules=TO_POOL, inference_pools=pools) for item in (public, internal)]
        InferencePool("llama", spec={**POOL, "failureMode": "FailOpen"}, model_servers=servers(), routes=routes)

    # WHEN the pool is declared THEN each Gateway gets its EnvoyPatchPolicy, the first under the single-Gateway name
    run = declare(program)
    targets = {r.name: r.inputs["spec"]["targetRef"]["name"] for r in run.resources if r.type.endswith(":EnvoyPatchPolicy")}
    assert targets == {"llama-envoy-patch-policy": "public", "llama-envoy-patch-policy-internal": "internal"}
