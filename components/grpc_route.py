"""GrpcRoute: a GRPCRoute that sends gRPC calls to backends by service, method and metadata."""

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
from gateway_config.grpc_manifests import grpc_route_object
from gateway_config.manifests import GATEWAY_API_VERSION
from gateway_config.models import GrpcRouteConfig, GrpcRouteRule, ParentRef

# The model's keys -> this component's keyword arguments, for messages.
ARGUMENTS = {"parentRefs": "parent_refs"}


class GrpcRoute(pulumi.ComponentResource):
    """A GRPCRoute: hostnames, and rules of matches (service and method, Exact or
    RegularExpression; metadata headers), filters (request and response metadata modifiers,
    RequestMirror) and weighted backendRefs, whose backends serve gRPC (an EchoBackend with
    `protocol="grpc"`: h2c). It is checked against its Gateways and backends, and waits for both.
    """

    resource: kubernetes.apiextensions.CustomResource
    route_name: str
    route_kind = "GRPCRoute"
    gateways: list[Gateway]
    settings: Union[GrpcRouteConfig, pulumi.Output[GrpcRouteConfig]]

    def __init__(
        self,
        name: str,
        *,
        gateway: Union[Gateway, Sequence[Gateway]],
        rules: Sequence[Union[GrpcRouteRule, Mapping[str, Any]]],
        hostnames: pulumi.Input[Sequence[pulumi.Input[str]]] = (),
        parent_refs: Sequence[Union[ParentRef, Mapping[str, Any]]] = (),
        backends: Sequence[EchoBackend] = (),
        namespace: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the GRPCRoute.
        - `gateway`: the Gateway component (or a list of them) it attaches to; created first.
        - `rules`: one to 16, each `{"name"?, "matches"?: [{"method": {"service", "method"?}, "headers"?}],
          "filters"?, "backendRefs"}` (camelCase, as Gateway API) or a `GrpcRouteRule`.
        - `hostnames` [(): every hostname its listeners accept]: an Input; entries may be Outputs.
        - `parent_refs` [(): every listener of each Gateway]: `{"name", "sectionName"?, "namespace"?}`.
        - `backends` [()]: the gRPC EchoBackends its rules forward (or mirror) to; created first.
        - `namespace` [the first Gateway's]: an Input.
        """
        gateways = as_gateways(gateway, "GrpcRoute", name)
        arguments = route_arguments(
            name, gateways, namespace=namespace, parent_refs=parent_refs, hostnames=hostnames, rules=rules, backends=backends
        )

        def build(values: dict[str, Any]) -> dict[str, Any]:
            namespace_value = values["namespace"]
            validate_value(DnsLabel, namespace_value, component="GrpcRoute", name=name, argument="namespace")
            raw = default_parent_refs(values["route"], namespace_value, values["gateways"])
            route = validate_model(GrpcRouteConfig, raw, component="GrpcRoute", name=name, arguments=ARGUMENTS)
            backend_settings = [item["settings"] for item in values["backends"]]
            check_against_gateways(
                "GrpcRoute", name, "grpcRoutes.0", namespace_value, route, values["gateways"], ARGUMENTS, backends=backend_settings
            )
            first = values["gateways"][0]
            view = stack_view(namespace_value, gateway=gateway_view(first["name"]), backends=backend_settings)
            return {"manifest": grpc_route_object(view, route), "settings": route}

        built = when_known(arguments, build)
        super().__init__("api-gateway:components:GrpcRoute", name, None, opts)
        self.route_name = name
        self.gateways = gateways
        self.namespace = arguments["namespace"]
        self.settings = part(built, lambda result: result["settings"])
        self._controller_ready = controller_ready(*gateways)
        self.resource = custom_resource(
            f"{name}-grpc-route",
            part(built, lambda result: result["manifest"]),
            child_options(self, opts, depends_on=[*self._controller_ready, *gateways, *backends]),
            api_version=GATEWAY_API_VERSION,
            kind="GRPCRoute",
        )
        self.register_outputs({"hostnames": hostnames_argument(hostnames)})
