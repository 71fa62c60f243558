"""Check a running gateway against its stack config by sending it real requests.

`verify(config, targets, ca_pems)` derives the checks from a `StackConfig` (the same checks
the seed guide does by hand with curl, generalised to every route of the stack), sends the
requests with the standard library only (`http.client` + `ssl`), and returns one
`CheckResult` per check. `format_table(results)` prints them. The same code runs against a
cluster (targets = the Gateway's address, ports 80/443) and against the local gateway
(targets = 127.0.0.1:10080/10443).

What is checked
---------------
For every rule of every route, on each listener the route attaches to (its parentRefs'
sectionName, or every listener of the stack's Gateway); routing, split and filter checks run
on the HTTP listeners (on the HTTPS ones when the route has no HTTP listener), and every HTTPS
listener gets a TLS request per rule:

* routing: for each hostname of the route (without hostnames: the listener's hostname, else
  ``gatestack-verify.example``; a wildcard ``*.example.com`` is asked as
  ``gatestack-verify.example.com``) and each match, a request built from the match (path value,
  exact header and query-parameter matches, method) reaches one of the rule's backends: the
  echo JSON's ``pod`` is ``<backend>-<hash>-<suffix>``, so the backend is the pod name without
  its last two dash-separated parts. Without a URLRewrite the echo's path, host and method must
  be the ones sent. Over HTTPS the echo must also show ``X-Forwarded-Proto: https``.
  A request is only made for a rule when the gateway's matching precedence (Gateway API:
  exact hostname over wildcard, then Exact > RegularExpression > PathPrefix, longer path,
  method, more header matches, more query matches; ties across routes are undecidable here)
  sends it to that rule; otherwise the match is reported as not checked, naming the rule that
  takes it. Regular-expression paths (and header/query values) are not checked: no request can
  be derived from them honestly.
* split: a rule with two or more backends gets ``sample_size`` sequential requests; each
  backend's count must lie in its acceptance interval (below); a weight-0 backend must get 0.
* RequestHeaderModifier: set/add values reach the backend as declared (names in the echo JSON
  in Go's canonical casing, ``added-header`` -> ``Added-Header``); removed headers, sent by the
  client, do not. ResponseHeaderModifier: set/add present in the response, removed ones absent
  (the backend is asked to send them with echo-basic's ``X-Echo-Set-Header``).
* RequestRedirect: the status code and the Location (scheme, host, port, path) as Gateway API
  derives them; the redirect is not followed. URLRewrite: the echo JSON's host/path show it.
* every HTTPS listener: for each hostname it serves, a TLS handshake with SNI = the hostname,
  verified against the CA of the listener's certificate (``ca_pems[secretName]``) with
  hostname checking.
* negative: an unknown host (``unknown-host.invalid``) gets 404, and for each route hostname
  paths no rule on that host matches (``/getter`` next to PathPrefix ``/get``: a PathPrefix
  matches whole segments; ``/no-such-path``) get 404, when precedence says no rule takes them.

Split acceptance intervals (exact binomial)
-------------------------------------------
With weights w_i summing to W, backend i's count over n sequential requests is taken as
X_i ~ Binomial(n, w_i / W). Its acceptance interval is the shortest [lo, hi] with
P(X_i outside) <= 1e-6 / m, where m is the number of backends with 0 < w_i < W (a union bound,
so a correct gateway fails the whole split check with probability at most 1e-6). The
probabilities are exact rational arithmetic on the integers C(n, k) a^k b^(n-k) (p = a/(a+b)),
not a normal approximation. A weight-0 backend must get exactly 0, a lone positive-weight one
exactly n. Numbers:

* 8:2 at n = 200: backend 130..186, backend-2 14..70 (probability outside 3.2e-7 each).
  A 50/50 split (100/100) fails; Envoy Gateway's locality-weighted split gives exactly 160/40.
* 1:1 at n = 200: 65..135. 1:3 at n = 200: 22..82 / 118..178. 8:2 at n = 20: 6..20 / 0..14
  (20 requests, as in the seed guide, cannot tell 8:2 from 1:1: hence the default of 200).

Results
-------
`CheckResult(name, passed, detail, skipped=False)`. A check that cannot be made honestly
(regex match, external backend, no CA given, ...) has ``skipped=True`` and ``passed=False``:
it is shown as SKIP, counted neither as passed nor as failed, and never reported as a pass.
A connection failure or timeout (5 s per request by default) is a FAIL with the error.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Optional

from gateway_config.models import (
    HeaderModifier,
    ListenerConfig,
    PathModifier,
    RouteConfig,
    RouteMatch,
    RouteRule,
    StackConfig,
)
from gatestack.echo_server import canonical_header_name  # echo-basic prints names as Go does

FALSE_FAILURE_BOUND = Fraction(1, 1_000_000)
DEFAULT_TIMEOUT_SECONDS = 5.0
UNKNOWN_HOST = "unknown-host.invalid"
MADE_UP_HOST = "gatestack-verify.example"
WILDCARD_STAND_IN = "gatestack-verify"
SUBPATH_PROBE = "gatestack-verify"
ORIGINAL_VALUE = "gatestack-verify-original"
ECHO_SET_HEADER = "X-Echo-Set-Header"

_WELL_KNOWN_PORTS = {"http": 80, "https": 443}


# --- public API -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a Gateway listener is reachable: connect to host:port (the Host header and SNI
    are the request's hostname, never this address)."""

    host: str
    port: int


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str
    skipped: bool = False

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")


