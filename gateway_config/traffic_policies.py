"""Envoy Gateway's traffic policies as typed config: BackendTrafficPolicy and ClientTrafficPolicy.

Field names are Envoy Gateway v1.9's own (`gateway.envoyproxy.io/v1alpha1`), so a stack file
reads like the CRD and its documentation; only the subset below is modelled. A field left out
is left out of the object too, so Envoy Gateway's own default applies (the README lists them).
Which object each policy attaches to is a `PolicyTargetRef`; that it exists is checked in
`policy_semantics.py`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from gateway_config.base import ConfigModel
from gateway_config.fields import DnsLabel, Duration, HeaderName, HttpPath, KubernetesName, PreciseHostname

# Envoy Gateway's uint32 counters (connections, requests).
Count = Annotated[int, Field(ge=0, le=4_294_967_295)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


def _cidr(value: str) -> str:
    """An address range with an explicit prefix length, e.g. `10.0.0.0/8` or `2001:db8::/32`."""
    try:
        if "/" not in value:
            raise ValueError("no prefix length")
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "cidr", f"'{value}' is not an address range; use CIDR notation such as '10.0.0.0/8' or '2001:db8::/32'"
        ) from None
    return value


# In the JSON Schema only the prefix length's '/' (no regex tells an IPv6 range); the program checks the rest.
Cidr = Annotated[
    str,
    AfterValidator(_cidr),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[^/]+/[^/]+$",
            "description": "An address range in CIDR notation, such as '10.0.0.0/8' or '2001:db8::/32'.",
        }
    ),
]


class PolicyTargetRef(ConfigModel):
    """What a policy attaches to: one of the stack's Gateways, by name (optionally one listener,
    `sectionName`), or one of its routes (optionally one rule, by the rule's `name`)."""

    kind: Literal["Gateway", "HTTPRoute", "GRPCRoute"]
    """What the policy attaches to: a `Gateway`, an `HTTPRoute` or a `GRPCRoute` (ClientTrafficPolicies: a Gateway
    only)."""
    name: KubernetesName
    """The target's name: one of the stack's Gateways, a route of `routes` or of `grpcRoutes`."""
    section_name: Optional[DnsLabel] = None
    """A part of the target: a Gateway's listener, or a route's rule by the rule's `name`; default: all of it."""


# --- BackendTrafficPolicy ---------------------------------------------------------------------

RetryTrigger = Literal[
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
    "refused-stream", "retriable-status-codes", "cancelled", "deadline-exceeded", "internal",
    "resource-exhausted", "unavailable",
]


class RetryOn(ConfigModel):
    """What is retried. Envoy Gateway's default: connect-failure, refused-stream, unavailable,
    cancelled and retriable-status-codes with 503."""

    triggers: list[RetryTrigger] = Field(default_factory=list, max_length=13)
    """When to retry: `5xx`, `gateway-error`, `reset`, `reset-before-request`, `connect-failure`, `retriable-4xx`,
    `refused-stream`, `retriable-status-codes`, `cancelled`, `deadline-exceeded`, `internal`,
    `resource-exhausted`, `unavailable`."""
    http_status_codes: list[HttpStatus] = Field(default_factory=list, max_length=32)
    """Status codes (100-599) to retry, e.g. `[502, 503]`; needs the trigger `retriable-status-codes`."""


class BackOff(ConfigModel):
    """Fully jittered exponential back-off between retries (Envoy's default base: 25 ms;
    maxInterval defaults to 10 x baseInterval)."""

    base_interval: Optional[Duration] = None
    """The base interval between attempts, e.g. `100ms`; default: Envoy's 25 ms."""
    max_interval: Optional[Duration] = None
    """The longest interval between attempts, at least `baseInterval`; default: 10 times `baseInterval`."""


class PerRetry(ConfigModel):
    timeout: Optional[Duration] = None
    """The timeout of each attempt, e.g. `2s`; default: the request's."""
    back_off: Optional[BackOff] = None
    """The jittered exponential back-off between attempts."""


class Retry(ConfigModel):
    """Retries of a failed request (Envoy Gateway's default `numRetries`: 2)."""

    num_retries: Optional[int] = Field(default=None, ge=0, le=10)
    """Retries after the first attempt (0-10); default: Envoy Gateway's 2."""
    retry_on: Optional[RetryOn] = None
    """What is retried; default: Envoy Gateway's triggers (connect-failure, refused-stream, unavailable, cancelled,
    retriable-status-codes with 503)."""
    per_retry: Optional[PerRetry] = None
    """The timeout of each attempt and the back-off between them."""


class HttpBackendTimeout(ConfigModel):
    request_timeout: Duration
    """How long a request may take, e.g. `30s` (Envoy's default: 15 s); a rule's own `timeouts` take precedence."""


class BackendTimeout(ConfigModel):
    """How long a request may take (Envoy's default: 15 s). A route rule's own `timeouts` take
    precedence over `http.requestTimeout` (Envoy Gateway applies the Gateway API value)."""

    http: HttpBackendTimeout
    """HTTP timeouts towards the backends."""


class CircuitBreaker(ConfigModel):
    """Limits per backend cluster; beyond them Envoy answers 503 at once (Envoy Gateway's
    defaults: 1024 each)."""

    max_connections: Optional[Count] = None
    """Connections to each backend (over HTTP/1.1 one request each, so requests beyond them wait for one); default:
    1024."""
    max_pending_requests: Optional[Count] = None
    """Requests waiting for a connection to a backend; beyond them Envoy answers 503 at once. Default: 1024."""
    max_parallel_requests: Optional[Count] = None
    """Requests in flight to a backend; beyond them Envoy answers 503 at once. Default: 1024."""


class RateLimitHeaderMatch(ConfigModel):
    """A header condition: `Exact` (the default) or `RegularExpression` on `value`, or
    `Distinct`: each value of the header gets its own counter (a limit per client key)."""

    name: HeaderName
    """The header's name, e.g. `x-user-id`."""
    type: Literal["Exact", "RegularExpression", "Distinct"] = "Exact"
    """`Exact` (with `value`), `RegularExpression` (with `value`, RE2) or `Distinct` (a counter per value of the
    header)."""
    value: Optional[str] = Field(default=None, max_length=1024)
    """The value the header must have, or the RE2 regular expression it must match; none with `Distinct`."""
    invert: bool = False
    """`true`: the condition holds when the header does not match."""


class RateLimitSourceMatch(ConfigModel):
    """The client address range: `Exact` (the default) shares one counter over the range,
    `Distinct` gives each client address its own counter."""

    type: Literal["Exact", "Distinct"] = "Exact"
    """`Exact`: one counter for the whole range; `Distinct`: a counter per client address."""
    value: Cidr
    """The client address range in CIDR notation, e.g. `10.0.0.0/8`."""
    invert: bool = False
    """`true`: the condition holds for clients outside the range."""


class RateLimitPathMatch(ConfigModel):
    type: Literal["Exact", "PathPrefix"] = "PathPrefix"
    """`PathPrefix` (whole path segments) or `Exact`."""
    value: HttpPath = "/"
    """The path, e.g. `/api`."""
    invert: bool = False
    """`true`: the condition holds when the path does not match."""


class RateLimitMethodMatch(ConfigModel):
    value: HttpMethod
    """The HTTP method, e.g. `POST`."""
    invert: bool = False
    """`true`: the condition holds for other methods."""


class RateLimitSelector(ConfigModel):
    """Which requests a limit counts: all conditions given here must hold."""

    headers: list[RateLimitHeaderMatch] = Field(default_factory=list, max_length=16)
    """Header conditions (up to 16)."""
    source_cidr: Optional[RateLimitSourceMatch] = Field(default=None, alias="sourceCIDR")
    """The client address condition."""
    path: Optional[RateLimitPathMatch] = None
    """The request path condition."""
    methods: list[RateLimitMethodMatch] = Field(default_factory=list, max_length=9)
    """Method conditions (up to 9)."""


class RateLimitValue(ConfigModel):
    requests: Count
    """That many requests per `unit` are allowed; one more gets 429."""
    unit: Literal["Second", "Minute", "Hour", "Day"]
    """`Second`, `Minute`, `Hour` or `Day`."""


class RateLimitRule(ConfigModel):
    """A limit and the requests it counts (without clientSelectors: every request of the
    target, one counter per route)."""

    client_selectors: list[RateLimitSelector] = Field(default_factory=list, max_length=8)
    """Which requests the limit counts (up to 8, all must hold); default: every request, one counter per route."""
    limit: RateLimitValue
    """How many requests per unit of time."""


class LocalRateLimit(ConfigModel):
    rules: list[RateLimitRule] = Field(min_length=1, max_length=16)
    """The limits (1-16), each a `limit` and optionally `clientSelectors`."""


class RateLimit(ConfigModel):
    """Local rate limiting: each Envoy proxy counts on its own (no rate limit service)."""

    local: LocalRateLimit
    """Local rate limits: each proxy counts on its own."""


class HttpHealthCheck(ConfigModel):
    path: HttpPath
    """The path Envoy requests from every backend endpoint, e.g. `/healthz`."""
    method: Optional[Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"]] = None
    """The health-check request's method; default: `GET`."""
    hostname: Optional[PreciseHostname] = None
    """The health-check request's Host; default: the route's."""
    expected_statuses: list[HttpStatus] = Field(default_factory=list, max_length=16)
    """The statuses (100-599) that count as healthy; default: `200`."""


class ActiveHealthCheck(ConfigModel):
    """Envoy probes every backend endpoint and stops sending to failing ones (Envoy Gateway's
    defaults: every 3 s, 1 s timeout, unhealthy after 3 failures, healthy after 1 success,
    expected status 200)."""

    type: Literal["HTTP"]
    """`HTTP`: active HTTP health checks."""
    http: HttpHealthCheck
    """The health-check request."""
    interval: Optional[Duration] = None
    """How often each endpoint is checked; default: `3s`."""
    timeout: Optional[Duration] = None
    """How long an answer may take; default: `1s`."""
    unhealthy_threshold: Optional[int] = Field(default=None, ge=1, le=1000)
    """Failed checks in a row (timeouts, refused or reset connections) before an endpoint gets no traffic; default:
    3. An answer outside `expectedStatuses` takes it out at once."""
    healthy_threshold: Optional[int] = Field(default=None, ge=1, le=1000)
    """Passed checks in a row before an endpoint gets traffic again; default: 1."""


class HealthCheck(ConfigModel):
    active: ActiveHealthCheck
    """Active health checks: Envoy probes every backend endpoint."""


class ConsistentHashHeader(ConfigModel):
    name: HeaderName
    """The header whose value keeps a client on one backend, e.g. `x-session-id`."""


class ConsistentHashCookie(ConfigModel):
    name: str = Field(min_length=1, max_length=256)
    """The cookie whose value keeps a client on one backend."""
    ttl: Optional[Duration] = None
    """The lifetime of the cookie Envoy sets when a request has none, e.g. `1h`; default: Envoy sets none."""


class ConsistentHash(ConfigModel):
    """What keeps a client on one backend: its address (`SourceIP`), a `Header`'s value or a
    `Cookie` (Envoy sets it when missing and `ttl` is given)."""

    type: Literal["SourceIP", "Header", "Cookie"]
    """`SourceIP` (the client's address), `Header` (with `header`) or `Cookie` (with `cookie`)."""
    header: Optional[ConsistentHashHeader] = None
    """With `type: Header`: the header hashed."""
    cookie: Optional[ConsistentHashCookie] = None
    """With `type: Cookie`: the cookie hashed."""


class LoadBalancer(ConfigModel):
    """How an endpoint is chosen (Envoy Gateway's default: LeastRequest)."""

    type: Literal["RoundRobin", "LeastRequest", "Random", "ConsistentHash"]
    """`RoundRobin`, `LeastRequest`, `Random` or `ConsistentHash` (refused on a rule whose backends have different
    weights)."""
    consistent_hash: Optional[ConsistentHash] = None
    """With `type: ConsistentHash`: what keeps a client on one backend."""


class BackendTrafficPolicyConfig(ConfigModel):
    """A BackendTrafficPolicy: how the proxies treat the backends of its targets (retries,
    timeouts, circuit breakers, local rate limits, active health checks, load balancing)."""

    name: KubernetesName
    """The BackendTrafficPolicy's name, unique among them."""
    target_refs: list[PolicyTargetRef] = Field(min_length=1, max_length=16)
    """What the policy attaches to (1-16): Gateways, listeners, routes or rules."""
    retry: Optional[Retry] = None
    """Retries of failed requests."""
    timeout: Optional[BackendTimeout] = None
    """How long a request to the backends may take."""
    circuit_breaker: Optional[CircuitBreaker] = None
    """Limits per backend on connections and requests."""
    rate_limit: Optional[RateLimit] = None
    """Local rate limits."""
    health_check: Optional[HealthCheck] = None
    """Active health checks of the backend endpoints."""
    load_balancer: Optional[LoadBalancer] = None
    """How an endpoint is chosen; default: Envoy Gateway's `LeastRequest`."""


# --- ClientTrafficPolicy -------------------------------------------------------------------------

TlsVersion = Literal["Auto", "1.0", "1.1", "1.2", "1.3"]
TLS_VERSION_ORDER = {"1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3}

# The cipher suites Envoy Gateway v1.9 documents for TLS 1.0-1.2 (OpenSSL names and IANA aliases).
SUPPORTED_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256", "AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA", "AES256-GCM-SHA384", "AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_RSA_WITH_AES_256_CBC_SHA",
)


def _cipher(value: str) -> str:
    if value not in SUPPORTED_CIPHERS:
        raise PydanticCustomError(
            "cipher", f"'{value}' is not a cipher suite Envoy Gateway supports; use e.g. 'ECDHE-RSA-AES128-GCM-SHA256' "
            "(the README lists all of them)"
        )
    return value


Cipher = Annotated[
    str,
    AfterValidator(_cipher),
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(SUPPORTED_CIPHERS),
            "description": "A TLS 1.0-1.2 cipher suite Envoy Gateway supports, by OpenSSL or IANA name.",
        }
    ),
]


