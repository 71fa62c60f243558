"""A small typed door to the local cluster's API server, returning plain JSON dicts.

Built on the official `kubernetes` client; objects come back as the API server sent them
(camelCase dicts), which is what the rest of the project reads and writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes


class ClusterApi:
    """List, read and patch the few kinds the supervisor needs."""

    def __init__(self, kubeconfig: Path):
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        self.client = kubernetes.client.ApiClient(configuration)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.discovery = kubernetes.client.DiscoveryV1Api(self.client)

    @staticmethod
    def _json(response: Any) -> dict:
        return json.loads(response.data)

    def pods(self) -> list[dict]:
        return self._json(self.core.list_pod_for_all_namespaces(_preload_content=False))["items"]

    def services(self) -> list[dict]:
        return self._json(self.core.list_service_for_all_namespaces(_preload_content=False))["items"]

    def endpoint_slices(self) -> list[dict]:
        return self._json(self.discovery.list_endpoint_slice_for_all_namespaces(_preload_content=False))["items"]

    def config_map(self, namespace: str, name: str) -> dict:
        return self._json(self.core.read_namespaced_config_map(name, namespace, _preload_content=False))

    def secret(self, namespace: str, name: str) -> dict:
        return self._json(self.core.read_namespaced_secret(name, namespace, _preload_content=False))

    def service_account_token(self, namespace: str, name: str, seconds: int) -> str:
        """A token of the ServiceAccount from the TokenRequest API, as the kubelet mounts into its pods."""
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}
        answer = self._json(self.core.create_namespaced_service_account_token(name, namespace, request, _preload_content=False))
        return answer["status"]["token"]

    def set_pod_ready(self, namespace: str, name: str, ready: bool) -> None:
        """Write the pod's Ready and ContainersReady conditions, as the kubelet does from its probes."""
        status = "True" if ready else "False"
        conditions = [{"type": kind, "status": status} for kind in ("Ready", "ContainersReady")]
        self.core.patch_namespaced_pod_status(name, namespace, {"status": {"conditions": conditions}})

    def set_pod_status(
        self, namespace: str, name: str, conditions: list[dict], container_statuses: list[dict], phase: str | None = None
    ) -> None:
        """Write the pod's conditions (merged by type) and its container statuses, as the kubelet
        does; with `phase` [unchanged], also the phase (`Succeeded` or `Failed` once its containers
        all ended: a Job's controller counts the pod from there)."""
        status: dict[str, Any] = {"conditions": conditions, "containerStatuses": container_statuses}
        if phase is not None:
            status["phase"] = phase
        self.core.patch_namespaced_pod_status(name, namespace, {"status": status})

    def set_pod_ip(self, namespace: str, name: str, ip: str) -> None:
        """Write the pod's address (`podIP`, `podIPs`), as the kubelet does from the CNI result."""
        self.core.patch_namespaced_pod_status(name, namespace, {"status": {"podIP": ip, "podIPs": [{"ip": ip}]}})

    def set_load_balancer_ingress(self, namespace: str, name: str, ip: str) -> None:
        """Write `status.loadBalancer.ingress`, as a cloud's load-balancer controller does."""
        self.core.patch_namespaced_service_status(
            name, namespace, {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}
        )
