"""Specification of inference routing under the Pulumi SDK's mock engine: the inference stack
declares, field by field, the InferencePool and its Endpoint Picker as upstream's
`inferencepool` chart (v1.5.0) does, the vLLM model servers, and the Envoy Gateway v1.9 wiring
that makes the pool effective; each waits for what it needs."""

from __future__ import annotations

from typing import Any

import yaml

from gatestack.mock_engine.program_run import ProgramRun, run_program
from gatestack.mock_engine.rendered_objects import kubernetes_objects
from tests.conftest import stack_raw_config

POOL = "vllm-llama3-8b-instruct"
EPP = f"{POOL}-epp"
NAMESPACE = "inference"
COMPONENT = "api-gateway:components:"


def objects(run: ProgramRun) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["kind"], item["metadata"]["name"]): item for item in kubernetes_objects(run, hide_secrets=False)}


def fail_open_run() -> ProgramRun:
    config = stack_raw_config("inference")
    config["inferencePools"][0]["failureMode"] = "FailOpen"
    return run_program("inference", config)


def test_the_inference_pool_is_declared_as_the_crd_says(stack_run) -> None:
    pool = objects(stack_run("inference"))[("InferencePool", POOL)]
    assert pool["apiVersion"] == "inference.networking.k8s.io/v1"
    assert pool["metadata"] == {
        "name": POOL, "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/name": EPP, "app.kubernetes.io/version": "v1.5.0"},
    }
    assert pool["spec"] == {
        "appProtocol": "http",
        "endpointPickerRef": {"failureMode": "FailClose", "name": EPP, "port": {"number": 9002}},
        "selector": {"matchLabels": {"inference.example.com/pool": POOL}},
        "targetPorts": [{"number": 8000}],
    }


def test_the_endpoint_picker_runs_as_the_chart_runs_it(stack_run) -> None:
    found = objects(stack_run("inference"))
    deployment = found[("Deployment", EPP)]
    assert deployment["metadata"]["labels"]["inference.networking.k8s.io/igw-mode"] == "inferencepool"
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"] == {"matchLabels": {"inferencepool": EPP}}
    pod = spec["template"]["spec"]
    assert spec["template"]["metadata"]["labels"] == {"inferencepool": EPP, "inference.networking.k8s.io/igw-mode": "inferencepool"}
    assert pod["serviceAccountName"] == EPP and pod["terminationGracePeriodSeconds"] == 130
    assert pod["volumes"] == [{"name": "plugins-config-volume", "configMap": {"name": EPP}}]
    (container,) = pod["containers"]
    assert container["name"] == "epp"
    assert container["image"] == "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0"
    assert container["args"] == [
        "--pool-name", POOL, "--pool-namespace", NAMESPACE, "--pool-group", "inference.networking.k8s.io",
        "--zap-encoder", "json", "--config-file", "/config/default-plugins.yaml",
        "--v", "1", "--tracing=false", "--metrics-endpoint-auth=false", "--secure-serving=false",
        "--refresh-metrics-interval", "50ms", "--metrics-staleness-threshold", "2s",
    ]
    assert container["ports"] == [
        {"containerPort": 9002, "name": "grpc"}, {"containerPort": 9003, "name": "grpc-health"}, {"containerPort": 9090, "name": "metrics"},
    ]
    assert container["readinessProbe"] == {"grpc": {"port": 9003, "service": "inference-extension"}, "periodSeconds": 2}
    assert container["livenessProbe"] == {
        "grpc": {"port": 9003, "service": "inference-extension"}, "initialDelaySeconds": 5, "periodSeconds": 10,
    }
    assert container["resources"] == {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"memory": "16Gi"}}
    assert container["volumeMounts"] == [{"mountPath": "/config", "name": "plugins-config-volume"}]
    assert {item["name"] for item in container["env"]} == {"NAMESPACE", "POD_NAME"}


def test_the_endpoint_picker_service_speaks_h2c_and_exposes_metrics(stack_run) -> None:
    service = objects(stack_run("inference"))[("Service", EPP)]
    assert service["spec"] == {
        "ports": [
            {"appProtocol": "kubernetes.io/h2c", "name": "grpc-ext-proc", "port": 9002, "protocol": "TCP"},
            {"name": "http-metrics", "port": 9090, "protocol": "TCP"},
        ],
        "selector": {"inferencepool": EPP},
        "type": "ClusterIP",
    }


