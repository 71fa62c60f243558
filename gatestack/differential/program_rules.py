"""The program's own rules: refusals no validator makes, each documented with its reason.

The differential test accepts "the program refuses, every validator accepts" only when every
problem the program reported is one of these. Each is a safety rule (the config would deploy
but not do what the user meant), a rule about a setting that reaches no Kubernetes object the
validators judge (Helm values, pulumi-tls inputs, Pulumi's own options), or the program's
deliberate scope (what its schema supports). Each names the test that shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway_config.semantics import Problem


@dataclass(frozen=True)
class ProgramRule:
    name: str
    kind: str  # "safety", "not emitted" or "scope"
    reason: str
    path: str  # a regular expression over the dotted path of the problem
    message: str  # a regular expression over its message
    test: str  # a test that shows the refusal

    def matches(self, problem: Problem) -> bool:
        return bool(re.fullmatch(self.path, problem.path) and re.search(self.message, problem.message))


_CONFIG_TESTS = "tests/test_config_validation.py::test_bad_config_is_refused_naming_file_field_and_rule"
_PROGRAM_RULE_TESTS = "tests/differential/test_regressions.py::test_program_only_rule_is_refused"

PROGRAM_ONLY_RULES: list[ProgramRule] = [
    ProgramRule("unknown key", "safety", "a typo in a key would otherwise be silently ignored",
                r".*", r"^unknown key '", f"{_CONFIG_TESTS}[typo in a key suggests the closest]"),
    ProgramRule("strict types", "safety", "a number given as a string (or the like) is refused, never guessed at",
                r".*", r"\) ?; (a whole number|a string|true or false|a list|a mapping|another type) is required$",
                f"{_CONFIG_TESTS}[port given as a string]"),
    ProgramRule("all weights zero", "safety", "every request would get a 500; allowZeroWeight: true says it is meant",
                r"routes\.\d+\.rules\.\d+\.backendRefs", r"every backend of this rule has weight 0",
                f"{_CONFIG_TESTS}[every backend at weight 0]"),
    ProgramRule("rule without a destination", "safety", "a rule with neither backends nor a redirect answers 500",
                r"routes\.\d+\.rules\.\d+\.backendRefs", r"no backendRefs and no RequestRedirect",
                f"{_PROGRAM_RULE_TESTS}[rule without a destination]"),
    ProgramRule("empty header modifier", "safety", "a header filter that changes nothing is a mistake",
                r"routes\.\d+\.rules\.\d+\.filters\.\d+\.(request|response)HeaderModifier", r"the modifier is empty",
                f"{_PROGRAM_RULE_TESTS}[empty header modifier]"),
    ProgramRule("header named twice in a modifier", "safety",
                "set, add and remove of one header (any case) in one filter: which one wins is not what was meant",
                r"routes\.\d+\.rules\.\d+\.filters\.\d+\.(request|response)HeaderModifier", r"appears more than once",
                f"{_CONFIG_TESTS}[duplicate header in a modifier]"),
    ProgramRule("header matched twice", "safety", "header names are case-insensitive: two matches of one header",
                r"routes\.\d+\.rules\.\d+\.matches\.\d+\.headers", r"is matched more than once",
                f"{_PROGRAM_RULE_TESTS}[header matched twice in two cases]"),
    ProgramRule("Gateway not in this stack", "scope",
                "a route attaches to this stack's Gateway; another Gateway must be marked external: true",
                r"routes\.\d+\.parentRefs\.\d+\.name", r"which this stack does not declare",
                f"{_CONFIG_TESTS}[route names an undeclared Gateway]"),
    ProgramRule("declared in this stack or marked external", "scope",
                "every Secret and Service the stack refers to is one it declares or one it says is managed elsewhere "
                "(external: true), so a typo is caught before deploy (the validators accept it only when another "
                "reference marked external happens to name the same object)",
                r"gateway\.listeners\.\d+\.tls\.certificateRefs\.\d+\.name|"
                r"routes\.\d+\.rules\.\d+\.(backendRefs\.\d+|filters\.\d+\.requestMirror\.backendRef)\.name|"
                r"clientTrafficPolicies\.\d+\.tls\.clientValidation\.caCertificateRefs\.\d+\.name",
                r"is not declared in '?(certificates|backends|clientCertificateAuthorities)'?.*mark the reference external: true",
                f"{_PROGRAM_RULE_TESTS}[a certificate reference without external: true beside one with it]"),
    ProgramRule("TLS settings on HTTP listeners", "safety",
                "a ClientTrafficPolicy's tls block that targets only HTTP listeners changes nothing (Envoy Gateway accepts it)",
                r"clientTrafficPolicies\.\d+\.tls", r"^targets only HTTP listeners",
                f"{_PROGRAM_RULE_TESTS}[TLS settings on an HTTP listener only]"),
    ProgramRule("production image pinned", "safety", "a production stack runs only pinned images",
                r"(backends\.\d+|proxy)\.image", r"a production stack needs a pinned tag",
                f"{_CONFIG_TESTS}[production image without a tag]"),
    ProgramRule("image reference syntax", "safety", "the kubelet could never pull an image of that name",
                r"(backends\.\d+|proxy)\.image", r"is not a container image reference",
                f"{_PROGRAM_RULE_TESTS}[backend image that is not an image reference]"),
    ProgramRule("certificate settings", "not emitted",
                "pulumi-tls inputs (subjects, names, key, validity) and where the certificate comes from, not fields of an "
                "object the validators judge (the Secret's name and namespace are: those refusals must agree)",
                r"certificates\.\d+\.(ca|subject)(\..*)?|certificates\.\d+\.(dnsNames(\.\d+)?|keyAlgorithm|rsaBits|ecdsaCurve|"
                r"validityHours|caValidityHours|earlyRenewalHours|source)", r".*",
                f"{_CONFIG_TESTS}[validity not longer than early renewal]"),
    ProgramRule("controller settings", "not emitted", "gateway-helm values, rendered by Helm at deploy time",
                r"controller(\..*)?", r".*", f"{_CONFIG_TESTS}[chart version that is not a version]"),
    ProgramRule("Pulumi wait timeout", "not emitted", "how long `pulumi up` waits, a Pulumi annotation",
                r"gateway\.programmedTimeoutSeconds", r".*", f"{_PROGRAM_RULE_TESTS}[programmed timeout of 0]"),
    ProgramRule("header names to remove", "safety", "a name that is not an HTTP token is in no request: removing it does nothing",
                r"routes\.\d+\.rules\.\d+\.filters\.\d+\.(request|response)HeaderModifier\.remove\.\d+",
                r"is not a valid HTTP header name", f"{_PROGRAM_RULE_TESTS}[header to remove that is not a header name]"),
    ProgramRule("Service and Deployment of a backend", "api server",
                "Kubernetes' own validation of the backend's Service and Deployment (Service names are DNS labels; ports, "
                "replicas, quantities), which the API server applies and kubectl-validate, checking their metadata and "
                "schema only, does not",
                r"backends\.\d+\.(name|port|replicas|resources\.(requests|limits)\.[^.]+(\.\[key\])?)",
                r"is not a valid Kubernetes name; use at most 63|; it must be at (least|most) \d+$|is not a Kubernetes quantity|"
                r"allowed values: 'cpu', 'memory' or 'ephemeral-storage'",
                f"{_PROGRAM_RULE_TESTS}[backend port 0]"),
    ProgramRule("proxy Deployment replicas", "api server",
                "Envoy Gateway copies them into the proxies' Deployment, which the API server refuses below 0 (the "
                "EnvoyProxy CRD sets no minimum)",
                r"proxy\.replicas", r"; it must be at least 0$", f"{_PROGRAM_RULE_TESTS}[negative proxy replicas]"),
    ProgramRule("replacement paths are absolute paths", "safety",
                "a rewrite or redirect sends requests to the path it names, so it must be one a server can route: absolute "
                "and normalized, as Gateway API requires of match paths (its CRD puts no rule on replacements; a prefix "
                "replaced by nothing is written '/')",
                r"routes\.\d+\.rules\.\d+\.filters\.\d+\.(urlRewrite|requestRedirect)\.path\.replace(PrefixMatch|FullPath)",
                r"^path '.*' (does not start with '/'|contains '|ends with a dot segment)",
                f"{_PROGRAM_RULE_TESTS}[relative path replacement]"),
    ProgramRule("no escaped backslash in a match path", "envoy",
                "Envoy Gateway unescapes %2F and %5C in a request's path and redirects to the unescaped path before routing "
                "(escapedSlashesAction UnescapeAndRedirect, its default), so a path match holding %5c never sees a request; "
                "Gateway API's CRD refuses %2f for that reason and lets %5c through",
                r"routes\.\d+\.rules\.\d+\.matches\.\d+\.path", r"^path '.*' contains '%5c'",
                f"{_PROGRAM_RULE_TESTS}[a match path with an escaped backslash]"),
    ProgramRule("HTTP and HTTPS listeners only", "scope",
                "the routes the program declares (HTTPRoute, GRPCRoute) attach to HTTP and HTTPS listeners; a TCP, UDP or "
                "TLS listener would serve TCPRoutes, UDPRoutes or TLSRoutes, which it does not declare, so it would stay "
                "empty (another program's routes can attach to a Gateway of its own)",
                r"(gateway|gateways\.\d+)\.listeners\.\d+\.protocol", r"^is '(TCP|UDP|TLS)'; allowed values: 'HTTP' or 'HTTPS'$",
                f"{_PROGRAM_RULE_TESTS}[a TCP listener]"),
    ProgramRule("empty value for a choice", "safety", "'' given where one of a few values is expected is a slip: leave the key "
                "out for Envoy Gateway's default", r".*", r"^is ''; allowed values: ", f"{_PROGRAM_RULE_TESTS}[empty health check method]"),
    ProgramRule("policy blocks that would do nothing", "safety",
                "a health check without an active check, CORS without origins, a local rate limit without rules, a "
                "timeout or connection limit without its value: Envoy Gateway accepts each and changes nothing, so the "
                "block was left unfinished",
                r"backendTrafficPolicies\.\d+\.(healthCheck\.active|rateLimit\.local\.rules|timeout\.http(\.requestTimeout)?)|"
                r"clientTrafficPolicies\.\d+\.(connection\.connectionLimit(\.value)?|timeout\.http)|securityPolicies\.\d+\.cors\.allowOrigins",
                r"^is required but missing$|^has 0 entries; at least 1 required$", f"{_PROGRAM_RULE_TESTS}[CORS without origins]"),
    ProgramRule("authorization that denies everyone", "safety",
                "IP rules with neither rules nor defaultAction deny every request (Envoy Gateway's default action); "
                "defaultAction: Deny says that is meant", r"securityPolicies\.\d+\.authorization", r"has neither rules nor defaultAction",
                f"{_PROGRAM_RULE_TESTS}[authorization that denies everyone]"),
    ProgramRule("a user or client listed twice", "safety",
                "a basic-auth user or API-key client named twice is a slip (the Secret holds each once)",
                r"securityPolicies\.\d+\.(basicAuth\.users|apiKeyAuth\.clients)", r"is listed more than once$",
                f"{_PROGRAM_RULE_TESTS}[an API-key client listed twice]"),
    ProgramRule("status codes need their trigger", "safety",
                "retryOn.httpStatusCodes are retried only with the trigger retriable-status-codes; without it Envoy Gateway "
                "accepts them and retries none", r"backendTrafficPolicies\.\d+\.retry\.retryOn\.httpStatusCodes",
                r"only retried with the trigger 'retriable-status-codes'", f"{_PROGRAM_RULE_TESTS}[status codes without their trigger]"),
    ProgramRule("keys Envoy can fetch and read", "envoy",
                "Envoy fetches a remote JWKS over http(s) only and refuses a JWT filter whose inline JWKS is not a key set; "
                "Envoy Gateway accepts both, so the listener would fail on the data plane",
                r"securityPolicies\.\d+\.jwt\.providers\.\d+\.(remoteJWKS\.uri|localJWKS\.inline)",
                r"is not an http\(s\) URL|is not a JSON Web Key Set", f"{_PROGRAM_RULE_TESTS}[an inline JWKS that is not one]"),
    ProgramRule("user and client names", "scope",
                "basic-auth users and API-key clients are DNS labels: each is a `pulumi config set --path "
                "'credentials.<policy>.<name>'` segment (a dot would nest it) and a Secret key; their credentials are strings",
                r"securityPolicies\.\d+\.(basicAuth\.users|apiKeyAuth\.clients)\.\d+|credentials\..*",
                r"is not a valid Kubernetes name; use at most 63|^must map policy names to users",
                f"{_PROGRAM_RULE_TESTS}[a basic-auth user with a capital letter]"),
    ProgramRule("bounds beyond which a setting is a typo", "safety",
                "more than 10 retries, more than 16 trusted proxies (or 0, the default: leave it out) or a health-check "
                "threshold over 1000 is accepted by Envoy Gateway and surely not meant",
                r"backendTrafficPolicies\.\d+\.(retry\.numRetries|healthCheck\.active\.(un)?healthyThreshold)|"
                r"clientTrafficPolicies\.\d+\.clientIPDetection\.xForwardedFor\.numTrustedHops",
                r"; it must be at (most (10|16|1000)|least 1)$", f"{_PROGRAM_RULE_TESTS}[11 retries]"),
    ProgramRule("a value twice in a policy list", "safety",
                "a cipher, ALPN protocol or origin listed twice, a header matched twice by one selector or given two claims "
                "is a slip: Envoy Gateway accepts it, and which setting wins is not what was meant",
                r"(backendTrafficPolicies|clientTrafficPolicies|securityPolicies)\.\d+\..*",
                r"is listed more than once$|is matched more than once$|receives more than one claim$",
                f"{_PROGRAM_RULE_TESTS}[a cipher listed twice]"),
    ProgramRule("one way of authenticating", "safety",
                "a SecurityPolicy with two of basic auth, JWT and API keys makes clients pass both, which is never what a "
                "stack means by listing two", r"securityPolicies\.\d+", r"; give one way of authenticating per policy$",
                f"{_PROGRAM_RULE_TESTS}[basic auth and JWT in one policy]"),
    ProgramRule("CORS credentials for every origin", "safety", "browsers refuse credentials for the origin '*'",
                r"securityPolicies\.\d+\.cors\.allowCredentials", r"browsers refuse credentials for the origin '\*'",
                f"{_PROGRAM_RULE_TESTS}[CORS credentials for every origin]"),
    ProgramRule("rate limit units verify can measure", "scope",
                "the program takes limits per Second, Minute, Hour or Day (Envoy Gateway also Week, Month, Year), which "
                "`gatestack verify` can prove", r"backendTrafficPolicies\.\d+\.rateLimit\.local\.rules\.\d+\.limit\.unit",
                r"allowed values: 'Second'", f"{_PROGRAM_RULE_TESTS}[a weekly rate limit]"),
    ProgramRule("health checks only read", "safety",
                "a health check is sent every few seconds to every endpoint: GET, HEAD, POST, PUT or OPTIONS, never "
                "DELETE, PATCH or TRACE (Envoy Gateway accepts any)", r"backendTrafficPolicies\.\d+\.healthCheck\.active\.http\.method",
                r"allowed values: 'GET'", f"{_PROGRAM_RULE_TESTS}[a DELETE health check]"),
    ProgramRule("a policy that sets nothing", "safety", "a policy with targets and no settings changes nothing (Envoy Gateway accepts it)",
                r"(backendTrafficPolicies|clientTrafficPolicies|securityPolicies)\.\d+", r" sets nothing; give ",
                f"{_PROGRAM_RULE_TESTS}[a SecurityPolicy that sets nothing]"),
    ProgramRule("ConsistentHash keeps no weights", "safety",
                "seen on the data plane: Envoy's Maglev balancer treats every endpoint alike, so a weighted split under "
                "ConsistentHash does not hold", r"backendTrafficPolicies\.\d+\.loadBalancer\.type", r"ConsistentHash ignores backend weights",
                f"{_PROGRAM_RULE_TESTS}[ConsistentHash over a weighted split]"),
    ProgramRule("client CA settings", "not emitted", "pulumi-tls inputs of the CA and the client certificates it issues, not "
                "fields of an object the validators judge (the Secret's name is: those refusals must agree)",
                r"clientCertificateAuthorities\.\d+\.(clients(\.\d+)?|commonName|organization|keyAlgorithm|validityHours|source)",
                r".*", f"{_PROGRAM_RULE_TESTS}[a client listed twice]"),
    ProgramRule("every policy target exists", "safety",
                "a target naming nothing in the stack is a typo; Envoy Gateway ignores it silently when another target of "
                "the policy attaches (alone, it leaves the policy without status, which the validators refuse)",
                r"(backendTrafficPolicies|clientTrafficPolicies|securityPolicies)\.\d+\.targetRefs\.\d+\.(name|sectionName)",
                r"is not a valid Kubernetes name|is not declared in this stack|has no rule named|has no listener|is not this stack's",
                f"{_PROGRAM_RULE_TESTS}[a second policy target that names no route]"),
    ProgramRule("empty namespace", "safety", "a namespace given as '' is a slip: leave the key out for the stack's namespace",
                r"(.*\.)?namespace", r"^'' is not a valid Kubernetes name", f"{_PROGRAM_RULE_TESTS}[empty certificate namespace]"),
    ProgramRule("a password or API key for every user and client", "safety",
                "without one the Secret would hold an empty password or key, which anyone could send",
                r"credentials\.[^.]+\.[^.]+", r"^the (password|API key) of '[^']+' is (missing|empty)",
                f"{_PROGRAM_RULE_TESTS}[basic-auth user without a password]"),
    ProgramRule("one secretName per certificate", "pulumi",
                "a certificate's Pulumi resources are named after its secretName, and Pulumi refuses two resources of one "
                "name (an existing Secret declared twice, or one name in two namespaces: no two objects for the validators)",
                r"certificates\.\d+\.secretName", r"is declared more than once|is used by another certificate too",
                f"{_PROGRAM_RULE_TESTS}[one secretName in two namespaces]"),
    ProgramRule("credentials nobody uses", "safety",
                "a password or key for a user, client or policy that does not take it is a slip (a removed user's password "
                "still set, or a typo); it reaches no object",
                r"credentials\.[^.]+(\.[^.]+)?", r"is not a user or client of SecurityPolicy|no SecurityPolicy '[^']+' uses these credentials",
                f"{_PROGRAM_RULE_TESTS}[a password for no user]"),
    ProgramRule("CORS methods are HTTP's", "safety",
                "a CORS method outside HTTP's (and '*', any method) is a typo: no browser asks for it",
                r"securityPolicies\.\d+\.cors\.allowMethods\.\d+", r"allowed values: 'GET'",
                f"{_PROGRAM_RULE_TESTS}[a CORS method that is not an HTTP method]"),
    ProgramRule("HPA bounds", "safety", "minReplicas above maxReplicas", r"proxy\.autoscaling\.minReplicas",
                r"above maxReplicas", f"{_CONFIG_TESTS}[HPA min above max]"),
]


def program_only_rule(problem: Problem) -> ProgramRule | None:
    """The documented program-only rule `problem` comes from, or None."""
    return next((rule for rule in PROGRAM_ONLY_RULES if rule.matches(problem)), None)
