"""The Kubernetes control plane of the local cluster: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (one fake node), started in that order.

Each is the upstream binary (built by `gatestack.toolchain`), run with flags of an
envtest-style single-node cluster: everything on 127.0.0.1 of the cluster's namespace,
RBAC on, the admin identity from `pki.py`. kube-controller-manager makes ReplicaSets,
EndpointSlices and garbage collection happen; kube-scheduler binds pods to the kwok node;
kwok plays the node's kubelet as far as pod phases go (pods become Running), with its
pod-ready Stage changed (`pod_start_stage`) so that a pod starts *not* Ready and without an
address, and without its pod-complete Stage: as on a real node, the address comes from the CNI
plugins, readiness from the pod's own probes and a Job pod's end from its containers' exit,
all reported by the node agent. The API server keeps an audit log of the requests made with
ServiceAccount tokens (`AUDIT_POLICY`).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from gatestack.cluster.layout import (
    API_SERVER_PORT,
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    NODE_NAME,
    SERVICE_CIDR,
    ClusterLayout,
)
from gatestack.cluster.pki import ClusterPki
from gatestack.network_addresses import NODE_IP, POD_CIDR
from gatestack.cluster.processes import ManagedProcess, stop_all, wait_for

STARTUP_TIMEOUT_SECONDS = 120
# Capacity the fake node reports: enough that a 1,000-route stack's pods always fit.
# GPUs as the device plugin would report them, for model-server pods (`nvidia.com/gpu`).
NODE_CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "500Gi", "nvidia.com/gpu": "16"}


# What the API server's audit log records: the metadata (user, verb, object, source address) of
# every request made with a ServiceAccount's token, i.e. by the pods the node agent runs with
# their credentials; nothing of the admin's, the control plane's or the node's, which would
# be most of the traffic. A test reads from it which identity a pod's process used.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "userGroups": ["system:serviceaccounts"]}, {"level": "None"}],
}


@dataclass(frozen=True)
class ControlPlaneBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: tuple[Path, ...]


def write_kubeconfig(layout: ClusterLayout, pki: ClusterPki) -> Path:
    """An admin kubeconfig with the certificates embedded, so it works from any directory
    (and inside the controller's chroot)."""

    def encoded(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": layout.api_server_url, "certificate-authority-data": encoded(pki.ca_certificate)},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": encoded(pki.admin_certificate),
                    "client-key-data": encoded(pki.admin_key),
                },
            }
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
        "current-context": "local",
    }
    layout.kubeconfig.write_text(yaml.safe_dump(kubeconfig, sort_keys=False))
    layout.kubeconfig.chmod(0o600)
    return layout.kubeconfig


def _admin_ssl_context(pki: ClusterPki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_certificate))
    context.load_cert_chain(str(pki.admin_certificate), str(pki.admin_key))
    return context


def api_server_ready(layout: ClusterLayout, pki: ClusterPki) -> bool:
    request = urllib.request.Request(f"{layout.api_server_url}/readyz")
    with urllib.request.urlopen(request, context=_admin_ssl_context(pki), timeout=2) as response:
        return response.status == 200


def etcd_command(binary: Path, layout: ClusterLayout) -> list[str]:
    client = f"http://127.0.0.1:{ETCD_CLIENT_PORT}"
    peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
    return [
        str(binary),
        "--name=local",
        f"--data-dir={layout.etcd_data_directory}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=local={peer}",
        "--listen-metrics-urls=",
        "--log-level=warn",
        # One member on a developer machine: losing the last second on a crash is fine.
        "--unsafe-no-fsync",
    ]


def write_audit_policy(layout: ClusterLayout) -> Path:
    """`AUDIT_POLICY` as a file in the PKI folder, for `--audit-policy-file`."""
    layout.pki_directory.mkdir(parents=True, exist_ok=True)
    path = layout.pki_directory / "audit-policy.yaml"
    path.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
    return path


