"""WeightedRoute: an HTTPRoute that splits traffic between backends by weight."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.manifests import http_route_object
from gateway_config.models import RouteConfig, StackConfig


class WeightedRoute(pulumi.ComponentResource):
    """An HTTPRoute: hostnames, and rules of matches (path Exact / PathPrefix /
    RegularExpression, headers, query parameters, method), filters (request and response
    header modifiers, redirect, URL rewrite), weighted backendRefs and timeouts.

    A backend's share of a rule's traffic is its weight over the sum of the rule's weights
    (8 and 2 give 80 % and 20 %); weights need not add up to 100. Without parentRefs the
    route attaches to every listener of the stack's Gateway.
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        route: RouteConfig,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:WeightedRoute", name, None, opts)
        manifest = http_route_object(config, route)
        self.resource = custom_resource(f"{name}-http-route", manifest, child_options(self, opts))
        self.register_outputs({"hostnames": list(route.hostnames)})
