"""ModelServer: a vLLM Deployment an InferencePool selects."""

import pulumi

from pulumi_envoy_gateway import ModelServer
from tests.components.conftest import declare, depends_on, named, names, namespace_output, one_line, refusal

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def test_declares_the_server_in_a_namespace_from_a_namespace_resource() -> None:
    run = declare(lambda: ModelServer("vllm", model=MODEL, spec={"replicas": 2}, namespace=namespace_output()))
    deployment = named(run, "vllm-deployment")
    assert deployment.inputs["metadata"]["namespace"] == "apps" and deployment.inputs["spec"]["replicas"] == 2
    assert "apps" in depends_on(run, "vllm-deployment")


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    failure = refusal(lambda: ModelServer("vllm", model=MODEL, spec={"replicas": "two"}))
    assert one_line(failure).startswith("ModelServer 'vllm': spec.replicas: ")
    assert names(failure) == []


def test_a_namespace_output_that_resolves_bad_fails_before_the_deployment_is_created() -> None:
    failure = refusal(lambda: ModelServer("vllm", model=MODEL, namespace=pulumi.Output.from_input("Bad")))
    assert one_line(failure).startswith("ModelServer 'vllm': namespace: ")
    assert "vllm-deployment" not in names(failure)
