"""ClientTrafficPolicy: TLS versions, ciphers, ALPN, mutual TLS, timeouts, client address
detection and connection limits on a Gateway or one of its listeners."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .client_certificate_authority import ClientCertificateAuthority
from .options import child_options, controller_ready, custom_resource
from .policy_attachment import Target, policy_data, policy_view, spec_arguments, target_arguments, targets_and_gateway, view_arguments
from .validation import check_rules, validate_model, validate_value, when_known

from gateway_config.fields import DnsLabel
from gateway_config.policy_manifests import POLICY_API_VERSION, client_traffic_policy_object
from gateway_config.traffic_policies import ClientTrafficPolicyConfig

ARGUMENTS = spec_arguments(ClientTrafficPolicyConfig)


class ClientTrafficPolicy(pulumi.ComponentResource):
    """An Envoy Gateway ClientTrafficPolicy on a Gateway (every listener) or one listener
    (`(gateway, sectionName)`), created after it.

    Defaults are Envoy Gateway's: TLS 1.2 to 1.3 with Envoy's cipher list and ALPN h2 and
    http/1.1, no client certificates, no request timeout, the peer address as the client's,
    no connection limit. Mutual TLS trusts the ClientCertificateAuthorities it is given (their
    Secrets are created first).
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        targets: Sequence[Target],
        spec: Union[ClientTrafficPolicyConfig, Mapping[str, Any]],
        client_certificate_authorities: Sequence[ClientCertificateAuthority] = (),
        namespace: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the policy.
        - `targets`: Gateway, WeightedRoute or GrpcRoute components, or `(component,
          sectionName)` for one listener or named rule; created first.
        - `spec`: the CRD's blocks, camelCase: `tls` (with `clientValidation.caCertificateRefs`
          naming the authorities' Secrets), `timeout`, `clientIPDetection`, `connection`, ...
          (each left out keeps Envoy Gateway's default).
        - `client_certificate_authorities` [()]: the ClientCertificateAuthorities mutual TLS
          trusts; a caCertificateRef naming none of them must say `external: true`.
        - `namespace` [the targets' Gateway's]: an Input.
        """
        components, refs = target_arguments("ClientTrafficPolicy", name, targets)
        arguments = {
            **view_arguments(components, namespace),
            "policy": policy_data(name, spec, refs),
            "authorities": [authority.settings for authority in client_certificate_authorities],
        }

        def build(values: dict[str, Any]) -> dict[str, Any]:
            validate_value(DnsLabel, values["namespace"], component="ClientTrafficPolicy", name=name, argument="namespace")
            policy = validate_model(ClientTrafficPolicyConfig, values["policy"], component="ClientTrafficPolicy", name=name, arguments=ARGUMENTS)
            view = policy_view(values, client_traffic_policies=[policy], client_certificate_authorities=values["authorities"])
            check_rules(view, "clientTrafficPolicies.0", component="ClientTrafficPolicy", name=name, arguments=ARGUMENTS)
            return client_traffic_policy_object(view, policy)

        manifest = when_known(arguments, build)
        super().__init__("api-gateway:components:ClientTrafficPolicy", name, None, opts)
        self.resource = custom_resource(
            f"{name}-client-traffic-policy",
            manifest,
            child_options(self, opts, depends_on=[*controller_ready(*components), *targets_and_gateway(components), *client_certificate_authorities]),
            api_version=POLICY_API_VERSION,
            kind="ClientTrafficPolicy",
        )
        self.register_outputs({"targets": [f"{ref['kind']}/{ref['name']}" for ref in refs]})
