"""Routes as typed models: the stack's `routes` (HTTPRoutes) and `grpcRoutes` (GRPCRoutes).

Field names are Gateway API v1's, camelCase in the stack file. Like every model here they
forbid unknown keys and coerce nothing; rules that relate a route to the rest of the stack
(its Gateway, its backends) are checked afterwards (`route_semantics.py`, `grpc_semantics.py`,
`gateway_api_rules.py`). `models.py` builds the whole stack from these.
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, model_validator

from gateway_config.base import ConfigModel
from gateway_config.fields import (
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
    validate_http_path,
    validate_regular_expression,
)


# --- routes ------------------------------------------------------------------------


class ParentRef(ConfigModel):
    """The Gateway (and optionally the listener) a route attaches to: `name` names one of the
    stack's Gateways (`gateway` or one of `gateways`) unless `external: true`."""

    name: KubernetesName
    section_name: Optional[SectionName] = None
    namespace: Optional[DnsLabel] = None
    external: bool = False


class PathMatch(ConfigModel):
    """Default: PathPrefix `/` (everything). A RegularExpression value is RE2 syntax."""

    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = "/"

    @model_validator(mode="after")
    def _value_fits_type(self) -> "PathMatch":
        if self.type == "RegularExpression":
            validate_regular_expression(self.value)
        else:
            validate_http_path(self.value)
        return self