def test_the_endpoint_picker_gets_the_rbac_it_needs_and_no_more(stack_run) -> None:
    found = objects(stack_run("inference"))
    assert found[("Role", f"{EPP}-sa")]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]}]
    assert found[("Role", f"{EPP}-non-sa")]["rules"] == [
        {"apiGroups": ["inference.networking.x-k8s.io"], "resources": ["inferenceobjectives", "inferencemodelrewrites"],
         "verbs": ["get", "watch", "list"]},
        {"apiGroups": ["inference.networking.k8s.io"], "resources": ["inferencepools"], "verbs": ["get", "watch", "list"]},
    ]
    for role in ("sa", "non-sa"):
        binding = found[("RoleBinding", f"{EPP}-{role}")]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{EPP}-{role}"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": EPP, "namespace": NAMESPACE}]
    assert not any(kind in ("ClusterRole", "ClusterRoleBinding") for kind, _ in found)
    assert ("Role", f"{EPP}-leader-election") not in found  # one replica: no leader election


def test_more_replicas_turn_on_leader_election() -> None:
    config = stack_raw_config("inference")
    config["inferencePools"][0]["endpointPicker"]["replicas"] = 2
    found = objects(run_program("inference", config))
    container = found[("Deployment", EPP)]["spec"]["template"]["spec"]["containers"][0]
    assert "--ha-enable-leader-election" in container["args"]
    assert container["readinessProbe"]["grpc"]["service"] == "readiness"
    assert found[("Role", f"{EPP}-leader-election")]["rules"][0]["resources"] == ["leases"]


def test_the_plugins_config_holds_the_stacks_scorer_weights(stack_run) -> None:
    config_map = objects(stack_run("inference"))[("ConfigMap", EPP)]
    document = yaml.safe_load(config_map["data"]["default-plugins.yaml"])
    assert document["kind"] == "EndpointPickerConfig"
    assert [plugin["type"] for plugin in document["plugins"]] == [
        "queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer", "metrics-data-source", "core-metrics-extractor",
    ]
    assert document["schedulingProfiles"] == [{"name": "default", "plugins": [
        {"pluginRef": "queue-scorer", "weight": 2}, {"pluginRef": "kv-cache-utilization-scorer", "weight": 2},
        {"pluginRef": "prefix-cache-scorer", "weight": 3},
    ]}]


def test_the_route_forwards_to_the_pools_service_which_selects_its_pods(stack_run) -> None:
    found = objects(stack_run("inference"))
    route = found[("HTTPRoute", "llm")]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"group": "", "kind": "Service", "name": POOL, "port": 8000, "weight": 1}]
    assert found[("Service", POOL)]["spec"] == {
        "ports": [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": 8000}],
        "selector": {"inference.example.com/pool": POOL},
    }


def test_an_extension_policy_sends_the_routes_requests_to_the_epp_with_streamed_bodies(stack_run) -> None:
    policy = objects(stack_run("inference"))[("EnvoyExtensionPolicy", f"{POOL}-endpoint-picker")]
    assert policy["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
    assert policy["spec"] == {
        "extProc": [{
            "backendRefs": [{"group": "", "kind": "Service", "name": EPP, "port": 9002}],
            "failOpen": False,
            "messageTimeout": "10s",
            "processingMode": {"request": {"body": "FullDuplexStreamed"}, "response": {"body": "FullDuplexStreamed"}},
        }],
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "llm"}],
    }


def test_a_traffic_policy_overrides_the_endpoint_from_the_epps_header(stack_run) -> None:
    policy = objects(stack_run("inference"))[("BackendTrafficPolicy", f"{POOL}-endpoint-override")]
    assert policy["spec"] == {
        "loadBalancer": {"endpointOverride": {"extractFrom": [{"header": "x-gateway-destination-endpoint"}]}, "type": "RoundRobin"},
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "llm"}],
    }


