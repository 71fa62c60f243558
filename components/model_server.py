"""ModelServer: a vLLM-style model server Deployment, the workload an InferencePool selects."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource
from .validation import check_rules, stack_view, validate_model, validate_value, when_known

from gateway_config.fields import DnsLabel
from gateway_config.inference import ModelServerConfig
from gateway_config.inference_manifests import model_server_deployment


class ModelServer(pulumi.ComponentResource):
    """A Deployment of vLLM's OpenAI-compatible server (`POST /v1/completions`, `GET /v1/models`,
    Prometheus `/metrics` with the `vllm:` names an Endpoint Picker reads) on `port` (8000).

    Its pods carry `app.kubernetes.io/name: <name>`, `app.kubernetes.io/component: model-server`
    and `labels` (what a pool's `selector` matches). No Service of its own: the pool's Service
    is the way in. An InferencePool given it checks that its selector matches it.
    """

    deployment: kubernetes.apiextensions.CustomResource  # an apps/v1 Deployment (see `custom_resource`)
    settings: ModelServerConfig
    namespace: pulumi.Input[str]

    def __init__(
        self,
        name: str,
        *,
        model: str,
        spec: Optional[Union[ModelServerConfig, Mapping[str, Any]]] = None,
        namespace: pulumi.Input[str] = "default",
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the Deployment.
        - `model`: the model vLLM serves, e.g. "meta-llama/Llama-3.1-8B-Instruct".
        - `spec` [defaults of `ModelServerConfig`: the pinned vLLM image, 1 replica, port 8000,
          one GPU, `/health` probes with ten minutes to load the model, shared memory]: the
          rest of the settings, camelCase as in a stack file (`replicas`, `labels`, `image`, ...).
        - `namespace` ["default"]: an Input, e.g. a Namespace's `metadata.name`.
        """
        data = spec.model_dump(by_alias=True, exclude_unset=True) if isinstance(spec, ModelServerConfig) else dict(spec or {})
        self.settings = validate_model(
            ModelServerConfig, {**data, "name": name, "model": model}, component="ModelServer", name=name, arguments=ARGUMENTS
        )
        check_rules(stack_view("default", model_servers=[self.settings]), "modelServers.0", component="ModelServer", name=name, arguments=ARGUMENTS)

        def build(values: dict[str, Any]) -> dict[str, Any]:
            validate_value(DnsLabel, values["namespace"], component="ModelServer", name=name, argument="namespace")
            return model_server_deployment(self.settings, values["namespace"])

        manifest = when_known({"namespace": namespace}, build)
        super().__init__("api-gateway:components:ModelServer", name, None, opts)
        self.namespace = namespace
        self.deployment = custom_resource(
            f"{name}-deployment", manifest, child_options(self, opts), api_version="apps/v1", kind="Deployment"
        )
        self.register_outputs({"model": self.settings.model, "replicas": self.settings.replicas})


# Settings other than name and model are given in `spec`.
ARGUMENTS = {key: f"spec.{key}" for key in ModelServerConfig.model_json_schema(by_alias=True)["properties"] if key not in ("name", "model")}
