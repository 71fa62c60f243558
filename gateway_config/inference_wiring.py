"""The Envoy Gateway wiring that makes an InferencePool effective on Envoy Gateway v1.9 without
Envoy AI Gateway (v1.9 refuses an HTTPRoute backendRef of kind InferencePool), as plain dicts:

- a Service `<pool>` selecting the pool's pods on its target ports: the route's backend;
- an `EnvoyExtensionPolicy` sending each request of the route (rule) to the EPP over ext_proc with
  request and response bodies `FullDuplexStreamed` (the EPP answers the headers only once it has
  the whole body);
- a `BackendTrafficPolicy` whose `loadBalancer.endpointOverride` sends the request to the
  endpoint the EPP named in `x-gateway-destination-endpoint` (only endpoints of that Service can
  be chosen);
- for a FailOpen pool, an `EnvoyPatchPolicy` giving the ext_proc filter Envoy's
  `failure_mode_allow` (Envoy Gateway's CRD allows `failOpen` only without full-duplex bodies).

The pool and its EPP themselves are built in `inference_manifests.py`.
"""

from __future__ import annotations

from typing import Any

# The names of the pool's policies and the routes that use a pool are shared with the rules, which
# refuse what would clash with them; they are importable from here as before.
from gateway_config.inference import (
    InferencePoolConfig,
    extension_policy_name,
    fail_open_patch_policy_name,
    traffic_policy_name,
)
from gateway_config.inference_semantics import pool_targets, rule_pool
from gateway_config.kubernetes_objects import ENVOY_GATEWAY_API_VERSION, GATEWAY_API_GROUP, object_metadata
from gateway_config.models import BackendRef, GatewayConfig, ListenerConfig, RouteConfig, StackConfig
from gateway_config.policy_manifests import backend_traffic_policy_object
from gateway_config.traffic_policies import BackendTrafficPolicyConfig

POLICY_API_VERSION = ENVOY_GATEWAY_API_VERSION
# The header (and envoy.lb metadata key) in which the EPP names the endpoint it picked.
DESTINATION_ENDPOINT_HEADER = "x-gateway-destination-endpoint"

def pool_service(pool: InferencePoolConfig, namespace: str) -> dict[str, Any]:
    """The Service the route forwards to: the pool's pods on its target ports."""
    single = len(pool.port_numbers) == 1
    ports = []
    for number in pool.port_numbers:
        port: dict[str, Any] = {"name": "http" if single else f"http-{number}", "protocol": "TCP", "port": number, "targetPort": number}
        if pool.app_protocol == "kubernetes.io/h2c":
            port["appProtocol"] = pool.app_protocol
        ports.append(port)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(pool.name, namespace, labels={"app.kubernetes.io/part-of": pool.name}),
        "spec": {"selector": dict(pool.selector), "ports": ports},
    }


def pool_of(config: StackConfig, ref: BackendRef) -> InferencePoolConfig | None:
    if ref.kind != "InferencePool":
        return None
    return next((pool for pool in config.inference_pools if pool.name == ref.name), None)


def pool_backend_ref(config: StackConfig, ref: BackendRef) -> dict[str, Any]:
    """The HTTPRoute backendRef for a `kind: InferencePool` reference: the pool's Service, at
    the given port or the pool's first target port."""
    pool = pool_of(config, ref)
    port = ref.port if ref.port is not None else (pool.port_numbers[0] if pool is not None else None)
    entry: dict[str, Any] = {"group": "", "kind": "Service", "name": ref.name}
    if ref.namespace:
        entry["namespace"] = ref.namespace
    if port is not None:
        entry["port"] = port
    entry["weight"] = ref.weight
    return entry


def _target_refs(targets: list[tuple[RouteConfig, str | None]]) -> list[dict[str, Any]]:
    return [
        {"group": GATEWAY_API_GROUP, "kind": "HTTPRoute", "name": route.name, **({"sectionName": rule} if rule else {})}
        for route, rule in targets
    ]


def endpoint_picker_extension_policy(config: StackConfig, pool: InferencePoolConfig) -> dict[str, Any] | None:
    """The EnvoyExtensionPolicy that sends the pool's requests through its EPP (None when no
    route uses the pool)."""
    targets = pool_targets(config, pool)
    if not targets:
        return None
    ext_proc: dict[str, Any] = {
        "backendRefs": [{"group": "", "kind": "Service", "name": pool.epp_name, "port": pool.endpoint_picker.port}],
        "messageTimeout": pool.endpoint_picker.message_timeout,
        # Envoy Gateway allows FullDuplexStreamed only with failOpen false (a CEL rule); a FailOpen
        # pool gets Envoy's failure_mode_allow from its EnvoyPatchPolicy instead.
        "failOpen": False,
        "processingMode": {"request": {"body": "FullDuplexStreamed"}, "response": {"body": "FullDuplexStreamed"}},
    }
    if pool.failure_mode == "FailOpen":
        # No panic mode: an EPP whose pod is not ready is not tried, so the stream cannot open
        # and Envoy fails open before any of the body was sent.
        ext_proc["backendSettings"] = {"healthCheck": {"panicThreshold": 0}}
    return {
        "apiVersion": POLICY_API_VERSION,
        "kind": "EnvoyExtensionPolicy",
        "metadata": object_metadata(extension_policy_name(pool), config.namespace),
        "spec": {"targetRefs": _target_refs(targets), "extProc": [ext_proc]},
    }


