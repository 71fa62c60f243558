"""EnvoyProxy: how the controller runs the Envoy proxies (Deployment, Service, HPA, PDB)."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.manifests import envoy_proxy_object
from gateway_config.models import StackConfig


class EnvoyProxy(pulumi.ComponentResource):
    """The EnvoyProxy resource the stack's GatewayClass points at.

    The controller turns it into the proxy Deployment (replicas, image, resources, pod
    labels and annotations), its Service (LoadBalancer by default, with annotations such as
    Alibaba Cloud SLB's, externalTrafficPolicy, loadBalancerClass), and optionally an HPA
    and a PDB. Defaults are the controller's own (see `ProxyConfig`).
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(self, name: str, *, config: StackConfig, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("api-gateway:components:EnvoyProxy", name, None, opts)
        manifest = envoy_proxy_object(config)
        self.resource = custom_resource(f"{name}-envoy-proxy", manifest, child_options(self, opts))
        self.register_outputs({"name": manifest["metadata"]["name"]})
