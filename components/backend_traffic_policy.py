"""BackendTrafficPolicy: retries, timeouts, circuit breakers, rate limits, health checks and
load balancing towards the backends of a Gateway, listener, route or rule."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.policy_manifests import backend_traffic_policy_object
from gateway_config.models import StackConfig
from gateway_config.traffic_policies import BackendTrafficPolicyConfig


class BackendTrafficPolicy(pulumi.ComponentResource):
    """An Envoy Gateway BackendTrafficPolicy attached to the stack's Gateway (or one listener),
    or to a route (or one named rule), as `targetRefs` says.

    Only the blocks the stack sets are declared; everything else keeps Envoy Gateway's
    defaults (no retries beyond its default policy, LeastRequest, no rate limit, no active
    health checks, circuit breakers at 1024). A route's own Gateway API `timeouts` take
    precedence over `timeout.http.requestTimeout`.
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        policy: BackendTrafficPolicyConfig,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:BackendTrafficPolicy", name, None, opts)
        manifest = backend_traffic_policy_object(config, policy)
        self.resource = custom_resource(f"{name}-backend-traffic-policy", manifest, child_options(self, opts))
        self.register_outputs({"targets": [f"{ref.kind}/{ref.name}" for ref in policy.target_refs]})
