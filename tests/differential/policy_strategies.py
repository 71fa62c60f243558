"""Hypothesis strategies for the policy sections of a stack config: BackendTrafficPolicies,
ClientTrafficPolicies, SecurityPolicies, the client CAs mutual TLS trusts and the credentials
basic auth and API keys use. Mostly valid (as `strategies.stack_configs` draws them), covering
every block each model has; `strategies.mutated_stack_configs` then changes one value of them.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

DURATIONS = ["1s", "10s", "500ms", "1m30s", "2m", "100ms"]
CIDRS = ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "0.0.0.0/0", "203.0.113.7/32"]
HEADERS = ["x-api-client", "x-user", "X-Tenant"]
METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
CIPHERS = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
           "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "AES128-SHA"]
RETRY_TRIGGERS = ["5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "refused-stream",
                  "retriable-status-codes", "unavailable", "cancelled"]
# A JSON Web Key Set of one EC P-256 public key (its private key is thrown away).
JWKS = ('{"keys":[{"kty":"EC","crv":"P-256","x":"klqvMsW34MCBUENjf6F7tOmjgjesQaSYy4tni-LsHnQ",'
        '"y":"Yn2PAQ0zDL8lzJKM_lOo-9C4Dj_RYyJf5z74Hk_g4QA","kid":"differential","alg":"ES256","use":"sig"}]}')
CLIENT_CA = "client-ca"


def _maybe(draw, strategy: st.SearchStrategy, probability: float = 0.5) -> Any:
    return draw(strategy) if draw(st.floats(0, 1)) < probability else None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != {} and value != []:
        target[key] = value


def _some_of(draw, options: dict[str, Any], at_least: int = 1) -> dict[str, Any]:
    """A few of the optional blocks in `options` (name -> strategy), at least `at_least`."""
    names = draw(st.lists(st.sampled_from(sorted(options)), min_size=at_least, max_size=min(3, len(options)), unique=True))
    return {name: draw(options[name]) for name in names}


@st.composite
def target_refs(draw, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return draw(st.lists(st.sampled_from(targets), min_size=1, max_size=2, unique_by=lambda ref: tuple(sorted(ref.items()))))


def targets_of(config: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What policies of `config` may attach to: (every target, the Gateway and its listeners)."""
    gateway = config["gateway"].get("name", "eg")
    gateway_targets = [{"kind": "Gateway", "name": gateway}]
    gateway_targets += [{"kind": "Gateway", "name": gateway, "sectionName": listener["name"]}
                        for listener in config["gateway"]["listeners"]]
    route_targets = []
    for route in config.get("routes", []):
        route_targets.append({"kind": "HTTPRoute", "name": route["name"]})
        route_targets += [{"kind": "HTTPRoute", "name": route["name"], "sectionName": rule["name"]}
                          for rule in route["rules"] if "name" in rule]
    return gateway_targets + route_targets, gateway_targets


# --- BackendTrafficPolicy ---------------------------------------------------------------------


@st.composite
def retry(draw) -> dict[str, Any]:
    result: dict[str, Any] = {}
    _put(result, "numRetries", _maybe(draw, st.integers(0, 5)))
    triggers = draw(st.lists(st.sampled_from(RETRY_TRIGGERS), max_size=3, unique=True))
    retry_on: dict[str, Any] = {}
    _put(retry_on, "triggers", triggers)
    if "retriable-status-codes" in triggers:
        _put(retry_on, "httpStatusCodes", draw(st.lists(st.sampled_from([500, 502, 503, 504]), min_size=1, max_size=2, unique=True)))
    _put(result, "retryOn", retry_on)
    per_retry: dict[str, Any] = {}
    _put(per_retry, "timeout", _maybe(draw, st.sampled_from(DURATIONS)))
    if draw(st.booleans()):
        base = draw(st.sampled_from(["10ms", "25ms", "100ms"]))
        per_retry["backOff"] = {"baseInterval": base, **({"maxInterval": "1s"} if draw(st.booleans()) else {})}
    _put(result, "perRetry", per_retry)
    return result or {"numRetries": 2}


