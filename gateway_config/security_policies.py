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

from pydantic import AfterValidator, Field, SecretStr, WithJsonSchema
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


# What the JSON Schema says of each (ECMA-262; WithJsonSchema, so pydantic checks nothing twice). The
# origin's pattern is _ORIGIN's language written without its nested repetition, which a backtracking
# engine would take exponential time over; whether a text is a JWKS, or a URL has a host, the program checks.
Origin = Annotated[
    str,
    AfterValidator(_origin),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\*|[A-Za-z][A-Za-z0-9+.-]*://(\*|(\*\.)?[\w-]+(\.[\w-]+)*)(:\d{1,5})?)$",
            "maxLength": 253,
            "description": "'*', or scheme://host[:port] whose host is '*' or may start with '*.', "
            "such as 'https://www.example.com' or 'https://*.example.com'.",
        }
    ),
]
Jwks = Annotated[
    str,
    AfterValidator(_jwks),
    WithJsonSchema(
        {"type": "string", "description": "A JSON Web Key Set as JSON text: an object with a non-empty 'keys' list."}
    ),
]
JwksUri = Annotated[
    str,
    AfterValidator(_jwks_uri),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]",
            "maxLength": 253,
            "description": "An http(s) URL such as 'https://auth.example.com/.well-known/jwks.json'.",
        }
    ),
]


class Cors(ConfigModel):
    """Cross-origin requests (Envoy Gateway's default: no CORS headers at all)."""

    allow_origins: list[Origin] = Field(min_length=1, max_length=64)
    """The origins allowed (1-64): `*`, or `scheme://host[:port]` with an optional `*.` first label, e.g.
    `https://*.example.com`."""
    allow_methods: list[Literal[HttpMethod, "*"]] = Field(default_factory=list, max_length=10)  # "*": any method
    """The methods a preflight may ask for, e.g. `[GET, POST]`, or `*` for any."""
    allow_headers: list[HeaderName] = Field(default_factory=list, max_length=64)
    """The request headers a preflight may ask for."""
    expose_headers: list[HeaderName] = Field(default_factory=list, max_length=64)
    """The response headers scripts may read."""
    max_age: Optional[Duration] = None
    """How long browsers may cache a preflight answer, e.g. `10m`; default: Envoy's."""
    allow_credentials: Optional[bool] = None
    """Allow cookies and authorization headers; not with the origin `*`. Default: `false`."""


class BasicAuth(ConfigModel):
    """HTTP basic authentication against the `users` listed here; each one's password is
    `credentials.<policy>.<user>`."""

    users: list[DnsLabel] = Field(min_length=1, max_length=64)
    """User names (1-64 DNS labels); each one's password is `credentials.<policy>.<user>`, stored hashed in the
    Secret `<policy>-basic-auth`."""
    forward_username_header: Optional[HeaderName] = None
    """A header that carries the authenticated user to the backends, e.g. `x-user`."""


class LocalJwks(ConfigModel):
    type: Literal["Inline"] = "Inline"
    """`Inline`: the JWKS is given in `inline`."""
    inline: Jwks
    """The JSON Web Key Set as JSON text, with a non-empty `keys` list."""


class RemoteJwks(ConfigModel):
    uri: JwksUri
    """The http(s) URL of the JSON Web Key Set, e.g. `https://auth.example.com/.well-known/jwks.json`."""
    cache_duration: Optional[Duration] = None
    """How long the fetched key set is cached, e.g. `5m`; default: Envoy Gateway's 300 s."""


class ClaimToHeader(ConfigModel):
    claim: str = Field(min_length=1, max_length=256)
    """The token claim to copy, e.g. `sub`."""
    header: HeaderName
    """The request header the claim is copied to, e.g. `x-user-id`."""


class JwtProvider(ConfigModel):
    """A token issuer: tokens must be signed by a key of its JWKS (inline or by URL), come
    from `issuer` when given, and name one of `audiences` when given."""

    name: QualifiedName  # Envoy Gateway checks it so (its CRD allows any 1 to 253 characters)
    """The provider's name, e.g. `example.com/idp` (a Kubernetes qualified name)."""
    issuer: Optional[str] = Field(default=None, max_length=253)
    """The issuer a token must come from (its `iss` claim); default: not checked."""
    audiences: list[str] = Field(default_factory=list, max_length=8)
    """Audiences (up to 8), one of which a token must name (its `aud` claim); default: not checked."""
    local_jwks: Optional[LocalJwks] = Field(default=None, alias="localJWKS")
    """The signing keys, inline (exactly one of `localJWKS` and `remoteJWKS`)."""
    remote_jwks: Optional[RemoteJwks] = Field(default=None, alias="remoteJWKS")
    """The signing keys, fetched from a URL (exactly one of `localJWKS` and `remoteJWKS`)."""
    claim_to_headers: list[ClaimToHeader] = Field(default_factory=list, max_length=16)
    """Claims copied to request headers for the backends (up to 16)."""


