"""The node agent: what the kubelet would run for the pods kwok reports Running.

kwok fakes pod status (Running, Ready, an address) but runs nothing. For each pod on the
node with an address this agent puts that address on the namespace's `lo` and runs, by the
pod's kind (`pod_kind`, from labels the stack's components and Envoy Gateway set):

- an Envoy Gateway proxy pod (`app.kubernetes.io/managed-by: envoy-gateway`, component
  `proxy`) -> a real Envoy configured by the controller (`proxy_pod.py`);
- an InferencePool's Endpoint Picker pod (the chart's `inference.networking.k8s.io/igw-mode`
  label, container `epp`) -> the real upstream `epp` binary with the pod's own arguments and
  ServiceAccount, reached at its pod address (`endpoint_picker_pod.py`);
- a model-server pod (`app.kubernetes.io/component: model-server`, the `ModelServer`
  component's) -> a vLLM stand-in on `<pod IP>:<port>` per TCP port (`model_server.py`);
- any other pod with TCP container ports -> an echo server on `<pod IP>:<port>` answering
  as the seed's echo-basic image does (its POD_NAME / NAMESPACE from the downward API).

A pod that goes away has its processes stopped and its address removed; an Envoy or EPP that
exits is restarted after `RESTART_BACKOFF_SECONDS` (restartPolicy Always), unless the EPP's
pool is asked to stay stopped (`endpoint_picker_stop_request`, for the failure-mode checks).
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
from gatestack.cluster import endpoint_picker_pod
from gatestack.cluster.endpoint_picker_pod import (
    EndpointPickerPlan,
    endpoint_picker_process,
    is_endpoint_picker_pod,
    plan_endpoint_picker_pod,
    pool_of_pod,
    service_account_kubeconfig,
)
from gatestack.cluster.load_balancer import ForwardedPort, Forwarder
from gatestack.cluster.model_server import ModelServerIdentity, ModelServerStandIn, served_model
from gatestack.cluster.pki import ClusterPki
from gatestack.cluster.processes import ManagedProcess
from gatestack.cluster.proxy_pod import is_proxy_pod, plan_proxy_pod, proxy_process
from gatestack.echo_server import EchoContext, EchoServer, container_environment
from gateway_config.inference_manifests import MODEL_SERVER_COMPONENT, MODEL_SERVER_COMPONENT_LABEL

RESTART_BACKOFF_SECONDS = 2.0
log = logging.getLogger("gatestack.cluster.node_agent")


@dataclass
class RunningPod:
    """The processes and servers run for one pod."""

    uid: str
    ip: str
    name: str
    kind: str = "echo"
    envoy: Optional[ManagedProcess] = None
    envoy_started_at: float = 0.0
    echo_servers: list[EchoServer] = field(default_factory=list)
    model_servers: list[ModelServerStandIn] = field(default_factory=list)
    epp: Optional[ManagedProcess] = None
    epp_plan: Optional[EndpointPickerPlan] = None
    epp_started_at: float = 0.0
    pool: str = ""
    ready: bool = False
    forwards: list[ForwardedPort] = field(default_factory=list)

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        if self.epp is not None:
            self.epp.stop()
        EchoServer.stop_all(self.echo_servers)
        for stand_in in self.model_servers:
            stand_in.stop()


def pod_kind(pod: dict) -> str:
    """`proxy`, `endpoint-picker`, `model-server` or `echo`: what the node agent runs for the pod."""
    if is_proxy_pod(pod):
        return "proxy"
    if is_endpoint_picker_pod(pod):
        return "endpoint-picker"
    labels = pod.get("metadata", {}).get("labels") or {}
    if labels.get(MODEL_SERVER_COMPONENT_LABEL) == MODEL_SERVER_COMPONENT:
        return "model-server"
    return "echo"


def endpoint_picker_stop_request(layout: ClusterLayout, namespace: str, pool: str) -> Path:
    """While this file exists the pool's EPP processes stay stopped (as if the container had
    crashed and not come back); removing it lets the node agent start them again."""
    return layout.state_directory / "stopped-endpoint-pickers" / f"{namespace}.{pool}"


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

    def __init__(
        self, api: ClusterApi, layout: ClusterLayout, envoy_binary: Path, pod_bind_library: Path, epp_binary: Optional[Path] = None
    ):
        self.api = api
        self.layout = layout
        self.envoy_binary = envoy_binary
        self.pod_bind_library = pod_bind_library
        self.epp_binary = epp_binary
        self.running: dict[str, RunningPod] = {}
        self.forwarder: Optional[Forwarder] = None  # pod ports of EPPs -> where they listen

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

    def _start_endpoint_picker(self, pod: dict, running: RunningPod) -> None:
        if self.epp_binary is None:
            raise RuntimeError("no epp binary was given to the node agent")
        metadata = pod["metadata"]
        directory = self._pod_directory(pod)
        directory.mkdir(parents=True, exist_ok=True)
        token = self.api.service_account_token(metadata["namespace"], pod["spec"]["serviceAccountName"], endpoint_picker_pod.TOKEN_SECONDS)
        kubeconfig = directory / "kubeconfig"
        ca_pem = ClusterPki(self.layout.pki_directory).ca_certificate.read_bytes()
        kubeconfig.write_text(service_account_kubeconfig(self.layout.api_server_url, ca_pem, token))
        kubeconfig.chmod(0o600)
        plan = plan_endpoint_picker_pod(
            pod, self.epp_binary, directory, self._read_object, kubeconfig, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        )
        if self.forwarder is None:
            self.forwarder = Forwarder()
        for forwarded in running.forwards:
            self.forwarder.close(forwarded)
        running.forwards = []
        for pod_port, local_port in plan.forwards.items():
            forwarded = ForwardedPort(running.ip, pod_port, [("127.0.0.1", local_port)])
            self.forwarder.listen(forwarded)
            running.forwards.append(forwarded)
        running.epp_plan = plan
        running.ready = False
        running.epp = endpoint_picker_process(pod, plan, directory / "epp.log").start()
        running.epp_started_at = time.monotonic()
        log.info("started %s at %s (ports %s)", running.epp.name, running.ip, plan.forwards)

    def _start_model_servers(self, pod: dict, running: RunningPod) -> None:
        metadata = pod["metadata"]
        for container in pod["spec"]["containers"]:
            for port in container.get("ports") or []:
                if port.get("protocol", "TCP") != "TCP":
                    continue
                identity = ModelServerIdentity(
                    pod=metadata["name"], namespace=metadata["namespace"], address=running.ip, port=port["containerPort"],
                    model=served_model(container), labels=dict(metadata.get("labels") or {}),
                )
                running.model_servers.append(ModelServerStandIn(identity).start())
                log.info("model server stand-in for pod %s on %s:%d (%s)", running.name, running.ip, identity.port, identity.model)

    def _endpoint_picker_stopped(self, pod: dict) -> bool:
        return endpoint_picker_stop_request(self.layout, pod["metadata"]["namespace"], pool_of_pod(pod)).exists()

    def _keep_endpoint_picker(self, pod: dict, running: RunningPod) -> None:
        """Start, stop (on request) and restart the EPP; its readiness is its readinessProbe's."""
        assert running.epp is not None and running.epp_plan is not None
        if self._endpoint_picker_stopped(pod):
            if running.epp.running:
                running.epp.stop()
                log.info("stopped %s on request", running.epp.name)
            running.ready = False
            return
        if not running.epp.running:
            running.ready = False
            if time.monotonic() - running.epp_started_at >= RESTART_BACKOFF_SECONDS:
                if running.epp.process is not None and running.epp.process.returncode not in (None, 0, -15):
                    log.warning("%s", running.epp.failure())
                self._start_endpoint_picker(pod, running)
            return
        running.ready = endpoint_picker_pod.is_serving(running.epp_plan.health_port, running.epp_plan.health_service, timeout=0.5)

    def _report_readiness(self, pod: dict, running: RunningPod) -> None:
        """The EPP pod's Ready condition follows its readinessProbe, as the kubelet's would (so
        its Service endpoint goes unready when it stops, which a FailOpen pool relies on)."""
        conditions = {item.get("type"): item.get("status") for item in pod.get("status", {}).get("conditions") or []}
        if conditions.get("Ready") != ("True" if running.ready else "False"):
            metadata = pod["metadata"]
            self.api.set_pod_ready(metadata["namespace"], metadata["name"], running.ready)
            log.info("pod %s is %s", running.name, "ready" if running.ready else "not ready")

    def _start(self, pod: dict) -> RunningPod:
        metadata = pod["metadata"]
        running = RunningPod(
            uid=metadata["uid"], ip=pod["status"]["podIP"], name=f"{metadata['namespace']}/{metadata['name']}", kind=pod_kind(pod)
        )
        netns.add_loopback_address(running.ip)
        if running.kind == "proxy":
            self._start_envoy(pod, running)
            return running
        if running.kind == "endpoint-picker":
            running.pool = f"{metadata['namespace']}/{pool_of_pod(pod)}"
            self._start_endpoint_picker(pod, running)
            return running
        if running.kind == "model-server":
            self._start_model_servers(pod, running)
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
            if running.epp is not None:
                self._keep_endpoint_picker(pod, running)
                self._report_readiness(pod, running)

    def _forget(self, uid: str) -> None:
        running = self.running.pop(uid)
        running.stop()
        for forwarded in running.forwards:
            if self.forwarder is not None:
                self.forwarder.close(forwarded)
        if all(other.ip != running.ip for other in self.running.values()):
            netns.remove_loopback_address(running.ip)
        log.info("stopped pod %s", running.name)

    def stop(self) -> None:
        for uid in list(self.running):
            self._forget(uid)
        if self.forwarder is not None:
            self.forwarder.shutdown()
            self.forwarder = None

    def proxy_pods(self) -> list[RunningPod]:
        return [running for running in self.running.values() if running.envoy is not None]

    def inference_status(self) -> dict[str, dict]:
        """For `cluster status` and the failure-mode checks: EPP pods (their pool, whether the
        process runs and its health service answers SERVING) and model-server stand-ins."""
        pickers = {
            running.name: {"pool": running.pool, "ip": running.ip, "running": running.epp.running, "ready": running.ready}
            for running in self.running.values()
            if running.epp is not None
        }
        servers = {
            running.name: [f"{stand_in.identity.address}:{stand_in.identity.port}" for stand_in in running.model_servers]
            for running in self.running.values()
            if running.model_servers
        }
        return {"endpointPickers": pickers, "modelServers": servers}

    @staticmethod
    def clear_pod_folders(layout: ClusterLayout) -> None:
        shutil.rmtree(layout.pods_directory, ignore_errors=True)
