"""Specification: a local cluster started without an Envoy Gateway of its own is as a fresh
kind, EKS or GKE cluster: the API server knows neither Envoy Gateway's nor Gateway API's
kinds, nothing runs Envoy Gateway's controller, and the cluster says so in its status."""

from __future__ import annotations

import pytest

from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import ClusterError, status, up
from tests.cluster.cluster_support import kubectl


def test_the_cluster_serves_no_envoy_gateway_or_gateway_api_kinds(cluster_without_envoy_gateway: ClusterLayout):
    crds = kubectl(cluster_without_envoy_gateway, "get", "crd", "-o", "name").stdout.split()
    assert not [crd for crd in crds if "gateway.envoyproxy.io" in crd or "gateway.networking.k8s.io" in crd], crds


def test_no_envoy_gateway_controller_runs_and_the_status_says_so(cluster_without_envoy_gateway: ClusterLayout):
    described = status(cluster_without_envoy_gateway)
    assert described["running"] and described["controllerRunning"] is False
    assert described["envoyGateway"].startswith("none")


def test_asking_a_running_cluster_for_the_other_mode_is_refused(cluster_without_envoy_gateway: ClusterLayout):
    with pytest.raises(ClusterError, match="running without an Envoy Gateway of its own"):
        up(cluster_without_envoy_gateway, lambda: pytest.fail("no binaries are resolved for a running cluster"), print, envoy_gateway=True)
