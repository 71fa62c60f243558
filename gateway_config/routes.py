"""Routes as typed models: the stack's `routes` (HTTPRoutes) and `grpcRoutes` (GRPCRoutes).

Field names are Gateway API v1's, camelCase in the stack file. Like every model here they
forbid unknown keys and coerce nothing; rules that relate a route to the rest of the stack
(its Gateway, its backends) are checked afterwards (`route_semantics.py`, `grpc_semantics.py`,
`gateway_api_rules.py`). `models.py` builds the whole stack from these.
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from gateway_config.base import ConfigModel
from gateway_config.fields import (
    PATH_MATCH_CHARACTERS,
    DnsLabel,
    Duration,
    HeaderName,
    HeaderValue,
    Hostname,
    HttpPath,
    KubernetesName,
    Port,
    PreciseHostname,
    SectionName,
    Weight,
    is_valid_path,
    validate_http_path,
    validate_path_match_characters,
    validate_regular_expression,
)


# --- routes ------------------------------------------------------------------------


class ParentRef(ConfigModel):
    """The Gateway (and optionally the listener) a route attaches to: `name` names one of the
    stack's Gateways (`gateway` or one of `gateways`) unless `external: true`."""

    name: KubernetesName
    """The Gateway's name: one of the stack's Gateways (`gateway` or one of `gateways`) unless `external: true`."""
    section_name: Optional[SectionName] = None
    """A listener of that Gateway, by name; default: every listener."""
    namespace: Optional[DnsLabel] = None
    """The Gateway's namespace; default: the stack's."""
    external: bool = False
    """`true`: a Gateway this stack does not declare (another stack's)."""


class PathMatch(ConfigModel):
    """Default: PathPrefix `/` (everything). A RegularExpression value is RE2 syntax."""

    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    """`Exact`, `PathPrefix` (whole path segments) or `RegularExpression` (RE2)."""
    value: str = "/"
    """The path, e.g. `/api` (an absolute path), or an RE2 regular expression with `RegularExpression`."""

    # The schema states the CRD's character rule for Exact and PathPrefix (the default type).
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"type": {"const": "RegularExpression"}}, "required": ["type"]},
        "else": {"properties": {"value": {"pattern": PATH_MATCH_CHARACTERS}}},
    })

    @field_validator("value")
    @classmethod
    def _path_characters(cls, value: str, info: ValidationInfo) -> str:
        # Named at `value` (the schema's place too); the type is validated first, as it is declared first.
        # A path the shape rules refuse ('#', no leading '/') gets their more telling sentence (below).
        if info.data.get("type", "PathPrefix") != "RegularExpression" and is_valid_path(value):
            validate_path_match_characters(value)
        return value

    @model_validator(mode="after")
    def _value_fits_type(self) -> "PathMatch":
        if self.type == "RegularExpression":
            validate_regular_expression(self.value)
        else:
            validate_http_path(self.value)
        return self


