"""Specification of gatestack.offline_proof.envoy_bootstrap: egctl's ConfigDump as a static, loopback-only Envoy bootstrap."""

from __future__ import annotations

import base64
import copy
import json
import subprocess

import pytest

from gatestack.offline_proof.envoy_bootstrap import (
    BootstrapError,
    NonLoopbackAddressError,
    assert_loopback_only,
    build_static_bootstrap,
    listener_ports,
    walk_dictionaries,
)
from gatestack.toolchain import ensure_envoy
from gatestack.offline_proof.egctl_translate import translate

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
ADS_SOURCE = {"ads": {}, "initialFetchTimeout": "0s", "resourceApiVersion": "V3"}


def http_connection_manager(route_name: str) -> dict:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typedConfig": {
            "@type": HCM_TYPE,
            "statPrefix": route_name,
            "httpFilters": [{"name": "envoy.filters.http.router", "typedConfig": {"@type": ROUTER_TYPE}}],
            "rds": {"configSource": ADS_SOURCE, "routeConfigName": route_name},
        },
    }


def egctl_shaped_config_dump() -> dict:
    """A small ConfigDump with the exact shape egctl v1.9.0 prints (see the notes)."""
    return {"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": {
            "admin": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": 19000}}},
            "clusterManager": {"localClusterName": "local_cluster"},
            "dynamicResources": {
                "adsConfig": {"apiType": "DELTA_GRPC", "grpcServices": [{"envoyGrpc": {"clusterName": "xds_cluster"}}]},
                "cdsConfig": ADS_SOURCE, "ldsConfig": ADS_SOURCE,
            },
            "staticResources": {
                "clusters": [
                    {"name": "prometheus_stats", "type": "STATIC", "connectTimeout": "0.250s", "loadAssignment": {
                        "clusterName": "prometheus_stats",
                        "endpoints": [{"lbEndpoints": [{"endpoint": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": 19000}}}}]}]}},
                    {"name": "local_cluster", "type": "EDS", "connectTimeout": "10s",
                     "edsClusterConfig": {"edsConfig": {"ads": {}, "resourceApiVersion": "V3"}, "serviceName": "local_cluster"}},
                    {"name": "xds_cluster", "type": "STRICT_DNS", "connectTimeout": "10s", "loadAssignment": {
                        "clusterName": "xds_cluster",
                        "endpoints": [{"lbEndpoints": [{"endpoint": {"address": {"socketAddress": {"address": "envoy-gateway", "portValue": 18000}}}}]}]}},
                ],
                "listeners": [{
                    "name": "envoy-gateway-proxy-stats-0.0.0.0-19001",
                    "address": {"socketAddress": {"address": "0.0.0.0", "portValue": 19001}},
                    "filterChains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typedConfig": {
                        "@type": HCM_TYPE, "statPrefix": "eg-stats-http",
                        "httpFilters": [{"name": "envoy.filters.http.router", "typedConfig": {"@type": ROUTER_TYPE}}],
                        "routeConfig": {"name": "local_route", "virtualHosts": [{"name": "stats", "domains": ["*"], "routes": [
                            {"match": {"prefix": "/stats/prometheus"}, "route": {"cluster": "prometheus_stats"}}]}]}}}]}],
                }],
            },
        }},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", "dynamicEndpointConfigs": [{"endpointConfig": {
            "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            "clusterName": "httproute/default/backend/rule/0",
            "endpoints": [
                {"lbEndpoints": [{"endpoint": {"address": {"socketAddress": {"address": "127.0.0.2", "portValue": 3000}}}, "loadBalancingWeight": 1}],
                 "loadBalancingWeight": 8, "locality": {"region": "httproute/default/backend/rule/0/backend/0"}},
                {"lbEndpoints": [{"endpoint": {"address": {"socketAddress": {"address": "127.0.0.3", "portValue": 3000}}}, "loadBalancingWeight": 1}],
                 "loadBalancingWeight": 2, "locality": {"region": "httproute/default/backend/rule/0/backend/1"}},
            ],
        }}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "dynamicActiveClusters": [{"cluster": {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "name": "httproute/default/backend/rule/0", "type": "EDS", "connectTimeout": "10s",
            "edsClusterConfig": {"edsConfig": {"ads": {}, "resourceApiVersion": "V3"}, "serviceName": "httproute/default/backend/rule/0"},
        }}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "dynamicListeners": [
            {"activeState": {"listener": {
                "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                "name": "default/eg/http",
                "address": {"socketAddress": {"address": "0.0.0.0", "portValue": 80}},
                "defaultFilterChain": {"name": "default/eg/http", "filters": [http_connection_manager("default/eg/http")]},
            }}},
            {"activeState": {"listener": {
                "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                "name": "default/eg/https",
                "address": {"socketAddress": {"address": "0.0.0.0", "portValue": 10443}},
                "filterChains": [{
                    "name": "default/eg/https",
                    "filters": [http_connection_manager("default/eg/https")],
                    "transportSocket": {"name": "envoy.transport_sockets.tls", "typedConfig": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                        "commonTlsContext": {"tlsCertificateSdsSecretConfigs": [{"name": "default/example-cert", "sdsConfig": ADS_SOURCE}]},
                    }},
                }],
            }}},
        ]},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump", "dynamicRouteConfigs": [
            {"routeConfig": {
                "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
                "name": name,
                "virtualHosts": [{"name": f"{name}/www_example_com", "domains": ["www.example.com"], "routes": [{
                    "match": {"pathSeparatedPrefix": "/get"},
                    "requestHeadersToAdd": [{"header": {"key": "added-header", "value": "foo"}}],
                    "route": {"cluster": "httproute/default/backend/rule/0"}}]}],
            }}
            for name in ("default/eg/http", "default/eg/https")
        ]},
    ]}


