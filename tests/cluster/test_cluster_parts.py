"""Specification of the local cluster's parts that need no cluster: what the node agent does to
the controller's proxy pods, what the load balancer forwards to, and the workspace a
local-cluster deploy runs in."""

from __future__ import annotations

import base64
import socket
import sys
from pathlib import Path

import pytest
import yaml

from gatestack.cluster.layout import BRIDGE_ADDRESS, ClusterLayout, namespace_name_for
from gatestack.network_addresses import is_cluster_address
from gatestack.cluster.load_balancer import ForwardedPort, Forwarder, ready_endpoints
from gatestack.cluster.proxy_pod import (
    expand_references,
    is_proxy_pod,
    materialize_volumes,
    rewrite_bootstrap,
    rewrite_mount_paths,
    xds_service,
)
from gatestack.stand_ins.echo_server import EchoServer
from gatestack.engine.workspace import local_cluster_stack_file, with_managed_controller
from gatestack.paths import REPOSITORY_ROOT


def controller_bootstrap() -> dict:
    """The parts of Envoy Gateway v1.9's rendered bootstrap that the node agent rewrites."""
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 19000}}},
        "static_resources": {
            "listeners": [
                {"name": "envoy-gateway-proxy-stats-0.0.0.0-19001",
                 "address": {"socket_address": {"address": "0.0.0.0", "port_value": 19001}}},
                {"name": "envoy-gateway-proxy-ready-0.0.0.0-19003",
                 "address": {"socket_address": {"address": "0.0.0.0", "port_value": 19003}}},
            ],
            "clusters": [
                {"name": "prometheus_stats", "type": "STATIC", "load_assignment": {"endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 19000}}}}]}]}},
                {"name": "xds_cluster", "type": "STRICT_DNS", "load_assignment": {"endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {
                        "address": "envoy-gateway.envoy-gateway-system.svc.cluster.local.", "port_value": 18000}}}}]}]}},
            ],
        },
    }


def test_the_xds_cluster_points_at_the_out_of_cluster_controller_over_the_pods_bridge() -> None:
    bootstrap = rewrite_bootstrap(controller_bootstrap())
    xds = next(item for item in bootstrap["static_resources"]["clusters"] if item["name"] == "xds_cluster")
    address = xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (address["address"], address["port_value"], xds["type"]) == (BRIDGE_ADDRESS, 18000, "STATIC")


def test_nothing_else_of_the_bootstrap_changes_since_the_pod_has_its_own_namespace() -> None:
    # the admin endpoint, its stats cluster and the static listeners keep their addresses and
    # ports, 19001 included (the controller holds 19001 in the cluster's namespace, not the pod's)
    original = controller_bootstrap()
    bootstrap = rewrite_bootstrap(controller_bootstrap())
    assert bootstrap["admin"] == original["admin"]
    assert bootstrap["static_resources"]["listeners"] == original["static_resources"]["listeners"]
    assert bootstrap["static_resources"]["clusters"][0] == original["static_resources"]["clusters"][0]


def test_mount_paths_point_at_the_pods_folder_and_nothing_else_changes(tmp_path: Path) -> None:
    mounts = {"/certs": tmp_path / "certs", "/sds": tmp_path / "sds"}
    text = '{"filename": "/certs/tls.crt", "path": "/sds/xds-certificate.json", "other": "/var/certs/x"}'
    rewritten = rewrite_mount_paths(text, mounts)
    assert f'"{tmp_path}/certs/tls.crt"' in rewritten and f'"{tmp_path}/sds/xds-certificate.json"' in rewritten
    assert '"/var/certs/x"' in rewritten


def test_arguments_expand_like_the_kubelet() -> None:
    assert expand_references("--service-node $(ENVOY_POD_NAME) $(UNKNOWN)", {"ENVOY_POD_NAME": "envoy-abc"}) == (
        "--service-node envoy-abc $(UNKNOWN)"
    )


def test_volumes_are_written_from_their_config_maps_and_secrets(tmp_path: Path) -> None:
    pod = {
        "metadata": {"namespace": "envoy-gateway-system", "name": "envoy-1"},
        "spec": {"volumes": [
            {"name": "certs", "secret": {"secretName": "envoy"}},
            {"name": "sds", "configMap": {"name": "envoy-default-eg", "items": [{"key": "xds-trusted-ca.json", "path": "xds-trusted-ca.json"}]}},
        ]},
    }
    container = {"volumeMounts": [{"name": "certs", "mountPath": "/certs"}, {"name": "sds", "mountPath": "/sds"}]}
    objects = {
        ("Secret", "envoy"): {"data": {"tls.crt": base64.b64encode(b"CERT").decode()}},
        ("ConfigMap", "envoy-default-eg"): {"data": {"xds-trusted-ca.json": "{}", "unused": "x"}},
    }
    mounts = materialize_volumes(pod, container, tmp_path, lambda kind, namespace, name: objects[(kind, name)])
    assert (mounts["/certs"] / "tls.crt").read_bytes() == b"CERT"
    assert sorted(path.name for path in mounts["/sds"].iterdir()) == ["xds-trusted-ca.json"]


