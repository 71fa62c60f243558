"""Specification: model servers and InferencePools in a stack file.

GIVEN the inference stack, WHEN one thing is broken, THEN the config is refused with one line
`stacks/Pulumi.inference.yaml: <dotted.path>: <why; what is allowed>`: the relations between
pools, model servers and routes, and every limit the InferencePool CRD states. Every key the
README documents is accepted.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from gateway_config.loader import ConfigError, parse_stack_config
from gateway_config.models import StackConfig
from tests.conftest import stack_raw_config

STACK_FILE = "stacks/Pulumi.inference.yaml"
Mutation = Callable[[dict[str, Any]], None]


def parsed(config: dict[str, Any]) -> StackConfig:
    return parse_stack_config(config, STACK_FILE)


def pool(c: dict[str, Any]) -> dict[str, Any]:
    return c["inferencePools"][0]


def picker(c: dict[str, Any]) -> dict[str, Any]:
    return pool(c).setdefault("endpointPicker", {})


def server(c: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return c["modelServers"][index]


def llm_rule(c: dict[str, Any]) -> dict[str, Any]:
    return c["routes"][0]["rules"][0]


def pool_ref(c: dict[str, Any]) -> dict[str, Any]:
    return llm_rule(c)["backendRefs"][0]


def add_second_rule(c: dict[str, Any]) -> None:
    c["routes"][0]["rules"].append({"matches": [{"path": {"value": "/health"}}], "backendRefs": [{"name": "echo"}]})


# (case id, mutation, dotted path, a fragment of the message)
REFUSED: list[tuple[str, Mutation, str, str]] = [
    ("a pool that selects no declared model server",
     lambda c: pool(c).update(selector={"inference.example.com/pool": "other"}),
     "inferencePools.0.selector", "selects no declared model server"),
    ("a model server outside the pool's target ports", lambda c: server(c).update(port=8001),
     "inferencePools.0.targetPorts", "listens on port 8001"),
    ("a backendRef port outside targetPorts", lambda c: pool_ref(c).update(port=8080),
     "routes.0.rules.0.backendRefs.0.port", "not one of pool"),
    ("a pool mixed with other backends in one rule", lambda c: llm_rule(c)["backendRefs"].append({"name": "echo"}),
     "routes.0.rules.0.backendRefs", "only backend"),
    ("two pools in one rule",
     lambda c: llm_rule(c)["backendRefs"].append({"kind": "InferencePool", "name": "vllm-llama3-8b-instruct"}),
     "routes.0.rules.0.backendRefs", "only backend"),
    ("an undeclared pool", lambda c: pool_ref(c).update(name="no-such-pool"),
     "routes.0.rules.0.backendRefs.0.name", "not declared in 'inferencePools'"),
    ("a pool in another namespace", lambda c: pool_ref(c).update(namespace="elsewhere"),
     "routes.0.rules.0.backendRefs.0.name", "not declared in 'inferencePools'"),
    ("an external pool", lambda c: pool_ref(c).update(external=True),
     "routes.0.rules.0.backendRefs.0.external", "one of this stack's inferencePools"),
    ("a pool with the core group", lambda c: pool_ref(c).update(group=""),
     "routes.0.rules.0.backendRefs.0.group", "is in group 'inference.networking.k8s.io'"),
    ("a group that is neither", lambda c: pool_ref(c).update(group="gateway.networking.k8s.io"),
     "routes.0.rules.0.backendRefs.0.group", "allowed values"),
    ("a kind that is neither Service nor InferencePool", lambda c: pool_ref(c).update(kind="Backend"),
     "routes.0.rules.0.backendRefs.0.kind", "'Service' or 'InferencePool'"),
    ("a route forwarding to a pool with two target ports",
     lambda c: pool(c).update(targetPorts=[{"number": 8000}, {"number": 8001}]),
     "routes.0.rules.0.backendRefs.0.name", "one target port only"),
    ("an unnamed pool rule in a route with other rules", add_second_rule,
     "routes.0.rules.0.name", "give it a name"),
    ("duplicate target ports (the CRD's CEL rule)", lambda c: pool(c).update(targetPorts=[{"number": 8000}, {"number": 8000}]),
     "inferencePools.0.targetPorts", "port numbers must be unique"),
    ("more than 8 target ports (the CRD's maxItems)",
     lambda c: pool(c).update(targetPorts=[{"number": 8000 + n} for n in range(9)]),
     "inferencePools.0.targetPorts", "at most 8"),
    ("no target port (the CRD's minItems)", lambda c: pool(c).update(targetPorts=[]),
     "inferencePools.0.targetPorts", "at least 1"),
    ("an empty selector (the CRD's minProperties)", lambda c: pool(c).update(selector={}),
     "inferencePools.0.selector", "at least 1"),
    ("a selector value the CRD's pattern refuses", lambda c: pool(c).update(selector={"app": "-bad-"}),
     "inferencePools.0.selector.app", "not a label value"),
    ("a selector value over 63 characters", lambda c: pool(c).update(selector={"app": "a" * 64}),
     "inferencePools.0.selector.app", "not a label value"),
    ("a label key Kubernetes refuses", lambda c: server(c).update(labels={"bad key": "x"}),
     "modelServers.0.labels.bad key.[key]", "not a label key"),
    ("a target port out of range", lambda c: pool(c).update(targetPorts=[{"number": 70000}]),
     "inferencePools.0.targetPorts.0.number", "at most 65535"),
    ("an unknown failure mode", lambda c: pool(c).update(failureMode="FailSoft"),
     "inferencePools.0.failureMode", "'FailOpen' or 'FailClose'"),
    ("an unknown app protocol", lambda c: pool(c).update(appProtocol="grpc"),
     "inferencePools.0.appProtocol", "'http' or 'kubernetes.io/h2c'"),
    ("a pool name over 40 characters", lambda c: pool(c).update(name="p" * 41),
     "inferencePools.0.name", "at most 40"),
    ("a pool name starting with a digit (a Service name)", lambda c: pool(c).update(name="1pool"),
     "inferencePools.0.name", "starting with a letter"),
    ("a pool named like a backend", lambda c: pool(c).update(name="echo"),
     "inferencePools.0.name", "already the name of a backend"),
    ("a pool whose EPP is named like a model server",
     lambda c: (server(c).update(name="vllm-epp"), pool(c).update(name="vllm")),
     "inferencePools.0.name", "already the name of a model server"),
    ("a pool declared twice", lambda c: c["inferencePools"].append(copy.deepcopy(pool(c))),
     "inferencePools.1.name", "declared more than once"),
    ("a model server declared twice", lambda c: c["modelServers"].append(copy.deepcopy(server(c))),
     "modelServers.3.name", "declared more than once"),
    ("a model server named like a backend", lambda c: server(c).update(name="echo"),
     "modelServers.0.name", "already a backend's name"),
    ("a model server setting a label the stack sets", lambda c: server(c)["labels"].update({"app.kubernetes.io/component": "x"}),
     "modelServers.0.labels.app.kubernetes.io/component", "set by the stack"),
    ("a model server without a model", lambda c: server(c).pop("model"), "modelServers.0.model", "is required"),
    ("every scorer at weight 0", lambda c: picker(c).update(scorerWeights={"queue": 0, "kvCacheUtilization": 0, "prefixCache": 0}),
     "inferencePools.0.endpointPicker.scorerWeights", "at least one a positive weight"),
    ("scorer weights and a plugins config both",
     lambda c: picker(c).update(pluginsConfig="apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"),
     "inferencePools.0.endpointPicker", "not both"),
    ("a plugins config that is not an EndpointPickerConfig",
     lambda c: (picker(c).pop("scorerWeights"), picker(c).update(pluginsConfig="kind: ConfigMap\n")),
     "inferencePools.0.endpointPicker.pluginsConfig", "must be an EndpointPickerConfig"),
    ("an ext_proc port the EPP uses for health", lambda c: picker(c).update(port=9003),
     "inferencePools.0.endpointPicker.port", "health or metrics port"),
    ("a refresh interval that is not a duration", lambda c: picker(c).update(refreshMetricsInterval="fast"),
     "inferencePools.0.endpointPicker.refreshMetricsInterval", "not a duration"),
    ("no EPP replica", lambda c: picker(c).update(replicas=0), "inferencePools.0.endpointPicker.replicas", "at least 1"),
    ("a typo in an EPP key", lambda c: picker(c).update(refreshMetricInterval="1s"),
     "inferencePools.0.endpointPicker.refreshMetricInterval", "did you mean 'refreshMetricsInterval'"),
    ("a stack BackendTrafficPolicy on the pool's route",
     lambda c: c.update(backendTrafficPolicies=[{"name": "llm-retries", "targetRefs": [{"kind": "HTTPRoute", "name": "llm"}],
                                                 "retry": {"numRetries": 2}}]),
     "backendTrafficPolicies.0.targetRefs.0", "is the one in effect there"),
    ("an unpinned EPP image in production", lambda c: (c.update(production=True), picker(c).update(image="epp:latest")),
     "inferencePools.0.endpointPicker.image", "pinned tag"),
    ("an unpinned vLLM image in production", lambda c: (c.update(production=True), server(c).update(image="vllm/vllm-openai")),
     "modelServers.0.image", "pinned tag"),
]


@pytest.mark.parametrize("mutation, path, fragment", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_broken_inference_config_is_refused_naming_the_field(mutation: Mutation, path: str, fragment: str) -> None:
    # GIVEN the inference stack WHEN one thing is broken
    config = stack_raw_config("inference")
    mutation(config)
    # THEN one line names the field and says what is wrong
    with pytest.raises(ConfigError) as raised:
        parsed(config)
    lines = [line for line in str(raised.value).splitlines() if line.startswith(f"{STACK_FILE}: {path}: ")]
    assert lines, f"no line for {path} in:\n{raised.value}"
    assert any(fragment in line for line in lines), f"'{fragment}' not in:\n{raised.value}"
    assert "Traceback" not in str(raised.value)


def every_key() -> dict[str, Any]:
    config = stack_raw_config("inference")
    server(config).update(image="vllm/vllm-openai:v0.10.2", replicas=2, port=8000, gpus=2, args=["--max-num-seqs", "256"],
                          resources={"requests": {"cpu": "8", "memory": "32Gi"}, "limits": {"memory": "64Gi"}})
    pool(config).update(appProtocol="kubernetes.io/h2c", failureMode="FailOpen", endpointPicker={
        "image": "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0", "replicas": 2,
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}, "port": 9102, "refreshMetricsInterval": "100ms",
        "metricsStalenessThreshold": "5s", "scorerWeights": {"queue": 1, "kvCacheUtilization": 0, "prefixCache": 1},
        "logVerbosity": 3, "messageTimeout": "30s",
    })
    pool_ref(config).update(group="inference.networking.k8s.io", port=8000)
    return config


def test_every_documented_key_is_accepted() -> None:
    config = parsed(every_key())
    assert config.inference_pools[0].endpoint_picker.replicas == 2
    assert config.model_servers[0].gpus == 2


def test_defaults_are_the_charts_and_the_crds() -> None:
    # GIVEN a pool with only a name and a selector, a model server with only a name and a model
    config = stack_raw_config("inference")
    config["inferencePools"] = [{"name": "pool", "selector": {"inference.example.com/pool": "vllm-llama3-8b-instruct"}}]
    config["modelServers"] = [{"name": "vllm", "model": "m", "labels": {"inference.example.com/pool": "vllm-llama3-8b-instruct"}}]
    config["routes"][0]["rules"][0]["backendRefs"] = [{"kind": "InferencePool", "name": "pool"}]
    parsed_config = parsed(config)
    defaults, served = parsed_config.inference_pools[0], parsed_config.model_servers[0]
    # THEN the InferencePool CRD's and the inferencepool chart's defaults apply
    assert defaults.failure_mode == "FailClose" and defaults.app_protocol == "http" and defaults.port_numbers == [8000]
    epp = defaults.endpoint_picker
    assert (epp.image, epp.replicas, epp.port) == ("registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0", 1, 9002)
    assert (epp.refresh_metrics_interval, epp.metrics_staleness_threshold) == ("50ms", "2s")
    weights = epp.effective_scorer_weights
    assert (weights.queue, weights.kv_cache_utilization, weights.prefix_cache) == (2, 2, 3)
    assert epp.resources.requests == {"cpu": "4", "memory": "8Gi"} and epp.resources.limits == {"memory": "16Gi"}
    assert (served.image, served.port, served.replicas, served.gpus) == ("vllm/vllm-openai:v0.11.0", 8000, 1, 1)


def test_a_pool_no_route_uses_is_allowed() -> None:
    config = stack_raw_config("inference")
    config["routes"] = [route for route in config["routes"] if route["name"] != "llm"]
    assert parsed(config).inference_pools
