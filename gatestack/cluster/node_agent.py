"""The node agent: what the kubelet would run for the pods kwok reports Running.

kwok fakes pod status (Running, Ready, an address) but runs nothing. For each pod on the
node with an address this agent puts that address on the namespace's `lo` and runs:

- an Envoy Gateway proxy pod -> a real Envoy configured by the controller (`proxy_pod.py`);
- any other pod with TCP container ports -> an echo server on `<pod IP>:<port>` answering
  as the seed's echo-basic image does (its POD_NAME / NAMESPACE from the downward API).

A pod that goes away has its processes stopped and its address removed; an Envoy that exits
is restarted after `RESTART_BACKOFF_SECONDS` (restartPolicy Always).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from gatestack.cluster import netns
from gatestack.cluster.kubernetes_api import ClusterApi
from gatestack.cluster.layout import NODE_NAME, ClusterLayout
from gatestack.cluster.processes import ManagedProcess
from gatestack.cluster.proxy_pod import is_proxy_pod, plan_proxy_pod, proxy_process
from gatestack.echo_server import EchoContext, EchoServer, container_environment

RESTART_BACKOFF_SECONDS = 2.0
log = logging.getLogger("gatestack.cluster.node_agent")


@dataclass
class RunningPod:
    """The processes and servers run for one pod."""

    uid: str
    ip: str
    name: str
    envoy: Optional[ManagedProcess] = None
    envoy_started_at: float = 0.0
    echo_servers: list[EchoServer] = field(default_factory=list)

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        EchoServer.stop_all(self.echo_servers)


def echo_context_for_pod(pod: dict, container: dict) -> EchoContext:
    metadata = pod["metadata"]
    environment = container_environment(container, metadata["namespace"], metadata["name"])
    return EchoContext(
        namespace=environment.get("NAMESPACE", ""),
        ingress=environment.get("INGRESS_NAME", ""),
        service=environment.get("SERVICE_NAME", ""),
        pods=(environment.get("POD_NAME", ""),),
    )


class NodeAgent:
    """Keeps the running processes equal to the node's pods; call `sync` repeatedly."""

    def __init__(self, api: ClusterApi, layout: ClusterLayout, envoy_binary: Path, pod_bind_library: Path):
        self.api = api
        self.layout = layout
        self.envoy_binary = envoy_binary
        self.pod_bind_library = pod_bind_library
        self.running: dict[str, RunningPod] = {}

    def _read_object(self, kind: str, namespace: str, name: str) -> dict:
        return self.api.config_map(namespace, name) if kind == "ConfigMap" else self.api.secret(namespace, name)

    def _pod_directory(self, pod: dict) -> Path:
        metadata = pod["metadata"]
        return self.layout.pods_directory / f"{metadata['namespace']}_{metadata['name']}"

    def _start_envoy(self, pod: dict, running: RunningPod) -> None:
        directory = self._pod_directory(pod)
        directory.mkdir(parents=True, exist_ok=True)
        plan = plan_proxy_pod(
            pod,
            self.envoy_binary,
            self.pod_bind_library,
            directory,
            self._read_object,
            {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        running.envoy = proxy_process(pod, plan, directory / "envoy.log").start()
        running.envoy_started_at = time.monotonic()
        log.info("started %s at %s (admin port %d)", running.envoy.name, running.ip, plan.admin_port)

    def _start(self, pod: dict) -> RunningPod:
        metadata = pod["metadata"]
        running = RunningPod(uid=metadata["uid"], ip=pod["status"]["podIP"], name=f"{metadata['namespace']}/{metadata['name']}")
        netns.add_loopback_address(running.ip)
        if is_proxy_pod(pod):
            self._start_envoy(pod, running)
            return running
        for container in pod["spec"]["containers"]:
            for port in container.get("ports") or []:
                if port.get("protocol", "TCP") != "TCP":
                    continue
                server = EchoServer(
                    running.ip, port["containerPort"], echo_context_for_pod(pod, container), allow_cluster_address=True
                ).start()
                running.echo_servers.append(server)
                log.info("echo server for pod %s on %s:%d", running.name, running.ip, port["containerPort"])
        return running

    def sync(self) -> None:
        pods = [
            pod
            for pod in self.api.pods()
            if pod.get("spec", {}).get("nodeName") == NODE_NAME
            and pod.get("status", {}).get("podIP")
            and not pod["metadata"].get("deletionTimestamp")
            and pod.get("status", {}).get("phase") == "Running"
        ]
        wanted = {pod["metadata"]["uid"]: pod for pod in pods}
        for uid in [uid for uid in self.running if uid not in wanted]:
            self._forget(uid)
        for uid, pod in wanted.items():
            running = self.running.get(uid)
            if running is None:
                try:
                    self.running[uid] = self._start(pod)
                except Exception as error:  # one broken pod must not stop the node
                    log.error("pod %s/%s could not start: %s", pod["metadata"]["namespace"], pod["metadata"]["name"], error)
                continue
            if running.envoy is not None and not running.envoy.running:
                if time.monotonic() - running.envoy_started_at >= RESTART_BACKOFF_SECONDS:
                    log.warning("%s", running.envoy.failure())
                    self._start_envoy(pod, running)

    def _forget(self, uid: str) -> None:
        running = self.running.pop(uid)
        running.stop()
        if all(other.ip != running.ip for other in self.running.values()):
            netns.remove_loopback_address(running.ip)
        log.info("stopped pod %s", running.name)

    def stop(self) -> None:
        for uid in list(self.running):
            self._forget(uid)

    def proxy_pods(self) -> list[RunningPod]:
        return [running for running in self.running.values() if running.envoy is not None]

    @staticmethod
    def clear_pod_folders(layout: ClusterLayout) -> None:
        shutil.rmtree(layout.pods_directory, ignore_errors=True)
