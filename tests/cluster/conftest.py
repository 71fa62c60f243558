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
def engine_binaries() -> dict[str, Path]:
    return pulumi_engine_binaries()


@pytest.fixture(scope="session")
def deployments(cluster: ClusterLayout, engine_binaries: dict[str, Path]) -> dict[str, Deployment]:
    """Every stack of `stacks/`, deployed one after the other into the one cluster."""
    return {stack: deploy(cluster, engine_binaries, stack) for stack in STACK_NAMES}
