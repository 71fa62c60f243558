"""The Kubernetes objects of inference routing, built from a validated `StackConfig`, as plain dicts.

For each pool, what upstream's `inferencepool` Helm chart (v1.5.0, release name = pool name)
declares, and the Envoy Gateway wiring that makes the pool effective on Envoy Gateway v1.9
without Envoy AI Gateway (v1.9 refuses an HTTPRoute backendRef of kind InferencePool):

- the `InferencePool` (`inference.networking.k8s.io/v1`): selector, targetPorts, appProtocol,
  `endpointPickerRef` to the EPP's Service with the pool's failureMode;
- the EPP as the chart runs it: ServiceAccount, the Roles it needs (pods; InferencePools and
  the alpha objectives; leases and events when replicas > 1 turn on leader election) with their
  RoleBindings, a ConfigMap holding its EndpointPickerConfig, a Deployment (Recreate, gRPC health
  probes on 9003, `--pool-name/--pool-namespace`), and a Service (`grpc-ext-proc` 9002 with
  `appProtocol: kubernetes.io/h2c`, `http-metrics` 9090). Two flags differ from the chart's
  defaults, for the gateway in front: `--secure-serving=false` (Envoy Gateway's extProc speaks
  plaintext h2c to a Service unless a BackendTLSPolicy supplies a CA, and the EPP's certificate
  is self-signed) and `--metrics-endpoint-auth=false` (as the chart does without Prometheus auth);
- the wiring: a Service `<pool>` selecting the pool's pods on its target ports (the route's
  backend), an `EnvoyExtensionPolicy` sending each request of the route (rule) to the EPP over
  ext_proc with request and response bodies `FullDuplexStreamed` (the EPP answers the headers
  only once it has the whole body), and a `BackendTrafficPolicy` whose
  `loadBalancer.endpointOverride` sends the request to the endpoint the EPP named in
  `x-gateway-destination-endpoint` (only endpoints of that Service can be chosen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway_config.inference import InferencePoolConfig, ModelServerConfig
from gateway_config.manifests import ENVOY_GATEWAY_GROUP, GATEWAY_API_GROUP, resources_dict
from gateway_config.models import BackendRef, RouteConfig, RouteRule, StackConfig

INFERENCE_GROUP = "inference.networking.k8s.io"
INFERENCE_POOL_API_VERSION = f"{INFERENCE_GROUP}/v1"
INFERENCE_EXTENSION_VERSION = "v1.5.0"
POLICY_API_VERSION = f"{ENVOY_GATEWAY_GROUP}/v1alpha1"
# The header (and envoy.lb metadata key) in which the EPP names the endpoint it picked.
DESTINATION_ENDPOINT_HEADER = "x-gateway-destination-endpoint"

# The labels the chart gives the EPP: the node agent of the local cluster recognises EPP pods by
# the mode label (gatestack/cluster/endpoint_picker_pod.py).
EPP_MODE_LABEL = "inference.networking.k8s.io/igw-mode"
EPP_SELECTOR_LABEL = "inferencepool"
EPP_CONTAINER = "epp"
EPP_GRPC_HEALTH_PORT = 9003
EPP_METRICS_PORT = 9090
EPP_CONFIG_DIRECTORY = "/config"
EPP_CONFIG_FILE = "default-plugins.yaml"
# What the chart's EPP pods wait for before the old one stops (mirrors the model servers' drain).
TERMINATION_GRACE_SECONDS = 130

# Model-server pods: labelled so a pool's Service and the local cluster's node agent find them.
MODEL_SERVER_NAME_LABEL = "app.kubernetes.io/name"
MODEL_SERVER_COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_SERVER_COMPONENT = "model-server"
MODEL_SERVER_CONTAINER = "vllm"
GPU_RESOURCE = "nvidia.com/gpu"
RESERVED_MODEL_SERVER_LABELS = (MODEL_SERVER_NAME_LABEL, MODEL_SERVER_COMPONENT_LABEL)
# The InferencePool CRD of the release, copied unchanged from the module
# (sigs.k8s.io/gateway-api-inference-extension v1.5.0, config/crd/bases); a test keeps it identical.
INFERENCE_POOL_CRD_FILE = Path(__file__).resolve().parent / "crds" / "inference.networking.k8s.io_inferencepools.yaml"


def inference_pool_crd() -> dict[str, Any]:
    """The InferencePool CustomResourceDefinition the controller installs beside Envoy Gateway's CRDs."""
    return yaml.safe_load(INFERENCE_POOL_CRD_FILE.read_text())