class CaCertificateRef(ConfigModel):
    """A CA bundle (key `ca.crt`) client certificates must chain to: a CA declared in
    `clientCertificateAuthorities` unless `external: true` (a Secret managed elsewhere)."""

    name: KubernetesName
    """The CA's name: an entry of `clientCertificateAuthorities` unless `external: true`."""
    namespace: Optional[DnsLabel] = None
    """The Secret's namespace; default: the stack's."""
    external: bool = False
    """`true`: a Secret with `ca.crt` managed elsewhere, not declared in `clientCertificateAuthorities`."""


class ClientValidation(ConfigModel):
    """Mutual TLS: `RequireAndVerify` (Envoy Gateway's default) refuses a client without a
    certificate from one of the CAs; `VerifyIfGiven` lets it through without one."""

    mode: Optional[Literal["RequireAndVerify", "VerifyIfGiven"]] = None
    """`RequireAndVerify` (Envoy Gateway's default) refuses a client without a certificate from the CAs;
    `VerifyIfGiven` lets it through (a certificate it does present must verify)."""
    ca_certificate_refs: list[CaCertificateRef] = Field(min_length=1, max_length=8)
    """The CAs client certificates must chain to (1-8)."""


class ClientTls(ConfigModel):
    """TLS towards clients (Envoy Gateway's defaults: TLS 1.2 to 1.3, Envoy's cipher list,
    ALPN h2 and http/1.1)."""

    min_version: Optional[TlsVersion] = None
    """The lowest TLS version accepted: `Auto`, `1.0`, `1.1`, `1.2` or `1.3`; default: `1.2`; at most `maxVersion`."""
    max_version: Optional[TlsVersion] = None
    """The highest TLS version accepted: `Auto`, `1.0`, `1.1`, `1.2` or `1.3`; default: `1.3`."""
    # No length bound on ciphers and ALPN protocols: the CRD sets none and Envoy Gateway takes any; the names are from a
    # closed list, so only a repeat makes a list longer than it, and a repeat gets its own sentence (policy_semantics).
    ciphers: list[Cipher] = Field(default_factory=list)
    """TLS 1.0-1.2 cipher suites, OpenSSL names (`ECDHE-RSA-AES128-GCM-SHA256`) or IANA names
    (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); not with `minVersion: "1.3"`. Default: Envoy's (ECDHE with AES-GCM
    or ChaCha20)."""
    alpn_protocols: Optional[list[Literal["h2", "http/1.1", "http/1.0"]]] = None
    """`h2`, `http/1.1`, `http/1.0`, in order of preference; `[]` turns ALPN off. Default: `h2`, `http/1.1`."""
    client_validation: Optional[ClientValidation] = None
    """Mutual TLS: the CAs client certificates must chain to."""


