"""Specification: every disagreement the differential test found, kept as a regression test.

Each case starts from the dev stack, changes what the shrunk stack file changed, and states:
the program now refuses it (naming the field), and the real validators refuse it too (so the
rule is theirs, not an invention); or, for a rule that was over-strict, both now accept it.
The program's own rules (no validator makes them) are shown refused here as well.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from gateway_config.loader import ConfigError, parse_stack_config
from gatestack.differential.oracle import judge_batch
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION
from tests.conftest import stack_raw_config
from tests.differential.harness import render_case

STACK_FILE = "stacks/Pulumi.dev.yaml"
Mutation = Callable[[dict[str, Any]], Any]


def listeners(c: dict[str, Any]) -> list[dict[str, Any]]:
    return c["gateway"]["listeners"]


def route(c: dict[str, Any]) -> dict[str, Any]:
    return c["routes"][0]


def rule(c: dict[str, Any]) -> dict[str, Any]:
    return route(c)["rules"][0]


def https(name: str, hostname: str | None, certificate: str, port: int = 443, external: bool = False) -> dict[str, Any]:
    ref = {"name": certificate, **({"external": True} if external else {})}
    return {"name": name, "protocol": "HTTPS", "port": port, **({"hostname": hostname} if hostname else {}),
            "tls": {"certificateRefs": [ref]}}


def second_certificate(c: dict[str, Any], dns_names: list[str]) -> None:
    c["certificates"].append({**c["certificates"][0], "secretName": "second-cert", "dnsNames": dns_names})


# (id, mutation, dotted path of the refusal, a fragment of its message)
MISSING_RULES: list[tuple[str, Mutation, str, str]] = [
    ("one external certificate on two HTTPS listeners of a port",
     lambda c: c["gateway"].update(listeners=[listeners(c)[0], https("https-0", "foo.bar", "shared-cert", external=True),
                                              https("https-1", "*.api.example.com", "shared-cert", external=True)]),
     "gateway.listeners.1", "serves the same certificate"),
    ("HTTPS listener without hostname beside one with a hostname on its port",
     lambda c: listeners(c).append(https("https-www", "www.example.com", "other-cert", external=True)),
     "gateway.listeners.1", "overlaps listener 'https-www'"),
    ("certificates whose names overlap on one port",
     lambda c: (second_certificate(c, ["www.example.com"]), listeners(c)[1].update(hostname="a.example.com"),
                listeners(c).append(https("https-2", "b.example.com", "second-cert"))),
     "gateway.listeners.1", "certificate's name www.example.com overlaps"),
    ("rule names used twice in a route",
     lambda c: route(c).update(rules=[{**rule(c), "name": "main"}, {**rule(c), "name": "main"}]),
     "routes.0.rules.1.name", "used more than once"),
    ("backendRequest timeout longer than request",
     lambda c: rule(c).update(timeouts={"request": "1s", "backendRequest": "10s"}),
     "routes.0.rules.0.timeouts.backendRequest", "longer than request"),
    ("route hostname no listener serves",
     lambda c: (listeners(c)[0].update(hostname="www.example.com"), listeners(c)[1].update(hostname="www.example.com"),
                route(c).update(hostnames=["example.org"])),
     "routes.0.hostnames", "NoMatchingListenerHostname"),
    ("route hostname the listener named by sectionName does not serve",
     lambda c: (listeners(c)[0].update(hostname="api.example.com"),
                route(c).update(parentRefs=[{"name": "eg", "sectionName": "http"}])),
     "routes.0.parentRefs.0", "match no hostname of listener 'http'"),
    ("a hostname belongs to the listener that names it exactly",
     lambda c: (listeners(c)[0].update(hostname="*.example.com"),
                listeners(c).append({"name": "http-www", "protocol": "HTTP", "port": 80, "hostname": "www.example.com"}),
                route(c).update(parentRefs=[{"name": "eg", "sectionName": "http"}])),
     "routes.0.parentRefs.0", "match no hostname of listener 'http'"),
    ("one Gateway twice in parentRefs without sectionName",
     lambda c: route(c).update(parentRefs=[{"name": "eg"}, {"name": "eg", "sectionName": "http"}]),
     "routes.0.parentRefs.0.sectionName", "needs a sectionName"),
    ("header value with a character outside ASCII",
     lambda c: rule(c)["filters"][0]["requestHeaderModifier"]["add"][0].update(value="Ø"),
     "routes.0.rules.0.filters.0.requestHeaderModifier.add.0.value", "printable ASCII"),
    ("header value with a leading space",
     lambda c: rule(c)["filters"][0]["requestHeaderModifier"]["add"][0].update(value=" foo"),
     "routes.0.rules.0.filters.0.requestHeaderModifier.add.0.value", "no space or tab at either end"),
    ("empty header value", lambda c: rule(c)["filters"][0]["requestHeaderModifier"]["add"][0].update(value=""),
     "routes.0.rules.0.filters.0.requestHeaderModifier.add.0.value", "1 to 4096"),
    ("empty header match value", lambda c: rule(c)["matches"][0].update(headers=[{"name": "x-team", "value": ""}]),
     "routes.0.rules.0.matches.0.headers.0.value", "1 to 4096"),
    ("query parameter name that is not a token",
     lambda c: rule(c)["matches"][0].update(queryParams=[{"name": "a b", "value": "1"}]),
     "routes.0.rules.0.matches.0.queryParams.0.name", "not a valid HTTP header name"),
    ("empty query parameter value",
     lambda c: rule(c)["matches"][0].update(queryParams=[{"name": "page", "value": ""}]),
     "routes.0.rules.0.matches.0.queryParams.0.value", "at least 1 character"),
    ("GatewayClass name too long to name the EnvoyProxy after it",
     lambda c: c.update(gatewayClass={"name": "a" * 250}), "gatewayClass.name", "'<name>-proxy'"),
    ("GatewayClass description over 64 characters", lambda c: c.update(gatewayClass={"description": "d" * 65}),
     "gatewayClass.description", "at most 64 characters"),
    ("controllerName without a domain", lambda c: c.update(gatewayClass={"controllerName": "controller"}),
     "gatewayClass.controllerName", "not a controller name"),
    ("ReferenceGrant name over 253 characters",
     lambda c: (c["gateway"].update(name="g" * 200), c["certificates"][0].update(secretName="s" * 60, namespace="certs"),
                listeners(c)[1]["tls"]["certificateRefs"][0].update(name="s" * 60, namespace="certs"),
                route(c).update(parentRefs=[{"name": "g" * 200}])),
     "certificates.0.secretName", "ReferenceGrant"),
]

# Rules that were over-strict: the program refused what every validator accepts.
NOW_ACCEPTED: list[tuple[str, Mutation]] = [
    ("listener name with a dot", lambda c: (listeners(c)[0].update(name="http.public"),)),
    ("rule name of 100 characters", lambda c: rule(c).update(name="r" * 100)),
    ("ReplacePrefixMatch in a rule without matches (the default match is PathPrefix '/')",
     lambda c: route(c).update(rules=[{"filters": [{"type": "RequestRedirect", "requestRedirect": {
         "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"}}}]}])),
]

# The program's own rules (gatestack/differential/program_rules.py): refused, though no validator would.
PROGRAM_ONLY: list[tuple[str, Mutation, str, str]] = [
    ("rule without a destination", lambda c: rule(c).update(backendRefs=[], filters=[]),
     "routes.0.rules.0.backendRefs", "no backendRefs and no RequestRedirect"),
    ("empty header modifier", lambda c: rule(c)["filters"][0].update(requestHeaderModifier={}),
     "routes.0.rules.0.filters.0.requestHeaderModifier", "the modifier is empty"),
    ("header matched twice in two cases",
     lambda c: rule(c)["matches"][0].update(headers=[{"name": "X-Team", "value": "a"}, {"name": "x-team", "value": "b"}]),
     "routes.0.rules.0.matches.0.headers", "matched more than once"),
    ("backend image that is not an image reference", lambda c: c["backends"][0].update(image="Echo Server"),
     "backends.0.image", "is not a container image reference"),
    ("programmed timeout of 0", lambda c: c["gateway"].update(programmedTimeoutSeconds=0),
     "gateway.programmedTimeoutSeconds", "at least 1"),
    ("header to remove that is not a header name",
     lambda c: rule(c)["filters"][0]["requestHeaderModifier"].update(remove=["a b"]),
     "routes.0.rules.0.filters.0.requestHeaderModifier.remove.0", "not a valid HTTP header name"),
    ("backend port 0", lambda c: c["backends"].append({"name": "unused", "port": 0}), "backends.2.port", "at least 1"),
    ("empty prefix replacement",
     lambda c: route(c).update(rules=[{"filters": [{"type": "RequestRedirect", "requestRedirect": {
         "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": ""}}}]}]),
     "routes.0.rules.0.filters.0.requestRedirect.path.replacePrefixMatch", "does not start with '/'"),
]


def mutated(mutation: Mutation) -> dict[str, Any]:
    config = stack_raw_config("dev")
    mutation(config)
    return config


def refusal_lines(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(config, STACK_FILE)
    return str(raised.value).splitlines()


def assert_refused(mutation: Mutation, path: str, fragment: str) -> None:
    lines = [line for line in refusal_lines(mutated(mutation)) if line.startswith(f"{STACK_FILE}: {path}: ")]
    assert any(fragment in line for line in lines), f"no line for {path} with '{fragment}' in {lines}"


@pytest.mark.parametrize("mutation, path, fragment", [case[1:] for case in MISSING_RULES], ids=[case[0] for case in MISSING_RULES])
def test_missing_rule_found_by_the_validators_now_refuses(mutation: Mutation, path: str, fragment: str) -> None:
    assert_refused(mutation, path, fragment)


@pytest.mark.parametrize("mutation", [case[1] for case in NOW_ACCEPTED], ids=[case[0] for case in NOW_ACCEPTED])
def test_formerly_over_strict_rule_now_accepts(mutation: Mutation) -> None:
    parse_stack_config(mutated(mutation), STACK_FILE)


@pytest.mark.parametrize("mutation, path, fragment", [case[1:] for case in PROGRAM_ONLY], ids=[case[0] for case in PROGRAM_ONLY])
def test_program_only_rule_is_refused(mutation: Mutation, path: str, fragment: str) -> None:
    assert_refused(mutation, path, fragment)


def test_the_real_validators_agree_with_every_regression() -> None:
    """GIVEN each regression's config WHEN kubectl-validate and egctl judge what it renders THEN they
    refuse the missing rules' configs and accept the formerly over-strict ones (one batch)."""
    refused = [mutated(case[1]) for case in MISSING_RULES]
    accepted = [mutated(case[1]) for case in NOW_ACCEPTED]
    cases = [render_case(config, through_program=False) for config in refused + accepted]
    verdicts = judge_batch(cases, DEFAULT_ENVOY_GATEWAY_VERSION)
    names = [case[0] for case in MISSING_RULES + NOW_ACCEPTED]
    wrong = [f"{name}: {verdict.problems or 'accepted'}"
             for name, verdict, should_refuse in zip(names, verdicts, [True] * len(refused) + [False] * len(accepted))
             if verdict.accepted == should_refuse]
    assert not wrong, "\n".join(wrong)