def _metadata(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    return metadata


# --- model servers ------------------------------------------------------------------------


def model_server_pod_labels(server: ModelServerConfig) -> dict[str, str]:
    return {
        MODEL_SERVER_NAME_LABEL: server.name,
        MODEL_SERVER_COMPONENT_LABEL: MODEL_SERVER_COMPONENT,
        **server.labels,
    }


def model_server_deployment(server: ModelServerConfig, namespace: str) -> dict[str, Any]:
    """A vLLM Deployment as vLLM's and the inference extension's examples run it: the
    OpenAI-compatible server on `port`, health probes on `/health`, shared memory, GPUs."""
    resources = resources_dict(server.resources) if server.resources is not None else {}
    if server.gpus:
        resources.setdefault("requests", {})[GPU_RESOURCE] = str(server.gpus)
        resources.setdefault("limits", {})[GPU_RESOURCE] = str(server.gpus)
    probe = {"httpGet": {"path": "/health", "port": "http", "scheme": "HTTP"}, "periodSeconds": 1}
    container: dict[str, Any] = {
        "name": MODEL_SERVER_CONTAINER,
        "image": server.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        "args": ["--model", server.model, "--port", str(server.port), *server.args],
        "ports": [{"name": "http", "containerPort": server.port, "protocol": "TCP"}],
        "livenessProbe": {**probe, "failureThreshold": 5},
        "readinessProbe": {**probe, "failureThreshold": 1},
        # Loading a model takes minutes: the other probes wait for this one.
        "startupProbe": {**probe, "failureThreshold": 600, "initialDelaySeconds": 2},
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}, {"name": "data", "mountPath": "/data"}],
    }
    if resources:
        container["resources"] = resources
    pod_labels = model_server_pod_labels(server)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(server.name, namespace, {MODEL_SERVER_NAME_LABEL: server.name}),
        "spec": {
            "replicas": server.replicas,
            "selector": {"matchLabels": {MODEL_SERVER_NAME_LABEL: server.name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    # vLLM never calls the Kubernetes API.
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    "containers": [container],
                    "volumes": [
                        {"name": "shm", "emptyDir": {"medium": "Memory"}},
                        {"name": "data", "emptyDir": {}},
                    ],
                },
            },
        },
    }


# --- the pool and its EPP -------------------------------------------------------------------


