"""GatewayClass: binds Gateways to the Envoy Gateway controller, with an EnvoyProxy's settings."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .envoy_gateway_controller import EnvoyGatewayController
from .envoy_proxy import EnvoyProxy
from .options import child_options, controller_ready, custom_resource
from .validation import stack_view, validate_model, when_known

from gateway_config.manifests import GATEWAY_API_VERSION, gateway_class_object
from gateway_config.models import ENVOY_GATEWAY_CONTROLLER_NAME, GatewayClassConfig, ProxyConfig

ARGUMENTS = {"controllerName": "controller_name"}


class GatewayClass(pulumi.ComponentResource):
    """A GatewayClass named `name`, whose Gateways the Envoy Gateway controller programs, with
    a `parametersRef` to `envoy_proxy` (how the proxies run).

    `pulumi up` waits until the controller has Accepted it. It is cluster-scoped: stacks
    sharing a cluster need different names.
    """

    resource: kubernetes.apiextensions.CustomResource
    class_name: str
    envoy_proxy: Optional[EnvoyProxy]

    def __init__(
        self,
        name: str,
        *,
        envoy_proxy: Optional[EnvoyProxy] = None,
        controller: Optional[EnvoyGatewayController] = None,
        controller_name: str = ENVOY_GATEWAY_CONTROLLER_NAME,
        description: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the GatewayClass (Gateways name it as their class).
        - `envoy_proxy` [None: the controller's defaults]: the EnvoyProxy it points at; created first.
        - `controller` [the envoy_proxy's, else None]: the EnvoyGatewayController whose CRDs
          and control plane this waits for (None: one installed outside this program).
        - `controller_name` ["gateway.envoyproxy.io/gatewayclass-controller"].
        - `description` [none]: at most 64 characters.
        """
        settings = validate_model(
            GatewayClassConfig,
            {"name": name, "controllerName": controller_name, "description": description},
            component="GatewayClass",
            name=name,
            arguments=ARGUMENTS,
        )

        def build(values: dict[str, Any]) -> dict[str, Any]:
            if values["proxy"] is None:
                manifest = gateway_class_object(stack_view("default", gateway_class=settings))
                del manifest["spec"]["parametersRef"]
                return manifest
            proxy_settings = ProxyConfig.model_construct(name=values["proxy"]["name"])
            view = stack_view(values["proxy"]["namespace"], gateway_class=settings, proxy=proxy_settings)
            return gateway_class_object(view)

        proxy = None if envoy_proxy is None else {"name": envoy_proxy.proxy_name, "namespace": envoy_proxy.namespace}
        manifest = when_known({"proxy": proxy}, build)
        super().__init__("api-gateway:components:GatewayClass", name, None, opts)
        self.class_name = name
        self.envoy_proxy = envoy_proxy
        self._controller_ready = controller_ready(controller, envoy_proxy)
        self.resource = custom_resource(
            f"{name}-gateway-class",
            manifest,
            child_options(self, opts, depends_on=[*self._controller_ready, *([envoy_proxy] if envoy_proxy else [])]),
            api_version=GATEWAY_API_VERSION,
            kind="GatewayClass",
        )
        self.register_outputs({"name": self.class_name})
