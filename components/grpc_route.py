"""GrpcRoute: a GRPCRoute that sends gRPC calls to backends by service, method and metadata."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.grpc_manifests import grpc_route_object
from gateway_config.models import GrpcRouteConfig, StackConfig


class GrpcRoute(pulumi.ComponentResource):
    """A GRPCRoute: hostnames, and rules of matches (service and method, Exact or
    RegularExpression; metadata headers), filters (request and response metadata modifiers,
    RequestMirror) and weighted backendRefs, whose backends serve gRPC (`protocol: grpc`: h2c).
    Without parentRefs it attaches to every listener of the stack's Gateway.
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(self, name: str, *, config: StackConfig, route: GrpcRouteConfig, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("api-gateway:components:GrpcRoute", name, None, opts)
        manifest = grpc_route_object(config, route)
        self.resource = custom_resource(f"{name}-grpc-route", manifest, child_options(self, opts))
        self.register_outputs({"hostnames": list(route.hostnames)})