class HeaderMatch(ConfigModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: HeaderName
    value: HeaderValue

    @model_validator(mode="after")
    def _value_fits_type(self) -> "HeaderMatch":
        if self.type == "RegularExpression":
            validate_regular_expression(self.value)
        return self


class QueryParamMatch(ConfigModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: HeaderName
    value: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _value_fits_type(self) -> "QueryParamMatch":
        if self.type == "RegularExpression":
            validate_regular_expression(self.value)
        return self


class RouteMatch(ConfigModel):
    """A request matches when every condition given here holds."""

    path: Optional[PathMatch] = None
    headers: list[HeaderMatch] = Field(default_factory=list, max_length=16)
    query_params: list[QueryParamMatch] = Field(default_factory=list, max_length=16)
    method: Optional[Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]] = None


class HeaderValuePair(ConfigModel):
    name: HeaderName
    value: HeaderValue


class HeaderModifier(ConfigModel):
    """Headers to set (replace), add (append) or remove; each name at most once."""

    set: list[HeaderValuePair] = Field(default_factory=list, max_length=16)
    add: list[HeaderValuePair] = Field(default_factory=list, max_length=16)
    remove: list[HeaderName] = Field(default_factory=list, max_length=16)


class PathModifier(ConfigModel):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replace_full_path: Optional[HttpPath] = None
    replace_prefix_match: Optional[HttpPath] = None


class RequestRedirect(ConfigModel):
    """Answer with a redirect instead of forwarding. Default status 302."""

    scheme: Optional[Literal["http", "https"]] = None
    hostname: Optional[PreciseHostname] = None
    path: Optional[PathModifier] = None
    port: Optional[Port] = None
    status_code: Literal[301, 302, 303, 307, 308] = 302


class UrlRewrite(ConfigModel):
    hostname: Optional[PreciseHostname] = None
    path: Optional[PathModifier] = None


class MirrorBackendRef(ConfigModel):
    """The Service that receives copies. Must name a backend of this stack unless `external: true`."""

    name: DnsLabel
    namespace: Optional[DnsLabel] = None
    port: Optional[Port] = None
    external: bool = False


class MirrorFraction(ConfigModel):
    numerator: int = Field(ge=0)
    denominator: int = Field(default=100, ge=1)


class RequestMirror(ConfigModel):
    """Copy requests to another backend (its answers are dropped): all of them, or `percent`
    (0-100) or `fraction` of them (one of the two)."""

    backend_ref: MirrorBackendRef
    percent: Optional[int] = Field(default=None, ge=0, le=100)
    fraction: Optional[MirrorFraction] = None


class RouteFilter(ConfigModel):
    """One filter, Gateway API shaped: `type` plus the block of that type."""

    type: Literal["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "RequestMirror"]
    request_header_modifier: Optional[HeaderModifier] = None
    response_header_modifier: Optional[HeaderModifier] = None
    request_redirect: Optional[RequestRedirect] = None
    url_rewrite: Optional[UrlRewrite] = Field(default=None, alias="urlRewrite")
    request_mirror: Optional[RequestMirror] = None


class BackendRef(ConfigModel):
    """A Service the rule forwards to. Default weight 1; the port defaults to the declared
    backend's. Must name a backend of this stack unless `external: true`.
    `kind: InferencePool` names one of `inferencePools` instead (its only backend in the rule;
    the port defaults to the pool's first target port)."""

    name: DnsLabel
    kind: Literal["Service", "InferencePool"] = "Service"
    group: Optional[Literal["", "inference.networking.k8s.io"]] = None
    namespace: Optional[DnsLabel] = None
    port: Optional[Port] = None
    weight: Weight = 1
    external: bool = False


class RouteTimeouts(ConfigModel):
    request: Optional[Duration] = None
    backend_request: Optional[Duration] = None


class RouteRule(ConfigModel):
    """Matches, filters and weighted backends. Default match: PathPrefix `/`.

    A rule whose backends all have weight 0 answers every request with 500, so it is
    refused unless `allowZeroWeight: true` says that is intended (e.g. draining).
    """

    name: Optional[SectionName] = None
    matches: list[RouteMatch] = Field(default_factory=list, max_length=64)
    filters: list[RouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[BackendRef] = Field(default_factory=list, max_length=16)
    timeouts: Optional[RouteTimeouts] = None
    allow_zero_weight: bool = False


class RouteConfig(ConfigModel):
    """An HTTPRoute. Attaches to the stack's first Gateway (all listeners) unless `parentRefs` says otherwise."""

    name: KubernetesName
    parent_refs: list[ParentRef] = Field(default_factory=list, max_length=32)
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[RouteRule] = Field(min_length=1, max_length=16)


# --- gRPC routes -----------------------------------------------------------------------

_GRPC_SERVICE = re.compile(r"^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$")
_GRPC_METHOD = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


class GrpcMethodMatch(ConfigModel):
    """`service` (package-qualified, e.g. `helloworld.Greeter`) and/or `method` (e.g.
    `SayHello`); `Exact` (default) or `RegularExpression` (RE2)."""

    type: Literal["Exact", "RegularExpression"] = "Exact"
    service: Optional[str] = Field(default=None, max_length=1024)
    method: Optional[str] = Field(default=None, max_length=1024)

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
    headers: list[HeaderMatch] = Field(default_factory=list, max_length=16)


class GrpcRouteFilter(ConfigModel):
    """RequestHeaderModifier, ResponseHeaderModifier (metadata) or RequestMirror."""

    type: Literal["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror"]
    request_header_modifier: Optional[HeaderModifier] = None
    response_header_modifier: Optional[HeaderModifier] = None
    request_mirror: Optional[RequestMirror] = None


class GrpcRouteRule(ConfigModel):
    """Matches, filters and weighted backends (which must speak gRPC: `protocol: grpc`)."""

    name: Optional[SectionName] = None
    matches: list[GrpcRouteMatch] = Field(default_factory=list, max_length=64)
    filters: list[GrpcRouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[BackendRef] = Field(min_length=1, max_length=16)


class GrpcRouteConfig(ConfigModel):
    """A GRPCRoute. Attaches to the stack's first Gateway (all listeners) unless `parentRefs` says otherwise."""

    name: KubernetesName
    parent_refs: list[ParentRef] = Field(default_factory=list, max_length=32)
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[GrpcRouteRule] = Field(min_length=1, max_length=16)