class HttpClientTimeout(ConfigModel):
    request_received_timeout: Optional[Duration] = None
    """The whole request must arrive within it, else 408, e.g. `10s`; default: no limit."""
    idle_timeout: Optional[Duration] = None
    """A connection without requests is closed after it, e.g. `5m`; default: `1h`."""


class ClientTimeout(ConfigModel):
    """Timeouts towards clients (Envoy Gateway's defaults: no limit on receiving a request,
    connections idle for 1 h closed)."""

    http: HttpClientTimeout
    """HTTP timeouts towards clients."""


class XForwardedFor(ConfigModel):
    """Trust X-Forwarded-For from proxies in front: `numTrustedHops` of them, or those whose
    addresses are in `trustedCIDRs` (exactly one of the two)."""

    num_trusted_hops: Optional[int] = Field(default=None, ge=1, le=16)
    """Take the client's address from X-Forwarded-For, trusting that many proxies in front (1-16)."""
    trusted_cidrs: list[Cidr] = Field(default_factory=list, max_length=32, alias="trustedCIDRs")
    """Take the client's address from X-Forwarded-For, trusting proxies in these ranges, e.g. `10.0.0.0/8` (instead
    of `numTrustedHops`)."""


class ClientIpDetection(ConfigModel):
    """Where the client's address comes from (Envoy Gateway's default: the connection's peer)."""

    x_forwarded_for: XForwardedFor
    """Take the client's address from the X-Forwarded-For header."""


