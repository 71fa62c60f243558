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

from pydantic import AfterValidator, Field
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


Cidr = Annotated[str, AfterValidator(_cidr)]


class PolicyTargetRef(ConfigModel):
    """What a policy attaches to: one of the stack's Gateways, by name (optionally one listener,
    `sectionName`), or one of its routes (optionally one rule, by the rule's `name`)."""

    kind: Literal["Gateway", "HTTPRoute", "GRPCRoute"]
    name: KubernetesName
    section_name: Optional[DnsLabel] = None


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
    http_status_codes: list[HttpStatus] = Field(default_factory=list, max_length=32)


class BackOff(ConfigModel):
    """Fully jittered exponential back-off between retries (Envoy's default base: 25 ms;
    maxInterval defaults to 10 x baseInterval)."""

    base_interval: Optional[Duration] = None
    max_interval: Optional[Duration] = None


class PerRetry(ConfigModel):
    timeout: Optional[Duration] = None
    back_off: Optional[BackOff] = None


class Retry(ConfigModel):
    """Retries of a failed request (Envoy Gateway's default `numRetries`: 2)."""

    num_retries: Optional[int] = Field(default=None, ge=0, le=10)
    retry_on: Optional[RetryOn] = None
    per_retry: Optional[PerRetry] = None


class HttpBackendTimeout(ConfigModel):
    request_timeout: Duration


class BackendTimeout(ConfigModel):
    """How long a request may take (Envoy's default: 15 s). A route rule's own `timeouts` take
    precedence over `http.requestTimeout` (Envoy Gateway applies the Gateway API value)."""

    http: HttpBackendTimeout


class CircuitBreaker(ConfigModel):
    """Limits per backend cluster; beyond them Envoy answers 503 at once (Envoy Gateway's
    defaults: 1024 each)."""

    max_connections: Optional[Count] = None
    max_pending_requests: Optional[Count] = None
    max_parallel_requests: Optional[Count] = None


class RateLimitHeaderMatch(ConfigModel):
    """A header condition: `Exact` (the default) or `RegularExpression` on `value`, or
    `Distinct`: each value of the header gets its own counter (a limit per client key)."""

    name: HeaderName
    type: Literal["Exact", "RegularExpression", "Distinct"] = "Exact"
    value: Optional[str] = Field(default=None, max_length=1024)
    invert: bool = False


class RateLimitSourceMatch(ConfigModel):
    """The client address range: `Exact` (the default) shares one counter over the range,
    `Distinct` gives each client address its own counter."""

    type: Literal["Exact", "Distinct"] = "Exact"
    value: Cidr
    invert: bool = False


class RateLimitPathMatch(ConfigModel):
    type: Literal["Exact", "PathPrefix"] = "PathPrefix"
    value: HttpPath = "/"
    invert: bool = False


class RateLimitMethodMatch(ConfigModel):
    value: HttpMethod
    invert: bool = False


class RateLimitSelector(ConfigModel):
    """Which requests a limit counts: all conditions given here must hold."""

    headers: list[RateLimitHeaderMatch] = Field(default_factory=list, max_length=16)
    source_cidr: Optional[RateLimitSourceMatch] = Field(default=None, alias="sourceCIDR")
    path: Optional[RateLimitPathMatch] = None
    methods: list[RateLimitMethodMatch] = Field(default_factory=list, max_length=9)


class RateLimitValue(ConfigModel):
    requests: Count
    unit: Literal["Second", "Minute", "Hour", "Day"]


class RateLimitRule(ConfigModel):
    """A limit and the requests it counts (without clientSelectors: every request of the
    target, one counter per route)."""

    client_selectors: list[RateLimitSelector] = Field(default_factory=list, max_length=8)
    limit: RateLimitValue


class LocalRateLimit(ConfigModel):
    rules: list[RateLimitRule] = Field(min_length=1, max_length=16)


class RateLimit(ConfigModel):
    """Local rate limiting: each Envoy proxy counts on its own (no rate limit service)."""

    local: LocalRateLimit


