"""ModelServer: a vLLM-style model server Deployment, the workload an InferencePool selects."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.inference import ModelServerConfig
from gateway_config.inference_manifests import model_server_deployment


class ModelServer(pulumi.ComponentResource):
    """A Deployment of vLLM's OpenAI-compatible server (`POST /v1/completions`, `GET /v1/models`,
    Prometheus `/metrics` with the `vllm:` names an Endpoint Picker reads) on `port` (8000).

    Its pods carry `app.kubernetes.io/name: <name>`, `app.kubernetes.io/component: model-server`
    and the stack's `labels` (what a pool's `selector` matches). No Service of its own: the pool's
    Service is the way in. Defaults (`ModelServerConfig`): the pinned vLLM image, 1 replica, one
    GPU, `/health` probes (a startup probe allows ten minutes to load the model), shared memory.
    """

    deployment: kubernetes.apiextensions.CustomResource  # an apps/v1 Deployment (see `custom_resource`)

    def __init__(
        self,
        name: str,
        *,
        server: ModelServerConfig,
        namespace: str,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:ModelServer", name, None, opts)
        manifest = model_server_deployment(server, namespace)
        self.deployment = custom_resource(f"{name}-deployment", manifest, child_options(self, opts))
        self.register_outputs({"model": server.model, "replicas": server.replicas})