def test_fail_close_needs_no_patch_policy_and_fail_open_gets_failure_mode_allow(stack_run) -> None:
    assert not any(kind == "EnvoyPatchPolicy" for kind, _ in objects(stack_run("inference")))
    found = objects(fail_open_run())
    assert found[("InferencePool", POOL)]["spec"]["endpointPickerRef"]["failureMode"] == "FailOpen"
    ext_proc = found[("EnvoyExtensionPolicy", f"{POOL}-endpoint-picker")]["spec"]["extProc"][0]
    assert ext_proc["failOpen"] is False  # Envoy Gateway's CEL rule: never with FullDuplexStreamed
    assert ext_proc["backendSettings"] == {"healthCheck": {"panicThreshold": 0}}
    patch = found[("EnvoyPatchPolicy", f"{POOL}-fail-open")]["spec"]
    assert patch["targetRef"] == {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference-gateway"}
    filter_name = f"envoy.filters.http.ext_proc/envoyextensionpolicy/{NAMESPACE}/{POOL}-endpoint-picker/extproc/0"
    assert patch["jsonPatches"] == [
        {
            "name": f"{NAMESPACE}/inference-gateway/{listener}",
            "operation": {"jsonPath": f"$..http_filters[?(@.name=='{filter_name}')].typed_config", "op": "add",
                          "path": "/failure_mode_allow", "value": True},
            "type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        }
        for listener in ("http", "https")
    ]


def test_a_stack_with_a_fail_open_pool_turns_on_envoy_patch_policies_in_the_controller() -> None:
    chart = next(r for r in fail_open_run().resources if r.name == "envoy-gateway-chart")
    assert chart.inputs["values"]["config"]["envoyGateway"]["extensionApis"] == {"enableEnvoyPatchPolicy": True}


def test_the_model_servers_are_vllm_deployments_the_pool_selects(stack_run) -> None:
    found = objects(stack_run("inference"))
    for name in ("vllm-llama3-a", "vllm-llama3-b", "vllm-llama3-c"):
        spec = found[("Deployment", name)]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert labels == {
            "app.kubernetes.io/component": "model-server", "app.kubernetes.io/name": name, "inference.example.com/pool": POOL,
        }
        assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        (container,) = spec["template"]["spec"]["containers"]
        assert container["image"] == "vllm/vllm-openai:v0.11.0"
        assert container["args"] == ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"]
        assert container["ports"] == [{"containerPort": 8000, "name": "http", "protocol": "TCP"}]
        assert container["resources"] == {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"


def test_the_controller_installs_the_inference_pool_crd_and_pool_objects_wait_for_it(stack_run) -> None:
    run = stack_run("inference")
    (crd,) = [r for r in run.resources if r.type == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"]
    assert crd.inputs["metadata"]["name"] == "inferencepools.inference.networking.k8s.io"
    assert crd.inputs["metadata"]["annotations"]["inference.networking.k8s.io/bundle-version"] == "v1.5.0"
    pool = next(r for r in run.resources if r.type == "kubernetes:inference.networking.k8s.io/v1:InferencePool")
    assert crd.urn in pool.dependencies
    # The pool's policies wait for the route they attach to.
    route = next(r for r in run.resources if r.type == "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute" and r.name == "llm-http-route")
    for kind in ("EnvoyExtensionPolicy", "BackendTrafficPolicy"):
        policy = next(r for r in run.resources if r.type == f"kubernetes:gateway.envoyproxy.io/v1alpha1:{kind}")
        assert route.urn in policy.dependencies


def test_stacks_without_pools_declare_no_inference_crd(stack_run) -> None:
    run = stack_run("dev")
    assert not [r for r in run.resources if "CustomResourceDefinition" in r.type or "InferencePool" in r.type]


def test_the_stack_declares_one_component_per_pool_and_model_server(stack_run) -> None:
    run = stack_run("inference")
    names = lambda kind: sorted(r.name for r in run.resources if r.type == f"{COMPONENT}{kind}")  # noqa: E731
    assert names("InferencePool") == [POOL]
    assert names("ModelServer") == ["vllm-llama3-a", "vllm-llama3-b", "vllm-llama3-c"]
    children = [r for r in run.resources if r.parent and r.parent.endswith(f"InferencePool::{POOL}")]
    assert sorted(r.name for r in children) == sorted([
        f"{POOL}-inference-pool", f"{POOL}-epp-service-account", f"{POOL}-epp-role-sa", f"{POOL}-epp-role-binding-sa",
        f"{POOL}-epp-role-non-sa", f"{POOL}-epp-role-binding-non-sa", f"{POOL}-epp-config-map", f"{POOL}-epp-deployment",
        f"{POOL}-epp-service", f"{POOL}-service", f"{POOL}-envoy-extension-policy", f"{POOL}-backend-traffic-policy",
    ])