@st.composite
def client_selector(draw) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    choice = draw(st.sampled_from(["headers", "sourceCIDR", "path", "methods"]))
    if choice == "headers":
        kind = draw(st.sampled_from(["Exact", "RegularExpression", "Distinct"]))
        header: dict[str, Any] = {"name": draw(st.sampled_from(HEADERS))}
        if kind != "Exact" or draw(st.booleans()):
            header["type"] = kind
        if kind != "Distinct":
            header["value"] = draw(st.sampled_from(["team-a", "v[0-9]+"] if kind == "RegularExpression" else ["team-a", "alice"]))
            _put(header, "invert", _maybe(draw, st.just(True), 0.2))
        selector["headers"] = [header]
    elif choice == "sourceCIDR":
        selector["sourceCIDR"] = {"value": draw(st.sampled_from(CIDRS)),
                                  **({"type": draw(st.sampled_from(["Exact", "Distinct"]))} if draw(st.booleans()) else {})}
    elif choice == "path":
        selector["path"] = {"value": draw(st.sampled_from(["/", "/api", "/v1/users"])),
                            **({"type": draw(st.sampled_from(["Exact", "PathPrefix"]))} if draw(st.booleans()) else {})}
    else:
        selector["methods"] = [{"value": method} for method in draw(st.lists(st.sampled_from(METHODS), min_size=1, max_size=2, unique=True))]
    return selector


@st.composite
def rate_limit(draw) -> dict[str, Any]:
    rules = []
    for _ in range(draw(st.integers(1, 2))):
        rule: dict[str, Any] = {"limit": {"requests": draw(st.sampled_from([1, 10, 120, 600])),
                                          "unit": draw(st.sampled_from(["Second", "Minute", "Hour", "Day"]))}}
        _put(rule, "clientSelectors", draw(st.lists(client_selector(), max_size=1)))
        rules.append(rule)
    return {"local": {"rules": rules}}


@st.composite
def health_check(draw) -> dict[str, Any]:
    http: dict[str, Any] = {"path": draw(st.sampled_from(["/", "/healthz", "/get"]))}
    _put(http, "method", _maybe(draw, st.sampled_from(["GET", "HEAD"])))
    _put(http, "expectedStatuses", _maybe(draw, st.lists(st.sampled_from([200, 204]), min_size=1, max_size=2, unique=True)))
    active: dict[str, Any] = {"type": "HTTP", "http": http}
    _put(active, "interval", _maybe(draw, st.sampled_from(["3s", "10s"])))
    _put(active, "timeout", _maybe(draw, st.sampled_from(["1s", "500ms"])))
    _put(active, "unhealthyThreshold", _maybe(draw, st.integers(1, 5)))
    _put(active, "healthyThreshold", _maybe(draw, st.integers(1, 3)))
    return {"active": active}


@st.composite
def load_balancer(draw) -> dict[str, Any]:
    kind = draw(st.sampled_from(["RoundRobin", "LeastRequest", "Random", "ConsistentHash"]))
    if kind != "ConsistentHash":
        return {"type": kind}
    hashing = draw(st.sampled_from(["SourceIP", "Header", "Cookie"]))
    block: dict[str, Any] = {"type": hashing}
    if hashing == "Header":
        block["header"] = {"name": draw(st.sampled_from(HEADERS))}
    elif hashing == "Cookie":
        block["cookie"] = {"name": "session", **({"ttl": "1h"} if draw(st.booleans()) else {})}
    return {"type": kind, "consistentHash": block}


@st.composite
def backend_traffic_policy(draw, index: int, targets: list[dict[str, Any]]) -> dict[str, Any]:
    blocks = _some_of(draw, {
        "retry": retry(), "timeout": st.builds(lambda d: {"http": {"requestTimeout": d}}, st.sampled_from(DURATIONS)),
        "circuitBreaker": st.fixed_dictionaries({}, optional={key: st.sampled_from([1, 100, 1024]) for key in
                                                           ("maxConnections", "maxPendingRequests", "maxParallelRequests")}),
        "rateLimit": rate_limit(), "healthCheck": health_check(), "loadBalancer": load_balancer(),
    })
    blocks = {key: value for key, value in blocks.items() if value} or {"retry": {"numRetries": 1}}
    return {"name": f"backend-policy-{index}", "targetRefs": draw(target_refs(targets)), **blocks}


# --- ClientTrafficPolicy and client CAs ----------------------------------------------------------