class HeaderMatch(ConfigModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    """`Exact`, or `RegularExpression` (RE2) for the value."""
    name: HeaderName
    """The header's name (case-insensitive), e.g. `x-canary`."""
    value: HeaderValue
    """The value the header must have, or an RE2 regular expression it must match."""

    @model_validator(mode="after")
    def _value_fits_type(self) -> "HeaderMatch":
        if self.type == "RegularExpression":
            validate_regular_expression(self.value)
        return self


class QueryParamMatch(ConfigModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    """`Exact`, or `RegularExpression` (RE2) for the value."""
    name: HeaderName
    """The query parameter's name (case-sensitive), e.g. `version`."""
    value: str = Field(min_length=1, max_length=1024)
    """The value the parameter must have, or an RE2 regular expression it must match (1-1024 characters)."""

    @model_validator(mode="after")
    def _value_fits_type(self) -> "QueryParamMatch":
        if self.type == "RegularExpression":
            validate_regular_expression(self.value)
        return self


class RouteMatch(ConfigModel):
    """A request matches when every condition given here holds."""

    path: Optional[PathMatch] = None
    """The request path condition; default: PathPrefix `/`."""
    headers: list[HeaderMatch] = Field(default_factory=list, max_length=16)
    """Header conditions (up to 16), all of which must hold."""
    query_params: list[QueryParamMatch] = Field(default_factory=list, max_length=16)
    """Query parameter conditions (up to 16), all of which must hold."""
    method: Optional[Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]] = None
    """The HTTP method the request must have, e.g. `GET`; default: any."""


class HeaderValuePair(ConfigModel):
    name: HeaderName
    """The header's name, e.g. `x-request-source`."""
    value: HeaderValue
    """The header's value."""


class HeaderModifier(ConfigModel):
    """Headers to set (replace), add (append) or remove; each name at most once."""

    set: list[HeaderValuePair] = Field(default_factory=list, max_length=16)
    """Headers to set, replacing a header of that name (up to 16 `name`/`value` pairs)."""
    add: list[HeaderValuePair] = Field(default_factory=list, max_length=16)
    """Headers to add, appending to a header of that name (up to 16 `name`/`value` pairs)."""
    remove: list[HeaderName] = Field(default_factory=list, max_length=16)
    """Names of headers to remove (up to 16)."""


class PathModifier(ConfigModel):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    """`ReplaceFullPath` (with `replaceFullPath`) or `ReplacePrefixMatch` (with `replacePrefixMatch`, which needs
    exactly one PathPrefix match in the rule)."""
    replace_full_path: Optional[HttpPath] = None
    """The path that replaces the whole request path, e.g. `/v2/index.html`."""
    replace_prefix_match: Optional[HttpPath] = None
    """The prefix that replaces the matched path prefix, e.g. `/v2`."""


class RequestRedirect(ConfigModel):
    """Answer with a redirect instead of forwarding. Default status 302."""

    scheme: Optional[Literal["http", "https"]] = None
    """The scheme of the redirect's location, `http` or `https`; default: the request's."""
    hostname: Optional[PreciseHostname] = None
    """The host of the redirect's location; default: the request's."""
    path: Optional[PathModifier] = None
    """How the redirect's path is made from the request's; default: the request's path."""
    port: Optional[Port] = None
    """The port of the redirect's location; default: as Gateway API derives it from the scheme and the request."""
    status_code: Literal[301, 302, 303, 307, 308] = 302
    """The redirect's status: 301, 302, 303, 307 or 308."""


class UrlRewrite(ConfigModel):
    hostname: Optional[PreciseHostname] = None
    """The Host header the backend receives instead of the request's."""
    path: Optional[PathModifier] = None
    """How the path the backend receives is made from the request's."""


class MirrorBackendRef(ConfigModel):
    """The Service that receives copies. Must name a backend of this stack unless `external: true`."""

    name: DnsLabel
    """The Service's name: a backend of `backends` unless `external: true`."""
    namespace: Optional[DnsLabel] = None
    """The Service's namespace; default: the stack's."""
    port: Optional[Port] = None
    """The Service port; default: the declared backend's (required when external)."""
    external: bool = False
    """`true`: a Service this stack does not declare."""


class MirrorFraction(ConfigModel):
    numerator: int = Field(ge=0)
    """The share of requests copied is `numerator` / `denominator`; at most `denominator`."""
    denominator: int = Field(default=100, ge=1)
    """The denominator of the share of requests copied."""


class RequestMirror(ConfigModel):
    """Copy requests to another backend (its answers are dropped): all of them, or `percent`
    (0-100) or `fraction` of them (one of the two)."""

    backend_ref: MirrorBackendRef
    """The Service that receives the copies."""
    percent: Optional[int] = Field(default=None, ge=0, le=100)
    """The percentage (0-100) of requests copied; default: every request (or `fraction`)."""
    fraction: Optional[MirrorFraction] = None
    """The share of requests copied, as a fraction; instead of `percent`."""


class RouteFilter(ConfigModel):
    """One filter, Gateway API shaped: `type` plus the block of that type."""

    type: Literal["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "RequestMirror"]
    """The filter: `RequestHeaderModifier`, `ResponseHeaderModifier`, `RequestRedirect`, `URLRewrite` or
    `RequestMirror`; the block of that name must be given, and each type at most once per rule."""
    request_header_modifier: Optional[HeaderModifier] = None
    """With `type: RequestHeaderModifier`: the headers to set, add or remove on the request."""
    response_header_modifier: Optional[HeaderModifier] = None
    """With `type: ResponseHeaderModifier`: the headers to set, add or remove on the response."""
    request_redirect: Optional[RequestRedirect] = None
    """With `type: RequestRedirect`: the redirect answered instead of forwarding (not with `backendRefs`)."""
    url_rewrite: Optional[UrlRewrite] = Field(default=None, alias="urlRewrite")
    """With `type: URLRewrite`: the host and path the backend receives."""
    request_mirror: Optional[RequestMirror] = None
    """With `type: RequestMirror`: the backend that receives copies of the requests."""


class BackendRef(ConfigModel):
    """A Service the rule forwards to. Default weight 1; the port defaults to the declared
    backend's. Must name a backend of this stack unless `external: true`.
    `kind: InferencePool` names one of `inferencePools` instead (its only backend in the rule;
    the port defaults to the pool's first target port)."""

    name: DnsLabel
    """The Service's name (a backend of `backends` unless `external: true`), or the InferencePool's with `kind:
    InferencePool`."""
    kind: Literal["Service", "InferencePool"] = "Service"
    """`Service`, or `InferencePool`: one of `inferencePools`, the rule's only backend."""
    group: Optional[Literal["", "inference.networking.k8s.io"]] = None
    """The API group of `kind`; default: the kind's, `""` for a Service, `inference.networking.k8s.io` for an
    InferencePool."""
    namespace: Optional[DnsLabel] = None
    """The Service's namespace; default: the stack's."""
    port: Optional[Port] = None
    """The Service port; default: the declared backend's (an InferencePool's: its first target port). External ones
    need it."""
    weight: Weight = 1
    """The backend's share of the rule's traffic is its weight over the sum of the rule's weights (8 and 2 give 80 %
    and 20 %)."""
    external: bool = False
    """`true`: a Service this stack does not declare."""


class RouteTimeouts(ConfigModel):
    request: Optional[Duration] = None
    """How long the whole request may take, retries included, e.g. `10s` or `1m30s`; then 504."""
    backend_request: Optional[Duration] = None
    """How long each request to a backend may take, e.g. `5s`; at most `request`."""


class RouteRule(ConfigModel):
    """Matches, filters and weighted backends. Default match: PathPrefix `/`.

    A rule whose backends all have weight 0 answers every request with 500, so it is
    refused unless `allowZeroWeight: true` says that is intended (e.g. draining).
    """

    name: Optional[SectionName] = None
    """The rule's name: what a policy's `sectionName` names."""
    matches: list[RouteMatch] = Field(default_factory=list, max_length=64)
    """The requests the rule takes (up to 64 per rule, 128 per route), any one of the matches; default: PathPrefix
    `/`."""
    filters: list[RouteFilter] = Field(default_factory=list, max_length=16)
    """Filters applied to the requests the rule takes (up to 16, each type once)."""
    backend_refs: list[BackendRef] = Field(default_factory=list, max_length=16)
    """The weighted backends the rule forwards to (up to 16); a rule needs `backendRefs` or a `RequestRedirect`,
    never both."""
    timeouts: Optional[RouteTimeouts] = None
    """The rule's request and backend-request timeouts; default: Envoy Gateway's."""
    allow_zero_weight: bool = False
    """Allow every backend at weight 0 (Envoy then answers 500), e.g. while draining."""


class RouteConfig(ConfigModel):
    """An HTTPRoute. Attaches to the stack's first Gateway (all listeners) unless `parentRefs` says otherwise."""

    name: KubernetesName
    """The HTTPRoute's name, unique among the stack's routes."""
    parent_refs: list[ParentRef] = Field(default_factory=list, max_length=32)
    """The Gateways (and listeners) the route attaches to (up to 32); default: the stack's first Gateway, every
    listener."""
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    """The hosts the route serves (up to 16), e.g. `www.example.com` or `*.example.com`; default: any host."""
    rules: list[RouteRule] = Field(min_length=1, max_length=16)
    """The route's rules (1-16)."""


# --- gRPC routes -----------------------------------------------------------------------

_GRPC_SERVICE = re.compile(r"^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$")
_GRPC_METHOD = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


class GrpcMethodMatch(ConfigModel):
    """`service` (package-qualified, e.g. `helloworld.Greeter`) and/or `method` (e.g.
    `SayHello`); `Exact` (default) or `RegularExpression` (RE2)."""

    type: Literal["Exact", "RegularExpression"] = "Exact"
    """`Exact`, or `RegularExpression` (RE2) for `service` and `method`."""
    service: Optional[str] = Field(default=None, max_length=1024)
    """The package-qualified service, e.g. `helloworld.Greeter`; default: any."""
    method: Optional[str] = Field(default=None, max_length=1024)
    """The method, e.g. `SayHello`; default: any."""

    @model_validator(mode="after")
    def _value_fits_type(self) -> "GrpcMethodMatch":
        if self.service is None and self.method is None:
            raise ValueError("give service, method or both")
        for value, pattern, what in ((self.service, _GRPC_SERVICE, "service such as 'helloworld.Greeter'"),
                                     (self.method, _GRPC_METHOD, "method name such as 'SayHello'")):
            if value is None:
                continue
            if self.type == "RegularExpression":
                validate_regular_expression(value)
            elif not pattern.match(value):
                raise ValueError(f"'{value}' is not a gRPC {what}")
        return self


class GrpcRouteMatch(ConfigModel):
    method: Optional[GrpcMethodMatch] = None
    """The gRPC service and method the call must be for; default: any."""
    headers: list[HeaderMatch] = Field(default_factory=list, max_length=16)
    """Metadata conditions (up to 16), as a route's header matches; all must hold."""


class GrpcRouteFilter(ConfigModel):
    """RequestHeaderModifier, ResponseHeaderModifier (metadata) or RequestMirror."""

    type: Literal["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror"]
    """The filter: `RequestHeaderModifier`, `ResponseHeaderModifier` or `RequestMirror`; the block of that name must
    be given."""
    request_header_modifier: Optional[HeaderModifier] = None
    """With `type: RequestHeaderModifier`: the request metadata to set, add or remove."""
    response_header_modifier: Optional[HeaderModifier] = None
    """With `type: ResponseHeaderModifier`: the response metadata to set, add or remove."""
    request_mirror: Optional[RequestMirror] = None
    """With `type: RequestMirror`: the backend (speaking gRPC too) that receives copies of the calls."""


class GrpcRouteRule(ConfigModel):
    """Matches, filters and weighted backends (which must speak gRPC: `protocol: grpc`)."""

    name: Optional[SectionName] = None
    """The rule's name: what a policy's `sectionName` names."""
    matches: list[GrpcRouteMatch] = Field(default_factory=list, max_length=64)
    """The calls the rule takes (up to 64), any one of the matches; default: every call."""
    filters: list[GrpcRouteFilter] = Field(default_factory=list, max_length=16)
    """Filters applied to the calls the rule takes (up to 16, each type once)."""
    backend_refs: list[BackendRef] = Field(min_length=1, max_length=16)
    """The weighted backends the rule forwards to (1-16); declared backends must have `protocol: grpc`."""


class GrpcRouteConfig(ConfigModel):
    """A GRPCRoute. Attaches to the stack's first Gateway (all listeners) unless `parentRefs` says otherwise."""

    name: KubernetesName
    """The GRPCRoute's name, unique among the stack's gRPC routes."""
    parent_refs: list[ParentRef] = Field(default_factory=list, max_length=32)
    """The Gateways (and listeners) the route attaches to (up to 32); default: the stack's first Gateway, every
    listener."""
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    """The hosts the route serves (up to 16); default: any host."""
    rules: list[GrpcRouteRule] = Field(min_length=1, max_length=16)
    """The route's rules (1-16)."""
