"""EchoBackend: one of the seed's echo apps (ServiceAccount, Service, Deployment)."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource, field, without_await
from .validation import check_rules, stack_view, validate_model, validate_value, when_known

from gateway_config.base import ResourceRequirements
from gateway_config.fields import DnsLabel
from gateway_config.manifests import echo_backend_objects
from gateway_config.models import SEED_ECHO_IMAGE, BackendConfig


class EchoBackend(pulumi.ComponentResource):
    """An echo server that answers every request with JSON describing it.

    Declares exactly the seed's objects (names, labels, downward-API env), each named `name`
    in `namespace`, with a hardened pod: non-root, no privilege escalation, all capabilities
    dropped, read-only root filesystem, no service-account token, resource requests and limits.
    A route given it in `backends` forwards to its Service on `port` and waits for it.
    `pulumi up` waits until the Deployment is Available; the Service carries
    `pulumi.com/skipAwait: "true"` (its readiness is the Deployment's).
    """

    service_account: kubernetes.core.v1.ServiceAccount
    service: kubernetes.core.v1.Service
    deployment: kubernetes.apiextensions.CustomResource  # an apps/v1 Deployment (see `custom_resource`)
    service_name: pulumi.Output[str]
    namespace: pulumi.Input[str]
    settings: BackendConfig

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str] = "default",
        image: str = SEED_ECHO_IMAGE,
        replicas: int = 1,
        port: int = 3000,
        version: str = "v1",
        protocol: str = "http",
        resources: Optional[Union[ResourceRequirements, Mapping[str, Any]]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of its Service, ServiceAccount and Deployment (a DNS label).
        - `namespace` ["default"]: an Input, e.g. a Namespace's `metadata.name` (the objects
          then wait for the Namespace).
        - `image` [the seed's echo-basic image], `replicas` [1], `port` [3000], `version`
          ["v1", the pods' `version` label].
        - `protocol` ["http"]: "grpc" makes the echo image serve gRPC and the Service say h2c
          (the backend of a GrpcRoute).
        - `resources` [requests 10m CPU / 32Mi, limits 200m / 128Mi].
        """
        settings = {"name": name, "image": image, "replicas": replicas, "port": port, "version": version, "protocol": protocol}
        if resources is not None:
            settings["resources"] = resources
        self.settings = validate_model(BackendConfig, settings, component="EchoBackend", name=name)
        check_rules(stack_view("default", backends=[self.settings]), "backends.0", component="EchoBackend", name=name)

        def build(values: dict[str, Any]) -> dict[str, Any]:
            validate_value(DnsLabel, values["namespace"], component="EchoBackend", name=name, argument="namespace")
            return echo_backend_objects(self.settings, values["namespace"])

        objects = when_known({"namespace": namespace}, build)
        super().__init__("api-gateway:components:EchoBackend", name, None, opts)
        self.namespace = namespace
        child = child_options(self, opts)

        self.service_account = kubernetes.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=field(objects, "service_account", "metadata"),
            automount_service_account_token=field(objects, "service_account", "automountServiceAccountToken"),
            opts=child,
        )
        # Not awaited (see `without_await`): the Deployment below is, and what uses this
        # backend waits for the whole component.
        self.service = kubernetes.core.v1.Service(
            f"{name}-service",
            metadata=without_await(field(objects, "service", "metadata")),
            spec=field(objects, "service", "spec"),
            opts=child,
        )
        deployment = field(objects, "deployment")
        self.deployment = custom_resource(
            f"{name}-deployment",
            deployment,
            child_options(self, opts, depends_on=[self.service_account]),
            api_version="apps/v1",
            kind="Deployment",
        )
        self.service_name = self.service.metadata.apply(lambda metadata: metadata["name"])
        self.register_outputs({"serviceName": self.service_name})
