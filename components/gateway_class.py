"""GatewayClass: binds the stack's Gateways to the Envoy Gateway controller."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.manifests import gateway_class_object
from gateway_config.models import StackConfig


class GatewayClass(pulumi.ComponentResource):
    """A GatewayClass with controllerName `gateway.envoyproxy.io/gatewayclass-controller`
    (the seed's `eg` by default) and a parametersRef to the stack's EnvoyProxy.

    `pulumi up` waits until the controller has Accepted it. It is cluster-scoped: stacks
    sharing a cluster need different names.
    """

    resource: kubernetes.apiextensions.CustomResource
    class_name: str

    def __init__(self, name: str, *, config: StackConfig, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("api-gateway:components:GatewayClass", name, None, opts)
        manifest = gateway_class_object(config)
        self.class_name = manifest["metadata"]["name"]
        self.resource = custom_resource(f"{name}-gateway-class", manifest, child_options(self, opts))
        self.register_outputs({"name": self.class_name})