@st.composite
def client_tls(draw, client_cas: list[str]) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    versions = ["1.0", "1.1", "1.2", "1.3"]
    low = _maybe(draw, st.sampled_from(["1.2", "1.3", "Auto"]))
    _put(tls, "minVersion", low)
    high = _maybe(draw, st.sampled_from([v for v in versions if low in (None, "Auto") or v >= low] + ["Auto"]))
    if low is None and high in ("1.0", "1.1"):
        high = "1.3"
    _put(tls, "maxVersion", high)
    if low != "1.3":
        _put(tls, "ciphers", _maybe(draw, st.lists(st.sampled_from(CIPHERS), min_size=1, max_size=3, unique=True)))
    _put(tls, "alpnProtocols", _maybe(draw, st.lists(st.sampled_from(["h2", "http/1.1"]), min_size=1, max_size=2, unique=True)))
    if client_cas and draw(st.booleans()):
        refs = [{"name": name} for name in client_cas]
        if draw(st.integers(0, 3)) == 0:
            refs.append({"name": "shared-client-ca", "external": True,
                         **({"namespace": "certificates"} if draw(st.booleans()) else {})})
        tls["clientValidation"] = {"caCertificateRefs": refs,
                                   **({"mode": draw(st.sampled_from(["RequireAndVerify", "VerifyIfGiven"]))} if draw(st.booleans()) else {})}
    return tls or {"minVersion": "1.2"}


@st.composite
def client_traffic_policy(draw, index: int, gateway_targets: list[dict[str, Any]], client_cas: list[str]) -> dict[str, Any]:
    hops = draw(st.booleans())
    blocks = _some_of(draw, {
        "tls": client_tls(client_cas),
        "timeout": st.builds(lambda a, b: {"http": {k: v for k, v in (("requestReceivedTimeout", a), ("idleTimeout", b)) if v}},
                             st.sampled_from(DURATIONS), st.sampled_from([None, "1h", "5m"])),
        "clientIPDetection": st.just({"xForwardedFor": {"numTrustedHops": 1}}) if hops else
        st.builds(lambda cidrs: {"xForwardedFor": {"trustedCIDRs": cidrs}}, st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2, unique=True)),
        "connection": st.builds(lambda value: {"connectionLimit": {"value": value}}, st.sampled_from([1, 1000, 65535])),
    })
    # One ClientTrafficPolicy per target (Envoy Gateway takes the older one): each policy gets its own.
    return {"name": f"client-policy-{index}", "targetRefs": [gateway_targets[index % len(gateway_targets)]], **blocks}


@st.composite
def client_certificate_authorities(draw) -> list[dict[str, Any]]:
    if not draw(st.booleans()):
        return []
    authority: dict[str, Any] = {"name": CLIENT_CA, "commonName": "differential clients"}
    _put(authority, "source", _maybe(draw, st.sampled_from(["generate", "existingSecret"])))
    _put(authority, "keyAlgorithm", _maybe(draw, st.sampled_from(["RSA", "ECDSA"])))
    if authority.get("source") != "existingSecret":
        _put(authority, "clients", _maybe(draw, st.just(["client-a"])))
    return [authority]


# --- SecurityPolicy -----------------------------------------------------------------------------


@st.composite
def cors(draw) -> dict[str, Any]:
    origins = draw(st.lists(st.sampled_from(["https://www.example.com", "https://*.example.com", "http://localhost:8080", "*"]),
                            min_size=1, max_size=2, unique=True))
    block: dict[str, Any] = {"allowOrigins": origins}
    _put(block, "allowMethods", _maybe(draw, st.lists(st.sampled_from(METHODS), min_size=1, max_size=3, unique=True)))
    _put(block, "allowHeaders", _maybe(draw, st.lists(st.sampled_from(HEADERS + ["content-type"]), min_size=1, max_size=2, unique=True)))
    _put(block, "exposeHeaders", _maybe(draw, st.lists(st.sampled_from(HEADERS), min_size=1, max_size=2, unique=True)))
    _put(block, "maxAge", _maybe(draw, st.sampled_from(["10m", "1h", "86400s"])))
    if "*" not in origins:
        _put(block, "allowCredentials", _maybe(draw, st.booleans()))
    return block


