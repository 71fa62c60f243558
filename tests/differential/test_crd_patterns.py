"""Specification: the differential test's generators read the CRDs' character rules, and draw listeners
across every class Envoy Gateway's listener validation tells apart.

So the values they draw are the validators' classes, not the program's: a rule the program lacks (issue
22: a path match with a space, HTTP and HTTPS on one port) is drawn, and the test sees it.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway_config.fields import PATH_MATCH_CHARACTERS
from gatestack.differential.crd_patterns import value_patterns, value_rules, variants
from tests.conftest import stack_raw_config
from tests.differential.listener_strategies import (
    CRD_PROTOCOLS,
    HOSTNAME_RELATIONS,
    LISTENER_PAIR_CLASSES,
    PORT_RELATIONS,
    SERVED_PAIR_CLASSES,
    TLS_SETTINGS,
    USUAL_TLS,
    listener_pairs,
)

PATH_VALUE = ("routes", 0, "rules", 0, "matches", 0, "path", "value")


def test_the_path_characters_the_program_checks_are_the_crds() -> None:
    # GIVEN the dev stack WHEN its first path match's value is followed into the HTTPRoute it renders
    # THEN the CRD's CEL rule on it is the pattern the program checks (a new CRD version that changes it fails here)
    assert value_patterns(stack_raw_config("dev"), PATH_VALUE) == [PATH_MATCH_CHARACTERS]


def test_the_substrings_the_path_match_cel_rules_test_for_are_read_from_the_crd() -> None:
    # GIVEN the dev stack's first path match WHEN followed into the HTTPRoute THEN the CEL rules' contains(),
    # startsWith() and endsWith() strings come back, and the variants put each of them into the path
    substrings = value_rules(stack_raw_config("dev"), PATH_VALUE)[1]
    assert {"//", "/./", "/../", "%2f", "%2F", "#", "/..", "/."} <= set(substrings)
    inside, outside = variants("/api", [PATH_MATCH_CHARACTERS], substrings)
    assert {"//api", "/api/..", "/api/."} <= set(inside) and "/api#" in outside


def test_a_listener_hostname_is_judged_by_the_gateway_crds_pattern() -> None:
    patterns = value_patterns({**stack_raw_config("dev"), "gateway": {"listeners": [
        {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "www.example.com"}]}}, ("gateway", "listeners", 0, "hostname"))
    assert patterns and all(pattern.startswith("^") for pattern in patterns)


def test_variants_fall_on_both_sides_of_the_pattern() -> None:
    inside, outside = variants("/api", [PATH_MATCH_CHARACTERS])
    assert {"/:api", "/api@", "/%20api", "/%5Capi"} <= set(inside)
    assert {"/ api", "/api ", "/éapi", "/%zzapi", "/%api", "/api\t"} <= set(outside)


def test_the_listener_protocols_and_tls_modes_are_read_from_the_gateway_crd() -> None:
    # The protocols its listener CEL rules tell apart, and tls.mode's enum, beside leaving tls or its mode out
    assert set(CRD_PROTOCOLS) == {"HTTP", "HTTPS", "TLS", "TCP", "UDP"}
    assert TLS_SETTINGS == ("left out", "mode left to its default", "Terminate", "Passthrough")


def test_the_listener_classes_are_every_combination_of_port_protocol_hostname_and_tls_mode() -> None:
    assert len(LISTENER_PAIR_CLASSES) == len(set(LISTENER_PAIR_CLASSES)) == (
        len(PORT_RELATIONS) * len(CRD_PROTOCOLS) ** 2 * len(HOSTNAME_RELATIONS) * len(TLS_SETTINGS))
    # Those of the program's protocols with the tls they need: HTTP without, HTTPS with its mode left out or Terminate
    assert len(SERVED_PAIR_CLASSES) == len(PORT_RELATIONS) * len(HOSTNAME_RELATIONS) * (2 * 1 + 2 * 2)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_a_listener_pair_is_of_its_class(data: st.DataObject) -> None:
    first, second = data.draw(listener_pairs([], "default"))
    assert first["name"] != second["name"]
    # The first listener writes its protocol's usual tls; the second carries the class's tls setting
    assert ("tls" in first) == (first["protocol"] in USUAL_TLS)
    assert first.get("tls", {}).get("mode") == ("Passthrough" if first["protocol"] == "TLS" else None)
