"""The seed guide's checks, run against the real Envoy programmed by Envoy Gateway v1.9.0's translation.

One local gateway (egctl translation, static bootstrap, Envoy 1.39.3, echo backends on
127.0.0.2/127.0.0.3) serves every test in this module; requests go to 127.0.0.1 only.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter

import pytest
from dataplane_support import http_get, https_get, load_seed_objects

from gatestack.offline_proof.local_gateway import run_local_gateway

SEED_HOST = "www.example.com"
POD_NAME_PATTERN = r"{}-[bcdfghjklmnpqrstvwxz2456789]{{10}}-[bcdfghjklmnpqrstvwxz2456789]{{5}}"
SAMPLE_SIZE = 200
BACKEND_SHARE = 8 / (8 + 2)


@pytest.fixture(scope="module")
def seed_gateway(seed_certificates):
    started = time.monotonic()
    with run_local_gateway(load_seed_objects(seed_certificates), "v1.9.0") as gateway:
        print(f"local seed gateway ready in {time.monotonic() - started:.1f} s")
        yield gateway


def backend_of(pod_name: str) -> str:
    """``backend`` or ``backend-2`` from a pod name, as the guide's sed command does."""
    return pod_name.rsplit("-", 2)[0]


def test_the_gateway_serves_the_seed_listeners_on_loopback(seed_gateway):
    assert seed_gateway.gateway_host == "127.0.0.1"
    assert seed_gateway.listeners == {"http": ("127.0.0.1", 10080), "https": ("127.0.0.1", 10443)}


def test_get_on_www_example_com_is_answered_by_the_echo_backend(seed_gateway):
    response = http_get(seed_gateway.listeners["http"], "/get", SEED_HOST)
    assert response.status == 200
    echo = response.json()
    assert (echo["path"], echo["host"], echo["method"], echo["proto"]) == ("/get", SEED_HOST, "GET", "HTTP/1.1")
    assert (echo["namespace"], echo["ingress"], echo["service"]) == ("default", "", "")
    assert re.fullmatch(POD_NAME_PATTERN.format("backend(-2)?"), echo["pod"])
    assert echo["headers"]["X-Forwarded-Proto"] == ["http"]
    assert echo["headers"]["User-Agent"] == ["curl/8.9.1"]
    assert len(echo["headers"]["X-Request-Id"]) == 1


def test_the_route_adds_the_header_added_header_foo(seed_gateway):
    echo = http_get(seed_gateway.listeners["http"], "/get", SEED_HOST).json()
    assert echo["headers"]["Added-Header"] == ["foo"]


def test_weights_8_and_2_split_sequential_requests_80_to_20(seed_gateway):
    counts = Counter(
        backend_of(http_get(seed_gateway.listeners["http"], "/get", SEED_HOST).json()["pod"])
        for _ in range(SAMPLE_SIZE)
    )
    print(f"split of {SAMPLE_SIZE} requests: {dict(counts)}")
    assert set(counts) == {"backend", "backend-2"}
    # Envoy's weighted localities split sequential requests exactly (160/40); allow three
    # standard deviations of a binomial draw so the check does not depend on that detail.
    tolerance = 3 * math.sqrt(SAMPLE_SIZE * BACKEND_SHARE * (1 - BACKEND_SHARE))
    assert abs(counts["backend"] - SAMPLE_SIZE * BACKEND_SHARE) <= tolerance, counts


def test_https_is_served_with_the_seed_certificate_verified_against_its_ca(seed_gateway, seed_certificates):
    response, peer_certificate = https_get(seed_gateway.listeners["https"], "/get", SEED_HOST, seed_certificates.ca_path)
    assert response.status == 200
    assert dict(name for entry in peer_certificate["subject"] for name in entry)["commonName"] == SEED_HOST
    assert dict(name for entry in peer_certificate["issuer"] for name in entry)["organizationName"] == "example Inc."
    echo = response.json()
    assert echo["headers"]["X-Forwarded-Proto"] == ["https"]
    assert echo["headers"]["Added-Header"] == ["foo"]
    assert re.fullmatch(POD_NAME_PATTERN.format("backend(-2)?"), echo["pod"])


def requests_reaching_backends(gateway) -> int:
    return sum(server.requests_served for server in gateway.echo_servers.values())


def test_another_host_is_not_routed_to_the_backends(seed_gateway):
    before = requests_reaching_backends(seed_gateway)
    response = http_get(seed_gateway.listeners["http"], "/get", "other.example.com")
    assert response.status == 404
    assert requests_reaching_backends(seed_gateway) == before


def test_a_path_outside_get_is_not_routed_to_the_backends(seed_gateway):
    before = requests_reaching_backends(seed_gateway)
    for path in ("/getter", "/", "/other"):
        assert http_get(seed_gateway.listeners["http"], path, SEED_HOST).status == 404, path
    assert requests_reaching_backends(seed_gateway) == before


def test_paths_below_get_are_routed(seed_gateway):
    # PathPrefix /get matches /get and /get/..., but not /getter (pathSeparatedPrefix).
    response = http_get(seed_gateway.listeners["http"], "/get/anything?x=1", SEED_HOST)
    assert response.status == 200
    assert response.json()["path"] == "/get/anything?x=1"
