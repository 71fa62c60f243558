"""EchoBackend: one of the seed's echo apps (ServiceAccount, Service, Deployment)."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.manifests import echo_backend_objects
from gateway_config.models import BackendConfig


class EchoBackend(pulumi.ComponentResource):
    """An echo server that answers every request with JSON describing it.

    Declares exactly the seed's objects (names, labels, port 3000, downward-API env), with a
    hardened pod: non-root, no privilege escalation, all capabilities dropped, read-only root
    filesystem, no service-account token, resource requests and limits (defaults in
    `BackendConfig`).
    """

    service_account: kubernetes.core.v1.ServiceAccount
    service: kubernetes.core.v1.Service
    deployment: kubernetes.apiextensions.CustomResource  # an apps/v1 Deployment (see `custom_resource`)
    service_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        backend: BackendConfig,
        namespace: str,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:EchoBackend", name, None, opts)
        objects = echo_backend_objects(backend, namespace)
        child = child_options(self, opts)

        self.service_account = kubernetes.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=objects["service_account"]["metadata"],
            automount_service_account_token=objects["service_account"]["automountServiceAccountToken"],
            opts=child,
        )
        self.service = kubernetes.core.v1.Service(
            f"{name}-service",
            metadata=objects["service"]["metadata"],
            spec=objects["service"]["spec"],
            opts=child,
        )
        self.deployment = custom_resource(
            f"{name}-deployment", objects["deployment"], child_options(self, opts, depends_on=[self.service_account])
        )
        self.service_name = self.service.metadata.apply(lambda metadata: metadata["name"])
        self.register_outputs({"serviceName": self.service_name})