def api_server_command(binary: Path, layout: ClusterLayout, pki: ClusterPki) -> list[str]:
    return [
        str(binary),
        # Every address of the cluster's namespace: 127.0.0.1 for the node's components, and the
        # pods' bridge for a pod that talks to the API (an Endpoint Picker), as a node would.
        "--bind-address=0.0.0.0",
        "--advertise-address=127.0.0.1",
        f"--secure-port={API_SERVER_PORT}",
        f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
        f"--cert-dir={layout.pki_directory}",
        f"--tls-cert-file={pki.serving_certificate}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_certificate}",
        f"--service-account-issuer={layout.api_server_url}",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        # No projected token volumes in pod specs: the node agent asks the TokenRequest API for
        # the token of a pod it runs with its ServiceAccount's credentials.
        "--disable-admission-plugins=ServiceAccount",
        f"--audit-policy-file={write_audit_policy(layout)}",
        f"--audit-log-path={layout.audit_log}",
        "--audit-log-format=json",
        # Written as requests come, not batched: a test reads it right after the request.
        "--audit-log-mode=blocking",
        "--audit-log-maxsize=100",
        "--audit-log-maxbackup=1",
        # The `kubernetes` Endpoints object cannot hold a loopback address.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def controller_manager_command(binary: Path, layout: ClusterLayout, pki: ClusterPki) -> list[str]:
    kubeconfig = str(layout.kubeconfig)
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=10257",
        "--leader-elect=false",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca_certificate}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--cluster-cidr={POD_CIDR}",
        "--use-service-account-credentials=false",
        # No cloud here: the load balancer is played by gatestack.cluster.load_balancer.
        "--controllers=*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller",
    ]


def scheduler_command(binary: Path, layout: ClusterLayout) -> list[str]:
    kubeconfig = str(layout.kubeconfig)
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=10259",
        "--leader-elect=false",
    ]


POD_READY_STAGE = "pod-ready.yaml"
POD_COMPLETE_STAGE = "pod-complete.yaml"
# kwok's fast pod-ready Stage, text that must change so a Running pod is not yet Ready, and what
# it becomes: the Ready and ContainersReady conditions False, each container waiting.
_NOT_READY_EDITS = (
    ('status: "True"\n  type: Ready\n', 'status: "False"\n  type: Ready\n  reason: ContainersNotReady\n'),
    ('status: "True"\n  type: ContainersReady\n', 'status: "False"\n  type: ContainersReady\n  reason: ContainersNotReady\n'),
    (
        "  ready: true\n  restartCount: 0\n  state:\n    running:\n      startedAt: {{ $now | Quote }}\n{{ end }}\n\ninitContainerStatuses:",
        "  ready: false\n  started: false\n  restartCount: 0\n  state:\n    waiting:\n      reason: ContainerCreating\n{{ end }}\n\ninitContainerStatuses:",
    ),
)


# kwok's own pod addresses: left out, the node agent writes the one CNI gave the pod. (kwok's
# address pool is also made twice when two pods start at once, handing both the same address.)
_POD_IP_TEMPLATE = re.compile(r"\{\{ \$podIPs := PodIPsWith .*?\n\{\{ end \}\}\n\{\{ end \}\}\n", re.DOTALL)


def pod_start_stage(original: Path, directory: Path) -> Path:
    """kwok's pod-ready Stage with the pod left not Ready, its containers waiting (as a kubelet
    reports a pod whose containers are starting) and no pod address; written into `directory`.

    Raises RuntimeError when kwok's Stage no longer has the text this edits."""
    stage = yaml.safe_load(original.read_text())
    template = stage["spec"]["next"]["statusTemplate"]
    for before, after in _NOT_READY_EDITS:
        if template.count(before) != 1:
            raise RuntimeError(f"kwok's Stage {original} changed: expected once in its statusTemplate: {before!r}")
        template = template.replace(before, after)
    template, removed = _POD_IP_TEMPLATE.subn("", template)
    if removed != 1:
        raise RuntimeError(f"kwok's Stage {original} changed: expected one PodIPsWith block in its statusTemplate")
    stage["spec"]["next"]["statusTemplate"] = template
    directory.mkdir(parents=True, exist_ok=True)
    derived = directory / "pod-start.yaml"
    derived.write_text(yaml.safe_dump(stage, sort_keys=False))
    return derived


