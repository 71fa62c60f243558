"""The Kubernetes objects of inference routing, built from a validated `StackConfig`, as plain dicts.

For each pool, what upstream's `inferencepool` Helm chart (v1.5.0, release name = pool name)
declares:

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
- the vLLM model servers a pool selects.

The Envoy Gateway wiring that makes a pool effective is built in `inference_wiring.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The model-server labels and INFERENCE_GROUP live with the models (the rules read them too); the
# local cluster's node agent and the tests import them from here as well.
from gateway_config.inference import (
    INFERENCE_GROUP,
    MODEL_SERVER_COMPONENT,
    MODEL_SERVER_COMPONENT_LABEL,
    MODEL_SERVER_NAME_LABEL,
    InferencePoolConfig,
    ModelServerConfig,
    model_server_pod_labels,
)
from gateway_config.kubernetes_objects import object_metadata, resources_dict

INFERENCE_POOL_API_VERSION = f"{INFERENCE_GROUP}/v1"
INFERENCE_EXTENSION_VERSION = "v1.5.0"

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

MODEL_SERVER_CONTAINER = "vllm"
GPU_RESOURCE = "nvidia.com/gpu"
# The InferencePool CRD of the release, copied unchanged from the module
# (sigs.k8s.io/gateway-api-inference-extension v1.5.0, config/crd/bases); a test keeps it identical.
INFERENCE_POOL_CRD_FILE = Path(__file__).resolve().parent / "crds" / "inference.networking.k8s.io_inferencepools.yaml"


def inference_pool_crd() -> dict[str, Any]:
    """The InferencePool CustomResourceDefinition the controller installs beside Envoy Gateway's CRDs."""
    return yaml.safe_load(INFERENCE_POOL_CRD_FILE.read_text())


# --- model servers ------------------------------------------------------------------------


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
        "metadata": object_metadata(server.name, namespace, labels={MODEL_SERVER_NAME_LABEL: server.name}),
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
        "metadata": object_metadata(pool.epp_name, namespace, labels={**_epp_labels(pool), EPP_MODE_LABEL: "inferencepool"}),
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
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": object_metadata(name, namespace, labels=labels), "rules": rules}


def _role_binding(name: str, namespace: str, role: str, service_account: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": object_metadata(name, namespace),
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
        "metadata": object_metadata(pool.name, namespace, labels=_epp_labels(pool)),
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
        "service_account": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": object_metadata(name, namespace, labels=_epp_labels(pool))},
        "rbac": endpoint_picker_rbac(pool, namespace),
        "config_map": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_metadata(name, namespace),
            "data": {EPP_CONFIG_FILE: endpoint_picker_config(pool)},
        },
        "deployment": endpoint_picker_deployment(pool, namespace),
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": object_metadata(name, namespace, labels=_epp_labels(pool)),
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
