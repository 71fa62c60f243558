"""Rules relating model servers and InferencePools to each other and to the routes that use them.

They refuse, in the stack file's terms, what the InferencePool CRD, the Envoy Gateway wiring or
the EPP would refuse later or serve wrongly: a pool that selects no declared model server (its
EPP would pick from nothing), a port outside the pool's `targetPorts`, a rule that mixes a pool
with other backends (the EPP's pick would apply to a split it knows nothing of), names that
collide with the Services and Deployments the stack already declares.
"""

from __future__ import annotations

from typing import Iterator

import yaml

from gateway_config.fields import image_tag
from gateway_config.inference import (
    INFERENCE_GROUP,
    RESERVED_MODEL_SERVER_LABELS,
    InferencePoolConfig,
    ModelServerConfig,
    extension_policy_name,
    model_server_pod_labels,
    traffic_policy_name,
)
from gateway_config.models import BackendRef, RouteConfig, RouteRule, StackConfig
from gateway_config.problems import Problem, dotted_path, repeated_values


def inference_problems(config: StackConfig) -> list[Problem]:
    """Every problem of the stack's model servers, pools and pool references, in a stable order."""
    return [
        *_model_server_problems(config),
        *_pool_problems(config),
        *_route_problems(config),
        *_policy_problems(config),
        *_production_problems(config),
    ]


def rule_pool(rule: RouteRule) -> BackendRef | None:
    """The InferencePool a rule forwards to (its only backendRef), or None."""
    return next((ref for ref in rule.backend_refs if ref.kind == "InferencePool"), None)


def pool_targets(config: StackConfig, pool: InferencePoolConfig) -> list[tuple[RouteConfig, str | None]]:
    """The routes (and rules, by name) that forward to `pool`: what its policies attach to. A
    route whose every rule forwards to the pool is targeted whole; otherwise each such rule by name."""
    targets: list[tuple[RouteConfig, str | None]] = []
    for route in config.routes:
        using = [rule for rule in route.rules if (ref := rule_pool(rule)) is not None and ref.name == pool.name]
        if not using:
            continue
        if len(using) == len(route.rules):
            targets.append((route, None))
        else:
            targets.extend((route, rule.name) for rule in using)
    return targets


def selected_servers(config: StackConfig, pool: InferencePoolConfig) -> list[ModelServerConfig]:
    """The declared model servers whose pods the pool's selector matches."""
    return [
        server
        for server in config.model_servers
        if all(model_server_pod_labels(server).get(key) == value for key, value in pool.selector.items())
    ]


def _model_server_problems(config: StackConfig) -> Iterator[Problem]:
    backends = {backend.name for backend in config.backends}
    duplicates = repeated_values(server.name for server in config.model_servers)
    for index, server in enumerate(config.model_servers):
        where = dotted_path("modelServers", index)
        if server.name in duplicates:
            yield Problem(dotted_path(where, "name"), f"model server '{server.name}' is declared more than once; names must be unique")
        if server.name in backends:
            yield Problem(
                dotted_path(where, "name"),
                f"'{server.name}' is already a backend's name (its Deployment); give the model server its own name",
            )
        for key in RESERVED_MODEL_SERVER_LABELS:
            if key in server.labels:
                yield Problem(
                    dotted_path(where, "labels", key),
                    f"label '{key}' is set by the stack (it identifies the model server's pods); use another label",
                )