class Jwt(ConfigModel):
    """Bearer tokens (`Authorization: Bearer <JWT>`) from one of the providers."""

    providers: list[JwtProvider] = Field(min_length=1, max_length=16)
    """The token issuers (1-16); a token from any one of them is accepted."""


class ApiKeySource(ConfigModel):
    headers: list[HeaderName] = Field(default_factory=list, max_length=8)
    """Request headers the key is looked for in (up to 8), e.g. `x-api-key`."""
    params: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, max_length=8)
    """Query parameters the key is looked for in (up to 8), e.g. `api_key`."""


class ApiKeyAuth(ConfigModel):
    """API keys: one per client of `clients` (`credentials.<policy>.<client>`), looked for in
    `extractFrom` (headers or query parameters, in order)."""

    clients: list[DnsLabel] = Field(min_length=1, max_length=64)
    """Client ids (1-64 DNS labels); each one's key is `credentials.<policy>.<client>`, stored in the Secret
    `<policy>-api-keys`."""
    extract_from: list[ApiKeySource] = Field(min_length=1, max_length=8)
    """Where the key is looked for, in order (1-8): each exactly one of `headers` or `params`."""
    forward_client_id_header: Optional[HeaderName] = Field(default=None, alias="forwardClientIDHeader")
    """A header that carries the client id to the backends, e.g. `x-client-id`."""
    sanitize: Optional[bool] = None
    """Remove the key from the request before forwarding it; default: `false`."""


class Principal(ConfigModel):
    client_cidrs: list[Cidr] = Field(min_length=1, max_length=64, alias="clientCIDRs")
    """Client address ranges (1-64) in CIDR notation, e.g. `10.0.0.0/8`: the client's address as the listener
    detects it."""


class AuthorizationRule(ConfigModel):
    """First matching rule wins: `action` for clients whose address is in `principal.clientCIDRs`."""

    name: Optional[str] = Field(default=None, min_length=1, max_length=253)
    """The rule's name, e.g. `office`."""
    action: Literal["Allow", "Deny"]
    """`Allow` or `Deny` the clients the rule matches."""
    principal: Principal
    """The clients the rule matches."""


class Authorization(ConfigModel):
    """IP allow/deny rules; without a match, `defaultAction` (Envoy Gateway's default: Deny)."""

    default_action: Optional[Literal["Allow", "Deny"]] = None
    """What happens to a client no rule matches, `Allow` or `Deny`; default: Envoy Gateway's `Deny`. With neither
    `rules` nor `defaultAction` the policy is refused (it would deny everything)."""
    rules: list[AuthorizationRule] = Field(default_factory=list, max_length=64)
    """IP rules, in order; the first that matches wins."""


class SecurityPolicyConfig(ConfigModel):
    """A SecurityPolicy on the stack's Gateway, a listener, a route or a rule: CORS, one way
    of authenticating (basic auth, JWT or API keys) and IP authorization rules."""

    name: KubernetesName
    """The SecurityPolicy's name, unique among them; the key of its entry in `credentials`."""
    target_refs: list[PolicyTargetRef] = Field(min_length=1, max_length=16)
    """What the policy attaches to (1-16): Gateways, listeners, routes or rules."""
    cors: Optional[Cors] = None
    """Cross-origin requests; default: no CORS headers."""
    basic_auth: Optional[BasicAuth] = None
    """HTTP basic authentication (one way of authenticating per policy)."""
    jwt: Optional[Jwt] = None
    """JWT bearer tokens (one way of authenticating per policy)."""
    api_key_auth: Optional[ApiKeyAuth] = None
    """API keys (one way of authenticating per policy)."""
    authorization: Optional[Authorization] = None
    """IP allow/deny rules."""


# credentials.<policy>.<user or client>: basic-auth passwords and API keys (a Pulumi secret).
Credentials = dict[KubernetesName, dict[DnsLabel, SecretStr]]