class HttpHealthCheck(ConfigModel):
    path: HttpPath
    method: Optional[Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"]] = None
    hostname: Optional[PreciseHostname] = None
    expected_statuses: list[HttpStatus] = Field(default_factory=list, max_length=16)


class ActiveHealthCheck(ConfigModel):
    """Envoy probes every backend endpoint and stops sending to failing ones (Envoy Gateway's
    defaults: every 3 s, 1 s timeout, unhealthy after 3 failures, healthy after 1 success,
    expected status 200)."""

    type: Literal["HTTP"]
    http: HttpHealthCheck
    interval: Optional[Duration] = None
    timeout: Optional[Duration] = None
    unhealthy_threshold: Optional[int] = Field(default=None, ge=1, le=1000)
    healthy_threshold: Optional[int] = Field(default=None, ge=1, le=1000)


class HealthCheck(ConfigModel):
    active: ActiveHealthCheck


class ConsistentHashHeader(ConfigModel):
    name: HeaderName


class ConsistentHashCookie(ConfigModel):
    name: str = Field(min_length=1, max_length=256)
    ttl: Optional[Duration] = None


class ConsistentHash(ConfigModel):
    """What keeps a client on one backend: its address (`SourceIP`), a `Header`'s value or a
    `Cookie` (Envoy sets it when missing and `ttl` is given)."""

    type: Literal["SourceIP", "Header", "Cookie"]
    header: Optional[ConsistentHashHeader] = None
    cookie: Optional[ConsistentHashCookie] = None


class LoadBalancer(ConfigModel):
    """How an endpoint is chosen (Envoy Gateway's default: LeastRequest)."""

    type: Literal["RoundRobin", "LeastRequest", "Random", "ConsistentHash"]
    consistent_hash: Optional[ConsistentHash] = None


class BackendTrafficPolicyConfig(ConfigModel):
    """A BackendTrafficPolicy: how the proxies treat the backends of its targets (retries,
    timeouts, circuit breakers, local rate limits, active health checks, load balancing)."""

    name: KubernetesName
    target_refs: list[PolicyTargetRef] = Field(min_length=1, max_length=16)
    retry: Optional[Retry] = None
    timeout: Optional[BackendTimeout] = None
    circuit_breaker: Optional[CircuitBreaker] = None
    rate_limit: Optional[RateLimit] = None
    health_check: Optional[HealthCheck] = None
    load_balancer: Optional[LoadBalancer] = None


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


Cipher = Annotated[str, AfterValidator(_cipher)]


class CaCertificateRef(ConfigModel):
    """A CA bundle (key `ca.crt`) client certificates must chain to: a CA declared in
    `clientCertificateAuthorities` unless `external: true` (a Secret managed elsewhere)."""

    name: KubernetesName
    namespace: Optional[DnsLabel] = None
    external: bool = False


class ClientValidation(ConfigModel):
    """Mutual TLS: `RequireAndVerify` (Envoy Gateway's default) refuses a client without a
    certificate from one of the CAs; `VerifyIfGiven` lets it through without one."""

    mode: Optional[Literal["RequireAndVerify", "VerifyIfGiven"]] = None
    ca_certificate_refs: list[CaCertificateRef] = Field(min_length=1, max_length=8)


class ClientTls(ConfigModel):
    """TLS towards clients (Envoy Gateway's defaults: TLS 1.2 to 1.3, Envoy's cipher list,
    ALPN h2 and http/1.1)."""

    min_version: Optional[TlsVersion] = None
    max_version: Optional[TlsVersion] = None
    ciphers: list[Cipher] = Field(default_factory=list, max_length=28)
    alpn_protocols: Optional[list[Literal["h2", "http/1.1", "http/1.0"]]] = Field(default=None, max_length=3)
    client_validation: Optional[ClientValidation] = None


class HttpClientTimeout(ConfigModel):
    request_received_timeout: Optional[Duration] = None
    idle_timeout: Optional[Duration] = None


class ClientTimeout(ConfigModel):
    """Timeouts towards clients (Envoy Gateway's defaults: no limit on receiving a request,
    connections idle for 1 h closed)."""

    http: HttpClientTimeout


class XForwardedFor(ConfigModel):
    """Trust X-Forwarded-For from proxies in front: `numTrustedHops` of them, or those whose
    addresses are in `trustedCIDRs` (exactly one of the two)."""

    num_trusted_hops: Optional[int] = Field(default=None, ge=1, le=16)
    trusted_cidrs: list[Cidr] = Field(default_factory=list, max_length=32, alias="trustedCIDRs")


class ClientIpDetection(ConfigModel):
    """Where the client's address comes from (Envoy Gateway's default: the connection's peer)."""

    x_forwarded_for: XForwardedFor


class ConnectionLimit(ConfigModel):
    value: int = Field(ge=1, le=4_294_967_295)


class ClientConnection(ConfigModel):
    """Connections per listener (Envoy Gateway's default: unlimited)."""

    connection_limit: ConnectionLimit


class ClientTrafficPolicyConfig(ConfigModel):
    """A ClientTrafficPolicy: how the proxies treat clients on its Gateway or listener (TLS
    versions, ciphers, ALPN, mutual TLS, timeouts, client address detection, connection limit)."""

    name: KubernetesName
    target_refs: list[PolicyTargetRef] = Field(min_length=1, max_length=16)
    tls: Optional[ClientTls] = None
    timeout: Optional[ClientTimeout] = None
    client_ip_detection: Optional[ClientIpDetection] = Field(default=None, alias="clientIPDetection")
    connection: Optional[ClientConnection] = None


# --- client certificate authorities (for mutual TLS) -----------------------------------------


class ClientCertificateAuthorityConfig(ConfigModel):
    """A CA that signs client certificates, and the Secret (key `ca.crt`) holding it.

    `source: generate` (the default): the stack makes the CA (pulumi-tls) and issues one client
    certificate per entry of `clients` (exported, secret, as CLIENT_CERTIFICATES).
    `existingSecret`: the Secret `name` already holds `ca.crt`; nothing is made.
    """

    name: KubernetesName
    source: Literal["generate", "existingSecret"] = "generate"
    common_name: str = Field(min_length=1, max_length=64)
    organization: Optional[str] = None
    key_algorithm: Literal["RSA", "ECDSA"] = "ECDSA"
    validity_hours: int = Field(default=8760, ge=1)
    clients: list[DnsLabel] = Field(default_factory=list, max_length=32)