class ConnectionLimit(ConfigModel):
    value: int = Field(ge=1, le=4_294_967_295)
    """Connections a listener accepts at once."""


class ClientConnection(ConfigModel):
    """Connections per listener (Envoy Gateway's default: unlimited)."""

    connection_limit: ConnectionLimit
    """The number of connections a listener accepts at once; default: unlimited."""


class ClientTrafficPolicyConfig(ConfigModel):
    """A ClientTrafficPolicy: how the proxies treat clients on its Gateway or listener (TLS
    versions, ciphers, ALPN, mutual TLS, timeouts, client address detection, connection limit)."""

    name: KubernetesName
    """The ClientTrafficPolicy's name, unique among them."""
    target_refs: list[PolicyTargetRef] = Field(min_length=1, max_length=16)
    """What the policy attaches to (1-16): Gateways or listeners."""
    tls: Optional[ClientTls] = None
    """TLS towards clients: versions, ciphers, ALPN, mutual TLS."""
    timeout: Optional[ClientTimeout] = None
    """Timeouts towards clients."""
    client_ip_detection: Optional[ClientIpDetection] = Field(default=None, alias="clientIPDetection")
    """Where the client's address comes from; default: the connection's peer."""
    connection: Optional[ClientConnection] = None
    """Connection limits per listener."""