def format_table(results: Iterable[CheckResult]) -> str:
    """An aligned table `check | result | detail`, then (when some were not checked)
    `K not checked`, and last `N passed, M failed`."""
    results = list(results)
    header = ("check", "result", "detail")
    rows = [(result.name, result.status, result.detail) for result in results]
    name_width = max([len(header[0])] + [len(row[0]) for row in rows])
    status_width = max([len(header[1])] + [len(row[1]) for row in rows])
    lines = [f"{header[0]:<{name_width}} | {header[1]:<{status_width}} | {header[2]}"]
    lines.append(f"{'-' * name_width}-+-{'-' * status_width}-+-{'-' * 6}")
    for name, status, detail in rows:
        lines.append(f"{name:<{name_width}} | {status:<{status_width}} | {detail}".rstrip())
    passed = sum(1 for result in results if result.status == "PASS")
    failed = sum(1 for result in results if result.status == "FAIL")
    skipped = sum(1 for result in results if result.status == "SKIP")
    if skipped:
        lines.append(f"{skipped} not checked")
    lines.append(f"{passed} passed, {failed} failed")
    return "\n".join(lines)


def binomial_interval(n: int, p: Fraction, alpha: Fraction) -> tuple[int, int]:
    """The shortest [lo, hi] with P(X < lo) + P(X > hi) <= alpha for X ~ Binomial(n, p),
    computed exactly. p = 0 gives (0, 0), p = 1 gives (n, n)."""
    p = Fraction(p)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if p == 0:
        return 0, 0
    if p == 1:
        return n, n
    a, b = p.numerator, p.denominator - p.numerator  # p = a / (a + b)
    total = (a + b) ** n
    mode = min(n, (n + 1) * a // (a + b))
    mode_term = math.comb(n, mode) * a**mode * b ** (n - mode)
    lo = hi = mode
    covered = mode_term
    # Neighbouring terms by exact integer ratios: T(k+1) = T(k) (n-k) a / ((k+1) b).
    below = mode_term * mode * b // ((n - mode + 1) * a) if lo > 0 else 0
    above = mode_term * (n - mode) * a // ((mode + 1) * b) if hi < n else 0
    while (total - covered) * alpha.denominator > total * alpha.numerator:
        if lo > 0 and (below >= above or hi == n):
            lo -= 1
            covered += below
            below = below * lo * b // ((n - lo + 1) * a) if lo > 0 else 0
        else:
            hi += 1
            covered += above
            above = above * (n - hi) * a // ((hi + 1) * b) if hi < n else 0
    return lo, hi


def binomial_outside_probability(n: int, p: Fraction, lo: int, hi: int) -> Fraction:
    """P(X < lo or X > hi) for X ~ Binomial(n, p), exactly."""
    p = Fraction(p)
    inside = sum(
        (math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(max(lo, 0), min(hi, n) + 1)),
        Fraction(0),
    )
    return 1 - inside


def split_intervals(n: int, weights: list[int], bound: Fraction = FALSE_FAILURE_BOUND) -> list[tuple[int, int]]:
    """Acceptance interval of each backend's count over n requests, so that a gateway that
    splits correctly fails the whole check with probability at most `bound` (union bound
    over the backends whose share is neither 0 nor 1)."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    uncertain = sum(1 for weight in weights if 0 < weight < total)
    alpha = bound / max(uncertain, 1)
    return [binomial_interval(n, Fraction(weight, total), alpha) for weight in weights]


def backend_of_pod(pod: str) -> Optional[str]:
    """The Deployment (= backend) name of a pod `<deployment>-<hash>-<suffix>`, or None."""
    parts = pod.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0]


def verify(
    config: StackConfig,
    targets: dict[str, Target],
    ca_pems: Optional[dict[str, str]],
    sample_size: int = 200,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[CheckResult]:
    """Send the checks derived from `config` to the gateway and return their results.

    `targets` maps Gateway listener name -> where it is reachable; `ca_pems` maps a
    certificate's secretName -> the PEM of the CA that signed it (None: TLS chains are not
    verified and that check is reported as not checked).
    """
    if sample_size < 1:
        raise ValueError("sample_size must be at least 1")
    return _Verifier(config, targets, ca_pems or {}, sample_size, timeout).run()


# --- requests ---------------------------------------------------------------------------


class RequestFailed(Exception):
    """A request that got no HTTP response (connection refused, TLS failure, timeout...)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def echo(self) -> Optional[dict[str, Any]]:
        try:
            document = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return document if isinstance(document, dict) else None


class _SNIHTTPSConnection(http.client.HTTPSConnection):
    """Connect to an address, but use `server_hostname` for SNI and certificate checks."""

    def __init__(self, host: str, port: int, *, server_hostname: str, context: ssl.SSLContext, timeout: float):
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_hostname)


