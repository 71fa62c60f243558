"""Fixtures of the real-engine tests: one local cluster for the session, every stack in it.

The cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, Envoy
Gateway's controller, a real Envoy per proxy pod) runs in a network namespace of its own
with its state in a temporary folder, so a developer's own `make up` cluster is never
touched; it is removed when the session ends, whatever happened.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gatestack.cluster.binaries import cluster_binaries, pulumi_engine_binaries
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import down, up
from tests.cluster.cluster_support import Deployment, deploy
from tests.cluster.previous_code import checkout_previous_code, stacks_of, upgrade
from tests.conftest import STACK_NAMES


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    layout = ClusterLayout(tmp_path_factory.mktemp("local-cluster"))
    try:
        up(layout, cluster_binaries, print)
        yield layout
    finally:
        down(layout, print)


@pytest.fixture(scope="session")
def cluster_without_envoy_gateway(tmp_path_factory: pytest.TempPathFactory):
    """A second local cluster, as a fresh kind, EKS or GKE cluster is: no Envoy Gateway or
    Gateway API CRDs and no controller of its own, for stacks that install Envoy Gateway from
    its charts (`controller.install: true`) with the default controllerName."""
    layout = ClusterLayout(tmp_path_factory.mktemp("cluster-without-envoy-gateway"))
    try:
        up(layout, cluster_binaries, print, envoy_gateway=False)
        yield layout
    finally:
        down(layout, print)


@pytest.fixture(scope="session")
def engine_binaries() -> dict[str, Path]:
    return pulumi_engine_binaries()


@pytest.fixture(scope="session")
def previous_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program as it was before issue #17 (tests/cluster/previous_code.py)."""
    return checkout_previous_code(tmp_path_factory.mktemp("previous-code"))


@pytest.fixture(scope="session")
def deployments(cluster: ClusterLayout, engine_binaries: dict[str, Path], previous_program: Path) -> dict[str, Deployment]:
    """Every stack of `stacks/` in the one cluster, as an operator upgrading would have it:
    those the previous code had, deployed with it first, then updated with this code (all of
    them first, since they share one workspace); the rest deployed with this code."""
    earlier = sorted(stacks_of(previous_program) & set(STACK_NAMES))
    for stack in earlier:
        deploy(cluster, engine_binaries, stack, program=previous_program, preview=False)
    return {
        stack: upgrade(cluster, engine_binaries, stack) if stack in earlier else deploy(cluster, engine_binaries, stack)
        for stack in STACK_NAMES
    }