def tls_secret(certificates, use_string_data: bool = False) -> dict:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": "example-cert", "namespace": "default"}}
    if use_string_data:
        secret["stringData"] = {"tls.crt": certificates.server_certificate.decode(), "tls.key": certificates.server_key.decode()}
    else:
        secret["data"] = {"tls.crt": base64.b64encode(certificates.server_certificate).decode(),
                          "tls.key": base64.b64encode(certificates.server_key).decode()}
    return secret


@pytest.fixture
def bootstrap(seed_certificates) -> dict:
    return build_static_bootstrap(egctl_shaped_config_dump(), [tls_secret(seed_certificates)], admin_port=19555)


def static_listener(bootstrap: dict, name: str) -> dict:
    return next(listener for listener in bootstrap["staticResources"]["listeners"] if listener["name"] == name)


def test_ads_and_the_xds_and_local_clusters_are_gone(bootstrap):
    assert "dynamicResources" not in bootstrap
    assert "clusterManager" not in bootstrap
    names = [cluster["name"] for cluster in bootstrap["staticResources"]["clusters"]]
    assert names == ["prometheus_stats", "httproute/default/backend/rule/0"]
    assert not any("ads" in node for node in walk_dictionaries(bootstrap))


def test_top_level_types_are_dropped_but_typed_config_types_are_kept(bootstrap):
    resources = bootstrap["staticResources"]
    for resource in resources["clusters"] + resources["listeners"]:
        assert "@type" not in resource
    http = static_listener(bootstrap, "default/eg/http")
    manager = http["defaultFilterChain"]["filters"][0]["typedConfig"]
    assert manager["@type"] == HCM_TYPE
    assert "@type" not in manager["routeConfig"]


def test_rds_becomes_the_inline_route_configuration_of_the_same_name(bootstrap):
    manager = static_listener(bootstrap, "default/eg/http")["defaultFilterChain"]["filters"][0]["typedConfig"]
    assert "rds" not in manager
    assert manager["routeConfig"]["name"] == "default/eg/http"
    assert manager["routeConfig"]["virtualHosts"][0]["domains"] == ["www.example.com"]


def test_eds_clusters_become_static_with_their_endpoints_inlined(bootstrap):
    cluster = bootstrap["staticResources"]["clusters"][1]
    assert cluster["type"] == "STATIC"
    assert "edsClusterConfig" not in cluster
    assignment = cluster["loadAssignment"]
    assert assignment["clusterName"] == "httproute/default/backend/rule/0"
    assert [locality["loadBalancingWeight"] for locality in assignment["endpoints"]] == [8, 2]
    assert "@type" not in assignment


def test_listeners_bind_loopback_and_privileged_ports_are_shifted(bootstrap):
    assert listener_ports(bootstrap) == {
        "envoy-gateway-proxy-stats-0.0.0.0-19001": 0,  # Envoy Gateway's own: any free port
        "default/eg/http": 10080,
        "default/eg/https": 10443,  # already shifted by egctl: left alone
    }
    for listener in bootstrap["staticResources"]["listeners"]:
        assert listener["address"]["socketAddress"]["address"] == "127.0.0.1"


