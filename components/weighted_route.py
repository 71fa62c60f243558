"""WeightedRoute: an HTTPRoute that splits traffic between backends by weight."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .echo_backend import EchoBackend
from .gateway import Gateway
from .options import child_options, controller_ready, custom_resource
from .route_attachment import as_gateways, check_against_gateways, default_parent_refs, hostnames_argument, route_arguments
from .validation import gateway_view, part, stack_view, validate_model, validate_value, when_known

from gateway_config.fields import DnsLabel
from gateway_config.inference import InferencePoolConfig
from gateway_config.manifests import GATEWAY_API_VERSION, http_route_object
from gateway_config.models import ParentRef, RouteConfig, RouteRule

# The model's keys -> this component's keyword arguments, for messages.
ARGUMENTS = {"parentRefs": "parent_refs"}


class WeightedRoute(pulumi.ComponentResource):
    """An HTTPRoute: hostnames, and rules of matches (path Exact / PathPrefix /
    RegularExpression, headers, query parameters, method), filters (request and response
    header modifiers, redirect, URL rewrite, request mirror), weighted backendRefs and timeouts.

    A backend's share of a rule's traffic is its weight over the sum of the rule's weights
    (8 and 2 give 80 % and 20 %); weights need not add up to 100. It is checked against its
    Gateways (a `sectionName` they have, a hostname their listeners accept) and its backends
    (a port they listen on), and waits for both.
    """

    resource: kubernetes.apiextensions.CustomResource
    route_name: str
    route_kind = "HTTPRoute"
    gateways: list[Gateway]
    settings: Union[RouteConfig, pulumi.Output[RouteConfig]]

    def __init__(
        self,
        name: str,
        *,
        gateway: Union[Gateway, Sequence[Gateway]],
        rules: Sequence[Union[RouteRule, Mapping[str, Any]]],
        hostnames: pulumi.Input[Sequence[pulumi.Input[str]]] = (),
        parent_refs: Sequence[Union[ParentRef, Mapping[str, Any]]] = (),
        backends: Sequence[EchoBackend] = (),
        inference_pools: Sequence[Union[InferencePoolConfig, Mapping[str, Any]]] = (),
        namespace: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the HTTPRoute.
        - `gateway`: the Gateway component (or a list of them) it attaches to; created first.
        - `rules`: one to 16, each `{"name"?, "matches"?, "filters"?, "backendRefs"?, "timeouts"?}`
          (camelCase, as Gateway API) or a `RouteRule`. Default match: PathPrefix `/`. A
          backendRef's port defaults to its EchoBackend's; one naming none of `backends` must
          say `external: true` (with a port).
        - `hostnames` [(): every hostname its listeners accept]: an Input; entries may be Outputs.
        - `parent_refs` [(): every listener of each Gateway]: `{"name", "sectionName"?, "namespace"?}`.
        - `backends` [()]: the EchoBackends its rules (and mirrors) forward to; created first.
        - `inference_pools` [()]: the settings of the InferencePools its rules forward to
          (`kind: InferencePool`); the pools are created after the route (their policies attach to it).
        - `namespace` [the first Gateway's]: an Input.
        """
        gateways = as_gateways(gateway, "WeightedRoute", name)
        arguments = route_arguments(
            name, gateways, namespace=namespace, parent_refs=parent_refs, hostnames=hostnames, rules=rules, backends=backends
        )
        arguments["pools"] = list(inference_pools)

        def build(values: dict[str, Any]) -> dict[str, Any]:
            namespace_value = values["namespace"]
            validate_value(DnsLabel, namespace_value, component="WeightedRoute", name=name, argument="namespace")
            raw = default_parent_refs(values["route"], namespace_value, values["gateways"])
            route = validate_model(RouteConfig, raw, component="WeightedRoute", name=name, arguments=ARGUMENTS)
            pools = [validate_model(InferencePoolConfig, pool, component="WeightedRoute", name=name) for pool in values["pools"]]
            backend_settings = [item["settings"] for item in values["backends"]]
            check_against_gateways(
                "WeightedRoute", name, "routes.0", namespace_value, route, values["gateways"], ARGUMENTS,
                backends=backend_settings, inference_pools=pools,
            )
            first = values["gateways"][0]
            view = stack_view(namespace_value, gateway=gateway_view(first["name"]), backends=backend_settings, inference_pools=pools)
            return {"manifest": http_route_object(view, route), "settings": route}

        built = when_known(arguments, build)
        super().__init__("api-gateway:components:WeightedRoute", name, None, opts)
        self.route_name = name
        self.gateways = gateways
        self.namespace = arguments["namespace"]
        self.settings = part(built, lambda result: result["settings"])
        self._controller_ready = controller_ready(*gateways)
        self.resource = custom_resource(
            f"{name}-http-route",
            part(built, lambda result: result["manifest"]),
            child_options(self, opts, depends_on=[*self._controller_ready, *gateways, *backends]),
            api_version=GATEWAY_API_VERSION,
            kind="HTTPRoute",
        )
        self.register_outputs({"hostnames": hostnames_argument(hostnames)})