def kwok_stages(stage_files: tuple[Path, ...], layout: ClusterLayout) -> list[Path]:
    """The Stage files kwok runs with: its own, the pod-ready one replaced by `pod_start_stage`,
    without pod-complete (which marks a Job's pod Succeeded as soon as it runs): the node agent
    runs a Job's containers and reports the pod Succeeded or Failed when they exit."""
    return [
        pod_start_stage(path, layout.state_directory / "kwok") if path.name == POD_READY_STAGE else path
        for path in stage_files
        if path.name != POD_COMPLETE_STAGE
    ]


def kwok_command(binaries: ControlPlaneBinaries, layout: ClusterLayout) -> list[str]:
    return [
        str(binaries.kwok),
        f"--kubeconfig={layout.kubeconfig}",
        f"--manage-single-node={NODE_NAME}",
        f"--cidr={POD_CIDR}",
        f"--node-ip={NODE_IP}",
        "--server-address=127.0.0.1:10247",
        *[f"--config={stage}" for stage in kwok_stages(binaries.kwok_stages, layout)],
    ]


def node_manifest() -> dict:
    """The one fake node kwok keeps Ready, with room for every pod a stack declares."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]},
        "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
    }


def kubectl(kubectl_binary: Path, layout: ClusterLayout, *arguments: str, stdin: str | None = None) -> str:
    """Run kubectl against the local cluster; a failure raises with kubectl's own message."""
    completed = subprocess.run(
        [str(kubectl_binary), f"--kubeconfig={layout.kubeconfig}", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(arguments[:3])} failed: {completed.stderr.strip()}")
    return completed.stdout


def start_control_plane(
    binaries: ControlPlaneBinaries, kubectl_binary: Path, layout: ClusterLayout, pki: ClusterPki
) -> list[ManagedProcess]:
    """Start etcd -> kube-apiserver (until /readyz) -> controller-manager, scheduler -> node + kwok."""
    logs = layout.logs_directory
    started: list[ManagedProcess] = []
    try:
        etcd = ManagedProcess("etcd", etcd_command(binaries.etcd, layout), logs / "etcd.log").start()
        started.append(etcd)
        api_server = ManagedProcess(
            "kube-apiserver", api_server_command(binaries.kube_apiserver, layout, pki), logs / "kube-apiserver.log"
        ).start()
        started.append(api_server)
        wait_for("kube-apiserver /readyz", lambda: api_server_ready(layout, pki), STARTUP_TIMEOUT_SECONDS, api_server)
        write_kubeconfig(layout, pki)
        started.append(
            ManagedProcess(
                "kube-controller-manager",
                controller_manager_command(binaries.kube_controller_manager, layout, pki),
                logs / "kube-controller-manager.log",
            ).start()
        )
        started.append(
            ManagedProcess(
                "kube-scheduler", scheduler_command(binaries.kube_scheduler, layout), logs / "kube-scheduler.log"
            ).start()
        )
        kubectl(kubectl_binary, layout, "apply", "--server-side", "-f", "-", stdin=json.dumps(node_manifest()))
        kwok = ManagedProcess("kwok", kwok_command(binaries, layout), logs / "kwok.log").start()
        started.append(kwok)

        def node_ready() -> bool:
            node = json.loads(kubectl(kubectl_binary, layout, "get", "node", NODE_NAME, "-o", "json"))
            conditions = node.get("status", {}).get("conditions") or []
            return any(item["type"] == "Ready" and item["status"] == "True" for item in conditions)

        wait_for(f"node {NODE_NAME} Ready (kwok)", node_ready, STARTUP_TIMEOUT_SECONDS, kwok)
        return started
    except BaseException:
        stop_all(started)
        raise


def apply_crds(kubectl_binary: Path, layout: ClusterLayout, crd_files: list[Path]) -> None:
    """Apply CRDs server-side (Gateway API's are too large for client-side apply) and wait
    until the API server serves them."""
    arguments = ["apply", "--server-side", "--force-conflicts"]
    for path in crd_files:
        arguments += ["-f", str(path)]
    kubectl(kubectl_binary, layout, *arguments)
    kubectl(kubectl_binary, layout, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