def test_admin_listens_on_loopback_at_the_given_port_and_stats_follow_it(bootstrap):
    assert bootstrap["admin"]["address"] == {"socketAddress": {"address": "127.0.0.1", "portValue": 19555}}
    stats_endpoint = bootstrap["staticResources"]["clusters"][0]["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]
    assert stats_endpoint["endpoint"]["address"]["socketAddress"] == {"address": "127.0.0.1", "portValue": 19555}


@pytest.mark.parametrize("use_string_data", [False, True], ids=["data-base64", "stringData-pem"])
def test_sds_secrets_become_static_secrets_from_the_secret_object(seed_certificates, use_string_data):
    bootstrap = build_static_bootstrap(
        egctl_shaped_config_dump(), [tls_secret(seed_certificates, use_string_data)], admin_port=19555
    )
    tls_context = static_listener(bootstrap, "default/eg/https")["filterChains"][0]["transportSocket"]["typedConfig"]
    assert tls_context["commonTlsContext"]["tlsCertificateSdsSecretConfigs"] == [{"name": "default/example-cert"}]
    [secret] = bootstrap["staticResources"]["secrets"]
    assert secret["name"] == "default/example-cert"
    chain = base64.b64decode(secret["tlsCertificate"]["certificateChain"]["inlineBytes"])
    key = base64.b64decode(secret["tlsCertificate"]["privateKey"]["inlineBytes"])
    assert (chain, key) == (seed_certificates.server_certificate, seed_certificates.server_key)


def test_a_missing_certificate_secret_is_a_clear_error():
    with pytest.raises(BootstrapError, match="no Secret default/example-cert is among the objects"):
        build_static_bootstrap(egctl_shaped_config_dump(), [], admin_port=19555)


def test_real_envoy_accepts_the_static_bootstrap(bootstrap, tmp_path):
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(bootstrap))
    completed = subprocess.run(
        [str(ensure_envoy()), "--mode", "validate", "--config-path", str(path), "--disable-hot-restart"],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "OK" in completed.stdout + completed.stderr


def test_the_seed_bootstrap_from_egctl_is_static_and_loopback_only(seed_objects):
    result = translate(seed_objects, "v1.9.0")
    bootstrap = build_static_bootstrap(result.config_dumps["default/eg"], result.objects, admin_port=19555)
    assert_loopback_only(bootstrap)
    assert listener_ports(bootstrap)["default/eg/http"] == 10080
    assert listener_ports(bootstrap)["default/eg/https"] == 10443
    assert [secret["name"] for secret in bootstrap["staticResources"]["secrets"]] == ["default/example-cert"]


def test_the_rewritten_bootstrap_passes_the_loopback_check(bootstrap):
    assert_loopback_only(bootstrap)


def set_first_backend_address(bootstrap: dict, address: str) -> dict:
    changed = copy.deepcopy(bootstrap)
    endpoint = changed["staticResources"]["clusters"][1]["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]
    endpoint["endpoint"]["address"]["socketAddress"]["address"] = address
    return changed


def test_a_non_loopback_endpoint_is_refused(bootstrap):
    with pytest.raises(NonLoopbackAddressError, match=r"endpoint 10\.0\.0\.5:3000 is not a loopback address"):
        assert_loopback_only(set_first_backend_address(bootstrap, "10.0.0.5"))


def test_a_dns_cluster_for_another_host_is_refused(bootstrap):
    changed = set_first_backend_address(bootstrap, "example.org")
    changed["staticResources"]["clusters"][1]["type"] = "STRICT_DNS"
    with pytest.raises(NonLoopbackAddressError, match="DNS name example.org:3000"):
        assert_loopback_only(changed)


def test_a_dns_cluster_for_localhost_is_allowed(bootstrap):
    changed = set_first_backend_address(bootstrap, "localhost")
    changed["staticResources"]["clusters"][1]["type"] = "LOGICAL_DNS"
    assert_loopback_only(changed)


def test_a_listener_on_all_interfaces_is_refused(bootstrap):
    static_listener(bootstrap, "default/eg/http")["address"]["socketAddress"]["address"] = "0.0.0.0"
    with pytest.raises(NonLoopbackAddressError, match="listener default/eg/http binds 0.0.0.0:10080"):
        assert_loopback_only(bootstrap)


def test_clusters_whose_upstreams_are_decided_at_run_time_are_refused(bootstrap):
    bootstrap["staticResources"]["clusters"][1]["type"] = "ORIGINAL_DST"
    with pytest.raises(NonLoopbackAddressError, match="type ORIGINAL_DST"):
        assert_loopback_only(bootstrap)


def test_a_management_server_is_refused(bootstrap):
    bootstrap["dynamicResources"] = {"adsConfig": {}}
    with pytest.raises(NonLoopbackAddressError, match="dynamicResources"):
        assert_loopback_only(bootstrap)
