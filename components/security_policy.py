"""SecurityPolicy: CORS, basic auth, JWT, API keys and IP rules on a Gateway, listener, route
or rule, with the Secrets holding its users' hashed passwords or its clients' API keys."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.models import StackConfig
from gateway_config.policy_manifests import BASIC_AUTH_KEY, credential_secret_object, htpasswd, security_policy_object
from gateway_config.security_policies import SecurityPolicyConfig
from gateway_config.security_semantics import api_keys_secret_name, basic_auth_secret_name


class SecurityPolicy(pulumi.ComponentResource):
    """An Envoy Gateway SecurityPolicy and the Secret its authentication reads.

    Basic auth: the Secret `<policy>-basic-auth` holds `.htpasswd` with each user's password
    hashed (SHA-1, as Envoy reads it); API keys: the Secret `<policy>-api-keys` holds one key
    per client. Both come from the stack's `credentials` config, a Pulumi secret, and stay
    secret here (the Secret's data is a secret input, never shown by `pulumi preview` or
    `gatestack render`). Defaults are Envoy Gateway's: no CORS headers, and with
    `authorization` but no matching rule, Deny.
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        policy: SecurityPolicyConfig,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:SecurityPolicy", name, None, opts)
        credentials = {holder: secret.get_secret_value() for holder, secret in config.credentials.get(policy.name, {}).items()}
        secrets: list[pulumi.Resource] = []
        if policy.basic_auth is not None:
            users = {user: credentials[user] for user in policy.basic_auth.users}
            secrets.append(self._secret(f"{name}-basic-auth", config, basic_auth_secret_name(policy), {BASIC_AUTH_KEY: htpasswd(users)}, opts))
        if policy.api_key_auth is not None:
            keys = {client: credentials[client] for client in policy.api_key_auth.clients}
            secrets.append(self._secret(f"{name}-api-keys", config, api_keys_secret_name(policy), keys, opts))
        manifest = security_policy_object(config, policy)
        self.resource = custom_resource(f"{name}-security-policy", manifest, child_options(self, opts, depends_on=secrets))
        self.register_outputs({"targets": [f"{ref.kind}/{ref.name}" for ref in policy.target_refs]})

    def _secret(self, resource_name: str, config: StackConfig, secret_name: str, data: dict[str, str], opts) -> kubernetes.core.v1.Secret:
        manifest = credential_secret_object(config, secret_name, data)
        return kubernetes.core.v1.Secret(
            resource_name,
            metadata=manifest["metadata"],
            type=manifest["type"],
            # Secret end to end: the engine encrypts it in the state and never prints it.
            string_data=pulumi.Output.secret(manifest["stringData"]),
            opts=child_options(self, opts),
        )
