"""Specification of gatestack.offline_proof.schema_validation: offline kubectl-validate against Envoy Gateway v1.9.0's CRDs."""

from __future__ import annotations

from dataplane_support import find_object

from gatestack.offline_proof.schema_validation import validate_objects


def test_the_seed_objects_are_valid(seed_objects):
    assert validate_objects(seed_objects, "v1.9.0") == []


def test_an_httproute_backend_weight_of_minus_one_is_caught(seed_objects):
    find_object(seed_objects, "HTTPRoute", "backend")["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    problems = validate_objects(seed_objects, "v1.9.0")
    assert len(problems) == 1
    assert problems[0].startswith("HTTPRoute backend: spec.rules[0].backendRefs[0].weight")
    assert "greater than or equal to 0" in problems[0]


def test_a_gateway_listener_on_port_zero_is_caught(seed_objects):
    find_object(seed_objects, "Gateway", "eg")["spec"]["listeners"][0]["port"] = 0
    problems = validate_objects(seed_objects, "v1.9.0")
    assert len(problems) == 1
    assert problems[0].startswith("Gateway eg: spec.listeners[0].port")


def test_a_deployment_with_replicas_two_in_words_is_caught(seed_objects):
    find_object(seed_objects, "Deployment", "backend")["spec"]["replicas"] = "two"
    problems = validate_objects(seed_objects, "v1.9.0")
    assert len(problems) == 1
    assert problems[0].startswith("Deployment backend: spec.replicas")
    assert "must be of type integer" in problems[0]


def test_a_cel_rule_of_the_crd_is_enforced(seed_objects):
    # A RequestHeaderModifier filter without its settings breaks a CEL rule, not the schema.
    del find_object(seed_objects, "HTTPRoute", "backend")["spec"]["rules"][0]["filters"][0]["requestHeaderModifier"]
    problems = validate_objects(seed_objects, "v1.9.0")
    assert problems == [
        "HTTPRoute backend: spec.rules[0].filters[0]: Invalid value: \"object\": "
        "filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type"
    ]


def test_a_kind_without_a_schema_is_a_problem_not_a_pass(seed_objects):
    seed_objects.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    problems = validate_objects(seed_objects, "v1.9.0")
    assert len(problems) == 1 and problems[0].startswith("Widget w:")


def test_an_object_without_kind_is_reported_without_running_the_tool():
    assert validate_objects([{"apiVersion": "v1", "metadata": {"name": "x"}}], "v1.9.0") == [
        "object #1 (object without kind x): apiVersion and kind are both required"
    ]
