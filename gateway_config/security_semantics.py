"""Rules for SecurityPolicies and the credentials they use, checked with the rest of the stack.

Beyond their targets (as every policy's, `policy_semantics.py`): one way of authenticating per
policy (basic auth, JWT or API keys), a password or key in `credentials` for every user and
client and nothing else there, a JWKS given exactly one way, CORS credentials never with the
`*` origin. A credential's value is never repeated in a message.
"""

from __future__ import annotations

from typing import Iterator

from gateway_config.models import StackConfig
from gateway_config.policy_semantics import conflict_problems, target_problems
from gateway_config.problems import Problem, dotted_path, repeated_values
from gateway_config.security_policies import SecurityPolicyConfig

KEY = "securityPolicies"


def basic_auth_secret_name(policy: SecurityPolicyConfig) -> str:
    return f"{policy.name}-basic-auth"


def api_keys_secret_name(policy: SecurityPolicyConfig) -> str:
    return f"{policy.name}-api-keys"


def credential_holders(policy: SecurityPolicyConfig) -> list[str]:
    """The users (basic auth) or clients (API keys) a policy needs a credential for."""
    if policy.basic_auth is not None:
        return list(policy.basic_auth.users)
    if policy.api_key_auth is not None:
        return list(policy.api_key_auth.clients)
    return []


def security_policy_problems(config: StackConfig) -> Iterator[Problem]:
    policies = config.security_policies
    yield from conflict_problems(policies, KEY, "SecurityPolicy")
    taken = {certificate.secret_name for certificate in config.certificates}
    taken |= {authority.name for authority in config.client_certificate_authorities}
    for index, policy in enumerate(policies):
        where = dotted_path(KEY, index)
        yield from target_problems(config, policy.target_refs, where, ("Gateway", "HTTPRoute", "GRPCRoute"))
        methods = [name for name, block in (("basicAuth", policy.basic_auth), ("jwt", policy.jwt), ("apiKeyAuth", policy.api_key_auth)) if block]
        if not (methods or policy.cors or policy.authorization):
            yield Problem(where, f"SecurityPolicy '{policy.name}' sets nothing; give cors, basicAuth, jwt, apiKeyAuth or authorization")
        if len(methods) > 1:
            yield Problem(where, f"sets {' and '.join(methods)}; give one way of authenticating per policy")
        for secret in (basic_auth_secret_name(policy) if policy.basic_auth else None, api_keys_secret_name(policy) if policy.api_key_auth else None):
            if secret is not None and secret in taken:
                yield Problem(dotted_path(where, "name"), f"the Secret '{secret}' this policy declares is already another object's; rename the policy")
        yield from _credential_problems(config, policy, where)
        yield from _jwt_problems(policy, where)
        yield from _cors_problems(policy, where)
        yield from _api_key_problems(policy, where)
        yield from _authorization_problems(policy, where)
    declared = {policy.name for policy in policies}
    for name in sorted(set(config.credentials) - declared):
        yield Problem(dotted_path("credentials", name), f"no SecurityPolicy '{name}' uses these credentials; declared policies: {', '.join(sorted(declared)) or 'none'}")


def _credential_problems(config: StackConfig, policy: SecurityPolicyConfig, where: str) -> Iterator[Problem]:
    holders = credential_holders(policy)
    for duplicate in sorted(repeated_values(holders)):
        block = "basicAuth.users" if policy.basic_auth else "apiKeyAuth.clients"
        yield Problem(dotted_path(where, block), f"'{duplicate}' is listed more than once")
    given = config.credentials.get(policy.name, {})
    what = "password" if policy.basic_auth else "API key"
    for holder in holders:
        value = given.get(holder)
        if value is None:
            yield Problem(
                dotted_path("credentials", policy.name, holder),
                f"the {what} of '{holder}' is missing; set it with "
                f"pulumi config set --secret --path 'credentials.{policy.name}.{holder}' <{what.replace(' ', '-').lower()}>",
            )
        elif not value.get_secret_value():
            yield Problem(dotted_path("credentials", policy.name, holder), f"the {what} of '{holder}' is empty")
    for extra in sorted(set(given) - set(holders)):
        yield Problem(
            dotted_path("credentials", policy.name, extra),
            f"'{extra}' is not a user or client of SecurityPolicy '{policy.name}'"
            + (f" (it has: {', '.join(holders)})" if holders else " (it takes no credentials)"),
        )
    if policy.api_key_auth is not None:
        # Each client once: a client listed twice is its own problem, not two clients sharing a key.
        keys = [given[client].get_secret_value() for client in dict.fromkeys(holders) if client in given]
        if len(set(keys)) != len(keys):
            yield Problem(dotted_path("credentials", policy.name), "two clients have the same API key; each client needs its own")


def _jwt_problems(policy: SecurityPolicyConfig, where: str) -> Iterator[Problem]:
    if policy.jwt is None:
        return
    for duplicate in sorted(repeated_values(provider.name for provider in policy.jwt.providers)):
        yield Problem(dotted_path(where, "jwt", "providers"), f"provider '{duplicate}' is declared more than once")
    for index, provider in enumerate(policy.jwt.providers):
        provider_where = dotted_path(where, "jwt", "providers", index)
        if (provider.local_jwks is None) == (provider.remote_jwks is None):
            yield Problem(provider_where, "give exactly one of localJWKS (the keys inline) and remoteJWKS (their URL)")
        for duplicate in sorted(repeated_values(item.header.lower() for item in provider.claim_to_headers)):
            yield Problem(dotted_path(provider_where, "claimToHeaders"), f"header '{duplicate}' receives more than one claim")


def _cors_problems(policy: SecurityPolicyConfig, where: str) -> Iterator[Problem]:
    if policy.cors is None:
        return
    if policy.cors.allow_credentials and "*" in policy.cors.allow_origins:
        yield Problem(
            dotted_path(where, "cors", "allowCredentials"),
            "browsers refuse credentials for the origin '*'; list the origins instead",
        )
    for duplicate in sorted(repeated_values(policy.cors.allow_origins)):
        yield Problem(dotted_path(where, "cors", "allowOrigins"), f"'{duplicate}' is listed more than once")


def _api_key_problems(policy: SecurityPolicyConfig, where: str) -> Iterator[Problem]:
    if policy.api_key_auth is None:
        return
    for index, source in enumerate(policy.api_key_auth.extract_from):
        if bool(source.headers) == bool(source.params):
            yield Problem(dotted_path(where, "apiKeyAuth", "extractFrom", index), "give exactly one of headers and params")


def _authorization_problems(policy: SecurityPolicyConfig, where: str) -> Iterator[Problem]:
    authorization = policy.authorization
    if authorization is not None and not authorization.rules and authorization.default_action is None:
        yield Problem(
            dotted_path(where, "authorization"),
            "has neither rules nor defaultAction, so every request would be denied; say defaultAction: Deny if that is meant",
        )
