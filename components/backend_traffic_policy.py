"""BackendTrafficPolicy: retries, timeouts, circuit breakers, rate limits, health checks and
load balancing towards the backends of a Gateway, listener, route or rule."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, controller_ready, custom_resource
from .policy_attachment import Target, policy_data, policy_view, spec_arguments, target_arguments, targets_and_gateway, view_arguments
from .validation import check_rules, validate_model, validate_value, when_known

from gateway_config.fields import DnsLabel
from gateway_config.policy_manifests import POLICY_API_VERSION, backend_traffic_policy_object
from gateway_config.traffic_policies import BackendTrafficPolicyConfig

ARGUMENTS = spec_arguments(BackendTrafficPolicyConfig)


class BackendTrafficPolicy(pulumi.ComponentResource):
    """An Envoy Gateway BackendTrafficPolicy attached to Gateways (or one listener), or to
    routes (or one named rule), created after them.

    Only the blocks `spec` sets are declared; everything else keeps Envoy Gateway's defaults
    (no retries beyond its default policy, LeastRequest, no rate limit, no active health
    checks, circuit breakers at 1024). A route's own Gateway API `timeouts` take precedence
    over `timeout.http.requestTimeout`.
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        targets: Sequence[Target],
        spec: Union[BackendTrafficPolicyConfig, Mapping[str, Any]],
        namespace: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the policy.
        - `targets`: Gateway, WeightedRoute or GrpcRoute components, or `(component,
          sectionName)` for one listener or named rule; created first.
        - `spec`: the CRD's blocks, camelCase: `retry`, `timeout`, `circuitBreaker`,
          `rateLimit`, `healthCheck`, `loadBalancer` (each left out keeps Envoy Gateway's default).
        - `namespace` [the targets' Gateway's]: an Input.
        """
        components, refs = target_arguments("BackendTrafficPolicy", name, targets)
        arguments = {**view_arguments(components, namespace), "policy": policy_data(name, spec, refs)}

        def build(values: dict[str, Any]) -> dict[str, Any]:
            validate_value(DnsLabel, values["namespace"], component="BackendTrafficPolicy", name=name, argument="namespace")
            policy = validate_model(BackendTrafficPolicyConfig, values["policy"], component="BackendTrafficPolicy", name=name, arguments=ARGUMENTS)
            view = policy_view(values, backend_traffic_policies=[policy])
            check_rules(view, "backendTrafficPolicies.0", component="BackendTrafficPolicy", name=name, arguments=ARGUMENTS)
            return backend_traffic_policy_object(view, policy)

        manifest = when_known(arguments, build)
        super().__init__("api-gateway:components:BackendTrafficPolicy", name, None, opts)
        self.resource = custom_resource(
            f"{name}-backend-traffic-policy",
            manifest,
            child_options(self, opts, depends_on=[*controller_ready(*components), *targets_and_gateway(components)]),
            api_version=POLICY_API_VERSION,
            kind="BackendTrafficPolicy",
        )
        self.register_outputs({"targets": [f"{ref['kind']}/{ref['name']}" for ref in refs]})