def ext_proc_filter_name(config: StackConfig, pool: InferencePoolConfig) -> str:
    """The HTTP filter Envoy Gateway v1.9 makes of the pool's EnvoyExtensionPolicy."""
    return f"envoy.filters.http.ext_proc/envoyextensionpolicy/{config.namespace}/{extension_policy_name(pool)}/extproc/0"


def xds_listener_names(config: StackConfig, routes: list[RouteConfig], gateway: GatewayConfig | None = None) -> list[str]:
    """The Envoy listeners of `gateway` (default: the first) the routes are served on: Envoy Gateway
    names each after the first Gateway listener on its port (`<namespace>/<gateway>/<listener>`)."""
    gateway = gateway or config.default_gateway
    listeners: list[ListenerConfig] = gateway.listeners
    first_on_port: dict[int, str] = {}
    for listener in listeners:
        first_on_port.setdefault(listener.port, listener.name)
    names = []
    for route in routes:
        # The listeners of this Gateway the route names (none named: all of them).
        attached = [ref.section_name for ref in route.parent_refs if not ref.external and ref.name == gateway.name]
        chosen = [l for l in listeners if not attached or None in attached or l.name in attached]
        names += [f"{config.namespace}/{gateway.name}/{first_on_port[l.port]}" for l in chosen]
    return list(dict.fromkeys(names))


def fail_open_patch_policy(
    config: StackConfig, pool: InferencePoolConfig, gateway: GatewayConfig | None = None
) -> dict[str, Any] | None:
    """For a FailOpen pool used by a route of `gateway` (default: the first): the EnvoyPatchPolicy
    that sets Envoy's `failure_mode_allow` on the pool's ext_proc filter in each of its listeners
    serving those routes (an EnvoyPatchPolicy targets one Gateway: one per Gateway, the first's
    named `<pool>-fail-open`, another's `<pool>-fail-open-<gateway>`). With it, a request goes on to
    the pool's Service (round robin) when no ready EPP can be reached; an EPP that fails mid-request
    still fails it (Envoy cannot replay a body it has streamed). Needs Envoy Gateway's
    `extensionApis.enableEnvoyPatchPolicy`. None when no route of `gateway` uses the pool."""
    gateway = gateway or config.default_gateway
    targets = pool_targets(config, pool)
    if pool.failure_mode != "FailOpen" or not targets:
        return None
    # A route attached to none of the stack's Gateways (external parents only) counts for the first, as before.
    routes = [
        route for route in {route.name: route for route, _ in targets}.values()
        if gateway in config.parent_gateways(route) or (not config.parent_gateways(route) and gateway is config.default_gateway)
    ]
    if not routes:
        return None
    name = fail_open_patch_policy_name(pool)
    if gateway is not config.default_gateway:
        name = f"{name}-{gateway.name}"
    filter_path = f"$..http_filters[?(@.name=='{ext_proc_filter_name(config, pool)}')].typed_config"
    return {
        "apiVersion": POLICY_API_VERSION,
        "kind": "EnvoyPatchPolicy",
        "metadata": object_metadata(name, config.namespace),
        "spec": {
            "targetRef": {"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": gateway.name},
            "type": "JSONPatch",
            "jsonPatches": [
                {
                    "type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                    "name": listener,
                    "operation": {"op": "add", "jsonPath": filter_path, "path": "/failure_mode_allow", "value": True},
                }
                for listener in xds_listener_names(config, routes, gateway)
            ],
        },
    }


def endpoint_override_traffic_policy(config: StackConfig, pool: InferencePoolConfig) -> dict[str, Any] | None:
    """The BackendTrafficPolicy that makes Envoy use the endpoint the EPP picked (None when no
    route uses the pool). Built like a stack's own BackendTrafficPolicy (`policy_manifests`)."""
    targets = pool_targets(config, pool)
    if not targets:
        return None
    policy = BackendTrafficPolicyConfig.model_validate(
        {
            "name": traffic_policy_name(pool),
            "targetRefs": [{"kind": "HTTPRoute", "name": route.name, **({"sectionName": rule} if rule else {})} for route, rule in targets],
            "loadBalancer": {"type": "RoundRobin"},
        }
    )
    manifest = backend_traffic_policy_object(config, policy)
    manifest["spec"]["loadBalancer"]["endpointOverride"] = {"extractFrom": [{"header": DESTINATION_ENDPOINT_HEADER}]}
    return manifest