@st.composite
def jwt(draw) -> dict[str, Any]:
    provider: dict[str, Any] = {"name": draw(st.sampled_from(["issuer-a", "auth"]))}
    _put(provider, "issuer", _maybe(draw, st.sampled_from(["https://auth.example.com", "example"])))
    _put(provider, "audiences", _maybe(draw, st.lists(st.sampled_from(["api", "web"]), min_size=1, max_size=2, unique=True)))
    if draw(st.booleans()):
        provider["localJWKS"] = {"inline": JWKS, **({"type": "Inline"} if draw(st.booleans()) else {})}
    else:
        provider["remoteJWKS"] = {"uri": "https://auth.example.com/.well-known/jwks.json",
                                  **({"cacheDuration": "5m"} if draw(st.booleans()) else {})}
    _put(provider, "claimToHeaders", _maybe(draw, st.just([{"claim": "sub", "header": "x-user"}])))
    return {"providers": [provider]}


@st.composite
def authorization(draw) -> dict[str, Any]:
    block: dict[str, Any] = {}
    _put(block, "defaultAction", _maybe(draw, st.sampled_from(["Allow", "Deny"])))
    rules = [{"action": draw(st.sampled_from(["Allow", "Deny"])),
              "principal": {"clientCIDRs": draw(st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2, unique=True))},
              **({"name": f"rule-{index}"} if draw(st.booleans()) else {})}
             for index in range(draw(st.integers(0 if "defaultAction" in block else 1, 2)))]
    _put(block, "rules", rules)
    return block


@st.composite
def security_policy(draw, index: int, targets: list[dict[str, Any]], credentials: dict[str, Any]) -> dict[str, Any]:
    name = f"security-policy-{index}"
    policy: dict[str, Any] = {"name": name, "targetRefs": draw(target_refs(targets))}
    _put(policy, "cors", _maybe(draw, cors()))
    authentication = draw(st.sampled_from([None, "basicAuth", "jwt", "apiKeyAuth"]))
    holders = draw(st.lists(st.sampled_from(["alice", "bob"]), min_size=1, max_size=2, unique=True))
    if authentication == "basicAuth":
        policy["basicAuth"] = {"users": holders, **({"forwardUsernameHeader": "x-user"} if draw(st.booleans()) else {})}
    elif authentication == "jwt":
        policy["jwt"] = draw(jwt())
    elif authentication == "apiKeyAuth":
        source = {"headers": ["x-api-key"]} if draw(st.booleans()) else {"params": ["api_key"]}
        policy["apiKeyAuth"] = {"clients": holders, "extractFrom": [source],
                                **({"forwardClientIDHeader": "x-client-id"} if draw(st.booleans()) else {}),
                                **({"sanitize": True} if draw(st.booleans()) else {})}
    if authentication in ("basicAuth", "apiKeyAuth"):
        credentials[name] = {holder: f"{holder}-{authentication.lower()}-secret" for holder in holders}
    _put(policy, "authorization", _maybe(draw, authorization(), 0.4))
    if len(policy) == 2:
        policy["cors"] = {"allowOrigins": ["https://www.example.com"]}
    return policy


@st.composite
def policy_sections(draw, config: dict[str, Any]) -> dict[str, Any]:
    """The policy keys of a stack config for `config` (its Gateway, listeners and routes drawn already)."""
    sections: dict[str, Any] = {}
    if draw(st.integers(0, 2)):  # one config in three without policies, as most stack files are
        targets, gateway_targets = targets_of(config)
        authorities = draw(client_certificate_authorities())
        _put(sections, "clientCertificateAuthorities", authorities)
        if draw(st.booleans()):
            sections["backendTrafficPolicies"] = [draw(backend_traffic_policy(index, targets)) for index in range(draw(st.integers(1, 2)))]
        if draw(st.booleans()):
            sections["clientTrafficPolicies"] = [
                draw(client_traffic_policy(index, gateway_targets, [authority["name"] for authority in authorities]))
                for index in range(draw(st.integers(1, 2)))]
        if draw(st.booleans()):
            credentials: dict[str, Any] = {}
            sections["securityPolicies"] = [draw(security_policy(index, targets, credentials)) for index in range(draw(st.integers(1, 2)))]
            _put(sections, "credentials", credentials)
    return sections
