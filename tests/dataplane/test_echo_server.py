"""Specification of gatestack.stand_ins.echo_server: answers like the seed's echo-basic image, on loopback only."""

from __future__ import annotations

import http.client
import json
import re

import pytest
from dataplane_support import find_object

from gatestack.stand_ins.echo_server import (
    EchoContext,
    EchoServer,
    canonical_header_name,
    deployment_selected_by_service,
    echo_context_for_deployment,
    pod_names_for_deployment,
)


@pytest.mark.parametrize("received, printed", [
    ("added-header", "Added-Header"),
    ("x-forwarded-proto", "X-Forwarded-Proto"),
    ("X-REQUEST-ID", "X-Request-Id"),
    ("user-agent", "User-Agent"),
    ("bad header", "bad header"),  # Go leaves names with invalid characters as they are
])
def test_header_names_are_printed_as_go_canonicalises_them(received, printed):
    assert canonical_header_name(received) == printed


def test_the_answer_has_the_images_keys_in_its_order_and_layout():
    with EchoServer("127.0.0.1", 0, EchoContext(namespace="default", pods=("backend-abc-xyz",))) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/get?x=1", headers={"Host": "www.example.com", "added-header": "foo", "X-Two": "1"})
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        document = json.loads(body)
        assert list(document) == ["path", "host", "method", "proto", "headers", "namespace", "ingress", "service", "pod"]
        assert document["path"] == "/get?x=1"
        assert document["host"] == "www.example.com"
        assert document["proto"] == "HTTP/1.1"
        assert document["headers"]["Added-Header"] == ["foo"]
        assert "Host" not in document["headers"]
        assert (document["namespace"], document["ingress"], document["service"], document["pod"]) == (
            "default", "", "", "backend-abc-xyz")
        assert body.startswith('{\n "path": "/get?x=1",\n "host"')  # Go's MarshalIndent with one space
        connection.close()


def test_the_seed_deployment_gives_namespace_and_pod_but_no_service_or_ingress(seed_objects):
    # The seed sets only POD_NAME and NAMESPACE (downward API), so the guide shows "service": "".
    deployment = find_object(seed_objects, "Deployment", "backend")
    deployment["metadata"]["namespace"] = "default"
    context = echo_context_for_deployment(deployment)
    assert (context.namespace, context.ingress, context.service) == ("default", "", "")
    assert len(context.pods) == 1
    assert re.fullmatch(r"backend-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}", context.pods[0])


def test_pod_names_are_deterministic_and_one_per_replica(seed_objects):
    deployment = find_object(seed_objects, "Deployment", "backend")
    assert pod_names_for_deployment(deployment) == pod_names_for_deployment(deployment)
    deployment["spec"]["replicas"] = 3
    names = pod_names_for_deployment(deployment)
    assert len(set(names)) == 3
    assert len({name.rsplit("-", 1)[0] for name in names}) == 1  # same template hash


def test_a_service_selects_the_deployment_whose_pod_labels_match(seed_objects):
    service = find_object(seed_objects, "Service", "backend-2")
    assert deployment_selected_by_service(service, seed_objects)["metadata"]["name"] == "backend-2"
    service["spec"]["selector"] = {"app": "nothing"}
    assert deployment_selected_by_service(service, seed_objects) is None


def test_the_echo_server_refuses_a_non_loopback_address():
    with pytest.raises(ValueError, match="only listen on a loopback address"):
        EchoServer("0.0.0.0", 0).start()


# --- instructions that let verify provoke retries, timeouts and health checks -------------------


def echo_request(port: int, headers: dict[str, str], path: str = "/get", timeout: float = 5) -> tuple[int, bytes, float]:
    import time

    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": "www.example.com", **headers})
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        connection.close()


def test_a_request_told_to_fail_twice_fails_twice_on_any_server_then_succeeds():
    # A retry may reach another backend: the count is shared by every echo server.
    with EchoServer("127.0.0.1", 0) as first, EchoServer("127.0.0.1", 0) as second:
        header = {"X-Echo-Fail": "key-shared-1;2;503"}
        statuses = [echo_request(server.port, header)[0] for server in (first, second, first, second)]
    assert statuses == [503, 503, 200, 200]


def test_a_request_told_to_reset_gets_no_answer():
    with EchoServer("127.0.0.1", 0) as server:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            echo_request(server.port, {"X-Echo-Fail": "key-reset-1;1;reset"})
        assert echo_request(server.port, {"X-Echo-Fail": "key-reset-1;1;reset"})[0] == 200


def test_a_malformed_failure_instruction_is_ignored():
    with EchoServer("127.0.0.1", 0) as server:
        assert echo_request(server.port, {"X-Echo-Fail": "key;many;503"})[0] == 200


def test_a_request_told_to_wait_is_answered_that_much_later():
    with EchoServer("127.0.0.1", 0) as server:
        status, _, elapsed = echo_request(server.port, {"X-Echo-Delay": "400"})
    assert status == 200 and 0.4 <= elapsed < 2


def test_health_checks_are_recorded_apart_and_reported_on_request():
    with EchoServer("127.0.0.1", 0) as server:
        echo_request(server.port, {"User-Agent": "Envoy/HC"}, path="/health")
        echo_request(server.port, {"User-Agent": "Envoy/HC"}, path="/health")
        _, plain, _ = echo_request(server.port, {})
        _, reported, _ = echo_request(server.port, {"X-Echo-Health-Checks": "report"})
        assert server.requests_served == 2  # the gateway's forwarded requests, not its health checks
    assert "healthChecks" not in json.loads(plain)
    assert json.loads(reported)["healthChecks"] == {"GET www.example.com/health": 2}
