"""Specification: bad stack config is refused before anything is declared, with a clear error.

Each case starts from the dev stack (the seed), breaks one thing, and expects one line
`stacks/Pulumi.dev.yaml: <dotted.path>: <what is wrong; what is allowed>`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from gateway_config.loader import ConfigError, parse_stack_config
from gatestack.mock_engine.program_run import ProgramFailed, run_program
from tests.conftest import REPOSITORY_ROOT, stack_raw_config

STACK_FILE = "stacks/Pulumi.dev.yaml"
Mutation = Callable[[dict[str, Any]], None]


def rule(config: dict[str, Any]) -> dict[str, Any]:
    return config["routes"][0]["rules"][0]


def route(config: dict[str, Any]) -> dict[str, Any]:
    return config["routes"][0]


def listeners(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config["gateway"]["listeners"]


def set_path(value: str) -> Mutation:
    return lambda c: rule(c)["matches"][0]["path"].update(value=value)


def header_modifier(c: dict[str, Any]) -> dict[str, Any]:
    return rule(c)["filters"][0]["requestHeaderModifier"]


REDIRECT = {"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}
REWRITE = {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}
BACKENDS = [{"name": "backend", "weight": 1}]

# (case id, mutation, dotted path, a fragment of the message)
REFUSED: list[tuple[str, Mutation, str, str]] = [
    ("typo in a key suggests the closest", lambda c: rule(c)["backendRefs"][0].update(weigth=3),
     "routes.0.rules.0.backendRefs.0.weigth", "did you mean 'weight'"),
    ("typo in a top-level key", lambda c: c.update(gatway=c.pop("gateway")), "gatway", "did you mean 'gateway'"),
    ("missing required section", lambda c: c.pop("gateway"), "gateway", "is required"),
    ("missing listener port", lambda c: listeners(c)[0].pop("port"), "gateway.listeners.0.port", "is required"),
    ("port given as a string", lambda c: listeners(c)[0].update(port="80"), "gateway.listeners.0.port", "whole number"),
    ("replicas given as a string", lambda c: c["backends"][0].update(replicas="1"), "backends.0.replicas", "whole number"),
    ("weight negative", lambda c: rule(c)["backendRefs"][0].update(weight=-1),
     "routes.0.rules.0.backendRefs.0.weight", "at least 0"),
    ("weight not an integer", lambda c: rule(c)["backendRefs"][0].update(weight=1.5),
     "routes.0.rules.0.backendRefs.0.weight", "whole number"),
    ("weight over 1,000,000", lambda c: rule(c)["backendRefs"][0].update(weight=1_000_001),
     "routes.0.rules.0.backendRefs.0.weight", "at most 1000000"),
    ("every backend at weight 0", lambda c: [ref.update(weight=0) for ref in rule(c)["backendRefs"]],
     "routes.0.rules.0.backendRefs", "allowZeroWeight"),
    ("path without leading slash", set_path("get"), "routes.0.rules.0.matches.0.path", "does not start with '/'"),
    ("path with //", set_path("/a//b"), "routes.0.rules.0.matches.0.path", "contains '//'"),
    ("path with /./", set_path("/a/./b"), "routes.0.rules.0.matches.0.path", "contains '/./'"),
    ("path with %2f", set_path("/a%2Fb"), "routes.0.rules.0.matches.0.path", "contains '%2f'"),
    ("path with #", set_path("/a#b"), "routes.0.rules.0.matches.0.path", "contains '#'"),
    ("path with a space", set_path("/a b"), "routes.0.rules.0.matches.0.path.value", "contains the character ' '"),
    ("Exact path with a character outside ASCII",
     lambda c: rule(c)["matches"][0].update(path={"type": "Exact", "value": "/caf\u00e9"}),
     "routes.0.rules.0.matches.0.path.value", "contains the character"),
    ("path with '%' not starting an escape", set_path("/100%"), "routes.0.rules.0.matches.0.path.value",
     "'%' not followed by two hex digits"),
    ("invalid regular expression",
     lambda c: rule(c)["matches"][0].update(path={"type": "RegularExpression", "value": "/(a"}),
     "routes.0.rules.0.matches.0.path", "not a valid regular expression"),
    ("regular expression RE2 cannot run",
     lambda c: rule(c)["matches"][0].update(path={"type": "RegularExpression", "value": "/(?=a)"}),
     "routes.0.rules.0.matches.0.path", "RE2"),
    ("hostname with uppercase", lambda c: route(c).update(hostnames=["WWW.example.com"]),
     "routes.0.hostnames.0", "not a valid hostname"),
    ("hostname is an IP address", lambda c: route(c).update(hostnames=["10.0.0.1"]),
     "routes.0.hostnames.0", "is an IP address"),
    ("wildcard not in first label", lambda c: route(c).update(hostnames=["www.*.example.com"]),
     "routes.0.hostnames.0", "not a valid hostname"),
    ("wildcard glued to a label", lambda c: route(c).update(hostnames=["*example.com"]),
     "routes.0.hostnames.0", "not a valid hostname"),
    ("hostname over 253 characters", lambda c: route(c).update(hostnames=[".".join(["a" * 60] * 5)]),
     "routes.0.hostnames.0", "characters long"),
    ("hostname label over 63 characters", lambda c: route(c).update(hostnames=["a" * 64 + ".example.com"]),
     "routes.0.hostnames.0", "64 characters long"),
    ("17 hostnames", lambda c: route(c).update(hostnames=[f"h{i}.example.com" for i in range(17)]),
     "routes.0.hostnames", "at most 16"),
    ("17 rules", lambda c: route(c).update(rules=[{"backendRefs": BACKENDS}] * 17), "routes.0.rules", "at most 16"),
    ("65 matches in a rule", lambda c: rule(c).update(matches=[{"path": {"value": f"/p{i}"}} for i in range(65)]),
     "routes.0.rules.0.matches", "at most 64"),
    ("129 matches in a route",
     lambda c: route(c).update(rules=[{"matches": [{"path": {"value": f"/r{r}m{m}"}} for m in range(43)],
                                       "backendRefs": BACKENDS} for r in range(3)]),
     "routes.0.rules", "129 matches"),
    ("17 backendRefs", lambda c: rule(c).update(backendRefs=[{"name": "backend"}] * 17),
     "routes.0.rules.0.backendRefs", "at most 16"),
    ("17 filters", lambda c: rule(c).update(filters=[rule(c)["filters"][0]] * 17), "routes.0.rules.0.filters", "at most 16"),
    ("65 listeners",
     lambda c: c["gateway"].update(listeners=[{"name": f"l{i}", "protocol": "HTTP", "port": 8000 + i} for i in range(65)]),
     "gateway.listeners", "at most 64"),
    ("filter type used twice (RequestHeaderModifier)", lambda c: rule(c)["filters"].append(rule(c)["filters"][0]),
     "routes.0.rules.0.filters", "used more than once"),
    ("redirect with backendRefs", lambda c: rule(c)["filters"].append(REDIRECT),
     "routes.0.rules.0.backendRefs", "RequestRedirect"),
    ("redirect with URLRewrite", lambda c: rule(c).update(filters=[REDIRECT, REWRITE], backendRefs=[]),
     "routes.0.rules.0.filters", "cannot be used in the same rule"),
    ("ReplacePrefixMatch without a PathPrefix match",
     lambda c: rule(c).update(filters=[REWRITE], matches=[{"path": {"type": "Exact", "value": "/get"}}]),
     "routes.0.rules.0.filters.0.urlRewrite.path", "exactly one match, with a PathPrefix"),
    ("ReplacePrefixMatch with two matches",
     lambda c: rule(c).update(filters=[REWRITE], matches=[{"path": {"value": "/a"}}, {"path": {"value": "/b"}}]),
     "routes.0.rules.0.filters.0.urlRewrite.path", "exactly one match"),
    ("duplicate listener names", lambda c: listeners(c)[1].update(name="http"),
     "gateway.listeners.1.name", "more than once"),
    ("same port, protocol and hostname", lambda c: listeners(c).append({"name": "http-2", "protocol": "HTTP", "port": 80}),
     "gateway.listeners.2", "same port (80)"),
    ("HTTP and HTTPS listeners on one port", lambda c: listeners(c)[1].update(port=80),
     "gateway.listeners.1.port", "all listeners of a port must use one protocol"),
    ("HTTPS listener on the HTTP listener's port with another hostname",
     lambda c: listeners(c).append({**listeners(c)[1], "name": "https-80", "port": 80, "hostname": "www.example.com"}),
     "gateway.listeners.2.port", "ProtocolConflict"),
    ("port 0", lambda c: listeners(c)[0].update(port=0), "gateway.listeners.0.port", "at least 1"),
    ("port 65536", lambda c: listeners(c)[0].update(port=65536), "gateway.listeners.0.port", "at most 65535"),
    ("HTTPS listener without certificate", lambda c: listeners(c)[1].pop("tls"), "gateway.listeners.1.tls", "no certificate"),
    ("tls block on an HTTP listener", lambda c: listeners(c)[0].update(tls=listeners(c)[1]["tls"]),
     "gateway.listeners.0.tls", "only HTTPS listeners"),
    ("route names an undeclared listener", lambda c: route(c).update(parentRefs=[{"name": "eg", "sectionName": "grpc"}]),
     "routes.0.parentRefs.0.sectionName", "does not have"),
    ("route names an undeclared Gateway", lambda c: route(c).update(parentRefs=[{"name": "other"}]),
     "routes.0.parentRefs.0.name", "does not declare"),
    ("route names an undeclared backend", lambda c: rule(c)["backendRefs"][0].update(name="missing"),
     "routes.0.rules.0.backendRefs.0.name", "not declared in 'backends'"),
    ("listener names an undeclared certificate",
     lambda c: listeners(c)[1]["tls"]["certificateRefs"][0].update(name="other-cert"),
     "gateway.listeners.1.tls.certificateRefs.0.name", "not declared in 'certificates'"),
    ("Kubernetes name with uppercase", lambda c: c["backends"][0].update(name="Backend"), "backends.0.name", "DNS-1123"),
    ("Kubernetes name too long", lambda c: c["backends"][0].update(name="b" * 64), "backends.0.name", "at most 63"),
    ("invalid header name", lambda c: header_modifier(c)["add"][0].update(name="added header"),
     "routes.0.rules.0.filters.0.requestHeaderModifier.add.0.name", "not a valid HTTP header name"),
    ("header name with a colon", lambda c: header_modifier(c)["add"][0].update(name="x:y"),
     "routes.0.rules.0.filters.0.requestHeaderModifier.add.0.name", "not a valid HTTP header name"),
    ("duplicate header in a modifier",
     lambda c: header_modifier(c).update(set=[{"name": "Added-Header", "value": "bar"}]),
     "routes.0.rules.0.filters.0.requestHeaderModifier", "more than once"),
    ("header value with a control character", lambda c: header_modifier(c)["add"][0].update(value="foo\nbar"),
     "routes.0.rules.0.filters.0.requestHeaderModifier.add.0.value", "control character"),
    ("unknown certificate source", lambda c: c["certificates"][0].update(source="certManager"),
     "certificates.0.source", "allowed values: 'generate' or 'existingSecret'"),
    ("validity not longer than early renewal",
     lambda c: c["certificates"][0].update(validityHours=720, earlyRenewalHours=720),
     "certificates.0.validityHours", "not longer than earlyRenewalHours"),
    ("HPA min above max", lambda c: c.update(proxy={"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}),
     "proxy.autoscaling.minReplicas", "above maxReplicas"),
    ("negative replicas", lambda c: c["backends"][0].update(replicas=-1), "backends.0.replicas", "at least 0"),
    ("negative proxy replicas", lambda c: c.update(proxy={"replicas": -2}), "proxy.replicas", "at least 0"),
    ("production image without a tag",
     lambda c: (c.update(production=True), c["backends"][0].update(image="docker.io/library/echo")),
     "backends.0.image", "no tag"),
    ("production image tagged latest",
     lambda c: (c.update(production=True), c["backends"][0].update(image="docker.io/library/echo:latest")),
     "backends.0.image", "the tag latest"),
    ("chart version that is not a version", lambda c: c["controller"].update(version="latest"),
     "controller.version", "not a version"),
    ("chart version missing its patch", lambda c: c["controller"].update(version="v1.9"),
     "controller.version", "not a version"),
]


def refusal(mutation: Mutation) -> ConfigError:
    config = stack_raw_config("dev")
    mutation(config)
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(config, STACK_FILE)
    return raised.value


@pytest.mark.parametrize(
    "mutation, path, fragment", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_bad_config_is_refused_naming_file_field_and_rule(mutation: Mutation, path: str, fragment: str) -> None:
    error = refusal(mutation)
    lines = [line for line in str(error).splitlines() if line.startswith(f"{STACK_FILE}: {path}: ")]
    assert lines, f"no line for {path} in:\n{error}"
    assert any(fragment in line for line in lines), f"'{fragment}' not in:\n{error}"


@pytest.mark.parametrize(
    "mutation",
    [
        lambda c: rule(c)["backendRefs"][1].update(weight=0),
        lambda c: rule(c)["backendRefs"][0].update(weight=1_000_000),
        lambda c: route(c).update(hostnames=[f"h{i}.example.com" for i in range(15)] + ["*.example.com"]),
        lambda c: (listeners(c)[0].update(port=1), listeners(c)[1].update(port=65535)),
        lambda c: (rule(c).update(allowZeroWeight=True), [ref.update(weight=0) for ref in rule(c)["backendRefs"]]),
        lambda c: rule(c)["backendRefs"].append({"name": "elsewhere", "namespace": "other", "port": 8080, "external": True}),
        lambda c: route(c).update(rules=[{"matches": [{"path": {"value": f"/r{r}m{m}"}} for m in range(64)],
                                          "backendRefs": BACKENDS} for r in range(2)]),
        # The key settings describe the material made for the Secret where a runner makes it.
        lambda c: c["certificates"][0].update(source="existingSecret", keyAlgorithm="ECDSA", validityHours=2160),
        set_path("/a-z_A.Z~0!9$&'()*+,;=:@/%20%7e"),
        lambda c: rule(c)["matches"][0].update(path={"type": "RegularExpression", "value": "/a b [^/]+"}),
        lambda c: listeners(c).append({"name": "http-www", "protocol": "HTTP", "port": 80, "hostname": "www.example.com"}),
    ],
    ids=[
        "weight 0 beside a positive weight",
        "weight 1,000,000",
        "exactly 16 hostnames with a wildcard",
        "ports 1 and 65535",
        "all weights 0 with allowZeroWeight",
        "external backend",
        "exactly 128 matches in a route",
        "existing Secret with key and validity settings",
        "path of every character Gateway API allows and escapes",
        "a space in a regular expression path",
        "two HTTP listeners on one port with different hostnames",
    ],
)
def test_valid_edge_values_are_accepted(mutation: Mutation) -> None:
    config = stack_raw_config("dev")
    mutation(config)
    parse_stack_config(config, STACK_FILE)


def test_all_problems_are_reported_at_once() -> None:
    def several(config: dict[str, Any]) -> None:
        listeners(config)[0].update(port=0)
        rule(config)["backendRefs"][0].update(weight=-5)
        route(config).update(hostnames=["Bad.Example.com"])

    lines = str(refusal(several)).splitlines()
    assert [line.split(": ")[1] for line in lines if line.startswith(STACK_FILE)] == [
        "gateway.listeners.0.port",
        "routes.0.hostnames.0",
        "routes.0.rules.0.backendRefs.0.weight",
    ]


def test_all_cross_reference_problems_are_reported_at_once() -> None:
    def several(config: dict[str, Any]) -> None:
        rule(config)["backendRefs"][0].update(name="missing")
        listeners(config)[1].pop("tls")
        config["certificates"][0].update(validityHours=1, earlyRenewalHours=2)

    lines = str(refusal(several)).splitlines()
    assert len(lines) == 3, lines


def test_under_the_engine_a_bad_config_stops_the_program_before_any_resource() -> None:
    """GIVEN a typo WHEN `pulumi preview`/`up` runs the program THEN it stops with the message
    alone (a pulumi.RunError, which the engine prints without a traceback) and nothing at all
    was declared."""
    config = stack_raw_config("dev")
    rule(config)["backendRefs"][0]["weigth"] = 3
    with pytest.raises(ProgramFailed) as raised:
        run_program("dev", config)
    assert str(raised.value).startswith(f"{STACK_FILE}: routes.0.rules.0.backendRefs.0.weigth: unknown key 'weigth'")
    assert raised.value.resources == []


def test_gatestack_prints_the_problems_without_a_traceback(tmp_path: Path) -> None:
    config = stack_raw_config("dev")
    listeners(config)[0]["port"] = 0
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in config.items()}}))
    result = subprocess.run(
        [sys.executable, "-m", "gatestack", "render", "--config", str(stack_file)],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{stack_file}: gateway.listeners.0.port: is 0; it must be at least 1" in result.stderr
