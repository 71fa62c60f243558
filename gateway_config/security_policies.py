"""Envoy Gateway's SecurityPolicy as typed config: CORS, basic auth, JWT, API keys, IP rules.

Field names are Envoy Gateway v1.9's (`gateway.envoyproxy.io/v1alpha1`) except where a
credential is involved: the CRD refers to Secrets, while here a policy lists its `users` (basic
auth) or `clients` (API keys) and the stack declares the Secret itself, from the passwords and
keys in the `credentials` config key, which must be a Pulumi secret
(`pulumi config set --secret --path 'credentials.<policy>.<user>' <value>`). Passwords are
stored hashed (htpasswd SHA, the only scheme Envoy's basic auth reads).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal, Optional
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from gateway_config.base import ConfigModel
from gateway_config.fields import DnsLabel, Duration, HeaderName, KubernetesName, QualifiedName
from gateway_config.traffic_policies import Cidr, HttpMethod, PolicyTargetRef


# Envoy Gateway's Origin (its CRD's pattern): `*`, or scheme://host[:port] where the host is `*`, or
# may start with `*.` (found by the differential test: 'https://*' and other schemes are allowed).
_ORIGIN = re.compile(r"^(\*|[A-Za-z][A-Za-z0-9+.-]*://(\*|(\*\.)?(([\w-]+\.?)+)?[\w-]+)(:\d{1,5})?)$", re.ASCII)


def _origin(value: str) -> str:
    """`*`, or scheme://host[:port] where the host is `*` or may start with `*.` (Envoy Gateway's Origin)."""
    if not _ORIGIN.match(value) or len(value) > 253:
        raise PydanticCustomError(
            "origin", f"'{value}' is not an origin; use '*' or scheme://host[:port] such as 'https://www.example.com' "
            "or 'https://*.example.com'"
        )
    return value


def _jwks(value: str) -> str:
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise PydanticCustomError("jwks", "is not a JSON Web Key Set; give a JSON object with a non-empty 'keys' list")
    return value


def _jwks_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(value) > 253:
        raise PydanticCustomError("uri", f"'{value}' is not an http(s) URL such as 'https://auth.example.com/.well-known/jwks.json'")
    return value


Origin = Annotated[str, AfterValidator(_origin)]
Jwks = Annotated[str, AfterValidator(_jwks)]
JwksUri = Annotated[str, AfterValidator(_jwks_uri)]


class Cors(ConfigModel):
    """Cross-origin requests (Envoy Gateway's default: no CORS headers at all)."""

    allow_origins: list[Origin] = Field(min_length=1, max_length=64)
    allow_methods: list[Literal[HttpMethod, "*"]] = Field(default_factory=list, max_length=10)  # "*": any method
    allow_headers: list[HeaderName] = Field(default_factory=list, max_length=64)
    expose_headers: list[HeaderName] = Field(default_factory=list, max_length=64)
    max_age: Optional[Duration] = None
    allow_credentials: Optional[bool] = None


class BasicAuth(ConfigModel):
    """HTTP basic authentication against the `users` listed here; each one's password is
    `credentials.<policy>.<user>`."""

    users: list[DnsLabel] = Field(min_length=1, max_length=64)
    forward_username_header: Optional[HeaderName] = None


class LocalJwks(ConfigModel):
    type: Literal["Inline"] = "Inline"
    inline: Jwks


class RemoteJwks(ConfigModel):
    uri: JwksUri
    cache_duration: Optional[Duration] = None


class ClaimToHeader(ConfigModel):
    claim: str = Field(min_length=1, max_length=256)
    header: HeaderName


class JwtProvider(ConfigModel):
    """A token issuer: tokens must be signed by a key of its JWKS (inline or by URL), come
    from `issuer` when given, and name one of `audiences` when given."""

    name: QualifiedName  # Envoy Gateway checks it so (its CRD allows any 1 to 253 characters)
    issuer: Optional[str] = Field(default=None, max_length=253)
    audiences: list[str] = Field(default_factory=list, max_length=8)
    local_jwks: Optional[LocalJwks] = Field(default=None, alias="localJWKS")
    remote_jwks: Optional[RemoteJwks] = Field(default=None, alias="remoteJWKS")
    claim_to_headers: list[ClaimToHeader] = Field(default_factory=list, max_length=16)


class Jwt(ConfigModel):
    """Bearer tokens (`Authorization: Bearer <JWT>`) from one of the providers."""

    providers: list[JwtProvider] = Field(min_length=1, max_length=16)


class ApiKeySource(ConfigModel):
    headers: list[HeaderName] = Field(default_factory=list, max_length=8)
    params: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, max_length=8)


class ApiKeyAuth(ConfigModel):
    """API keys: one per client of `clients` (`credentials.<policy>.<client>`), looked for in
    `extractFrom` (headers or query parameters, in order)."""

    clients: list[DnsLabel] = Field(min_length=1, max_length=64)
    extract_from: list[ApiKeySource] = Field(min_length=1, max_length=8)
    forward_client_id_header: Optional[HeaderName] = Field(default=None, alias="forwardClientIDHeader")
    sanitize: Optional[bool] = None


class Principal(ConfigModel):
    client_cidrs: list[Cidr] = Field(min_length=1, max_length=64, alias="clientCIDRs")


class AuthorizationRule(ConfigModel):
    """First matching rule wins: `action` for clients whose address is in `principal.clientCIDRs`."""

    name: Optional[str] = Field(default=None, min_length=1, max_length=253)
    action: Literal["Allow", "Deny"]
    principal: Principal


class Authorization(ConfigModel):
    """IP allow/deny rules; without a match, `defaultAction` (Envoy Gateway's default: Deny)."""

    default_action: Optional[Literal["Allow", "Deny"]] = None
    rules: list[AuthorizationRule] = Field(default_factory=list, max_length=64)


class SecurityPolicyConfig(ConfigModel):
    """A SecurityPolicy on the stack's Gateway, a listener, a route or a rule: CORS, one way
    of authenticating (basic auth, JWT or API keys) and IP authorization rules."""

    name: KubernetesName
    target_refs: list[PolicyTargetRef] = Field(min_length=1, max_length=16)
    cors: Optional[Cors] = None
    basic_auth: Optional[BasicAuth] = None
    jwt: Optional[Jwt] = None
    api_key_auth: Optional[ApiKeyAuth] = None
    authorization: Optional[Authorization] = None


# credentials.<policy>.<user or client>: basic-auth passwords and API keys (a Pulumi secret).
Credentials = dict[KubernetesName, dict[DnsLabel, SecretStr]]
