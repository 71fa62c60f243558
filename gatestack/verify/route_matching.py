"""The route-matching oracle: which rule of the stack takes a request, and what it should do.

Gateway API's precedence (exact hostname over wildcard, then Exact > RegularExpression >
PathPrefix, longer path, method, more header matches, more query matches) decides which rule a
request reaches; `RouteTable.outcome` says so, or says it cannot be told (regular expressions,
ties across routes). The expectation helpers derive requests from matches and the paths that
redirects and rewrites produce.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Optional

from gateway_config.models import ListenerConfig, PathModifier, RouteConfig, RouteMatch, RouteRule, StackConfig
from gatestack.verify.probes import Target

MADE_UP_HOST = "gatestack-verify.example"
WILDCARD_STAND_IN = "gatestack-verify"
SUBPATH_PROBE = "gatestack-verify"


def backend_of_pod(pod: str) -> Optional[str]:
    """The Deployment (= backend) name of a pod `<deployment>-<hash>-<suffix>`, or None."""
    parts = pod.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0]



# --- hostnames and matching precedence --------------------------------------------------


def host_matches_pattern(host: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def intersect_hostnames(listener_hostname: Optional[str], route_hostnames: list[str]) -> list[str]:
    """The hostname patterns a route serves on a listener (Gateway API intersection)."""
    if listener_hostname is None:
        return list(route_hostnames) or ["*"]
    if not route_hostnames:
        return [listener_hostname]
    result = []
    for hostname in route_hostnames:
        if hostname == listener_hostname or host_matches_pattern(hostname.replace("*", WILDCARD_STAND_IN), listener_hostname):
            result.append(hostname)
        elif host_matches_pattern(listener_hostname.replace("*", WILDCARD_STAND_IN), hostname):
            result.append(listener_hostname)
    return list(dict.fromkeys(result))


def concrete_host(pattern: str) -> str:
    if pattern == "*":
        return MADE_UP_HOST
    return pattern.replace("*", WILDCARD_STAND_IN, 1)


def attached_listeners(config: StackConfig, route: RouteConfig) -> list[ListenerConfig]:
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
class Probe:
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
class Entry:
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


def match_applies(match: RouteMatch, probe: Probe) -> Optional[bool]:
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
class Outcome:
    entry: Optional[Entry]  # the winning match, None: no rule takes the request
    certain: bool
    reason: str = ""


class RouteTable:
    """The rules of all routes that share one Envoy route configuration."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries

    def patterns(self) -> list[str]:
        return list(dict.fromkeys(entry.pattern for entry in self.entries))

    def virtual_host(self, host: str) -> Optional[str]:
        patterns = self.patterns()
        if host in patterns:
            return host
        wildcards = [p for p in patterns if p.startswith("*.") and host_matches_pattern(host, p)]
        if wildcards:
            return max(wildcards, key=len)
        return "*" if "*" in patterns else None

    def concrete_hosts(self) -> list[str]:
        return list(dict.fromkeys(concrete_host(pattern) for pattern in self.patterns()))

    def outcome(self, probe: Probe) -> Outcome:
        pattern = self.virtual_host(probe.host)
        if pattern is None:
            return Outcome(None, True)
        candidates = []
        for entry in self.entries:
            if entry.pattern != pattern:
                continue
            applies = match_applies(entry.match, probe)
            if applies is not False:
                candidates.append((entry, applies))
        if not candidates:
            return Outcome(None, True)
        candidates.sort(key=lambda item: (item[0].rank, -item[0].route_index, -item[0].rule_index, -item[0].match_index), reverse=True)
        winner, applies = candidates[0]
        if applies is None:
            return Outcome(winner, False, f"cannot tell whether {rule_label(winner)} takes it (regular expression)")
        for other, _ in candidates[1:]:
            if other.rank != winner.rank:
                break
            if other.route_index != winner.route_index:
                return Outcome(
                    winner,
                    False,
                    f"{rule_label(winner)} and {rule_label(other)} match it with equal precedence "
                    "(decided by creation time)",
                )
        return Outcome(winner, True)


def rule_label(entry_or_route: Any, rule_index: Optional[int] = None, rule: Optional[RouteRule] = None) -> str:
    if isinstance(entry_or_route, Entry):
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


def modified_path(modifier: PathModifier, path: str, rule: RouteRule) -> str:
    if modifier.type == "ReplaceFullPath":
        return modifier.replace_full_path or "/"
    prefix = next(m.path.value for m in rule.matches if m.path is not None and m.path.type == "PathPrefix")
    return _replace_prefix(path, prefix, modifier.replace_prefix_match or "/")


def rule_filter(rule: RouteRule, kind: str) -> Any:
    for route_filter in rule.filters:
        if route_filter.type == kind:
            return {
                "RequestHeaderModifier": route_filter.request_header_modifier,
                "ResponseHeaderModifier": route_filter.response_header_modifier,
                "RequestRedirect": route_filter.request_redirect,
                "URLRewrite": route_filter.url_rewrite,
                "RequestMirror": route_filter.request_mirror,
            }[kind]
    return None


def _uses_prefix_replacement(rule: RouteRule) -> bool:
    for modifier in (getattr(rule_filter(rule, "RequestRedirect"), "path", None), getattr(rule_filter(rule, "URLRewrite"), "path", None)):
        if modifier is not None and modifier.type == "ReplacePrefixMatch":
            return True
    return False


def probes_for_match(match: RouteMatch, host: str, rule: RouteRule) -> tuple[list[Probe], str]:
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
    return [Probe(method, host, path + (f"?{query}" if query else ""), headers) for path in paths], ""


def backend_names(rule: RouteRule) -> tuple[list[str], list[str]]:
    """(internal backends with weight > 0, external backends)."""
    internal = [ref.name for ref in rule.backend_refs if not ref.external and ref.weight > 0]
    external = [ref.name for ref in rule.backend_refs if ref.external]
    return list(dict.fromkeys(internal)), list(dict.fromkeys(external))


def header_lookup(echo_headers: Any, name: str) -> Optional[list[str]]:
    if not isinstance(echo_headers, dict):
        return None
    for key, values in echo_headers.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return [str(v) for v in values] if isinstance(values, list) else [str(values)]
    return None


@dataclass
class Listener:
    """A Gateway listener, where it is reachable, and the route table it serves."""

    config: ListenerConfig
    target: Target
    table: RouteTable

    @property
    def https(self) -> bool:
        return self.config.protocol == "HTTPS"

    @property
    def name(self) -> str:
        return self.config.name