# --- client certificate authorities (for mutual TLS) -----------------------------------------


class ClientCertificateAuthorityConfig(ConfigModel):
    """A CA that signs client certificates, and the Secret (key `ca.crt`) holding it.

    `source: generate` (the default): the stack makes the CA (pulumi-tls) and issues one client
    certificate per entry of `clients` (exported, secret, as CLIENT_CERTIFICATES).
    `existingSecret`: the Secret `name` already holds `ca.crt`; nothing is made.
    """

    name: KubernetesName
    """The Opaque Secret holding the CA certificate under `ca.crt` (no key); what a `caCertificateRefs` entry names."""
    source: Literal["generate", "existingSecret"] = "generate"
    """`generate`: a CA made with pulumi-tls (protected in production); `existingSecret`: the Secret exists, nothing
    is made."""
    common_name: str = Field(min_length=1, max_length=64)
    """The CA's common name (1-64 characters)."""
    organization: Optional[str] = None
    """The CA's organization."""
    key_algorithm: Literal["RSA", "ECDSA"] = "ECDSA"
    """`ECDSA` (P-256) or `RSA` (2048 bits)."""
    validity_hours: int = Field(default=8760, ge=1)
    """Validity of the CA and of the client certificates, in hours."""
    clients: list[DnsLabel] = Field(default_factory=list, max_length=32)
    """Client certificates to issue (common name: the entry), exported as the secret output `CLIENT_CERTIFICATES`."""
