"""Specification of the local cluster's inference pods: the vLLM stand-in (what an EPP and a client
see of a model server), how an EPP pod is run, and how the node agent tells pods apart."""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path

import pytest
import yaml

from gatestack.stand_ins import vllm_server
from gatestack.cluster.endpoint_picker_pod import (
    is_endpoint_picker_pod,
    plan_endpoint_picker_pod,
    pool_of_pod,
    service_account_kubeconfig,
)
from gatestack.stand_ins.vllm_server import ModelServerIdentity, ModelServerStandIn, metrics_text, served_model
from gatestack.cluster.node_agent import pod_kind
from gatestack.cluster.container_probes import grpc_health_request
from gateway_config.inference_manifests import endpoint_picker_objects, model_server_deployment
from gatestack.stack_source import load_stack

ADDRESS = "127.0.0.61"


def inference_config():
    return load_stack("inference", None).config


def pod_from(deployment: dict, name: str, ip: str = "10.244.0.9") -> dict:
    template = deployment["spec"]["template"]
    return {
        "metadata": {"name": name, "namespace": deployment["metadata"]["namespace"], "uid": "u", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
        "status": {"podIP": ip},
    }


@pytest.fixture
def stand_in():
    identity = ModelServerIdentity(pod="vllm-a-5d9f-abcde", namespace="inference", address=ADDRESS, port=0, model="m/llama",
                                   labels={"pool": "p"})
    server = ModelServerStandIn(identity)
    # port 0: the kernel picks; the identity is re-made with the port actually bound.
    server.identity = ModelServerIdentity(**{**identity.__dict__, "port": _free_port()})
    server.start()
    yield server
    server.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((ADDRESS, 0))
        return probe.getsockname()[1]


def call(server: ModelServerStandIn, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection(ADDRESS, server.identity.port, timeout=5)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_a_completion_is_openai_shaped_and_names_the_pod(stand_in):
    status, data = call(stand_in, "POST", "/v1/completions", json.dumps({"model": "m/llama", "prompt": "hi"}).encode(),
                        {"Content-Type": "application/json"})
    answer = json.loads(data)
    assert status == 200 and answer["object"] == "text_completion" and answer["choices"][0]["text"]
    assert answer["pod"] == "vllm-a-5d9f-abcde" and answer["address"] == f"{ADDRESS}:{stand_in.identity.port}"
    assert stand_in.requests_served == 1


def test_a_chunked_body_is_read_as_envoy_streams_it(stand_in):
    # GIVEN a body sent in chunks (Envoy streams it so with a full-duplex ext_proc filter)
    connection = http.client.HTTPConnection(ADDRESS, stand_in.identity.port, timeout=5)
    connection.putrequest("POST", "/v1/chat/completions")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for chunk in (b'{"model": "m/llama", ', b'"messages": []}'):
        connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    connection.send(b"0\r\n\r\n")
    response = connection.getresponse()
    # THEN it is answered as one request
    assert response.status == 200 and json.loads(response.read())["object"] == "chat.completion"


def test_models_health_and_unknown_paths_answer_as_vllm_does(stand_in):
    status, data = call(stand_in, "GET", "/v1/models")
    assert status == 200 and [item["id"] for item in json.loads(data)["data"]] == ["m/llama"]
    assert call(stand_in, "GET", "/health")[0] == 200
    assert call(stand_in, "GET", "/v2/nothing")[0] == 404


def test_metrics_carry_vllms_names_with_the_values_a_test_sets(stand_in):
    status, data = call(stand_in, "PUT", vllm_server.CONTROL_METRICS_PATH,
                        json.dumps({"vllm:num_requests_waiting": 20, "vllm:kv_cache_usage_perc": 0.9}).encode())
    assert status == 200
    text = call(stand_in, "GET", "/metrics")[1].decode()
    assert 'vllm:num_requests_waiting{model_name="m/llama"} 20.0' in text
    assert 'vllm:kv_cache_usage_perc{model_name="m/llama"} 0.9' in text
    assert 'vllm:num_requests_running{model_name="m/llama"} 0.0' in text
    assert "vllm:lora_requests_info{" in text and 'num_gpu_blocks="4096"' in text


@pytest.mark.parametrize("body", [{"vllm:unknown": 1}, {"vllm:num_requests_waiting": -1}, [1]])
def test_a_metric_that_cannot_be_set_is_refused(stand_in, body):
    assert call(stand_in, "PUT", vllm_server.CONTROL_METRICS_PATH, json.dumps(body).encode())[0] == 400


def test_every_stand_in_of_the_node_is_listed_by_any_of_them(stand_in):
    listed = json.loads(call(stand_in, "GET", vllm_server.CONTROL_STAND_INS_PATH)[1])["standIns"]
    assert {"pod": "vllm-a-5d9f-abcde", "namespace": "inference", "address": f"{ADDRESS}:{stand_in.identity.port}",
            "labels": {"pool": "p"}, "model": "m/llama"} in listed


def test_the_exposition_format_is_prometheus_text():
    text = metrics_text("m", {"vllm:num_requests_waiting": 1, "vllm:num_requests_running": 2, "vllm:kv_cache_usage_perc": 0.5})
    assert "# TYPE vllm:num_requests_waiting gauge" in text and text.endswith("\n")


def test_the_served_model_comes_from_the_containers_model_argument():
    assert served_model({"args": ["--model", "a/b", "--port", "8000"]}) == "a/b"
    assert served_model({"command": ["vllm", "serve", "c/d"]}) == "c/d"
    assert served_model({"args": ["--model=e/f"]}) == "e/f"


def test_the_node_agent_tells_the_stacks_pods_apart_by_their_labels():
    config = inference_config()
    pool = config.inference_pools[0]
    epp_pod = pod_from(endpoint_picker_objects(pool, config.namespace)["deployment"], "epp-1")
    server_pod = pod_from(model_server_deployment(config.model_servers[0], config.namespace), "vllm-1")
    assert pod_kind(epp_pod) == "endpoint-picker" and is_endpoint_picker_pod(epp_pod)
    assert pool_of_pod(epp_pod) == pool.name
    assert pod_kind(server_pod) == "model-server"
    assert pod_kind({"metadata": {"labels": {"app": "echo"}}, "spec": {"containers": [{"name": "echo"}]}}) == "echo"
    proxy = {"metadata": {"labels": {"app.kubernetes.io/managed-by": "envoy-gateway", "app.kubernetes.io/component": "proxy"}}}
    assert pod_kind(proxy) == "proxy"


def test_an_epp_pod_runs_its_own_arguments_and_ports(tmp_path: Path):
    # GIVEN the EPP pod the stack's Deployment makes, with its ConfigMap
    config = inference_config()
    pool = config.inference_pools[0]
    objects = endpoint_picker_objects(pool, config.namespace)
    pod = pod_from(objects["deployment"], "epp-1")

    def read_object(kind: str, namespace: str, name: str) -> dict:
        assert (kind, name) == ("ConfigMap", pool.epp_name)
        return objects["config_map"]

    # WHEN it is planned
    plan = plan_endpoint_picker_pod(pod, Path("/bin/epp"), tmp_path, read_object, tmp_path / "kubeconfig", {"PATH": "/bin"})
    # THEN the command is the pod's arguments (its own ports: the pod has its own namespace),
    # the config file at the mounted ConfigMap
    arguments = plan.command[1:]
    config_file = arguments[arguments.index("--config-file") + 1]
    assert yaml.safe_load(Path(config_file).read_text())["kind"] == "EndpointPickerConfig"
    assert arguments[:2] == ["--pool-name", pool.name] and "--secure-serving=false" in arguments
    assert not any(argument.startswith(("--grpc-port=", "--grpc-health-port=", "--metrics-port=")) for argument in arguments)
    assert plan.environment["NAMESPACE"] == config.namespace and plan.environment["POD_NAME"] == "epp-1"
    assert plan.environment["KUBECONFIG"] == str(tmp_path / "kubeconfig")


def test_the_epps_kubeconfig_authenticates_as_its_service_account():
    document = yaml.safe_load(service_account_kubeconfig("https://127.0.0.1:6443", b"CA PEM", "the-token"))
    assert document["users"] == [{"name": "service-account", "user": {"token": "the-token"}}]
    assert base64.b64decode(document["clusters"][0]["cluster"]["certificate-authority-data"]) == b"CA PEM"


def test_the_readiness_probe_asks_the_health_service_the_pod_names():
    assert grpc_health_request("inference-extension") == b"\x0a\x13inference-extension"
    assert grpc_health_request("") == b""
