"""Where the local cluster keeps its files, and the addresses it uses inside its namespace.

Everything of one cluster lives in one state directory (default `.local/cluster/` in the
repository, git-ignored) and one network namespace whose name is derived from that
directory, so two checkouts on one machine (a developer's and CI's) never share a cluster.
Inside the cluster's namespace are `lo` (the API server and etcd listen on 127.0.0.1) and the
pods' bridge `BRIDGE_NAME` (`BRIDGE_ADDRESS`, the pods' gateway), with a route for
`LOAD_BALANCER_CIDR` to the load balancer's namespace. Every pod has a namespace of its own
(`<cluster namespace>-<12 hex of its uid>`), joined to the bridge by the CNI bridge plugin
with its address from `POD_CIDR` (`gatestack.network_addresses`). No namespace has a route to anything else, so no packet can
leave the namespaces the project made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from gatestack.paths import DEFAULT_CLUSTER_STATE

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"

API_SERVER_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
# The pods' bridge inside the cluster's namespace and its address (the pods' default gateway):
# the last usable address of `network_addresses.POD_CIDR`, far from the ones kwok hands out from the start.
BRIDGE_NAME = "gs0"
BRIDGE_ADDRESS = "10.244.255.254"
CNI_NETWORK_NAME = "gatestack-pods"
# The CNI container id of the load balancer's namespace (`<cluster namespace>-loadbalancer`).
LOAD_BALANCER_SANDBOX = "load-balancer"
NODE_NAME = "kwok-node-0"


def namespace_name_for(state_directory: Path) -> str:
    """`gatestack-<8 hex>`: stable for a state directory, different for another checkout."""
    digest = hashlib.sha256(str(state_directory.resolve()).encode()).hexdigest()[:8]
    return f"gatestack-{digest}"


@dataclass(frozen=True)
class ClusterLayout:
    """The files and names of one local cluster."""

    state_directory: Path = DEFAULT_CLUSTER_STATE

    @property
    def network_namespace(self) -> str:
        return namespace_name_for(self.state_directory)

    @property
    def network_namespace_path(self) -> Path:
        return Path("/run/netns") / self.network_namespace

    @property
    def pki_directory(self) -> Path:
        return self.state_directory / "pki"

    @property
    def etcd_data_directory(self) -> Path:
        return self.state_directory / "etcd"

    @property
    def logs_directory(self) -> Path:
        return self.state_directory / "logs"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines): the requests ServiceAccounts made
        (`control_plane.AUDIT_POLICY`), the API server's own record of who a pod was."""
        return self.logs_directory / "kube-apiserver-audit.log"

    @property
    def pods_directory(self) -> Path:
        return self.state_directory / "pods"

    @property
    def cni_directory(self) -> Path:
        """host-local's address allocations and the CNI results of running pods."""
        return self.state_directory / "cni"

    def pod_network_namespace(self, pod_uid: str) -> str:
        """The network namespace of one pod: the cluster's name and 12 hex of the pod's uid."""
        return f"{self.network_namespace}-{pod_uid.replace('-', '')[:12]}"

    @property
    def kubeconfig(self) -> Path:
        return self.state_directory / "kubeconfig"

    @property
    def supervisor_pid_file(self) -> Path:
        return self.state_directory / "supervisor.pid"

    @property
    def ready_file(self) -> Path:
        """Written by the supervisor once every component is up; holds a one-line summary."""
        return self.state_directory / "ready"

    @property
    def failed_file(self) -> Path:
        """Written by the supervisor when start-up failed; holds the reason."""
        return self.state_directory / "failed"

    @property
    def without_envoy_gateway_file(self) -> Path:
        """Present in a cluster started without an Envoy Gateway of its own (`cluster up
        --without-envoy-gateway`): as a fresh kind, EKS or GKE cluster is, it has neither
        Envoy Gateway's nor Gateway API's CRDs and runs no controller outside a pod; a stack
        with `controller.install: true` installs them from the charts."""
        return self.state_directory / "without-envoy-gateway"

    @property
    def supervisor_log(self) -> Path:
        return self.logs_directory / "supervisor.log"

    @property
    def api_server_url(self) -> str:
        return f"https://127.0.0.1:{API_SERVER_PORT}"


def endpoint_picker_stop_request(layout: ClusterLayout, namespace: str, pool: str) -> Path:
    """While this file exists the pool's EPP processes stay stopped (as if the container had
    crashed and not come back); removing it lets the node agent start them again."""
    return layout.state_directory / "stopped-endpoint-pickers" / f"{namespace}.{pool}"