def _pool_problems(config: StackConfig) -> Iterator[Problem]:
    pools = config.inference_pools
    duplicates = repeated_values(pool.name for pool in pools)
    # The Services and Deployments the stack declares already, by name.
    taken = {backend.name: "a backend" for backend in config.backends}
    taken.update({server.name: "a model server" for server in config.model_servers})
    for index, pool in enumerate(pools):
        where = dotted_path("inferencePools", index)
        if pool.name in duplicates:
            yield Problem(dotted_path(where, "name"), f"inference pool '{pool.name}' is declared more than once; names must be unique")
        for name, what in ((pool.name, "the pool's Service"), (pool.epp_name, "its Endpoint Picker")):
            owner = taken.get(name) or next(
                (f"inference pool '{other.name}'" for other in pools if other is not pool and name in (other.name, other.epp_name)),
                None,
            )
            if owner is not None:
                yield Problem(dotted_path(where, "name"), f"'{name}' ({what}) is already the name of {owner}; rename the pool")
        numbers = pool.port_numbers
        for number in sorted(repeated_values(str(n) for n in numbers), key=int):
            yield Problem(dotted_path(where, "targetPorts"), f"port {number} is listed more than once; port numbers must be unique")
        servers = selected_servers(config, pool)
        if not servers:
            selector = ", ".join(f"{key}={value}" for key, value in pool.selector.items())
            declared = ", ".join(server.name for server in config.model_servers) or "none"
            yield Problem(
                dotted_path(where, "selector"),
                f"selects no declared model server ({selector}); its Endpoint Picker would have no pod to pick "
                f"(model servers: {declared}); match the labels of at least one of modelServers",
            )
        for server in servers:
            if server.port not in numbers:
                yield Problem(
                    dotted_path(where, "targetPorts"),
                    f"model server '{server.name}' (selected) listens on port {server.port}, which is not one of the "
                    f"pool's targetPorts ({', '.join(map(str, numbers))}); add it or change the server's port",
                )
        yield from _endpoint_picker_problems(pool, dotted_path(where, "endpointPicker"))


def _endpoint_picker_problems(pool: InferencePoolConfig, where: str) -> Iterator[Problem]:
    picker = pool.endpoint_picker
    if picker.plugins_config is not None and picker.scorer_weights is not None:
        yield Problem(where, "give scorerWeights or pluginsConfig, not both (pluginsConfig replaces the generated scorers)")
    weights = picker.effective_scorer_weights
    if picker.plugins_config is None and weights.queue + weights.kv_cache_utilization + weights.prefix_cache == 0:
        yield Problem(dotted_path(where, "scorerWeights"), "every scorer has weight 0; give at least one a positive weight")
    if picker.plugins_config is not None:
        try:
            document = yaml.safe_load(picker.plugins_config)
        except yaml.YAMLError as error:
            yield Problem(dotted_path(where, "pluginsConfig"), f"is not YAML: {str(error).splitlines()[0]}")
            return
        if not isinstance(document, dict) or document.get("kind") != "EndpointPickerConfig":
            yield Problem(
                dotted_path(where, "pluginsConfig"),
                "must be an EndpointPickerConfig (apiVersion inference.networking.x-k8s.io/v1alpha1, kind EndpointPickerConfig)",
            )
    if picker.port in (9003, 9090):
        yield Problem(dotted_path(where, "port"), f"port {picker.port} is the EPP's own health or metrics port; use another (default 9002)")


