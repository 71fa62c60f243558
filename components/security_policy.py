"""SecurityPolicy: CORS, basic auth, JWT, API keys and IP rules on a Gateway, listener, route
or rule, with the Secrets holding its users' hashed passwords or its clients' API keys."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as kubernetes
from pydantic import SecretStr

from .options import child_options, controller_ready, custom_resource
from .policy_attachment import Target, policy_data, policy_view, spec_arguments, target_arguments, targets_and_gateway, view_arguments
from .validation import check_rules, has_outputs, validate_model, validate_value, when_known

from gateway_config.fields import DnsLabel
from gateway_config.policy_manifests import (
    BASIC_AUTH_KEY,
    POLICY_API_VERSION,
    credential_secret_object,
    htpasswd,
    security_policy_object,
)
from gateway_config.security_policies import SecurityPolicyConfig
from gateway_config.security_semantics import api_keys_secret_name, basic_auth_secret_name

ARGUMENTS = spec_arguments(SecurityPolicyConfig)


class SecurityPolicy(pulumi.ComponentResource):
    """An Envoy Gateway SecurityPolicy and the Secret its authentication reads.

    Basic auth: the Secret `<name>-basic-auth` holds `.htpasswd` with each user's password
    hashed (SHA-1, as Envoy reads it); API keys: the Secret `<name>-api-keys` holds one key
    per client. Both come from `credentials` and stay secret (the Secret's data is a secret
    input, never shown by `pulumi preview` or `gatestack render`). Defaults are Envoy
    Gateway's: no CORS headers, and with `authorization` but no matching rule, Deny.
    """

    resource: kubernetes.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        *,
        targets: Sequence[Target],
        spec: Union[SecurityPolicyConfig, Mapping[str, Any]],
        credentials: Optional[Mapping[str, pulumi.Input[str]]] = None,
        namespace: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the policy.
        - `targets`: Gateway, WeightedRoute or GrpcRoute components, or `(component,
          sectionName)` for one listener or named rule; created first.
        - `spec`: the policy's blocks, camelCase: `cors`, `basicAuth` (`users`), `jwt`,
          `apiKeyAuth` (`clients`, `extractFrom`), `authorization`.
        - `credentials` [{}]: each basic-auth user's password and each API-key client's key,
          by user or client; Inputs (e.g. `config.require_secret(...)`), kept secret.
        - `namespace` [the targets' Gateway's]: an Input.
        """
        components, refs = target_arguments("SecurityPolicy", name, targets)
        credentials = dict(credentials or {})
        arguments = {**view_arguments(components, namespace), "policy": policy_data(name, spec, refs)}

        def build(values: dict[str, Any]) -> dict[str, Any]:
            validate_value(DnsLabel, values["namespace"], component="SecurityPolicy", name=name, argument="namespace")
            policy = validate_model(SecurityPolicyConfig, values["policy"], component="SecurityPolicy", name=name, arguments=ARGUMENTS)
            # The rules read the values given as text (none empty, no key twice); an Output's stands
            # for itself (it is a secret, read only by the Secret that holds it).
            given = {
                holder: SecretStr(f"<{holder}>" if has_outputs(value) else value) for holder, value in credentials.items()
            }
            view = policy_view(values, security_policies=[policy], credentials={name: given} if given else {})
            check_rules(
                view, "securityPolicies.0", component="SecurityPolicy", name=name, arguments=ARGUMENTS,
                more_sections={f"credentials.{name}": "credentials"},
            )
            return {"manifest": security_policy_object(view, policy), "policy": policy, "namespace": values["namespace"]}

        built = when_known(arguments, build)
        super().__init__("api-gateway:components:SecurityPolicy", name, None, opts)
        waits_for = [*controller_ready(*components), *targets_and_gateway(components)]
        policy = built["policy"] if isinstance(built, dict) else validate_model(
            SecurityPolicyConfig, policy_data(name, spec, refs), component="SecurityPolicy", name=name, arguments=ARGUMENTS
        )
        secrets: list[pulumi.Resource] = []
        if policy.basic_auth is not None:
            users = pulumi.Output.all(**{user: credentials[user] for user in policy.basic_auth.users}).apply(htpasswd)
            secrets.append(self._secret(f"{name}-basic-auth", built, basic_auth_secret_name(policy), {BASIC_AUTH_KEY: users}, opts, waits_for))
        if policy.api_key_auth is not None:
            keys = {client: credentials[client] for client in policy.api_key_auth.clients}
            secrets.append(self._secret(f"{name}-api-keys", built, api_keys_secret_name(policy), keys, opts, waits_for))
        manifest = built.apply(lambda result: result["manifest"]) if isinstance(built, pulumi.Output) else built["manifest"]
        self.resource = custom_resource(
            f"{name}-security-policy",
            manifest,
            child_options(self, opts, depends_on=[*waits_for, *secrets]),
            api_version=POLICY_API_VERSION,
            kind="SecurityPolicy",
        )
        self.register_outputs({"targets": [f"{ref['kind']}/{ref['name']}" for ref in refs]})

    def _secret(self, resource_name: str, built: Any, secret_name: str, data: Mapping[str, Any], opts, waits_for) -> kubernetes.core.v1.Secret:
        namespace = built.apply(lambda result: result["namespace"]) if isinstance(built, pulumi.Output) else built["namespace"]
        manifest = credential_secret_object(_Namespace(namespace), secret_name, dict(data))
        return kubernetes.core.v1.Secret(
            resource_name,
            metadata=manifest["metadata"],
            type=manifest["type"],
            # Secret end to end: the engine encrypts it in the state and never prints it.
            string_data=pulumi.Output.secret(manifest["stringData"]),
            opts=child_options(self, opts, depends_on=waits_for),
        )


class _Namespace:
    """What `credential_secret_object` reads of a stack: its namespace (here maybe an Output)."""

    def __init__(self, namespace: pulumi.Input[str]):
        self.namespace = namespace