def endpoint_picker_config(pool: InferencePoolConfig) -> str:
    """The EPP's plugins file: `pluginsConfig` as given, or the chart's default profile with
    the stack's scorer weights (a scorer at weight 0 left out)."""
    picker = pool.endpoint_picker
    if picker.plugins_config is not None:
        return picker.plugins_config
    weights = picker.effective_scorer_weights
    scorers = [
        (name, weight)
        for name, weight in (
            ("queue-scorer", weights.queue),
            ("kv-cache-utilization-scorer", weights.kv_cache_utilization),
            ("prefix-cache-scorer", weights.prefix_cache),
        )
        if weight > 0
    ]
    document = {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha1",
        "kind": "EndpointPickerConfig",
        "plugins": [
            *({"type": name} for name, _ in scorers),
            {"type": "metrics-data-source", "parameters": {"scheme": "http", "path": "/metrics", "insecureSkipVerify": True}},
            {"type": "core-metrics-extractor"},
        ],
        "schedulingProfiles": [
            {"name": "default", "plugins": [{"pluginRef": name, "weight": weight} for name, weight in scorers]}
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def endpoint_picker_arguments(pool: InferencePoolConfig, namespace: str) -> list[str]:
    """The EPP's command line, as the chart renders it for a vLLM pool, plus the stack's settings."""
    picker = pool.endpoint_picker
    arguments = [
        "--pool-name", pool.name,
        "--pool-namespace", namespace,
        "--pool-group", INFERENCE_GROUP,
        "--zap-encoder", "json",
        "--config-file", f"{EPP_CONFIG_DIRECTORY}/{EPP_CONFIG_FILE}",
    ]
    if picker.replicas > 1:
        arguments.append("--ha-enable-leader-election")
    arguments += ["--v", str(picker.log_verbosity), "--tracing=false", "--metrics-endpoint-auth=false", "--secure-serving=false"]
    if picker.port != 9002:
        arguments += ["--grpc-port", str(picker.port)]
    arguments += [
        "--refresh-metrics-interval", picker.refresh_metrics_interval,
        "--metrics-staleness-threshold", picker.metrics_staleness_threshold,
    ]
    return arguments


def _epp_labels(pool: InferencePoolConfig) -> dict[str, str]:
    return {"app.kubernetes.io/name": pool.epp_name, "app.kubernetes.io/version": INFERENCE_EXTENSION_VERSION}


def endpoint_picker_deployment(pool: InferencePoolConfig, namespace: str) -> dict[str, Any]:
    picker = pool.endpoint_picker
    # One replica answers its probes on the health service; with leader election the chart
    # asks for liveness (any replica) and readiness (only the leader).
    liveness, readiness = ("liveness", "readiness") if picker.replicas > 1 else ("inference-extension", "inference-extension")
    pod_labels = {EPP_SELECTOR_LABEL: pool.epp_name, EPP_MODE_LABEL: "inferencepool"}
    container = {
        "name": EPP_CONTAINER,
        "image": picker.image,
        "imagePullPolicy": "IfNotPresent",
        "args": endpoint_picker_arguments(pool, namespace),
        "resources": resources_dict(picker.resources),
        "ports": [
            {"name": "grpc", "containerPort": picker.port},
            {"name": "grpc-health", "containerPort": EPP_GRPC_HEALTH_PORT},
            {"name": "metrics", "containerPort": EPP_METRICS_PORT},
        ],
        "livenessProbe": {"grpc": {"port": EPP_GRPC_HEALTH_PORT, "service": liveness}, "initialDelaySeconds": 5, "periodSeconds": 10},
        "readinessProbe": {"grpc": {"port": EPP_GRPC_HEALTH_PORT, "service": readiness}, "periodSeconds": 2},
        "env": [
            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "volumeMounts": [{"name": "plugins-config-volume", "mountPath": EPP_CONFIG_DIRECTORY}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(pool.epp_name, namespace, {**_epp_labels(pool), EPP_MODE_LABEL: "inferencepool"}),
        "spec": {
            "replicas": picker.replicas,
            # A single active replica keeps the prefix-cache scorer's state whole (the chart's reason).
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {EPP_SELECTOR_LABEL: pool.epp_name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": pool.epp_name,
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    "containers": [container],
                    "volumes": [{"name": "plugins-config-volume", "configMap": {"name": pool.epp_name}}],
                },
            },
        },
    }


def _role(name: str, namespace: str, labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _metadata(name, namespace, labels), "rules": rules}


def _role_binding(name: str, namespace: str, role: str, service_account: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(name, namespace),
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
    }


def endpoint_picker_rbac(pool: InferencePoolConfig, namespace: str) -> list[dict[str, Any]]:
    """The chart's Roles and RoleBindings: the EPP watches the pool's pods, the pool itself and
    the (alpha) objectives and model rewrites; with several replicas, leases and events too."""
    labels = _epp_labels(pool)
    name = pool.epp_name
    objects = [
        _role(f"{name}-sa", namespace, labels, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]}]),
        _role_binding(f"{name}-sa", namespace, f"{name}-sa", name),
        _role(
            f"{name}-non-sa",
            namespace,
            labels,
            [
                {
                    "apiGroups": ["inference.networking.x-k8s.io"],
                    "resources": ["inferenceobjectives", "inferencemodelrewrites"],
                    "verbs": ["get", "watch", "list"],
                },
                {"apiGroups": [INFERENCE_GROUP], "resources": ["inferencepools"], "verbs": ["get", "watch", "list"]},
            ],
        ),
        _role_binding(f"{name}-non-sa", namespace, f"{name}-non-sa", name),
    ]
    if pool.endpoint_picker.replicas > 1:
        objects += [
            _role(
                f"{name}-leader-election",
                namespace,
                labels,
                [
                    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
                ],
            ),
            _role_binding(f"{name}-leader-election-binding", namespace, f"{name}-leader-election", name),
        ]
    return objects


def inference_pool_object(pool: InferencePoolConfig, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": INFERENCE_POOL_API_VERSION,
        "kind": "InferencePool",
        "metadata": _metadata(pool.name, namespace, _epp_labels(pool)),
        "spec": {
            "targetPorts": [{"number": number} for number in pool.port_numbers],
            "appProtocol": pool.app_protocol,
            "selector": {"matchLabels": dict(pool.selector)},
            "endpointPickerRef": {
                "name": pool.epp_name,
                "port": {"number": pool.endpoint_picker.port},
                "failureMode": pool.failure_mode,
            },
        },
    }


def endpoint_picker_objects(pool: InferencePoolConfig, namespace: str) -> dict[str, Any]:
    """ServiceAccount, RBAC, ConfigMap, Deployment and Service of the pool's EPP."""
    name = pool.epp_name
    return {
        "service_account": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(name, namespace, _epp_labels(pool))},
        "rbac": endpoint_picker_rbac(pool, namespace),
        "config_map": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(name, namespace),
            "data": {EPP_CONFIG_FILE: endpoint_picker_config(pool)},
        },
        "deployment": endpoint_picker_deployment(pool, namespace),
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(name, namespace, _epp_labels(pool)),
            "spec": {
                "selector": {EPP_SELECTOR_LABEL: name},
                "ports": [
                    # Envoy Gateway speaks HTTP/2 to an extProc Service port only when it says h2c.
                    {"name": "grpc-ext-proc", "protocol": "TCP", "port": pool.endpoint_picker.port, "appProtocol": "kubernetes.io/h2c"},
                    {"name": "http-metrics", "protocol": "TCP", "port": EPP_METRICS_PORT},
                ],
                "type": "ClusterIP",
            },
        },
    }


