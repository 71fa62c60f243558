"""Hypothesis strategies: stack configs across the whole schema, and single-field mutations of them.

`stack_configs()` draws configs the program should mostly accept (names from small pools, as
real stack files have, so that validators see many identical objects and answer from cache),
covering every section: listeners, hostnames, matches, filters, backends, weights, timeouts,
certificates, proxy settings and the policies (`policy_strategies`). `mutated_stack_configs()` takes one of those and changes one
value: to a value near a boundary of the CRDs' constraints (lengths, patterns, ranges, enums),
of the wrong type, or removed. Both draw the raw form of a stack file's `config:` (camelCase
keys, without the `api-gateway:` prefix).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from hypothesis import strategies as st

from gatestack.differential.crd_patterns import field_patterns, field_substrings, value_rules, variants
from tests.differential.listener_strategies import HOSTNAMES, listeners, maybe
from tests.differential.policy_strategies import policy_sections

NAMESPACES = ["default", "gateway-dev", "team-a"]
HEADER_NAMES = ["x-team", "X-Request-Id", "accept", "x_under", "x-env"]
HEADER_VALUES = ["foo", "a b", "max-age=31536000", "v1", "*"]
PATHS = ["/", "/get", "/api", "/v1/users", "/a-b_c.d~e"]
# Where an HTTPRoute's path match lands in the CRD: its character rule is read from there.
PATH_MATCH_FIELD = ("HTTPRoute", ("spec", "rules", "[]", "matches", "[]", "path", "value"))
REGULAR_EXPRESSIONS = ["/v[0-9]+/.*", "^/api$", ".*"]
DURATIONS = ["1s", "10s", "500ms", "1m30s", "1h", "2m"]
QUANTITIES = ["100m", "1", "256Mi", "1Gi", "0.5", "2"]
IMAGES = ["docker.io/envoyproxy/envoy:distroless-v1.39.0", "registry.example.com/echo:v1.2.3", "echo:1"]


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != {} and value != []:
        target[key] = value


@st.composite
def resources(draw) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = draw(st.dictionaries(st.sampled_from(["cpu", "memory"]), st.sampled_from(QUANTITIES), max_size=2))
        _put(result, part, values)
    return result


@st.composite
def proxy_settings(draw) -> dict[str, Any]:
    proxy: dict[str, Any] = {}
    _put(proxy, "replicas", draw(maybe(st.integers(0, 5))))
    _put(proxy, "image", draw(maybe(st.sampled_from(IMAGES))))
    _put(proxy, "resources", draw(maybe(resources())))
    _put(proxy, "podLabels", draw(maybe(st.just({"team": "platform"}))))
    _put(proxy, "podAnnotations", draw(maybe(st.just({"prometheus.io/scrape": "true"}))))
    service: dict[str, Any] = {}
    _put(service, "type", draw(maybe(st.sampled_from(["LoadBalancer", "NodePort", "ClusterIP"]))))
    _put(service, "externalTrafficPolicy", draw(maybe(st.sampled_from(["Cluster", "Local"]))))
    _put(service, "annotations", draw(maybe(st.just({"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec": "slb.s2.small"}))))
    if service.get("type", "LoadBalancer") == "LoadBalancer":
        _put(service, "loadBalancerClass", draw(maybe(st.just("service.k8s.aws/nlb"), 0.8)))
    _put(proxy, "service", service)
    if draw(st.booleans()):
        low = draw(st.integers(1, 3))
        proxy["autoscaling"] = {"minReplicas": low, "maxReplicas": draw(st.integers(low, 10)),
                                "cpuUtilization": draw(st.integers(1, 100))}
    if draw(st.booleans()):
        key = draw(st.sampled_from(["minAvailable", "maxUnavailable"]))
        proxy["disruptionBudget"] = {key: draw(st.one_of(st.integers(0, 3), st.sampled_from(["50%", "25%"])))}
    return proxy


@st.composite
def certificate(draw, index: int, namespace: str | None) -> dict[str, Any]:
    algorithm = draw(st.sampled_from(["RSA", "ECDSA", "ED25519"]))
    result: dict[str, Any] = {
        "secretName": f"cert-{index}",
        "ca": {"commonName": "example.com", **({"organization": "example Inc."} if draw(st.booleans()) else {})},
        "subject": {"commonName": draw(st.sampled_from(["www.example.com", "api.example.com"]))},
        "keyAlgorithm": algorithm,
    }
    if namespace is not None:
        result["namespace"] = namespace
    if algorithm == "RSA" and draw(st.booleans()):
        result["rsaBits"] = draw(st.sampled_from([2048, 3072]))
    if algorithm == "ECDSA":
        result["ecdsaCurve"] = draw(st.sampled_from(["P256", "P384", "P521"]))
    _put(result, "dnsNames", draw(maybe(st.lists(st.sampled_from(HOSTNAMES[:2]), min_size=1, max_size=2, unique=True))))
    if draw(st.booleans()):
        result["source"] = draw(st.sampled_from(["generate", "existingSecret"]))
    return result


@st.composite
def header_modifier(draw) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(HEADER_NAMES), min_size=1, max_size=3, unique_by=str.lower))
    modifier: dict[str, list] = {"set": [], "add": [], "remove": []}
    for name in names:
        operation = draw(st.sampled_from(["set", "add", "remove"]))
        modifier[operation].append(name if operation == "remove" else {"name": name, "value": draw(st.sampled_from(HEADER_VALUES))})
    return {key: value for key, value in modifier.items() if value}


@st.composite
def path_modifier(draw, allow_prefix: bool) -> dict[str, Any]:
    if allow_prefix and draw(st.booleans()):
        return {"type": "ReplacePrefixMatch", "replacePrefixMatch": draw(st.sampled_from(PATHS))}
    return {"type": "ReplaceFullPath", "replaceFullPath": draw(st.sampled_from(PATHS))}


@functools.lru_cache(maxsize=None)
def path_variants() -> tuple[list[str], list[str]]:
    """Paths one character (or one of the substrings its CEL rules test for) from `/api`, inside and outside the
    pattern the HTTPRoute CRD puts on a path match."""
    return variants("/api", field_patterns(*PATH_MATCH_FIELD), field_substrings(*PATH_MATCH_FIELD))


@st.composite
def match(draw) -> dict[str, Any]:
    result: dict[str, Any] = {}
    kind = draw(st.sampled_from(["Exact", "PathPrefix", "RegularExpression", None]))
    if kind is not None:
        choices = REGULAR_EXPRESSIONS if kind == "RegularExpression" else PATHS
        if draw(st.integers(0, 3)) == 0:
            # A path one character away from one the program allows, inside the CRD's pattern or outside it.
            inside, outside = path_variants()
            choices = inside if draw(st.integers(0, 2)) else outside
        value = draw(st.sampled_from(choices))
        result["path"] = {"type": kind, "value": value}
    if draw(st.integers(0, 3)) == 0:
        result["headers"] = [{"name": name, "value": draw(st.sampled_from(HEADER_VALUES)),
                              **({"type": "RegularExpression"} if draw(st.integers(0, 3)) == 0 else {})}
                             for name in draw(st.lists(st.sampled_from(HEADER_NAMES), min_size=1, max_size=2, unique_by=str.lower))]
    if draw(st.integers(0, 3)) == 0:
        result["queryParams"] = [{"name": name, "value": "1"}
                                 for name in draw(st.lists(st.sampled_from(["page", "q", "debug"]), min_size=1, max_size=2, unique=True))]
    _put(result, "method", draw(maybe(st.sampled_from(["GET", "POST", "DELETE"]), 0.7)))
    return result


@st.composite
def rule(draw, backends: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    _put(result, "name", draw(maybe(st.sampled_from(["main", "canary", "rule-1"]), 0.7)))
    redirect = draw(st.integers(0, 5)) == 0
    rewrite = not redirect and draw(st.integers(0, 4)) == 0
    prefix_rewrite = draw(st.booleans())
    if (redirect or rewrite) and prefix_rewrite:
        result["matches"] = [{"path": {"type": "PathPrefix", "value": draw(st.sampled_from(PATHS))}}]
    else:
        _put(result, "matches", draw(st.lists(match(), max_size=2)))
    filters = []
    if draw(st.integers(0, 2)) == 0:
        filters.append({"type": "RequestHeaderModifier", "requestHeaderModifier": draw(header_modifier())})
    if draw(st.integers(0, 3)) == 0:
        filters.append({"type": "ResponseHeaderModifier", "responseHeaderModifier": draw(header_modifier())})
    if redirect:
        block: dict[str, Any] = {}
        _put(block, "scheme", draw(maybe(st.sampled_from(["http", "https"]))))
        _put(block, "hostname", draw(maybe(st.sampled_from(["www.example.com", "example.org"]))))
        _put(block, "port", draw(maybe(st.sampled_from([443, 8443]))))
        _put(block, "statusCode", draw(maybe(st.sampled_from([301, 302]))))
        _put(block, "path", draw(maybe(path_modifier(prefix_rewrite))))
        filters.append({"type": "RequestRedirect", "requestRedirect": block})
    if not redirect and draw(st.integers(0, 5)) == 0:
        mirror: dict[str, Any] = {"backendRef": {"name": draw(st.sampled_from(backends))["name"]}}
        if draw(st.integers(0, 3)) == 0:
            mirror["backendRef"] = {"name": "elsewhere", "namespace": draw(st.sampled_from(["shared", "default"])), "port": 8080,
                                    "external": True}
        share = draw(st.sampled_from([None, "percent", "fraction"]))
        if share == "percent":
            mirror["percent"] = draw(st.sampled_from([0, 10, 50, 100]))
        elif share == "fraction":
            mirror["fraction"] = {"numerator": draw(st.integers(0, 5)), **({"denominator": 10} if draw(st.booleans()) else {})}
        filters.append({"type": "RequestMirror", "requestMirror": mirror})
    if rewrite:
        block = {}
        _put(block, "hostname", draw(maybe(st.sampled_from(["internal.example.com", "example.org"]))))
        _put(block, "path", draw(maybe(path_modifier(prefix_rewrite))))
        filters.append({"type": "URLRewrite", "urlRewrite": block})
    _put(result, "filters", filters)
    if not redirect:
        refs = []
        for backend in draw(st.lists(st.sampled_from(backends), min_size=1, max_size=3, unique_by=lambda b: b["name"])):
            ref: dict[str, Any] = {"name": backend["name"]}
            _put(ref, "weight", draw(maybe(st.integers(0, 10))))
            if draw(st.integers(0, 3)) == 0:
                ref["port"] = backend.get("port", 3000)
            refs.append(ref)
        if draw(st.integers(0, 6)) == 0:
            refs.append({"name": "elsewhere", "namespace": draw(st.sampled_from(["shared", "default"])), "port": 8080, "external": True})
        if all(ref.get("weight", 1) == 0 for ref in refs):
            refs[0]["weight"] = 1
        result["backendRefs"] = refs
    if draw(st.integers(0, 2)) == 0:
        timeouts: dict[str, str] = {}
        _put(timeouts, "request", draw(maybe(st.sampled_from(DURATIONS))))
        if "request" not in timeouts or draw(st.booleans()):
            _put(timeouts, "backendRequest", draw(maybe(st.sampled_from(DURATIONS[:3]))))
        _put(result, "timeouts", timeouts)
    return result


@st.composite
def stack_configs(draw) -> dict[str, Any]:
    """A whole stack config, mostly valid: every section drawn, names from small pools."""
    namespace = draw(st.sampled_from(NAMESPACES))
    config: dict[str, Any] = {}
    if namespace != "default":
        config["namespace"] = namespace
        _put(config, "createNamespace", draw(maybe(st.just(True))))
    if draw(st.booleans()):
        config["gatewayClass"] = {"name": draw(st.sampled_from(["eg", "eg-staging"]))}
        _put(config["gatewayClass"], "description", draw(maybe(st.sampled_from(["Staging gateway", "API gateway (Envoy Gateway)"]))))
    # Rarely: each distinct EnvoyProxy costs egctl 0.4 s to load.
    if draw(st.integers(0, 4)) == 0:
        _put(config, "proxy", draw(proxy_settings()))
    certificate_namespaces = draw(st.lists(maybe(st.sampled_from(["certificates", namespace]), 0.7), max_size=2))
    certificates = [draw(certificate(index, ns)) for index, ns in enumerate(certificate_namespaces)]
    _put(config, "certificates", certificates)
    gateway_listeners = draw(listeners(certificates, namespace))
    config["gateway"] = {"listeners": gateway_listeners}
    _put(config["gateway"], "name", draw(maybe(st.sampled_from(["eg", "public"]), 0.7)))
    gateway_name = config["gateway"].get("name", "eg")
    backends = [{"name": f"backend-{index}"} for index in range(draw(st.integers(1, 3)))]
    for backend in backends:
        _put(backend, "port", draw(maybe(st.sampled_from([8080, 9000]), 0.8)))
        _put(backend, "replicas", draw(maybe(st.integers(0, 3), 0.8)))
        _put(backend, "version", draw(maybe(st.sampled_from(["v2", "canary"]), 0.8)))
        _put(backend, "resources", draw(maybe(resources(), 0.9)))
    config["backends"] = backends
    routes = []
    for index in range(draw(st.integers(0, 2))):
        route: dict[str, Any] = {"name": f"route-{index}"}
        if draw(st.booleans()):
            section = draw(maybe(st.sampled_from([listener["name"] for listener in gateway_listeners])))
            route["parentRefs"] = [{"name": gateway_name, **({"sectionName": section} if section else {})}]
        _put(route, "hostnames", draw(maybe(st.lists(st.sampled_from(HOSTNAMES), max_size=2, unique=True))))
        route["rules"] = draw(st.lists(rule(backends), min_size=1, max_size=2))
        routes.append(route)
    _put(config, "routes", routes)
    config.update(draw(policy_sections(config)))
    return config


# --- mutations -----------------------------------------------------------------------------

# Values near the CRDs' constraints, by the key they replace: lengths at the limits, characters
# the patterns refuse or allow, values outside the enums and ranges.
INTERESTING_STRINGS: dict[str, list[str]] = {
    "name": ["a" * 63, "a" * 64, "a" * 253, "a.b", "A", "-a", "a_b", "1a", "x" * 254],
    "hostname": ["*", "*.com", "a" * 63 + ".com", "localhost", "xn--bcher-kva.example", "ex ample.com", "*.*.example.com"],
    "hostnames": ["*.example.com", "*", "Example.com"],
    "value": ["", " ", "a  b", " a", "a ", "a\tb", "é", "a" * 1024, "a" * 4097, "/a//b", "/%2F", "[", "/a/../b"],
    "description": ["d" * 64, "d" * 65, ""],
    "controllerName": ["example.com/controller", "controller", "example.com/", "Example.com/a", "a/" + "b" * 252],
    "image": ["envoy", "envoy:latest", "Envoy:1", "registry:5000/envoy", "envoy@sha256:" + "a" * 64],
    "version": ["", "a" * 63, "a" * 64, "v1.0", "-v1", "v 1"],
    "request": ["0s", "1d", "99999h", "100000s", "1s1s1s1s1s", "1.5s"],
    "backendRequest": ["0s", "1h", "10s", "1m"],
    "minAvailable": ["50%", "abc", "150%", "-1", "0%"],
    "maxUnavailable": ["50%", "x", "100%"],
    "namespace": ["a" * 63, "a" * 64, "kube-system", "A", "a.b"],
    "secretName": ["a" * 253, "a.b", "a" * 254],
    "sectionName": ["a.b", "a" * 64, "https-1", "missing"],
    "replacePrefixMatch": ["", "/", "a", "/a/", "//"],
    "replaceFullPath": ["", "/", "a", "/a/"],
    "type": ["TCP", "Passthrough", "Exact", "ReplaceFullPath", "CORS"],
    "protocol": ["TCP", "TLS", "UDP", "http", "example.com/custom"],
    "loadBalancerClass": ["", "a" * 64, "example.com/lb", "lb"],
    "externalTrafficPolicy": ["Local", "local"],
    "cpu": ["1.5", "1m", "-1", "1e3", "1..2", "1Mi"],
    "memory": ["1Mi", "1mi", "1M", "0", "-1Gi", ".5Gi"],
    "commonName": ["", "c" * 64, "c" * 65],
    # policies
    "kind": ["Gateway", "HTTPRoute", "GRPCRoute", "Service", "gateway"],
    "minVersion": ["1.0", "1.3", "1.4", "Auto", "TLSv1.2"],
    "maxVersion": ["1.0", "1.1", "1.2", "Auto"],
    "unit": ["Second", "Week", "minute"],
    "action": ["Allow", "Deny", "Log"],
    "defaultAction": ["Allow", "Deny", "deny"],
    "mode": ["RequireAndVerify", "VerifyIfGiven", "Optional", "Terminate", "Passthrough"],
    "requestTimeout": ["0s", "1d", "1.5s", "100000s"],
    "interval": ["0s", "1ms", "1h"],
    "timeout": ["0s", "1ms", "1h"],
    "baseInterval": ["0s", "1ms", "10s"],
    "maxInterval": ["1ms", "10s", "1h"],
    "idleTimeout": ["0s", "1h", "1d"],
    "requestReceivedTimeout": ["0s", "1ms"],
    "maxAge": ["0s", "1h", "1d"],
    "ttl": ["0s", "1h"],
    "cacheDuration": ["0s", "1ms", "1h"],
    "uri": ["ftp://auth.example.com/jwks", "https://", "http://auth.example.com", "https://a b/jwks"],
    "issuer": ["", "i" * 253, "i" * 254],
    "claim": ["", "sub", "c" * 257],
    "header": ["x-user", "a b", "", ":authority"],
    "allowOrigins": ["*", "https://*", "https://*.example.com:8443", "example.com", "https://www.example.com/path"],
    "clientCIDRs": ["10.0.0.0/33", "10.0.0.1", "::/0", "10.0.0.0/8", "fe80::/10"],
    "trustedCIDRs": ["10.0.0.0/33", "10.0.0.1", "::/0"],
    "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256", "RC4-SHA", ""],
    "alpnProtocols": ["h2", "h3", "http/1.0"],
    "triggers": ["5xx", "reset", "retriable-headers", "envoy-ratelimited"],
    "users": ["alice", "Alice", "a" * 64, "a.b"],
    "clients": ["client-a", "A", "a_b"],
    "headers": ["x-api-key", "a b", "authorization"],
    "params": ["api_key", "", "a b"],
    "path": ["/", "", "healthz", "/a//b"],
}
INTERESTING_INTEGERS = [-1, 0, 1, 63, 64, 100, 101, 1023, 1024, 65535, 65536, 1_000_000, 1_000_001, 2**31]


def leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in `value` (mappings by key, lists by index), containers included."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths.extend(leaf_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.extend(leaf_paths(item, (*prefix, index)))
    return paths


def replacement_values(key: Any, current: Any, patterns: list[str] | None = None,
                       substrings: list[str] | None = None) -> st.SearchStrategy:
    """What replaces `current` (at `key`): removal, values near the CRDs' limits, another type; for a string the
    CRDs put `patterns` (or CEL rules testing for `substrings`) on, values one character (or substring) away from
    it inside the patterns and outside them."""
    name = key if isinstance(key, str) else ""
    options: list[st.SearchStrategy] = [st.just(None)]  # None: remove the key
    if isinstance(current, bool):
        options.append(st.just(not current))
    elif isinstance(current, int):
        options += [st.sampled_from(INTERESTING_INTEGERS), st.integers(-5, 70_000), st.just(str(current))]
    elif isinstance(current, str):
        options += [st.sampled_from(INTERESTING_STRINGS.get(name, ["", "A", "a b"])),
                    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
                    st.just(current.upper()), st.just(current * 3)]
        inside, outside = variants(current, patterns or [], substrings or ()) if patterns or substrings else ([], [])
        options += [st.sampled_from(values) for values in (inside, outside) if values]
    elif isinstance(current, list):
        options += [st.just([]), st.just(current + current[:1]), st.just(current * 9)]
    elif isinstance(current, dict):
        options += [st.just({})]
    return st.one_of(options)


@st.composite
def mutated_stack_configs(draw) -> dict[str, Any]:
    """A config from `stack_configs()` with exactly one value changed, added or removed."""
    config = draw(stack_configs())
    path = draw(st.sampled_from(leaf_paths(config)))
    parent = config
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    current = parent[key]
    patterns, substrings = value_rules(config, path) if isinstance(current, str) else (None, None)
    replacement = draw(replacement_values(key if isinstance(key, str) else path[-2], current, patterns, substrings))
    mutated = copy.deepcopy(config)
    target = mutated
    for part in path[:-1]:
        target = target[part]
    if replacement is None:
        del target[key]
    else:
        target[key] = replacement
    return mutated


def generated_stack_configs() -> st.SearchStrategy:
    """Valid configs and single-field mutations of valid ones, about half each."""
    return st.one_of(stack_configs(), mutated_stack_configs())
