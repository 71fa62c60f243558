"""ClientTrafficPolicy: TLS versions, ciphers, ALPN, mutual TLS, timeouts, client address
detection and connection limits on the stack's Gateway or one of its listeners."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.policy_manifests import client_traffic_policy_object
from gateway_config.models import StackConfig
from gateway_config.traffic_policies import ClientTrafficPolicyConfig


class ClientTrafficPolicy(pulumi.ComponentResource):
    """An Envoy Gateway ClientTrafficPolicy on the stack's Gateway (every listener) or one
    listener (`sectionName`).

    Defaults are Envoy Gateway's: TLS 1.2 to 1.3 with Envoy's cipher list and ALPN h2 and
    http/1.1, no client certificates, no request timeout, the peer address as the client's,
    no connection limit. Mutual TLS trusts the CAs of `clientCertificateAuthorities`, so it
    waits for their Secrets.
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        policy: ClientTrafficPolicyConfig,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:ClientTrafficPolicy", name, None, opts)
        manifest = client_traffic_policy_object(config, policy)
        self.resource = custom_resource(f"{name}-client-traffic-policy", manifest, child_options(self, opts))
        self.register_outputs({"targets": [f"{ref.kind}/{ref.name}" for ref in policy.target_refs]})