def test_the_xds_service_is_read_from_the_bootstrap_so_a_charts_controller_can_be_found() -> None:
    assert xds_service(controller_bootstrap()) == ("envoy-gateway-system", "envoy-gateway")
    assert xds_service({"static_resources": {"clusters": []}}) is None


def test_only_envoy_gateway_proxy_pods_are_run_as_envoy() -> None:
    proxy = {"metadata": {"labels": {"app.kubernetes.io/managed-by": "envoy-gateway", "app.kubernetes.io/component": "proxy"}}}
    backend = {"metadata": {"labels": {"app": "backend"}}}
    assert is_proxy_pod(proxy) and not is_proxy_pod(backend)


def endpoint_slice(service: str, port_name: str, port: int, endpoints: list[tuple[str, bool]]) -> dict:
    return {
        "metadata": {"namespace": "envoy-gateway-system", "labels": {"kubernetes.io/service-name": service}},
        "ports": [{"name": port_name, "port": port}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": ready}} for address, ready in endpoints],
    }


def test_the_load_balancer_forwards_only_to_ready_endpoints_of_the_matching_port() -> None:
    slices = [
        endpoint_slice("envoy-eg", "http-80", 10080, [("10.244.0.3", True), ("10.244.0.4", False)]),
        endpoint_slice("envoy-eg", "https-443", 10443, [("10.244.0.3", True)]),
        endpoint_slice("envoy-other", "http-80", 10080, [("10.244.0.9", True)]),
    ]
    assert ready_endpoints(slices, "envoy-gateway-system", "envoy-eg", {"name": "http-80", "port": 80}) == [("10.244.0.3", 10080)]


def test_the_load_balancer_relays_bytes_both_ways_round_robin() -> None:
    # GIVEN two echo servers and a load-balancer port in front of them (all on loopback)
    servers = [EchoServer("127.0.0.1", 0).start() for _ in range(2)]
    forwarder = Forwarder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    forwarded = ForwardedPort("127.0.0.1", port, [("127.0.0.1", server.port) for server in servers])
    forwarder.listen(forwarded)
    try:
        for _ in range(4):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"GET /get HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := client.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 200") and b'"path": "/get"' in answer
        # THEN each backend got half of the connections
        assert [server.requests_served for server in servers] == [2, 2]
    finally:
        forwarder.close(forwarded)
        forwarder.shutdown()
        EchoServer.stop_all(servers)


def test_cluster_addresses_are_pods_and_load_balancers_only() -> None:
    assert is_cluster_address("10.244.3.4") and is_cluster_address("198.51.100.7")
    assert not is_cluster_address("10.0.0.1") and not is_cluster_address("8.8.8.8")
    with pytest.raises(ValueError):
        EchoServer("10.0.0.1", 3000, allow_cluster_address=True).start()


def test_two_checkouts_get_two_namespaces() -> None:
    assert namespace_name_for(Path("/a/.local/cluster")) != namespace_name_for(Path("/b/.local/cluster"))
    assert ClusterLayout(Path("/a/.local/cluster")).network_namespace == namespace_name_for(Path("/a/.local/cluster"))


def test_the_workspace_stack_file_runs_the_managed_controller_and_existing_secrets() -> None:
    original = (REPOSITORY_ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    derived = yaml.safe_load(local_cluster_stack_file(original, None))["config"]
    assert derived["api-gateway:controller"] == {"install": False, "version": "v1.9.0"}
    assert [item["source"] for item in derived["api-gateway:certificates"]] == ["existingSecret"]
    untouched = {key: value for key, value in yaml.safe_load(original)["config"].items()
                 if key not in ("api-gateway:controller", "api-gateway:certificates")}
    assert {key: derived[key] for key in untouched} == untouched


def test_the_workspace_keeps_the_salt_pulumi_wrote() -> None:
    original = (REPOSITORY_ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    first = local_cluster_stack_file(original, None) + "encryptionsalt: v1:abc\n"
    assert yaml.safe_load(local_cluster_stack_file(original, first))["encryptionsalt"] == "v1:abc"


def test_a_broken_stack_file_reaches_pulumi_unchanged() -> None:
    broken = "config:\n  api-gateway:gateway: [unclosed\n"
    assert local_cluster_stack_file(broken, None) == broken
    assert with_managed_controller({"api-gateway:controller": "yes"}) == {"api-gateway:controller": "yes"}


def test_an_exited_process_is_not_alive_even_before_it_is_reaped() -> None:
    import subprocess as subprocesses
    import time as clock

    from gatestack.cluster.processes import pid_is_alive

    child = subprocesses.Popen([sys.executable, "-c", "pass"])
    clock.sleep(0.5)  # exited, but not waited for: a zombie
    assert not pid_is_alive(child.pid)
    child.wait()
    running = subprocesses.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert pid_is_alive(running.pid)
    finally:
        running.kill()
        running.wait()
