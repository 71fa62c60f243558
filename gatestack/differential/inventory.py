"""The rule inventory: every constraint the pinned CRDs put on a field the program emits, every
Envoy Gateway status condition a config of this program could fail, and the program's check and
test for each. `docs/rule-inventory.md` is generated from it (`python -m gatestack.differential.inventory`)
and a test keeps it current, so a new CRD version that adds or changes a rule shows up as a diff.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Iterator

from gateway_config.loader import raw_config_from_stack_file, stack_file_name
from gatestack.differential.crd_patterns import load_schemas, schema_node
from gatestack.differential.field_catalogue import catalogue_config
from gatestack.differential.program_rules import PROGRAM_ONLY_RULES
from gatestack.mock_engine.program_run import run_program
from gatestack.mock_engine.rendered_objects import kubernetes_objects
from gatestack.paths import REPOSITORY_ROOT, RULE_INVENTORY
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION

POLICY_KINDS = ("BackendTrafficPolicy", "ClientTrafficPolicy", "SecurityPolicy")
INVENTORIED_KINDS = ("GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant", "EnvoyProxy", *POLICY_KINDS)
DOCUMENT = RULE_INVENTORY
STACKS_FOR_FIELDS = ("dev", "staging", "prod")
_CONFIG = "tests/test_config_validation.py::test_bad_config_is_refused_naming_file_field_and_rule"
_REGRESSION = "tests/differential/test_regressions.py::test_missing_rule_found_by_the_validators_now_refuses"
_DIFFERENTIAL = "tests/differential/test_differential.py::test_program_and_real_validators_agree_on_generated_configs"
_PROGRAM = "tests/test_program.py"
_TRAFFIC = "tests/test_traffic_policy_config.py::test_a_broken_policy_is_refused_naming_the_field"
_SECURITY = "tests/test_security_policy_config.py::test_a_broken_security_policy_is_refused_naming_the_field"
_POLICY = r"(BackendTrafficPolicy|ClientTrafficPolicy|SecurityPolicy)"
_BTP = r"BackendTrafficPolicy\.spec"
_CTP = r"ClientTrafficPolicy\.spec"
_SP = r"SecurityPolicy\.spec"

# (pattern over "Kind.field.path", the program's check, the test that shows it). First match wins.
FIELD_CHECKS: list[tuple[str, str, str]] = [
    (rf"{_POLICY}\.spec\.targetRefs\.\[\]\.kind", "traffic_policies.PolicyTargetRef.kind; policy_semantics.target_problems (kinds per policy)",
     f"{_TRAFFIC}[a ClientTrafficPolicy on a route]"),
    (r"[A-Za-z]+(\.metadata(\.annotations)?)?|.*\.(group|kind|apiVersion)|GatewayClass\.spec\.parametersRef(\..*)?|EnvoyProxy\.spec\.provider\.type|"
     r"EnvoyProxy\.spec\.provider\.kubernetes\.envoyHpa\.metrics\..*|.*\.metadata\.annotations\.pulumi\.com/.*",
     "fixed by gateway_config/manifests.py", _PROGRAM),
    (r".*\.metadata\.(name|namespace)", "fields.KubernetesName / DnsLabel; gateway_api_rules._derived_name_problems",
     f"{_REGRESSION}[GatewayClass name too long to name the EnvoyProxy after it]"),
    (r".*\.metadata\.annotations\..*", "models.GatewayConfig.annotations (dict of strings)", _DIFFERENTIAL),
    (r"Gateway\.spec\.gatewayClassName", "fields.KubernetesName (gatewayClass.name)", _DIFFERENTIAL),
    (r"Gateway\.spec\.listeners", "gateway_semantics.listener_problems (unique names and port/protocol/hostname; tls for HTTPS only)",
     f"{_CONFIG}[same port, protocol and hostname]"),
    (r"Gateway\.spec\.listeners\.\[\]", "gateway_semantics.listener_problems", f"{_CONFIG}[tls block on an HTTP listener]"),
    (r"Gateway\.spec\.listeners\.\[\]\.name", "fields.SectionName", f"{_CONFIG}[duplicate listener names]"),
    (r"Gateway\.spec\.listeners\.\[\]\.(port)", "fields.Port", f"{_CONFIG}[port 65536]"),
    (r"Gateway\.spec\.listeners\.\[\]\.protocol", "models.ListenerConfig.protocol (HTTP, HTTPS: the program's scope)", _DIFFERENTIAL),
    (r"Gateway\.spec\.listeners\.\[\]\.hostname", "fields.Hostname", f"{_CONFIG}[wildcard not in first label]"),
    (r"Gateway\.spec\.listeners\.\[\]\.allowedRoutes.*", "models.AllowedRoutes (Same, All)", _DIFFERENTIAL),
    (r"Gateway\.spec\.listeners\.\[\]\.tls.*", "models.ListenerTls; gateway_semantics.listener_problems (declared certificates)",
     f"{_CONFIG}[listener names an undeclared certificate]"),
    (r"Gateway\.spec(\.listeners)?", "models.GatewayConfig.listeners (1-64)", f"{_CONFIG}[65 listeners]"),
    (r"GatewayClass\.spec\.controllerName", "fields.ControllerName", f"{_REGRESSION}[controllerName without a domain]"),
    (r"GatewayClass\.spec\.description", "models.GatewayClassConfig.description (at most 64)",
     f"{_REGRESSION}[GatewayClass description over 64 characters]"),
    (r"GatewayClass\.spec", "fixed by gateway_config/manifests.py", _PROGRAM),
    (r"HTTPRoute\.spec\.hostnames.*", "fields.Hostname; models.RouteConfig.hostnames (at most 16)", f"{_CONFIG}[17 hostnames]"),
    (r"HTTPRoute\.spec\.parentRefs.*", "route_semantics.parent_ref_problems; gateway_api_rules._parent_ref_problems",
     f"{_REGRESSION}[one Gateway twice in parentRefs without sectionName]"),
    (r"HTTPRoute\.spec\.rules\.\[\]\.backendRefs.*", "fields.Weight, Port; route_semantics._backend_ref_problems",
     f"{_CONFIG}[weight over 1,000,000]"),
    (r"HTTPRoute\.spec\.rules\.\[\]\.filters\.\[\]\.requestMirror.*",
     "models.RequestMirror (percent 0-100); mirror_semantics.mirror_problems (declared backend and its port, percent or fraction)",
     "tests/test_request_mirror.py::test_a_broken_mirror_is_refused_naming_the_field[a mirror backend the stack lacks]"),
    (r"HTTPRoute\.spec\.rules\.\[\]\.filters.*", "models.RouteFilter, HeaderModifier, PathModifier; route_semantics._filter_problems",
     f"{_CONFIG}[redirect with URLRewrite]"),
    (r"HTTPRoute\.spec\.rules\.\[\]\.matches\.\[\]\.path",
     "routes.PathMatch: fields.validate_http_path (absolute, normalized), fields.validate_path_match_characters (the CRD's characters)",
     f"{_CONFIG}[path with a space]"),
    (r"HTTPRoute\.spec\.rules\.\[\]\.matches.*", "models.RouteMatch, PathMatch, HeaderMatch; fields.validate_http_path",
     f"{_CONFIG}[path with //]"),
    (r"HTTPRoute\.spec\.rules\.\[\]\.timeouts.*", "fields.Duration; gateway_api_rules._timeout_problems",
     f"{_REGRESSION}[backendRequest timeout longer than request]"),
    (r"HTTPRoute\.spec\.rules\.\[\]\.name", "fields.SectionName; gateway_api_rules._rule_name_problems",
     f"{_REGRESSION}[rule names used twice in a route]"),
    (r"HTTPRoute\.spec(\.rules(\.\[\])?)?", "models.RouteConfig.rules (1-16); route_semantics.MAX_MATCHES_PER_ROUTE",
     f"{_CONFIG}[129 matches in a route]"),
    (r"ReferenceGrant\..*", "fixed by gateway_config/manifests.py; gateway_api_rules._derived_name_problems",
     f"{_REGRESSION}[ReferenceGrant name over 253 characters]"),
    (r"EnvoyProxy\.spec\.provider\.kubernetes\.envoyDeployment\.container\.image", "fields.Image",
     "tests/differential/test_regressions.py::test_program_only_rule_is_refused[backend image that is not an image reference]"),
    (r"EnvoyProxy\.spec\.provider\.kubernetes\.envoyDeployment\.container\.resources.*", "fields.Quantity", _DIFFERENTIAL),
    (r"EnvoyProxy\.spec\.provider\.kubernetes\.envoyHpa.*", "models.AutoscalingConfig; gateway_semantics.proxy_problems",
     f"{_CONFIG}[HPA min above max]"),
    (r"EnvoyProxy\.spec\.provider\.kubernetes\.envoyPDB.*", "gateway_semantics.proxy_problems (exactly one)", _DIFFERENTIAL),
    (r"EnvoyProxy\.spec\.provider\.kubernetes\.envoyDeployment.*", "fields.Replicas; models.ProxyConfig", f"{_CONFIG}[negative proxy replicas]"),
    (r"EnvoyProxy\.spec\.provider\.kubernetes\.envoyService.*", "models.ProxyServiceConfig (type, externalTrafficPolicy enums)", _DIFFERENTIAL),
    (r"EnvoyProxy\.spec(\.provider(\.kubernetes)?)?", "fixed by gateway_config/manifests.py", _PROGRAM),
    # Envoy Gateway's policies (gateway_config/traffic_policies.py, security_policies.py, policy_semantics.py,
    # security_semantics.py): the spec-level CEL rules are on fields the program does not emit (targetRef,
    # mergeType, compression, ...) or on target kinds and groups it fixes.
    (rf"{_POLICY}\.spec", "policy_manifests (targetRefs only, group fixed); traffic_policies.PolicyTargetRef.kind",
     f"{_TRAFFIC}[an unknown target kind]"),
    (rf"{_POLICY}\.spec\.targetRefs.*", "traffic_policies.PolicyTargetRef; policy_semantics.target_problems, conflict_problems",
     f"{_TRAFFIC}[a route the stack lacks]"),
    (rf"{_BTP}\.retry.*", "traffic_policies.Retry, RetryOn, BackOff (fields.Duration); policy_semantics._retry_problems",
     f"{_TRAFFIC}[an unknown retry trigger]"),
    (rf"{_BTP}\.timeout.*", "traffic_policies.BackendTimeout (fields.Duration)", f"{_TRAFFIC}[a timeout that is not a duration]"),
    (rf"{_BTP}\.circuitBreaker.*", "traffic_policies.CircuitBreaker (Count: 0 to 4294967295)", f"{_TRAFFIC}[a negative circuit breaker]"),
    (rf"{_BTP}\.rateLimit.*", "traffic_policies.RateLimit (rules 1-16, selectors 0-8, units); policy_semantics._rate_limit_problems",
     f"{_TRAFFIC}[an empty client selector]"),
    (rf"{_BTP}\.healthCheck.*", "traffic_policies.ActiveHealthCheck (type HTTP with http), HttpHealthCheck",
     f"{_TRAFFIC}[a health check without a path]"),
    (rf"{_BTP}\.loadBalancer.*", "traffic_policies.LoadBalancer, ConsistentHash; policy_semantics._load_balancer_problems",
     f"{_TRAFFIC}[ConsistentHash without its block]"),
    (rf"{_CTP}\.tls\.clientValidation.*", "traffic_policies.ClientValidation (1-8 refs, modes), CaCertificateRef; policy_semantics._tls_problems",
     f"{_TRAFFIC}[a client CA the stack lacks]"),
    (rf"{_CTP}\.tls.*", "traffic_policies.ClientTls (versions, ciphers, ALPN); policy_semantics._tls_problems",
     f"{_TRAFFIC}[a minimum TLS version above the maximum]"),
    (rf"{_CTP}\.timeout.*", "traffic_policies.ClientTimeout (fields.Duration)", _DIFFERENTIAL),
    (rf"{_CTP}\.clientIPDetection.*", "traffic_policies.XForwardedFor (hops 1-16, Cidr); policy_semantics (exactly one)",
     f"{_TRAFFIC}[both trusted hops and trusted ranges]"),
    (rf"{_CTP}\.connection.*", "traffic_policies.ConnectionLimit (at least 1)", f"{_TRAFFIC}[a connection limit of zero]"),
    (rf"{_SP}\.cors.*", "security_policies.Cors (Origin, HeaderName, Duration); security_semantics._cors_problems",
     f"{_SECURITY}[an origin that is not one]"),
    (rf"{_SP}\.basicAuth.*", "policy_manifests (users: the Secret '<policy>-basic-auth'); security_policies.BasicAuth",
     f"{_SECURITY}[a user name with a colon]"),
    (rf"{_SP}\.jwt.*", "security_policies.Jwt, JwtProvider (QualifiedName, Jwks, JwksUri, lengths); security_semantics._jwt_problems",
     f"{_SECURITY}[keys both inline and by URL]"),
    (rf"{_SP}\.apiKeyAuth.*", "policy_manifests (credentialRefs: the Secret '<policy>-api-keys'); security_policies.ApiKeyAuth; "
     "security_semantics._api_key_problems", f"{_SECURITY}[an API key source with both kinds]"),
    (rf"{_SP}\.authorization.*", "security_policies.Authorization, AuthorizationRule (Cidr, actions); "
     "security_semantics._authorization_problems", f"{_SECURITY}[an IP rule without an address range]"),
]

# Status conditions Envoy Gateway can report for a config this program could produce.
CONDITIONS: list[tuple[str, str, str]] = [
    ("Listener Conflicted (ProtocolConflict): HTTP and HTTPS on one port", "gateway_semantics.listener_problems (one protocol per port)",
     f"{_CONFIG}[HTTP and HTTPS listeners on one port]"),
    ("Listener Conflicted (HostnameConflict)", "gateway_semantics.listener_problems (port, protocol, hostname unique)",
     f"{_CONFIG}[same port, protocol and hostname]"),
    ("Listener OverlappingTLSConfig (OverlappingHostnames)", "gateway_api_rules._listener_overlap_problems",
     f"{_REGRESSION}[HTTPS listener without hostname beside one with a hostname on its port]"),
    ("Listener OverlappingTLSConfig (OverlappingCertificates)", "gateway_api_rules._listener_overlap_problems",
     f"{_REGRESSION}[certificates whose names overlap on one port]"),
    ("Listener ResolvedRefs False (PartiallyInvalidCertificateRef): a certificate twice, or two of one key algorithm for one name",
     "gateway_api_rules._listener_certificate_problems",
     f"{_REGRESSION}[two certificates of one key algorithm for one name on a listener]"),
    ("Listener ResolvedRefs False (InvalidCertificateRef, RefNotPermitted)",
     "gateway_semantics.listener_problems (declared certificates); ReferenceGrant declared across namespaces",
     f"{_CONFIG}[listener names an undeclared certificate]"),
    ("Route Accepted False (NoMatchingListenerHostname)", "gateway_api_rules._hostname_problems",
     f"{_REGRESSION}[route hostname no listener serves]"),
    ("Route Accepted False (NoMatchingParent): sectionName attaches nowhere", "route_semantics.parent_ref_problems",
     f"{_CONFIG}[route names an undeclared listener]"),
    ("Route not attached: parentRef to a Gateway not in the stack", "route_semantics.parent_ref_problems (external: true required)",
     f"{_CONFIG}[route names an undeclared Gateway]"),
    ("Route ResolvedRefs False (BackendNotFound, RefNotPermitted)", "route_semantics._backend_ref_problems (declared backends, same namespace)",
     f"{_CONFIG}[route names an undeclared backend]"),
    ("Route ResolvedRefs False (UnsupportedValue: Service port)", "route_semantics._backend_ref_problems (the backend's port)", _DIFFERENTIAL),
    ("Gateway Accepted False (InvalidParameters: EnvoyProxy)", "models.ProxyConfig; gateway_semantics.proxy_problems", _DIFFERENTIAL),
    ("Policy Accepted False (Conflicted): a second policy of one kind on a target, or one target listed twice",
     "policy_semantics.conflict_problems", f"{_REGRESSION}[one target twice in a policy]"),
    ("Policy without status (attached nowhere): a target the stack does not declare, or of a kind the policy cannot take",
     "policy_semantics.target_problems", f"{_TRAFFIC}[a route the stack lacks]"),
    ("BackendTrafficPolicy Accepted False (Invalid): local rate limit with two default rules, or a unit not a multiple of the default's",
     "policy_semantics._default_rate_limit_problems", f"{_REGRESSION}[two rate-limit rules without clientSelectors]"),
    ("SecurityPolicy Accepted False (Invalid): a JWT provider's name is not a Kubernetes qualified name",
     "fields.QualifiedName (security_policies.JwtProvider.name)", f"{_REGRESSION}[a JWT provider name with a space]"),
    ("API server: one object per kind, namespace and name (two routes, backends, certificates or policies of one name)",
     "semantics (route, backend, certificate names unique); policy_semantics.conflict_problems",
     f"{_REGRESSION}[two routes of one name]"),
]


@dataclass(frozen=True)
class Entry:
    field: str  # Kind.path, "[]" for list items
    constraint: str
    check: str
    test: str


def _stack_config(stack: str) -> dict[str, Any]:
    return raw_config_from_stack_file(REPOSITORY_ROOT / stack_file_name(stack))


def emitted_fields() -> set[str]:
    """Every field (Kind.path) of the Gateway API and Envoy Gateway objects the stacks and the policy field
    catalogue (`field_catalogue`, every policy field set) render, with its parents."""
    fields: set[str] = set()

    def walk(value: Any, path: str) -> None:
        fields.add(path)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}.[]")

    configs = [(stack, _stack_config(stack)) for stack in STACKS_FOR_FIELDS]
    configs.append(("catalogue", catalogue_config(_stack_config("dev"))))
    for stack, raw in configs:
        for item in kubernetes_objects(run_program(stack, raw)):
            if item.get("kind") in INVENTORIED_KINDS:
                walk({key: value for key, value in item.items() if key not in ("apiVersion", "kind", "status")}, item["kind"])
    return fields


def constraints(node: dict[str, Any]) -> Iterator[str]:
    for keyword in ("pattern", "minLength", "maxLength", "enum", "minimum", "maximum", "minItems", "maxItems", "format"):
        if keyword in node:
            yield f"{keyword}: {node[keyword]}"
    for rule in node.get("x-kubernetes-validations") or []:
        yield f"CEL: {rule.get('message') or rule['rule']}"


def check_for(field: str) -> tuple[str, str] | None:
    return next(((check, test) for pattern, check, test in FIELD_CHECKS if re.fullmatch(pattern, field)), None)


def entries(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[Entry]:
    schemas = load_schemas(version)
    result = []
    for field in sorted(emitted_fields()):
        kind, *parts = field.split(".")
        if parts[:1] == ["metadata"] and len(parts) > 1 and parts[1] in ("annotations", "labels"):
            parts = parts[:2]
            field = ".".join([kind, *parts]) + ".*"
        node = schema_node(schemas[kind], parts) if parts[:1] != ["metadata"] else {}
        found = list(constraints(node or {}))
        if parts[:1] == ["metadata"] and len(parts) == 2 and parts[1] in ("name", "namespace"):
            found = ["DNS-1123 subdomain (name), DNS-1123 label (namespace), at most 253 characters"]
        check, test = check_for(field) or ("MISSING", "MISSING")
        result.extend(Entry(field, constraint, check, test) for constraint in found)
    return sorted(set(result), key=lambda entry: (entry.field, entry.constraint))


def render(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# Rule inventory",
        "",
        f"Generated by `python -m gatestack.differential.inventory` from the CRDs of Envoy Gateway {version} "
        "(do not edit; `tests/differential/test_rule_inventory.py` fails when it is out of date, e.g. after a CRD "
        "version adds a rule). Every constraint on every field the program emits into a Gateway API or Envoy "
        "Gateway object, the program's check that refuses a value breaking it, and a test that shows it. "
        "`tests/differential/test_differential.py` proves the checks against kubectl-validate and egctl on "
        "generated configs.",
        "",
        "## Constraints of the CRDs",
        "",
        "| field | constraint | program's check | test |",
        "|---|---|---|---|",
        # Constraints are code (``...``): they hold regular expressions, which Markdown would read as links.
        *(f"| `{cell(e.field)}` | ``{cell(e.constraint)}`` | {cell(e.check)} | `{cell(e.test)}` |" for e in entries(version)),
        "",
        "## Envoy Gateway status conditions (and the API server's one object per name)",
        "",
        "| condition | program's check | test |",
        "|---|---|---|",
        *(f"| {cell(condition)} | {cell(check)} | `{cell(test)}` |" for condition, check, test in CONDITIONS),
        "",
        "## The program's own rules (no validator makes them)",
        "",
        "| rule | kind | why | test |",
        "|---|---|---|---|",
        *(f"| {cell(rule.name)} | {rule.kind} | {cell(rule.reason)} | `{cell(rule.test)}` |" for rule in PROGRAM_ONLY_RULES),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    DOCUMENT.write_text(render())
    sys.stdout.write(f"wrote {DOCUMENT.relative_to(REPOSITORY_ROOT)}\n")