def _route_problems(config: StackConfig) -> Iterator[Problem]:
    pools = {pool.name: pool for pool in config.inference_pools}
    for route_index, route in enumerate(config.routes):
        for rule_index, rule in enumerate(route.rules):
            where = dotted_path("routes", route_index, "rules", rule_index)
            pool_refs = [(index, ref) for index, ref in enumerate(rule.backend_refs) if ref.kind == "InferencePool"]
            for index, ref in enumerate(rule.backend_refs):
                expected_group = INFERENCE_GROUP if ref.kind == "InferencePool" else ""
                if ref.group is not None and ref.group != expected_group:
                    yield Problem(
                        dotted_path(where, "backendRefs", index, "group"),
                        f"is '{ref.group}'; a {ref.kind} is in group '{expected_group}' (or leave group out)",
                    )
            if not pool_refs:
                continue
            if len(rule.backend_refs) > 1:
                yield Problem(
                    dotted_path(where, "backendRefs"),
                    "a rule that forwards to an InferencePool has that pool as its only backend (the Endpoint Picker "
                    "picks among the pool's pods; it cannot take part in a split); put other backends in another rule",
                )
            for index, ref in pool_refs:
                ref_where = dotted_path(where, "backendRefs", index)
                if ref.external:
                    yield Problem(dotted_path(ref_where, "external"), "an InferencePool must be one of this stack's inferencePools")
                    continue
                pool = pools.get(ref.name)
                if pool is None or (ref.namespace or config.namespace) != config.namespace:
                    declared = ", ".join(sorted(pools)) or "none"
                    yield Problem(
                        dotted_path(ref_where, "name"),
                        f"inference pool '{ref.name}' is not declared in 'inferencePools' (declared: {declared})",
                    )
                    continue
                if ref.port is not None and ref.port not in pool.port_numbers:
                    yield Problem(
                        dotted_path(ref_where, "port"),
                        f"port {ref.port} is not one of pool '{pool.name}''s targetPorts "
                        f"({', '.join(map(str, pool.port_numbers))}); use one of them or omit port",
                    )
                if len(pool.port_numbers) > 1:
                    yield Problem(
                        dotted_path(ref_where, "name"),
                        f"pool '{pool.name}' has {len(pool.port_numbers)} targetPorts; a route can forward to a pool with "
                        "one target port only (Envoy Gateway overrides the endpoint within one Service port)",
                    )
            if len(route.rules) > 1 and rule.name is None:
                yield Problem(
                    dotted_path(where, "name"),
                    "this rule forwards to an InferencePool in a route with other rules; give it a name (the pool's "
                    "Envoy Gateway policies attach to the rule by name)",
                )


def _policy_problems(config: StackConfig) -> Iterator[Problem]:
    """A stack's own BackendTrafficPolicy on a pool's route (rule) would take the place of the
    pool's endpoint override (Envoy Gateway applies one per target), and names must not clash."""
    pool_owned: dict[tuple[str, str | None], str] = {}
    for pool in config.inference_pools:
        for route, rule in pool_targets(config, pool):
            pool_owned[(route.name, rule)] = pool.name
    generated = {traffic_policy_name(pool) for pool in config.inference_pools}
    for index, policy in enumerate(config.backend_traffic_policies):
        where = dotted_path("backendTrafficPolicies", index)
        if policy.name in generated:
            yield Problem(dotted_path(where, "name"), f"'{policy.name}' is the name of an inference pool's own BackendTrafficPolicy; rename it")
        for ref_index, ref in enumerate(policy.target_refs):
            if ref.kind != "HTTPRoute":
                continue
            pool = pool_owned.get((ref.name, ref.section_name)) or (
                pool_owned.get((ref.name, None)) if ref.section_name is not None else None
            )
            if pool is not None:
                target = f"HTTPRoute {ref.name}" + (f" rule {ref.section_name}" if ref.section_name else "")
                yield Problem(
                    dotted_path(where, "targetRefs", ref_index),
                    f"{target} forwards to inference pool '{pool}', whose BackendTrafficPolicy "
                    f"'{traffic_policy_name(next(p for p in config.inference_pools if p.name == pool))}' (the endpoint "
                    "override) is the one in effect there; Envoy Gateway applies one per target",
                )
    extension_names = {extension_policy_name(pool) for pool in config.inference_pools}
    for index, policy in enumerate(config.security_policies):
        if policy.name in extension_names:
            yield Problem(dotted_path("securityPolicies", index, "name"), f"'{policy.name}' is the name of an inference pool's policy; rename it")


def _production_problems(config: StackConfig) -> Iterator[Problem]:
    if not config.production:
        return
    images = [(dotted_path("modelServers", index, "image"), server.image) for index, server in enumerate(config.model_servers)]
    images += [
        (dotted_path("inferencePools", index, "endpointPicker", "image"), pool.endpoint_picker.image)
        for index, pool in enumerate(config.inference_pools)
    ]
    for where, image in images:
        tag = image_tag(image)
        if "@sha256:" not in image and tag in (None, "latest"):
            yield Problem(
                where,
                f"image '{image}' has {'no tag' if tag is None else 'the tag latest'}; a production stack "
                "needs a pinned tag (e.g. ':v1.2.3') or a digest",
            )
