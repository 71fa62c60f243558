"""Specification: SecurityPolicies and their credentials in a stack file.

GIVEN the dev stack with a SecurityPolicy of each kind and their credentials, WHEN one thing
is broken, THEN it is refused naming the field (and never repeating a password or key); the
objects built from it are the CRD's, with users and keys in Secrets, passwords hashed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any, Callable

import pytest

from gateway_config.loader import ConfigError, parse_stack_config
from gateway_config.policy_manifests import htpasswd, security_policy_object
from gatestack.verify.jwt_tokens import JwtSigner
from tests.conftest import stack_raw_config

STACK_FILE = "stacks/Pulumi.dev.yaml"
PASSWORD = "correct-horse-battery"
API_KEY = "key-0123456789"
JWKS = JwtSigner.new(None, []).jwks()
Mutation = Callable[[dict[str, Any]], None]


def with_security() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["routes"].append({"name": "admin", "hostnames": ["admin.example.com"], "rules": [{"backendRefs": [{"name": "backend"}]}]})
    config["routes"].append({"name": "keys", "hostnames": ["keys.example.com"], "rules": [{"backendRefs": [{"name": "backend"}]}]})
    config["securityPolicies"] = [
        {"name": "web", "targetRefs": [{"kind": "HTTPRoute", "name": "backend"}],
         "cors": {"allowOrigins": ["https://www.example.com", "https://*.example.org"], "allowMethods": ["GET"],
                  "allowHeaders": ["x-custom"], "exposeHeaders": ["x-request-id"], "maxAge": "10m", "allowCredentials": True},
         "jwt": {"providers": [{"name": "idp", "issuer": "https://auth.example.com", "audiences": ["api"],
                                "localJWKS": {"type": "Inline", "inline": JWKS}, "claimToHeaders": [{"claim": "sub", "header": "x-sub"}]}]},
         "authorization": {"defaultAction": "Deny", "rules": [{"name": "office", "action": "Allow", "principal": {"clientCIDRs": ["10.0.0.0/8"]}}]}},
        {"name": "admin", "targetRefs": [{"kind": "HTTPRoute", "name": "admin"}],
         "basicAuth": {"users": ["alice"], "forwardUsernameHeader": "x-user"}},
        {"name": "keys", "targetRefs": [{"kind": "HTTPRoute", "name": "keys"}],
         "apiKeyAuth": {"clients": ["client-a", "client-b"], "extractFrom": [{"headers": ["x-api-key"]}, {"params": ["api_key"]}],
                        "forwardClientIDHeader": "x-client", "sanitize": True}},
    ]
    config["credentials"] = {"admin": {"alice": PASSWORD}, "keys": {"client-a": API_KEY, "client-b": API_KEY + "-b"}}
    return config


def policy(c: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in c["securityPolicies"] if p["name"] == name)


def provider(c: dict[str, Any]) -> dict[str, Any]:
    return policy(c, "web")["jwt"]["providers"][0]


REFUSED: list[tuple[str, Mutation, str, str]] = [
    ("a route the stack lacks", lambda c: policy(c, "admin")["targetRefs"][0].update(name="nowhere"),
     "securityPolicies.1.targetRefs.0.name", "HTTPRoute 'nowhere' is not declared"),
    ("two policies on one route", lambda c: policy(c, "keys")["targetRefs"][0].update(name="admin"),
     "securityPolicies.2.targetRefs.0", "already the target of SecurityPolicy 'admin'"),
    ("a policy that sets nothing", lambda c: c["securityPolicies"].append({"name": "empty", "targetRefs": [{"kind": "Gateway", "name": "eg"}]}),
     "securityPolicies.3", "sets nothing"),
    ("two ways of authenticating", lambda c: policy(c, "admin").update(apiKeyAuth=copy.deepcopy(policy(c, "keys")["apiKeyAuth"])),
     "securityPolicies.1", "give one way of authenticating per policy"),
    ("an origin that is not one", lambda c: policy(c, "web")["cors"].update(allowOrigins=["www.example.com"]),
     "securityPolicies.0.cors.allowOrigins.0", "not an origin"),
    ("an origin with a path", lambda c: policy(c, "web")["cors"].update(allowOrigins=["https://www.example.com/app"]),
     "securityPolicies.0.cors.allowOrigins.0", "not an origin"),
    ("credentials for every origin", lambda c: policy(c, "web")["cors"].update(allowOrigins=["*"]),
     "securityPolicies.0.cors.allowCredentials", "refuse credentials for the origin '*'"),
    ("CORS without origins", lambda c: policy(c, "web")["cors"].update(allowOrigins=[]),
     "securityPolicies.0.cors.allowOrigins", "at least 1"),
    ("a JWKS that is not one", lambda c: provider(c)["localJWKS"].update(inline='{"kty": "RSA"}'),
     "securityPolicies.0.jwt.providers.0.localJWKS.inline", "not a JSON Web Key Set"),
    ("keys both inline and by URL", lambda c: provider(c).update(remoteJWKS={"uri": "https://auth.example.com/jwks"}),
     "securityPolicies.0.jwt.providers.0", "exactly one of localJWKS"),
    ("no keys at all", lambda c: provider(c).pop("localJWKS"),
     "securityPolicies.0.jwt.providers.0", "exactly one of localJWKS"),
    ("a JWKS URL that is not one", lambda c: provider(c).pop("localJWKS") and provider(c).update(remoteJWKS={"uri": "auth.example.com/jwks"}),
     "securityPolicies.0.jwt.providers.0.remoteJWKS.uri", "not an http(s) URL"),
    ("two claims into one header", lambda c: provider(c).update(claimToHeaders=[{"claim": "sub", "header": "x-a"}, {"claim": "email", "header": "X-A"}]),
     "securityPolicies.0.jwt.providers.0.claimToHeaders", "receives more than one claim"),
    ("a password that is missing", lambda c: c["credentials"]["admin"].pop("alice"),
     "credentials.admin.alice", "pulumi config set --secret --path 'credentials.admin.alice'"),
    ("a credential for no one", lambda c: c["credentials"]["admin"].update(mallory=PASSWORD),
     "credentials.admin.mallory", "not a user or client of SecurityPolicy 'admin'"),
    ("credentials for a policy that does not exist", lambda c: c["credentials"].update(ghost={"alice": PASSWORD}),
     "credentials.ghost", "no SecurityPolicy 'ghost'"),
    ("an empty password", lambda c: c["credentials"]["admin"].update(alice=""), "credentials.admin.alice", "is empty"),
    ("two clients with one key", lambda c: c["credentials"]["keys"].update({"client-b": API_KEY}),
     "credentials.keys", "the same API key"),
    ("an API key source with both kinds", lambda c: policy(c, "keys")["apiKeyAuth"]["extractFrom"][0].update(params=["key"]),
     "securityPolicies.2.apiKeyAuth.extractFrom.0", "exactly one of headers and params"),
    ("a user name with a colon", lambda c: policy(c, "admin")["basicAuth"].update(users=["al:ice"]),
     "securityPolicies.1.basicAuth.users.0", "not a valid Kubernetes name"),
    ("authorization that denies everything", lambda c: policy(c, "web").update(authorization={}),
     "securityPolicies.0.authorization", "every request would be denied"),
    ("an IP rule without an address range", lambda c: policy(c, "web")["authorization"]["rules"][0]["principal"].update(clientCIDRs=["10.0.0.1"]),
     "securityPolicies.0.authorization.rules.0.principal.clientCIDRs.0", "CIDR notation"),
    ("an unknown action", lambda c: policy(c, "web")["authorization"]["rules"][0].update(action="Log"),
     "securityPolicies.0.authorization.rules.0.action", "allowed values"),
]


def refusal(mutation: Mutation) -> ConfigError:
    config = with_security()
    mutation(config)
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(config, STACK_FILE)
    return raised.value


@pytest.mark.parametrize("mutation, path, fragment", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_broken_security_policy_is_refused_naming_the_field(mutation: Mutation, path: str, fragment: str) -> None:
    error = refusal(mutation)
    lines = [line for line in str(error).splitlines() if line.startswith(f"{STACK_FILE}: {path}: ")]
    assert lines, f"no line for {path} in:\n{error}"
    assert any(fragment in line for line in lines), f"'{fragment}' not in:\n{error}"


@pytest.mark.parametrize(
    "mutation",
    [
        lambda c: c["credentials"]["admin"].update(alice=12345),
        lambda c: c["credentials"]["admin"].update(mallory=PASSWORD),
        lambda c: c["credentials"]["keys"].update({"client-b": API_KEY}),
    ],
    ids=["a key of the wrong type", "a credential for no one", "a repeated key"],
)
def test_a_refused_credential_is_never_repeated(mutation: Mutation) -> None:
    message = str(refusal(mutation))
    assert PASSWORD not in message and API_KEY not in message and "12345" not in message


def test_a_valid_security_config_is_accepted_and_keeps_values_hidden() -> None:
    config = parse_stack_config(with_security(), STACK_FILE)
    assert [p.name for p in config.security_policies] == ["web", "admin", "keys"]
    assert PASSWORD not in repr(config) and API_KEY not in repr(config)


def test_a_security_policy_becomes_the_crd_fields_with_secret_references() -> None:
    config = parse_stack_config(with_security(), STACK_FILE)
    web, admin, keys = (security_policy_object(config, p)["spec"] for p in config.security_policies)
    assert web["cors"] == policy(with_security(), "web")["cors"]
    assert web["jwt"]["providers"][0]["localJWKS"] == {"type": "Inline", "inline": JWKS}
    assert web["authorization"] == policy(with_security(), "web")["authorization"]
    assert admin["basicAuth"] == {"users": {"group": "", "kind": "Secret", "name": "admin-basic-auth"}, "forwardUsernameHeader": "x-user"}
    assert keys["apiKeyAuth"] == {
        "credentialRefs": [{"group": "", "kind": "Secret", "name": "keys-api-keys"}],
        "extractFrom": [{"headers": ["x-api-key"]}, {"params": ["api_key"]}],
        "forwardClientIDHeader": "x-client",
        "sanitize": True,
    }
    assert PASSWORD not in json.dumps([web, admin, keys]) and API_KEY not in json.dumps(keys)


def test_passwords_are_stored_as_htpasswd_sha_hashes() -> None:
    digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    assert htpasswd({"alice": PASSWORD}) == f"alice:{{SHA}}{digest}\n"
