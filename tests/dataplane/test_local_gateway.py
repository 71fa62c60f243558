"""Specification of gatestack.offline_proof.local_gateway: what it refuses to start, and that it leaves nothing behind."""

from __future__ import annotations

import socket

import pytest
from dataplane_support import find_object, http_get

from gatestack.offline_proof.envoy_bootstrap import NonLoopbackAddressError
from gatestack.offline_proof.local_gateway import LocalGatewayError, run_local_gateway


def test_condition_failures_stop_the_start_with_every_failure_listed(seed_objects):
    seed_objects.remove(find_object(seed_objects, "Secret", "example-cert"))
    with pytest.raises(LocalGatewayError) as raised:
        with run_local_gateway(seed_objects, "v1.9.0"):
            pass
    message = str(raised.value)
    assert message.startswith("Envoy Gateway would not fully accept the configuration:")
    assert "- Gateway default/eg listener https: ResolvedRefs is False (InvalidCertificateRef)" in message


def test_a_backend_outside_loopback_is_refused_before_envoy_starts(seed_objects):
    # An Envoy Gateway Backend with a literal IP is the one way a route can reach past the
    # loopback Service addresses; the gateway must refuse to run rather than send traffic there.
    route = find_object(seed_objects, "HTTPRoute", "backend")
    route["spec"]["rules"][0]["backendRefs"] = [
        {"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "outside", "port": 8080}
    ]
    seed_objects.append({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "Backend",
        "metadata": {"name": "outside"},
        "spec": {"endpoints": [{"ip": {"address": "10.1.2.3", "port": 8080}}]},
    })
    with pytest.raises(NonLoopbackAddressError, match=r"10\.1\.2\.3:8080 is not a loopback address"):
        with run_local_gateway(seed_objects, "v1.9.0"):
            pass


def test_a_backend_by_dns_name_is_refused_before_envoy_starts(seed_objects):
    route = find_object(seed_objects, "HTTPRoute", "backend")
    route["spec"]["rules"][0]["backendRefs"] = [
        {"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "outside", "port": 443}
    ]
    seed_objects.append({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "Backend",
        "metadata": {"name": "outside"},
        "spec": {"endpoints": [{"fqdn": {"hostname": "example.org", "port": 443}}]},
    })
    with pytest.raises(NonLoopbackAddressError, match="DNS name example.org:443"):
        with run_local_gateway(seed_objects, "v1.9.0"):
            pass


def port_is_free(address: tuple[str, int]) -> bool:
    """Whether a new server could listen there now (with SO_REUSEADDR, as Envoy and the echo servers do,
    so closed connections lingering in TIME_WAIT do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
            return True
        except OSError:
            return False


def test_a_service_without_pods_answers_503_like_a_service_without_endpoints(seed_objects):
    find_object(seed_objects, "Deployment", "backend-2")["spec"]["replicas"] = 0
    find_object(seed_objects, "HTTPRoute", "backend")["spec"]["rules"][0]["backendRefs"].pop(0)
    with run_local_gateway(seed_objects, "v1.9.0") as gateway:
        assert list(gateway.echo_servers) == []
        assert http_get(gateway.listeners["http"], "/get", "www.example.com").status == 503


def test_everything_is_stopped_and_removed_on_exit(seed_objects):
    with run_local_gateway(seed_objects, "v1.9.0") as gateway:
        log_path = gateway.envoy_log_path
        addresses = list(gateway.listeners.values()) + [gateway.admin_address] + [
            (server.address, server.port) for server in gateway.echo_servers.values()
        ]
        assert log_path.is_file()
        assert not any(port_is_free(address) for address in addresses)
    assert all(port_is_free(address) for address in addresses)
    assert not log_path.parent.exists()
