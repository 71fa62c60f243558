"""Specification of gatestack.offline_proof.egctl_translate: egctl's translation, loopback Service addresses, readable condition failures."""

from __future__ import annotations

import base64

from dataplane_support import find_object

from gatestack.offline_proof.egctl_translate import (
    TranslationResult,
    assign_loopback_cluster_ips,
    condition_failures,
    fold_string_data,
    translate,
    with_default_namespaces,
)


def test_the_seed_translates_with_every_condition_true(seed_objects):
    result = translate(seed_objects, "v1.9.0")
    assert condition_failures(result) == []
    assert list(result.config_dumps) == ["default/eg"]
    listener_names = [listener["name"] for listener in result.gateways[0]["status"]["listeners"]]
    assert listener_names == ["http", "https"]


def test_services_get_distinct_loopback_addresses_in_sorted_order(seed_objects):
    result = translate(list(reversed(seed_objects)), "v1.9.0")
    assert result.service_cluster_ips == {"default/backend": "127.0.0.2", "default/backend-2": "127.0.0.3"}


def test_the_translated_endpoints_are_the_loopback_service_addresses(seed_objects):
    result = translate(seed_objects, "v1.9.0")
    endpoints_dump = next(
        config for config in result.config_dumps["default/eg"]["configs"] if config["@type"].endswith("EndpointsConfigDump")
    )
    addresses = sorted(
        endpoint["endpoint"]["address"]["socketAddress"]["address"]
        for assignment in endpoints_dump["dynamicEndpointConfigs"]
        for locality in assignment["endpointConfig"]["endpoints"]
        for endpoint in locality["lbEndpoints"]
    )
    assert addresses == ["127.0.0.2", "127.0.0.3"]


def test_a_missing_certificate_secret_is_reported_on_the_https_listener(seed_objects):
    seed_objects.remove(find_object(seed_objects, "Secret", "example-cert"))
    failures = condition_failures(translate(seed_objects, "v1.9.0"))
    assert any(
        failure.startswith("Gateway default/eg listener https: ResolvedRefs is False") and "example-cert" in failure
        for failure in failures
    ), failures
    assert not any("listener http:" in failure for failure in failures)


def test_a_route_to_a_missing_service_is_reported_on_the_route(seed_objects):
    find_object(seed_objects, "HTTPRoute", "backend")["spec"]["rules"][0]["backendRefs"][1]["name"] = "backend-3"
    failures = condition_failures(translate(seed_objects, "v1.9.0"))
    assert any(
        failure.startswith("HTTPRoute default/backend on parent Gateway eg: ResolvedRefs is False") and "backend-3" in failure
        for failure in failures
    ), failures


def test_existing_cluster_ips_are_replaced_by_loopback_ones():
    objects, mapping = assign_loopback_cluster_ips([
        {"kind": "Service", "metadata": {"name": "b", "namespace": "x"}, "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}},
        {"kind": "Service", "metadata": {"name": "a", "namespace": "x"}, "spec": {}},
    ])
    assert mapping == {"x/a": "127.0.0.2", "x/b": "127.0.0.3"}
    assert objects[0]["spec"] == {"clusterIP": "127.0.0.3"}


def test_namespaced_objects_without_namespace_go_to_default_as_kubectl_would():
    objects = with_default_namespaces([
        {"kind": "GatewayClass", "metadata": {"name": "eg"}},
        {"kind": "Gateway", "metadata": {"name": "eg"}},
    ])
    assert "namespace" not in objects[0]["metadata"]
    assert objects[1]["metadata"]["namespace"] == "default"


def test_secret_string_data_is_folded_into_base64_data():
    [secret] = fold_string_data([{"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"tls.crt": "PEM"}}])
    assert secret == {"kind": "Secret", "metadata": {"name": "s"}, "data": {"tls.crt": base64.b64encode(b"PEM").decode()}}


def condition(condition_type: str, status: str, reason: str = "", message: str = "") -> dict:
    return {"type": condition_type, "status": status, "reason": reason, "message": message}


def test_condition_failures_reads_missing_false_and_abnormal_true_conditions():
    result = TranslationResult(
        statuses={
            "gatewayClass": {"metadata": {"name": "eg"}, "status": {"conditions": [condition("Accepted", "True")]}},
            "gateways": [{
                "metadata": {"name": "eg", "namespace": "default"},
                "spec": {"listeners": [{"name": "http"}, {"name": "extra"}]},
                "status": {"listeners": [{
                    "name": "http",
                    "conditions": [
                        condition("Accepted", "True"),
                        condition("Programmed", "False", "Invalid", "Listener is invalid"),
                        condition("Conflicted", "True", "HostnameConflict", "Two listeners"),
                    ],
                }]},
            }],
            "httpRoutes": [{"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "default"}, "status": {}}],
        },
        config_dumps={},
        service_cluster_ips={},
    )
    assert condition_failures(result) == [
        "Gateway default/eg listener http has no ResolvedRefs condition.",
        "Gateway default/eg listener http: Programmed is False (Invalid): Listener is invalid.",
        "Gateway default/eg listener http: Conflicted is True (HostnameConflict): Two listeners.",
        "Gateway default/eg listener extra has no status: Envoy Gateway did not translate it.",
        "HTTPRoute default/r has no parent status: it is not attached to any Gateway.",
    ]
