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
    ProgramRule("production image pinned", "safety", "a production stack runs only pinned images",
                r"(backends\.\d+|proxy)\.image", r"a production stack needs a pinned tag",
                f"{_CONFIG_TESTS}[production image without a tag]"),
    ProgramRule("image reference syntax", "safety", "the kubelet could never pull an image of that name",
                r"(backends\.\d+|proxy)\.image", r"is not a container image reference",
                f"{_PROGRAM_RULE_TESTS}[backend image that is not an image reference]"),
    ProgramRule("certificate settings", "not emitted",
                "pulumi-tls inputs and the Secret's own settings, not fields of a Gateway API object",
                r"certificates(\.\d+(\..*)?)?", r".*", f"{_CONFIG_TESTS}[validity not longer than early renewal]"),
    ProgramRule("controller settings", "not emitted", "gateway-helm values, rendered by Helm at deploy time",
                r"controller(\..*)?", r".*", f"{_CONFIG_TESTS}[chart version that is not a version]"),
    ProgramRule("Pulumi wait timeout", "not emitted", "how long `pulumi up` waits, a Pulumi annotation",
                r"gateway\.programmedTimeoutSeconds", r".*", f"{_PROGRAM_RULE_TESTS}[programmed timeout of 0]"),
    ProgramRule("header names to remove", "safety", "a name that is not an HTTP token is in no request: removing it does nothing",
                r"routes\.\d+\.rules\.\d+\.filters\.\d+\.(request|response)HeaderModifier\.remove\.\d+",
                r"is not a valid HTTP header name", f"{_PROGRAM_RULE_TESTS}[header to remove that is not a header name]"),
    ProgramRule("Service and Deployment of a backend", "api server",
                "Kubernetes' own validation of the backend's Service and Deployment (ports, names, quantities), which "
                "the API server applies and kubectl-validate, checking only their schema, does not",
                r"backends\.\d+\..*", r".*", f"{_PROGRAM_RULE_TESTS}[backend port 0]"),
    ProgramRule("empty prefix replacement", "safety", "a prefix replaced by nothing is written '/'",
                r"routes\.\d+\.rules\.\d+\.filters\.\d+\.(urlRewrite|requestRedirect)\.path\.replacePrefixMatch",
                r"^path '' does not start with '/'", f"{_PROGRAM_RULE_TESTS}[empty prefix replacement]"),
    ProgramRule("HPA bounds", "safety", "minReplicas above maxReplicas", r"proxy\.autoscaling\.minReplicas",
                r"above maxReplicas", f"{_CONFIG_TESTS}[HPA min above max]"),
]


def program_only_rule(problem: Problem) -> ProgramRule | None:
    """The documented program-only rule `problem` comes from, or None."""
    return next((rule for rule in PROGRAM_ONLY_RULES if rule.matches(problem)), None)