def _describe_error(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {error.verify_message or error}"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def verified_context(ca_pem: str) -> ssl.SSLContext:
    """Trust only `ca_pem`, check the hostname."""
    context = ssl.create_default_context(cadata=ca_pem)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def send_request(
    target: Target,
    method: str,
    host: str,
    path: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    tls: Optional[ssl.SSLContext] = None,
    sni: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Response:
    """One request on a fresh connection to target, with an explicit Host header (and SNI =
    `sni or host` over TLS). Raises RequestFailed when no HTTP response comes back."""
    if tls is not None:
        connection: http.client.HTTPConnection = _SNIHTTPSConnection(
            target.host, target.port, server_hostname=sni or host, context=tls, timeout=timeout
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in headers:
            connection.putheader(name, value)
        if method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return Response(response.status, list(response.getheaders()), body)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise RequestFailed(f"{target.host}:{target.port}: {_describe_error(error)}") from None
    finally:
        connection.close()


def tls_handshake(target: Target, server_hostname: str, context: ssl.SSLContext, timeout: float) -> dict[str, Any]:
    """Handshake only; returns the verified peer certificate (as ssl.getpeercert()) and the
    TLS version. Raises RequestFailed on failure."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=server_hostname) as wrapped:
                return {"cert": wrapped.getpeercert() or {}, "version": wrapped.version()}
    except (OSError, ValueError) as error:
        raise RequestFailed(f"{target.host}:{target.port}: {_describe_error(error)}") from None


_NAME_ABBREVIATIONS = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


def _distinguished_name(rdns: Any) -> str:
    return ", ".join(f"{_NAME_ABBREVIATIONS.get(key, key)}={value}" for rdn in rdns for key, value in rdn)


# --- hostnames and matching precedence --------------------------------------------------


def _host_matches_pattern(host: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _intersect_hostnames(listener_hostname: Optional[str], route_hostnames: list[str]) -> list[str]:
    """The hostname patterns a route serves on a listener (Gateway API intersection)."""
    if listener_hostname is None:
        return list(route_hostnames) or ["*"]
    if not route_hostnames:
        return [listener_hostname]
    result = []
    for hostname in route_hostnames:
        if hostname == listener_hostname or _host_matches_pattern(hostname.replace("*", WILDCARD_STAND_IN), listener_hostname):
            result.append(hostname)
        elif _host_matches_pattern(listener_hostname.replace("*", WILDCARD_STAND_IN), hostname):
            result.append(listener_hostname)
    return list(dict.fromkeys(result))


def _concrete_host(pattern: str) -> str:
    if pattern == "*":
        return MADE_UP_HOST
    return pattern.replace("*", WILDCARD_STAND_IN, 1)


def _attached_listeners(config: StackConfig, route: RouteConfig) -> list[ListenerConfig]:
    listeners = config.gateway.listeners
    if not route.parent_refs:
        return list(listeners)
    attached: list[ListenerConfig] = []
    for ref in route.parent_refs:
        if ref.external or ref.name != config.gateway.name or (ref.namespace or config.namespace) != config.namespace:
            continue
        attached.extend(l for l in listeners if ref.section_name is None or l.name == ref.section_name)
    return list({listener.name: listener for listener in attached}.values())


@dataclass(frozen=True)
class _Probe:
    method: str
    host: str
    path: str  # with query string
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def path_only(self) -> str:
        return self.path.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.path.split("?", 1)[1] if "?" in self.path else ""

    def label(self, https: bool = False) -> str:
        text = f"{self.method} {'https://' if https else ''}{self.host}{self.path}"
        if self.headers:
            text += " [" + "; ".join(f"{name}: {value}" for name, value in self.headers) + "]"
        return text


@dataclass(frozen=True, eq=False)
class _Entry:
    """One match of one rule, as the gateway would rank it on one host pattern."""

    route_index: int
    route: RouteConfig
    rule_index: int
    rule: RouteRule
    match_index: int
    match: RouteMatch
    pattern: str

    @property
    def rule_key(self) -> tuple[int, int]:
        return (self.route_index, self.rule_index)

    @property
    def key(self) -> tuple[int, int, int, str]:
        return (self.route_index, self.rule_index, self.match_index, self.pattern)

    @property
    def rank(self) -> tuple[int, int, int, int, int]:
        path = self.match.path
        path_type = path.type if path else "PathPrefix"
        value = path.value if path else "/"
        type_rank = {"Exact": 3, "RegularExpression": 2, "PathPrefix": 1}[path_type]
        return (
            type_rank,
            len(value),
            1 if self.match.method else 0,
            len(self.match.headers),
            len(self.match.query_params),
        )


def _regex_fullmatch(pattern: str, text: str) -> Optional[bool]:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return None  # RE2 syntax Python cannot evaluate: unknown


def _match_applies(match: RouteMatch, probe: _Probe) -> Optional[bool]:
    """Whether `match` takes `probe`: True, False, or None when it cannot be told here."""
    unknown = False

    def combine(result: Optional[bool]) -> bool:
        nonlocal unknown
        if result is None:
            unknown = True
            return True
        return result

    path = probe.path_only
    if match.path is not None:
        if match.path.type == "Exact":
            ok = path == match.path.value
        elif match.path.type == "PathPrefix":
            prefix = match.path.value.rstrip("/")
            ok = prefix == "" or path == prefix or path.startswith(prefix + "/")
        else:
            ok = combine(_regex_fullmatch(match.path.value, path))
        if not ok:
            return False
    if match.method is not None and match.method != probe.method:
        return False
    for header in match.headers:
        values = [value for name, value in probe.headers if name.lower() == header.name.lower()]
        if header.type == "Exact":
            ok = header.value in values
        else:
            results = [_regex_fullmatch(header.value, value) for value in values]
            ok = True in results or (None in results and combine(None))
        if not ok:
            return False
    query = urllib.parse.parse_qsl(probe.query, keep_blank_values=True)
    for param in match.query_params:
        values = [value for name, value in query if name == param.name]
        if param.type == "Exact":
            ok = param.value in values
        else:
            results = [_regex_fullmatch(param.value, value) for value in values]
            ok = True in results or (None in results and combine(None))
        if not ok:
            return False
    return None if unknown else True


@dataclass(frozen=True)
class _Outcome:
    entry: Optional[_Entry]  # the winning match, None: no rule takes the request
    certain: bool
    reason: str = ""


class _RouteTable:
    """The rules of all routes that share one Envoy route configuration."""

    def __init__(self, entries: list[_Entry]):
        self.entries = entries

    def patterns(self) -> list[str]:
        return list(dict.fromkeys(entry.pattern for entry in self.entries))

    def virtual_host(self, host: str) -> Optional[str]:
        patterns = self.patterns()
        if host in patterns:
            return host
        wildcards = [p for p in patterns if p.startswith("*.") and _host_matches_pattern(host, p)]
        if wildcards:
            return max(wildcards, key=len)
        return "*" if "*" in patterns else None

    def concrete_hosts(self) -> list[str]:
        return list(dict.fromkeys(_concrete_host(pattern) for pattern in self.patterns()))

    def outcome(self, probe: _Probe) -> _Outcome:
        pattern = self.virtual_host(probe.host)
        if pattern is None:
            return _Outcome(None, True)
        candidates = []
        for entry in self.entries:
            if entry.pattern != pattern:
                continue
            applies = _match_applies(entry.match, probe)
            if applies is not False:
                candidates.append((entry, applies))
        if not candidates:
            return _Outcome(None, True)
        candidates.sort(key=lambda item: (item[0].rank, -item[0].route_index, -item[0].rule_index, -item[0].match_index), reverse=True)
        winner, applies = candidates[0]
        if applies is None:
            return _Outcome(winner, False, f"cannot tell whether {_rule_label(winner)} takes it (regular expression)")
        for other, _ in candidates[1:]:
            if other.rank != winner.rank:
                break
            if other.route_index != winner.route_index:
                return _Outcome(
                    winner,
                    False,
                    f"{_rule_label(winner)} and {_rule_label(other)} match it with equal precedence "
                    "(decided by creation time)",
                )
        return _Outcome(winner, True)


def _rule_label(entry_or_route: Any, rule_index: Optional[int] = None, rule: Optional[RouteRule] = None) -> str:
    if isinstance(entry_or_route, _Entry):
        route, rule_index, rule = entry_or_route.route, entry_or_route.rule_index, entry_or_route.rule
    else:
        route = entry_or_route
    label = f"route {route.name} rule {rule_index}"
    if rule is not None and rule.name:
        label += f" ({rule.name})"
    return label


# --- expectations -----------------------------------------------------------------------


def _replace_prefix(path: str, prefix: str, replacement: str) -> str:
    rest = path[len(prefix.rstrip("/")):]
    result = replacement.rstrip("/") + rest
    return result or "/"


def _modified_path(modifier: PathModifier, path: str, rule: RouteRule) -> str:
    if modifier.type == "ReplaceFullPath":
        return modifier.replace_full_path or "/"
    prefix = next(m.path.value for m in rule.matches if m.path is not None and m.path.type == "PathPrefix")
    return _replace_prefix(path, prefix, modifier.replace_prefix_match or "/")


def _filter(rule: RouteRule, kind: str) -> Any:
    for route_filter in rule.filters:
        if route_filter.type == kind:
            return {
                "RequestHeaderModifier": route_filter.request_header_modifier,
                "ResponseHeaderModifier": route_filter.response_header_modifier,
                "RequestRedirect": route_filter.request_redirect,
                "URLRewrite": route_filter.url_rewrite,
            }[kind]
    return None


def _uses_prefix_replacement(rule: RouteRule) -> bool:
    for modifier in (getattr(_filter(rule, "RequestRedirect"), "path", None), getattr(_filter(rule, "URLRewrite"), "path", None)):
        if modifier is not None and modifier.type == "ReplacePrefixMatch":
            return True
    return False


def _probes_for_match(match: RouteMatch, host: str, rule: RouteRule) -> tuple[list[_Probe], str]:
    """Requests that satisfy `match` (first choice first), or ([], why not)."""
    if match.path is not None and match.path.type == "RegularExpression":
        return [], "regular-expression path"
    if any(header.type == "RegularExpression" for header in match.headers):
        return [], "regular-expression header match"
    if any(param.type == "RegularExpression" for param in match.query_params):
        return [], "regular-expression query parameter match"
    method = match.method or "GET"
    if method == "CONNECT":
        return [], "CONNECT method"
    headers = tuple((header.name, header.value) for header in match.headers)
    query = urllib.parse.urlencode([(param.name, param.value) for param in match.query_params])
    path_type = match.path.type if match.path else "PathPrefix"
    value = match.path.value if match.path else "/"
    if path_type == "Exact":
        paths = [value]
    else:
        subpath = value.rstrip("/") + "/" + SUBPATH_PROBE
        paths = [subpath] if _uses_prefix_replacement(rule) else [value, subpath]
    return [_Probe(method, host, path + (f"?{query}" if query else ""), headers) for path in paths], ""


def _backend_names(rule: RouteRule) -> tuple[list[str], list[str]]:
    """(internal backends with weight > 0, external backends)."""
    internal = [ref.name for ref in rule.backend_refs if not ref.external and ref.weight > 0]
    external = [ref.name for ref in rule.backend_refs if ref.external]
    return list(dict.fromkeys(internal)), list(dict.fromkeys(external))


def _header_lookup(echo_headers: Any, name: str) -> Optional[list[str]]:
    if not isinstance(echo_headers, dict):
        return None
    for key, values in echo_headers.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return [str(v) for v in values] if isinstance(values, list) else [str(values)]
    return None


# --- the verifier -----------------------------------------------------------------------


@dataclass
class _Listener:
    config: ListenerConfig
    target: Target
    table: _RouteTable

    @property
    def https(self) -> bool:
        return self.config.protocol == "HTTPS"

    @property
    def name(self) -> str:
        return self.config.name


@dataclass
class _Verifier:
    config: StackConfig
    targets: dict[str, Target]
    ca_pems: dict[str, str]
    sample_size: int
    timeout: float
    results: list[CheckResult] = field(default_factory=list)
    tls_verified: dict[tuple[str, str], ssl.SSLContext] = field(default_factory=dict)

    # bookkeeping ---------------------------------------------------------------------
    def add(self, name: str, passed: bool, detail: str) -> None:
        self.results.append(CheckResult(name, passed, detail))

    def skip(self, name: str, detail: str) -> None:
        if not detail.startswith("not checked"):
            detail = f"not checked: {detail}"
        if not any(result.name == name and result.skipped for result in self.results):
            self.results.append(CheckResult(name, False, detail, skipped=True))

    def context_for(self, listener: _Listener, host: str) -> Optional[ssl.SSLContext]:
        if not listener.https:
            return None
        return self.tls_verified.get((listener.name, host)) or unverified_context()

    def send(self, listener: _Listener, probe: _Probe, extra_headers: Iterable[tuple[str, str]] = (), sni: Optional[str] = None) -> Response:
        return send_request(
            listener.target,
            probe.method,
            probe.host,
            probe.path,
            [*probe.headers, *extra_headers],
            tls=self.context_for(listener, sni or probe.host),
            sni=sni,
            timeout=self.timeout,
        )

    # structure -----------------------------------------------------------------------
    def table_for(self, listeners: list[ListenerConfig]) -> _RouteTable:
        names = {listener.name for listener in listeners}
        entries = []
        for route_index, route in enumerate(self.config.routes):
            for listener in _attached_listeners(self.config, route):
                if listener.name not in names:
                    continue
                for pattern in _intersect_hostnames(listener.hostname, list(route.hostnames)):
                    for rule_index, rule in enumerate(route.rules):
                        for match_index, match in enumerate(rule.matches or [RouteMatch()]):
                            entries.append(_Entry(route_index, route, rule_index, rule, match_index, match, pattern))
        return _RouteTable(list({entry.key: entry for entry in entries}.values()))

    def build_listeners(self) -> dict[str, _Listener]:
        listeners = self.config.gateway.listeners
        result = {}
        for listener in listeners:
            target = self.targets.get(listener.name)
            if target is None:
                self.skip(f"listener {listener.name}", "no target address given for this listener")
                continue
            if listener.protocol == "HTTP":
                # HTTP listeners on one port share one Envoy listener and route configuration.
                group = [l for l in listeners if l.protocol == "HTTP" and l.port == listener.port]
            else:
                group = [listener]
            result[listener.name] = _Listener(listener, target, self.table_for(group))
        return result

    # the run -------------------------------------------------------------------------
    def run(self) -> list[CheckResult]:
        listeners = self.build_listeners()
        for listener in listeners.values():
            if listener.https:
                self.guarded(f"listener {listener.name}", self.check_certificates, listener)
        for route_index, route in enumerate(self.config.routes):
            self.guarded(f"route {route.name}", self.check_route, route_index, route, listeners)
        self.guarded("negative checks", self.check_negatives, listeners)
        return self.results

    def guarded(self, what: str, check: Any, *arguments: Any) -> None:
        """Run one group of checks; a bug or an unforeseen answer becomes a FAIL, not a traceback."""
        try:
            check(*arguments)
        except Exception as error:  # noqa: BLE001 - reported as a failed check
            self.add(f"{what}: remaining checks", False, f"verify could not complete them: {type(error).__name__}: {error}")

    # TLS -----------------------------------------------------------------------------
    def served_hostnames(self, listener: _Listener) -> list[str]:
        """Hostnames to ask an HTTPS listener for: its routes' (wildcards made concrete); for
        routes without hostnames (or none at all), the listener's hostname, else the DNS names
        of its certificates."""
        patterns = listener.table.patterns()
        hosts = [_concrete_host(pattern) for pattern in patterns if pattern != "*"]
        if "*" in patterns or not hosts:
            if listener.config.hostname:
                hosts.append(_concrete_host(listener.config.hostname))
            else:
                for ref in listener.config.tls.certificate_refs if listener.config.tls else []:
                    certificate = self.certificate(ref.name, ref.namespace)
                    if certificate is not None:
                        hosts.extend(_concrete_host(name) for name in certificate.effective_dns_names)
        return list(dict.fromkeys(hosts))

    def certificate(self, name: str, namespace: Optional[str]) -> Any:
        for certificate in self.config.certificates:
            if certificate.secret_name == name and self.config.certificate_namespace(certificate) == (namespace or self.config.namespace):
                return certificate
        return None

    def secret_for(self, listener: _Listener, host: str) -> Optional[str]:
        refs = listener.config.tls.certificate_refs if listener.config.tls else []
        for ref in refs:
            certificate = self.certificate(ref.name, ref.namespace)
            if certificate is not None and any(_host_matches_pattern(host, name) for name in certificate.effective_dns_names):
                return ref.name
        return refs[0].name if refs else None

    def check_certificates(self, listener: _Listener) -> None:
        hosts = self.served_hostnames(listener)
        if not hosts:
            self.skip(f"listener {listener.name}: certificate", "no hostname to ask for (no routes, listener hostname or certificate DNS names)")
            return
        for host in hosts:
            secret = self.secret_for(listener, host)
            name = f"listener {listener.name}: certificate for {host} verifies against CA of {secret}"
            ca_pem = self.ca_pems.get(secret or "")
            if ca_pem is None:
                self.skip(name, f"no CA PEM given for secret {secret}")
                continue
            try:
                context = verified_context(ca_pem)
            except (ssl.SSLError, ValueError) as error:
                self.add(name, False, f"the CA PEM of {secret} could not be loaded: {error}")
                continue
            try:
                handshake = tls_handshake(listener.target, host, context, self.timeout)
            except RequestFailed as error:
                self.add(name, False, f"SNI {host}: {error}")
                continue
            self.tls_verified[(listener.name, host)] = context
            cert = handshake["cert"]
            subject = _distinguished_name(cert.get("subject", ()))
            issuer = _distinguished_name(cert.get("issuer", ()))
            sans = ",".join(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")
            self.add(name, True, f"{handshake['version']}; subject {subject}; issuer {issuer}; DNS {sans}")

    # routes --------------------------------------------------------------------------
    def check_route(self, route_index: int, route: RouteConfig, listeners: dict[str, _Listener]) -> None:
        attached_configs = _attached_listeners(self.config, route)
        if not attached_configs:
            self.skip(f"route {route.name}", f"attached to no listener of Gateway {self.config.gateway.name}")
            return
        attached = [listeners[l.name] for l in attached_configs if l.name in listeners]
        http = [l for l in attached if not l.https]
        https = [l for l in attached if l.https]
        for rule_index, rule in enumerate(route.rules):
            label = _rule_label(route, rule_index, rule)
            primary: Optional[tuple[_Listener, _Probe]] = None
            for listener in (http or https) + (https if http else []):
                for probe in self.rule_probes(route_index, route, rule_index, rule, listener, label):
                    self.check_routing(label, rule, listener, probe)
                    if primary is None and (not listener.https or not http):
                        primary = (listener, probe)
            if primary is None:
                if rule.filters or len(rule.backend_refs) > 1:
                    self.skip(f"{label}: filters and split", "no request could be made that this rule takes")
                continue
            self.check_rule_details(label, rule, *primary)

    def rule_probes(
        self, route_index: int, route: RouteConfig, rule_index: int, rule: RouteRule, listener: _Listener, label: str
    ) -> list[_Probe]:
        hosts = [
            _concrete_host(pattern)
            for pattern in _intersect_hostnames(listener.config.hostname, list(route.hostnames))
        ]
        chosen = []
        for host in dict.fromkeys(hosts):
            for match_index, match in enumerate(rule.matches or [RouteMatch()]):
                probes, why_not = _probes_for_match(match, host, rule)
                if not probes:
                    description = f"{match.path.type} path {match.path.value}" if match.path else f"match {match_index}"
                    self.skip(f"{label}: {description} -> {self.expectation(rule)}", why_not)
                    continue
                reasons = []
                for probe in probes:
                    outcome = listener.table.outcome(probe)
                    if outcome.certain and outcome.entry is not None and outcome.entry.rule_key == (route_index, rule_index):
                        chosen.append(probe)
                        break
                    if not outcome.certain:
                        reasons.append(outcome.reason)
                    elif outcome.entry is None:
                        reasons.append("no rule takes it")
                    else:
                        reasons.append(f"{_rule_label(outcome.entry)} takes it (higher precedence)")
                else:
                    self.skip(
                        f"{label}: {probes[0].label(listener.https)} -> {self.expectation(rule)} ({listener.name})",
                        "; ".join(dict.fromkeys(reasons)),
                    )
        return chosen

    def expectation(self, rule: RouteRule) -> str:
        redirect = _filter(rule, "RequestRedirect")
        if redirect is not None:
            return f"redirect {redirect.status_code}"
        internal, external = _backend_names(rule)
        if rule.backend_refs and not internal and not external:
            return "500 (every backend has weight 0)"
        return "|".join(internal + external) or "no backend"

    def check_routing(self, label: str, rule: RouteRule, listener: _Listener, probe: _Probe) -> None:
        redirect = _filter(rule, "RequestRedirect")
        if redirect is not None:
            self.check_redirect(label, rule, listener, probe)
            return
        name = f"{label}: {probe.label(listener.https)} -> {self.expectation(rule)} ({listener.name})"
        internal, external = _backend_names(rule)
        if not internal and external:
            self.skip(name, f"external backend {', '.join(external)}: its answers cannot be recognised")
            return
        try:
            response = self.send(listener, probe)
        except RequestFailed as error:
            self.add(name, False, str(error))
            return
        if not internal:  # every backend has weight 0
            self.add(name, response.status == 500, f"status {response.status}")
            return
        if response.status != 200:
            self.add(name, False, f"status {response.status}, expected 200")
            return
        if probe.method == "HEAD":
            self.skip(name, "status 200, but a HEAD answer has no body to tell the backend from")
            return
        echo = response.echo()
        if echo is None:
            self.add(name, False, f"status 200 but the body is not echo JSON: {response.body[:80]!r}")
            return
        pod = str(echo.get("pod", ""))
        backend = backend_of_pod(pod)
        problems = []
        if backend not in internal:
            if external:
                self.skip(name, f"answered by pod {pod!r}, maybe external backend {', '.join(external)}")
                return
            problems.append(f"answered by pod {pod!r} (backend {backend}), not by {'|'.join(internal)}")
        if _filter(rule, "URLRewrite") is None:
            for key, expected in (("path", probe.path), ("host", probe.host), ("method", probe.method)):
                if echo.get(key) != expected:
                    problems.append(f"echo {key} {echo.get(key)!r}, sent {expected!r}")
        if listener.https:
            forwarded = _header_lookup(echo.get("headers"), "X-Forwarded-Proto")
            if forwarded != ["https"]:
                problems.append(f"echo X-Forwarded-Proto {forwarded}, expected ['https']")
        verified = "" if not listener.https else (
            "; TLS verified" if (listener.name, probe.host) in self.tls_verified else "; TLS not verified (see certificate check)"
        )
        if problems:
            self.add(name, False, "; ".join(problems))
        else:
            extra = ", X-Forwarded-Proto https" if listener.https else ""
            self.add(name, True, f"200 from {pod}; echo path {echo.get('path')}, host {echo.get('host')}{extra}{verified}")

    def check_redirect(self, label: str, rule: RouteRule, listener: _Listener, probe: _Probe) -> None:
        redirect = _filter(rule, "RequestRedirect")
        scheme = redirect.scheme or ("https" if listener.https else "http")
        host = redirect.hostname or probe.host
        if redirect.port is not None:
            port = redirect.port
        elif redirect.scheme is not None:
            port = _WELL_KNOWN_PORTS[redirect.scheme]
        else:
            port = listener.config.port
        path = _modified_path(redirect.path, probe.path_only, rule) if redirect.path else probe.path_only
        shown_port = "" if _WELL_KNOWN_PORTS.get(scheme) == port else f":{port}"
        expected = f"{scheme}://{host}{shown_port}{path}" + (f"?{probe.query}" if probe.query else "")
        name = f"{label}: {probe.label(listener.https)} -> {redirect.status_code} {expected} ({listener.name})"
        try:
            response = self.send(listener, probe)
        except RequestFailed as error:
            self.add(name, False, str(error))
            return
        locations = response.header_values("Location")
        location = locations[0] if locations else None
        problems = []
        if response.status != redirect.status_code:
            problems.append(f"status {response.status}, expected {redirect.status_code}")
        if location is None:
            problems.append("no Location header")
        else:
            parts = urllib.parse.urlsplit(location)
            try:
                actual_port = parts.port or _WELL_KNOWN_PORTS.get(parts.scheme)
            except ValueError:
                actual_port = None
            if (parts.scheme, parts.hostname, actual_port, parts.path or "/", parts.query) != (
                scheme, host, port, path, probe.query
            ):
                problems.append(f"Location {location}, expected {expected}")
        if problems:
            self.add(name, False, "; ".join(problems))
        else:
            self.add(name, True, f"{response.status}, Location {location}")

    def check_rule_details(self, label: str, rule: RouteRule, listener: _Listener, probe: _Probe) -> None:
        redirect = _filter(rule, "RequestRedirect") is not None
        for kind, check in (
            ("RequestHeaderModifier", self.check_request_headers),
            ("ResponseHeaderModifier", self.check_response_headers),
        ):
            modifier = _filter(rule, kind)
            if modifier is None:
                continue
            if redirect:
                self.skip(f"{label}: {kind}", "the rule answers with a redirect; no backend to check it on")
            else:
                check(label, modifier, listener, probe)
        rewrite = _filter(rule, "URLRewrite")
        if rewrite is not None:
            self.check_rewrite(label, rule, rewrite, listener, probe)
        if len(rule.backend_refs) > 1 and not redirect:
            self.check_split(label, rule, listener, probe)

    def echo_for(self, listener: _Listener, probe: _Probe, extra: list[tuple[str, str]]) -> tuple[Optional[Response], Optional[dict], str]:
        try:
            response = self.send(listener, probe, extra)
        except RequestFailed as error:
            return None, None, str(error)
        if response.status != 200:
            return response, None, f"status {response.status}, expected 200"
        echo = response.echo()
        if echo is None:
            return response, None, f"the body is not echo JSON: {response.body[:80]!r}"
        return response, echo, ""

    def check_request_headers(self, label: str, modifier: HeaderModifier, listener: _Listener, probe: _Probe) -> None:
        sent = {name.lower() for name, _ in probe.headers}
        extra = [(pair.name, ORIGINAL_VALUE) for pair in modifier.set if pair.name.lower() not in sent]
        extra += [(name, "gatestack-verify") for name in modifier.remove if name.lower() not in sent]
        checks = []
        for pair in modifier.add:
            checks.append((f"{canonical_header_name(pair.name)}: {pair.value} reaches the backend", "add", pair.name, pair.value))
        for pair in modifier.set:
            checks.append((f"{canonical_header_name(pair.name)}: {pair.value} reaches the backend (set over the client's value)", "set", pair.name, pair.value))
        for removed in modifier.remove:
            checks.append((f"{canonical_header_name(removed)} sent by the client does not reach the backend", "remove", removed, None))
        _, echo, error = self.echo_for(listener, probe, extra)
        for title, kind, header, value in checks:
            name = f"{label}: {title}"
            if echo is None:
                self.add(name, False, error)
                continue
            values = _header_lookup(echo.get("headers"), header)
            shown = (
                f"echo headers[{canonical_header_name(header)!r}] = {values}"
                if values is not None
                else f"{canonical_header_name(header)} absent from the echo headers"
            )
            if kind == "add":
                self.add(name, values is not None and value in values, shown)
            elif kind == "set":
                self.add(name, values == [value], shown + f" (client sent {ORIGINAL_VALUE!r})")
            else:
                self.add(name, values is None, shown + " (the client sent it)")

    def check_response_headers(self, label: str, modifier: HeaderModifier, listener: _Listener, probe: _Probe) -> None:
        # echo-basic sets response headers named in X-Echo-Set-Header (`name:value,...`).
        asked = [f"{pair.name}:{ORIGINAL_VALUE}" for pair in modifier.set] + [f"{name}:gatestack-verify" for name in modifier.remove]
        extra = [(ECHO_SET_HEADER, ",".join(asked))] if asked else []
        try:
            response: Optional[Response] = self.send(listener, probe, extra)
            error = ""
        except RequestFailed as failure:
            response, error = None, str(failure)
        for kind, entries in (("set", modifier.set), ("add", modifier.add), ("remove", modifier.remove)):
            for entry in entries:
                header = entry if isinstance(entry, str) else entry.name
                value = None if isinstance(entry, str) else entry.value
                title = (
                    f"response header {canonical_header_name(header)} is removed"
                    if kind == "remove"
                    else f"response header {canonical_header_name(header)}: {value} is {'set' if kind == 'set' else 'added'}"
                )
                name = f"{label}: {title}"
                if response is None:
                    self.add(name, False, error)
                    continue
                values = response.header_values(header)
                split_values = [part.strip() for v in values for part in v.split(",")]
                shown = f"status {response.status}; response {canonical_header_name(header)}: {values}"
                if kind == "set":
                    self.add(name, values == [value], shown + f" (backend was asked to send {ORIGINAL_VALUE!r})")
                elif kind == "add":
                    self.add(name, value in values or value in split_values, shown)
                else:
                    self.add(name, not values, (shown if values else f"status {response.status}; absent") + " (backend was asked to send it)")

    def check_rewrite(self, label: str, rule: RouteRule, rewrite: Any, listener: _Listener, probe: _Probe) -> None:
        expected_host = rewrite.hostname or probe.host
        expected_path = _modified_path(rewrite.path, probe.path_only, rule) if rewrite.path else probe.path_only
        if probe.query:
            expected_path += f"?{probe.query}"
        name = f"{label}: {probe.label(listener.https)} is rewritten to {expected_host}{expected_path}"
        _, echo, error = self.echo_for(listener, probe, [])
        if echo is None:
            self.add(name, False, error)
            return
        actual = (echo.get("host"), echo.get("path"))
        self.add(name, actual == (expected_host, expected_path), f"echo host {actual[0]!r}, path {actual[1]!r}")

    def check_split(self, label: str, rule: RouteRule, listener: _Listener, probe: _Probe) -> None:
        refs = rule.backend_refs
        n = self.sample_size
        name = f"{label}: split " + " : ".join(f"{ref.name} {ref.weight}" for ref in refs) + f" over {n} requests"
        external = [ref.name for ref in refs if ref.external]
        if external:
            self.skip(name, f"external backend {', '.join(external)}: its answers cannot be counted")
            return
        if sum(ref.weight for ref in refs) == 0:
            return  # every request gets 500: the routing check says so
        # Two refs to the same Service add up.
        weights: dict[str, int] = {}
        for ref in refs:
            weights[ref.name] = weights.get(ref.name, 0) + ref.weight
        names = list(weights)
        intervals = dict(zip(names, split_intervals(n, [weights[b] for b in names])))
        counts = {backend: 0 for backend in names}
        others: dict[str, int] = {}
        for index in range(n):
            try:
                response = self.send(listener, probe)
            except RequestFailed as error:
                self.add(name, False, f"request {index + 1} of {n} failed: {error}")
                return
            echo = response.echo() if response.status == 200 else None
            backend = backend_of_pod(str(echo.get("pod", ""))) if echo else None
            if backend in counts:
                counts[backend] += 1
            else:
                key = f"status {response.status}" if echo is None else f"pod {echo.get('pod')!r}"
                others[key] = others.get(key, 0) + 1
        passed = not others and all(intervals[b][0] <= counts[b] <= intervals[b][1] for b in names)
        detail = ", ".join(f"{b} {counts[b]}" for b in names)
        detail += " (accepted " + " / ".join(f"{lo}..{hi}" for lo, hi in (intervals[b] for b in names)) + ")"
        if others:
            detail += "; other answers: " + ", ".join(f"{key} x{count}" for key, count in others.items())
        self.add(name, passed, detail)

    # negative checks -------------------------------------------------------------------
    def check_negatives(self, listeners: dict[str, _Listener]) -> None:
        http = [l for l in listeners.values() if not l.https]
        chosen = http or [l for l in listeners.values() if l.https]
        groups: dict[tuple, _Listener] = {}
        for listener in chosen:
            key = ("HTTP", listener.config.port) if not listener.https else ("HTTPS", listener.name)
            groups.setdefault(key, listener)
        for listener in groups.values():
            suffix = f" ({listener.name})" if len(groups) > 1 else ""
            self.check_unknown_host(listener, suffix)
            self.check_unmatched_paths(listener, suffix)

    def some_path(self, listener: _Listener) -> str:
        for entry in listener.table.entries:
            if entry.match.path is not None and entry.match.path.type != "RegularExpression":
                return entry.match.path.value
        return "/"

    def check_unknown_host(self, listener: _Listener, suffix: str) -> None:
        name = f"unknown host gets 404{suffix}"
        probe = _Probe("GET", UNKNOWN_HOST, self.some_path(listener))
        pattern = listener.table.virtual_host(UNKNOWN_HOST)
        if pattern is not None:
            routes = sorted({e.route.name for e in listener.table.entries if e.pattern == pattern})
            self.skip(name, f"route {', '.join(routes)} accepts any host")
            return
        sni = None
        if listener.https:
            hosts = self.served_hostnames(listener)
            sni = hosts[0] if hosts else UNKNOWN_HOST
        self.expect_404(name, listener, probe, sni)

    def check_unmatched_paths(self, listener: _Listener, suffix: str) -> None:
        for host in listener.table.concrete_hosts():
            pattern = listener.table.virtual_host(host)
            candidates = []
            for entry in listener.table.entries:
                path = entry.match.path
                if entry.pattern == pattern and path is not None and path.type != "RegularExpression" and path.value != "/":
                    candidates.append(path.value.rstrip("/") + "ter")
            candidates.append("/no-such-path")
            for path in dict.fromkeys(candidates):
                probe = _Probe("GET", host, path)
                outcome = listener.table.outcome(probe)
                if outcome.entry is not None:
                    continue  # some rule takes it (e.g. PathPrefix /): not a negative case
                self.expect_404(f"{host}{path} gets 404{suffix}", listener, probe, None)

    def expect_404(self, name: str, listener: _Listener, probe: _Probe, sni: Optional[str]) -> None:
        try:
            response = self.send(listener, probe, sni=sni)
        except RequestFailed as error:
            self.add(name, False, f"{probe.label(listener.https)}: {error}")
            return
        detail = f"{probe.label(listener.https)} -> {response.status}"
        echo = response.echo()
        if echo and echo.get("pod"):
            detail += f" from pod {echo.get('pod')}"
        self.add(name, response.status == 404, detail)