# --- the Envoy Gateway wiring ------------------------------------------------------------------


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
        "metadata": _metadata(pool.name, namespace, {"app.kubernetes.io/part-of": pool.name}),
        "spec": {"selector": dict(pool.selector), "ports": ports},
    }


def pool_of(config: StackConfig, ref: BackendRef) -> InferencePoolConfig | None:
    if ref.kind != "InferencePool":
        return None
    return next((pool for pool in config.inference_pools if pool.name == ref.name), None)


def rule_pool(rule: RouteRule) -> BackendRef | None:
    """The InferencePool a rule forwards to (its only backendRef), or None."""
    return next((ref for ref in rule.backend_refs if ref.kind == "InferencePool"), None)


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


def _target_refs(targets: list[tuple[RouteConfig, str | None]]) -> list[dict[str, Any]]:
    return [
        {"group": GATEWAY_API_GROUP, "kind": "HTTPRoute", "name": route.name, **({"sectionName": rule} if rule else {})}
        for route, rule in targets
    ]


def extension_policy_name(pool: InferencePoolConfig) -> str:
    return f"{pool.name}-endpoint-picker"


def traffic_policy_name(pool: InferencePoolConfig) -> str:
    return f"{pool.name}-endpoint-override"


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
        "metadata": _metadata(extension_policy_name(pool), config.namespace),
        "spec": {"targetRefs": _target_refs(targets), "extProc": [ext_proc]},
    }


def fail_open_patch_policy_name(pool: InferencePoolConfig) -> str:
    return f"{pool.name}-fail-open"


def ext_proc_filter_name(config: StackConfig, pool: InferencePoolConfig) -> str:
    """The HTTP filter Envoy Gateway v1.9 makes of the pool's EnvoyExtensionPolicy."""
    return f"envoy.filters.http.ext_proc/envoyextensionpolicy/{config.namespace}/{extension_policy_name(pool)}/extproc/0"


def xds_listener_names(config: StackConfig, routes: list[RouteConfig]) -> list[str]:
    """The Envoy listeners the routes are served on: Envoy Gateway names each after the first
    Gateway listener on its port (`<namespace>/<gateway>/<listener>`)."""
    from gateway_config.models import ListenerConfig

    listeners: list[ListenerConfig] = config.gateway.listeners
    first_on_port: dict[int, str] = {}
    for listener in listeners:
        first_on_port.setdefault(listener.port, listener.name)
    names = []
    for route in routes:
        attached = [ref.section_name for ref in route.parent_refs if not ref.external] if route.parent_refs else []
        chosen = [l for l in listeners if not attached or None in attached or l.name in attached]
        names += [f"{config.namespace}/{config.gateway.name}/{first_on_port[l.port]}" for l in chosen]
    return list(dict.fromkeys(names))


def fail_open_patch_policy(config: StackConfig, pool: InferencePoolConfig) -> dict[str, Any] | None:
    """For a FailOpen pool used by a route: the EnvoyPatchPolicy that sets Envoy's
    `failure_mode_allow` on the pool's ext_proc filter in each listener serving those routes.
    With it, a request goes on to the pool's Service (round robin) when no ready EPP can be
    reached; an EPP that fails mid-request still fails it (Envoy cannot replay a body it has
    streamed). Needs Envoy Gateway's `extensionApis.enableEnvoyPatchPolicy`."""
    targets = pool_targets(config, pool)
    if pool.failure_mode != "FailOpen" or not targets:
        return None
    routes = list({route.name: route for route, _ in targets}.values())
    filter_path = f"$..http_filters[?(@.name=='{ext_proc_filter_name(config, pool)}')].typed_config"
    return {
        "apiVersion": POLICY_API_VERSION,
        "kind": "EnvoyPatchPolicy",
        "metadata": _metadata(fail_open_patch_policy_name(pool), config.namespace),
        "spec": {
            "targetRef": {"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": config.gateway.name},
            "type": "JSONPatch",
            "jsonPatches": [
                {
                    "type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                    "name": listener,
                    "operation": {"op": "add", "jsonPath": filter_path, "path": "/failure_mode_allow", "value": True},
                }
                for listener in xds_listener_names(config, routes)
            ],
        },
    }


def endpoint_override_traffic_policy(config: StackConfig, pool: InferencePoolConfig) -> dict[str, Any] | None:
    """The BackendTrafficPolicy that makes Envoy use the endpoint the EPP picked (None when no
    route uses the pool). Built like a stack's own BackendTrafficPolicy (`policy_manifests`)."""
    from gateway_config.policy_manifests import backend_traffic_policy_object
    from gateway_config.traffic_policies import BackendTrafficPolicyConfig

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
