"""The node agent: what the kubelet would do for the pods kwok schedules onto the node.

kwok makes a pod Running (with the cluster's own pod-start Stage: not Ready, no address) but
runs nothing. For each such pod this agent, as a kubelet with a container runtime:

1. makes the pod's network namespace and joins it to the cluster's bridge through the CNI
   plugins (`pod_network.py`), and writes the address CNI gave it into the pod's status;
2. starts each container inside that namespace, by the pod's kind (`pod_kind`, from labels the
   stack's components and Envoy Gateway set), binding the ports its spec declares:
   - an Envoy Gateway proxy pod -> a real Envoy configured by its controller's xDS (`proxy_pod.py`:
     the out-of-cluster one, or the pod of a chart's controller behind the xDS Service)
     and the real `envoy-gateway envoy shutdown-manager` for its `shutdown-manager` container;
   - an InferencePool's Endpoint Picker pod -> the real upstream `epp` binary with the pod's
     own arguments and ServiceAccount (`endpoint_picker_pod.py`);
   - the pods of Envoy Gateway's Helm chart, its controller's and its certgen Job's -> the real
     `envoy-gateway` built at the image's tag, with the container's command and arguments,
     chrooted into a root of the pod with its volumes at their mount paths and its
     ServiceAccount's token and the cluster's CA where in-cluster config reads them
     (`envoy_gateway_pod.py`);
   - a model-server pod -> a vLLM stand-in per TCP port (`gatestack/stand_ins/vllm_server.py`);
   - any other pod -> an echo server per TCP port, answering as the seed's echo-basic image does.
   Stand-ins are servers of this process whose listening sockets are made inside the pod's
   namespace (`netns.call_inside`), so the echo servers of one Deployment still share what the
   verify checks rely on (failure and health-failure instructions, marks);
3. runs each container's startup, readiness and liveness probes against the pod's address
   (`container_probes.py`) and writes the pod's status as the kubelet does: a container is ready when
   it runs, has started (it listens on its declared ports) and its probes passed; the pod is
   Ready when all its containers are. A container that fails to start or exits is restarted
   with a doubling back-off (`BACK_OFF_*`) and reported `CrashLoopBackOff` with the reason; a
   failed liveness or startup probe restarts it. The pod's `restartPolicy` [Always] decides:
   under `Never` (a Job's pod) an exited container stays terminated, under `OnFailure` one
   that exited 0 does; when all have ended the pod's phase is written, `Succeeded` when each
   exited 0, else `Failed` (kwok's pod-complete Stage is not run, so this is the Job's end).

A pod that goes away has its containers stopped and its namespace removed (CNI DEL); a deleted
pod whose containers have `lifecycle.preStop` handlers (Envoy Gateway's proxies) is stopped as
the kubelet stops it, each container after its handler returned, within the pod's
`terminationGracePeriodSeconds` (`containers.terminate_containers`), in a thread of its own so
the other pods are kept meanwhile; stopping the node stops every pod at once, handlers or not. The EPP
of a pool can be held stopped on request (`endpoint_picker_stop_request`, for the failure-mode
checks), as if its container had crashed.

The deliberate fault: an image from a `.invalid` registry (RFC 6761: such a name never
resolves) cannot be run; its container fails to start with that sentence, so a stack can show
what a backend that never starts looks like.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from gatestack.cluster import endpoint_picker_pod, envoy_gateway_pod, netns
from gatestack.cluster.endpoint_picker_pod import (
    API_SERVER_URL_FOR_PODS,
    endpoint_picker_process,
    is_endpoint_picker_pod,
    plan_endpoint_picker_pod,
    pool_of_pod,
    service_account_kubeconfig,
)
from gatestack.cluster.envoy_gateway_pod import binary_for_image, envoy_gateway_process, is_certgen_container, is_certgen_pod, is_controller_pod
from gatestack.cluster.kubernetes_api import ClusterApi
from gatestack.cluster.layout import BRIDGE_ADDRESS, NODE_NAME, ClusterLayout, endpoint_picker_stop_request
from gatestack.cluster.load_balancer import ready_endpoints
from gatestack.stand_ins.vllm_server import ModelServerIdentity, ModelServerStandIn, served_model
from gatestack.cluster.pki import ClusterPki
from gatestack.cluster.pod_network import PodNetwork, PodSandbox
from gatestack.cluster.container_probes import ContainerProber
from gatestack.cluster.containers import (
    ContainerRun, ContainerRuntime, ContainerStartError, FaultRuntime, ProcessRuntime, StandInRuntime, declared_tcp_ports, now_rfc3339,
    terminate_containers, unrunnable_image_reason,
)
from gatestack.cluster.processes import ManagedProcess
from gatestack.cluster.proxy_pod import ENVOY_CONTAINER, is_proxy_pod, plan_proxy_pod, proxy_process
from gatestack.stand_ins.echo_server import EchoContext, EchoServer, container_environment
from gateway_config.inference_manifests import EPP_CONTAINER, MODEL_SERVER_COMPONENT, MODEL_SERVER_COMPONENT_LABEL

SHUTDOWN_MANAGER_CONTAINER = "shutdown-manager"
XDS_PORT_NAME = "grpc"  # gateway-helm's name of the controller Service's xDS port (18000)
log = logging.getLogger("gatestack.cluster.node_agent")


def pod_kind(pod: dict) -> str:
    """`proxy`, `envoy-gateway`, `certgen`, `endpoint-picker`, `model-server` or `echo`: what
    the node agent runs for the pod."""
    if is_proxy_pod(pod):
        return "proxy"
    if is_controller_pod(pod):
        return "envoy-gateway"
    if is_certgen_pod(pod):
        return "certgen"
    if is_endpoint_picker_pod(pod):
        return "endpoint-picker"
    labels = pod.get("metadata", {}).get("labels") or {}
    if labels.get(MODEL_SERVER_COMPONENT_LABEL) == MODEL_SERVER_COMPONENT:
        return "model-server"
    return "echo"


def echo_context_for_pod(pod: dict, container: dict) -> EchoContext:
    metadata = pod["metadata"]
    environment = container_environment(container, metadata["namespace"], metadata["name"])
    return EchoContext(
        namespace=environment.get("NAMESPACE", ""),
        ingress=environment.get("INGRESS_NAME", ""),
        service=environment.get("SERVICE_NAME", ""),
        pods=(environment.get("POD_NAME", ""),),
    )


@dataclass
class RunningPod:
    """One pod on the node: its network and its containers."""

    uid: str
    ip: str
    name: str
    sandbox: PodSandbox
    kind: str = "echo"
    pool: str = ""
    containers: list[ContainerRun] = field(default_factory=list)
    reported: Optional[tuple] = None
    grace_seconds: float = 30.0  # the pod's terminationGracePeriodSeconds (the API's default)

    def has_pre_stop_handlers(self) -> bool:
        return any((run.spec.get("lifecycle") or {}).get("preStop") for run in self.containers)

    def stop(self) -> None:
        for container in self.containers:
            container.prober.stop()
            container.stop("Completed", "the pod was deleted", 0)

    def ready(self) -> bool:
        return all(container.ready() for container in self.containers)

    def container(self, name: str) -> Optional[ContainerRun]:
        return next((item for item in self.containers if item.name == name), None)

    @property
    def model_servers(self) -> list[ModelServerStandIn]:
        return [server for item in self.containers if isinstance(item.runtime, StandInRuntime)
                for server in item.runtime.servers if isinstance(server, ModelServerStandIn)]


class NodeAgent:
    """Keeps the running pods equal to the node's pods; call `sync` repeatedly."""

    def __init__(
        self,
        api: ClusterApi,
        layout: ClusterLayout,
        envoy_binary: Path,
        cni_plugin_directory: Path,
        epp_binary: Optional[Path] = None,
        envoy_gateway_binary: Optional[Path] = None,
    ):
        self.api = api
        self.layout = layout
        self.envoy_binary = envoy_binary
        self.epp_binary = epp_binary
        self.envoy_gateway_binary = envoy_gateway_binary
        self.network = PodNetwork(layout, cni_plugin_directory)
        self.running: dict[str, RunningPod] = {}
        self.failed_pods: dict[str, str] = {}  # uid -> why its sandbox could not be made (logged once)
        self.terminating: dict[str, tuple[RunningPod, threading.Thread]] = {}  # deleted pods running their preStop handlers
        self.lock = threading.Lock()

    def _read_object(self, kind: str, namespace: str, name: str) -> dict:
        return self.api.config_map(namespace, name) if kind == "ConfigMap" else self.api.secret(namespace, name)

    def _pod_directory(self, pod: dict) -> Path:
        metadata = pod["metadata"]
        directory = self.layout.pods_directory / f"{metadata['namespace']}_{metadata['name']}"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _base_environment(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    # --- what runs for each kind of container -------------------------------------------

    def _envoy(self, pod: dict, sandbox: PodSandbox) -> ContainerRuntime:
        def make() -> ManagedProcess:
            directory = self._pod_directory(pod)
            plan = plan_proxy_pod(pod, self.envoy_binary, directory, self._read_object, self._base_environment(), self._xds_address)
            return proxy_process(pod, plan, directory / "envoy.log", sandbox.namespace)

        return ProcessRuntime(make)

    def _xds_address(self, namespace: str, service: str) -> str:
        """Where a proxy reaches the xDS Service its bootstrap names: the ready controller pod
        behind it (a chart's controller, port `grpc` as gateway-helm names it), else the
        out-of-cluster controller on the pods' bridge (the managed mode has no such Service)."""
        endpoints = ready_endpoints(self.api.endpoint_slices(), namespace, service, {"name": XDS_PORT_NAME})
        return endpoints[0][0] if endpoints else BRIDGE_ADDRESS

    def _shutdown_manager(self, pod: dict, container: dict, sandbox: PodSandbox) -> ContainerRuntime:
        """The real `envoy-gateway envoy shutdown-manager`, chrooted into a root of the pod with the
        binary at the image's entrypoint and a `/tmp` of its own: its preStop handler
        (`envoy-gateway envoy shutdown`, run in the same root) and it meet at `/tmp/shutdown-ready`."""
        if self.envoy_gateway_binary is None:
            return FaultRuntime("no envoy-gateway binary was given to the node agent for the shutdown-manager container")
        binary = self.envoy_gateway_binary

        def make() -> ManagedProcess:
            directory = self._pod_directory(pod)
            root = envoy_gateway_pod.container_root(directory, container)
            envoy_gateway_pod.prepare_image(root, binary)
            return envoy_gateway_process(pod, container, root, directory / "shutdown-manager.log", sandbox.namespace)

        return ProcessRuntime(make)

    def _service_account_credentials(self, pod: dict, seconds: int) -> tuple[str, bytes]:
        """A token of the pod's ServiceAccount (TokenRequest API) and the cluster's CA."""
        token = self.api.service_account_token(pod["metadata"]["namespace"], pod["spec"].get("serviceAccountName") or "default", seconds)
        return token, ClusterPki(self.layout.pki_directory).ca_certificate.read_bytes()

    def _envoy_gateway(self, pod: dict, container: dict, sandbox: PodSandbox) -> ContainerRuntime:
        """The chart's controller or certgen container: the real binary (`envoy_gateway_pod.py`)."""
        try:
            binary = binary_for_image(container.get("image", ""))
        except ContainerStartError as error:
            return FaultRuntime(str(error))

        def make() -> ManagedProcess:
            directory = self._pod_directory(pod)
            root = envoy_gateway_pod.container_root(directory, container)
            token, ca_pem = self._service_account_credentials(pod, envoy_gateway_pod.TOKEN_SECONDS)
            envoy_gateway_pod.prepare_root(pod, container, root, binary, self._read_object, token, ca_pem)
            return envoy_gateway_process(pod, container, root, directory / f"{container['name']}.log", sandbox.namespace)

        return ProcessRuntime(make)

    def _endpoint_picker(self, pod: dict, sandbox: PodSandbox) -> ContainerRuntime:
        if self.epp_binary is None:
            return FaultRuntime("no epp binary was given to the node agent")
        epp_binary = self.epp_binary

        def make() -> ManagedProcess:
            directory = self._pod_directory(pod)
            token, ca_pem = self._service_account_credentials(pod, endpoint_picker_pod.TOKEN_SECONDS)
            kubeconfig = directory / "kubeconfig"
            kubeconfig.write_text(service_account_kubeconfig(API_SERVER_URL_FOR_PODS, ca_pem, token))
            kubeconfig.chmod(0o600)
            plan = plan_endpoint_picker_pod(pod, epp_binary, directory, self._read_object, kubeconfig, self._base_environment())
            return endpoint_picker_process(pod, plan, directory / "epp.log", sandbox.namespace)

        return ProcessRuntime(make)

    def _model_servers(self, pod: dict, container: dict, sandbox: PodSandbox) -> ContainerRuntime:
        metadata = pod["metadata"]

        def start() -> list:
            servers = []
            try:
                for port in declared_tcp_ports(container):
                    identity = ModelServerIdentity(
                        pod=metadata["name"], namespace=metadata["namespace"], address=sandbox.address, port=port,
                        model=served_model(container), labels=dict(metadata.get("labels") or {}),
                    )
                    servers.append(ModelServerStandIn(identity).start())
            except BaseException:
                for server in servers:
                    server.stop()
                raise
            return servers

        return StandInRuntime(sandbox.namespace, start)

    def _echo_servers(self, pod: dict, container: dict, sandbox: PodSandbox) -> ContainerRuntime:
        context = echo_context_for_pod(pod, container)

        def start() -> list:
            servers = []
            try:
                for port in declared_tcp_ports(container):
                    servers.append(EchoServer(sandbox.address, port, context, allow_cluster_address=True).start())
            except BaseException:
                EchoServer.stop_all(servers)
                raise
            return servers

        return StandInRuntime(sandbox.namespace, start)

    def _runtime(self, pod: dict, kind: str, container: dict, sandbox: PodSandbox) -> ContainerRuntime:
        fault = unrunnable_image_reason(container.get("image", ""))
        if fault is not None:
            return FaultRuntime(fault)
        if kind == "proxy":
            if container["name"] == ENVOY_CONTAINER:
                return self._envoy(pod, sandbox)
            if container["name"] == SHUTDOWN_MANAGER_CONTAINER:
                return self._shutdown_manager(pod, container, sandbox)
        if (kind == "envoy-gateway" and container["name"] == envoy_gateway_pod.CONTROLLER_CONTAINER) or (
            kind == "certgen" and is_certgen_container(container)
        ):
            return self._envoy_gateway(pod, container, sandbox)
        if kind == "endpoint-picker" and container["name"] == EPP_CONTAINER:
            return self._endpoint_picker(pod, sandbox)
        if kind == "model-server":
            return self._model_servers(pod, container, sandbox)
        return self._echo_servers(pod, container, sandbox)

    # --- pods ---------------------------------------------------------------------------

    def _start(self, pod: dict) -> RunningPod:
        metadata = pod["metadata"]
        sandbox = self.network.add(metadata["uid"], pod["status"].get("podIP") or None)
        ip = sandbox.address
        if pod["status"].get("podIP") != ip:
            try:
                self.api.set_pod_ip(metadata["namespace"], metadata["name"], ip)
            except BaseException:
                self.network.remove(metadata["uid"])
                raise
        pod["status"].update(podIP=ip, podIPs=[{"ip": ip}])  # what the downward API reads from now on
        running = RunningPod(uid=metadata["uid"], ip=ip, name=f"{metadata['namespace']}/{metadata['name']}", sandbox=sandbox, kind=pod_kind(pod))
        if running.kind == "endpoint-picker":
            running.pool = f"{metadata['namespace']}/{pool_of_pod(pod)}"
        restart_policy = pod["spec"].get("restartPolicy") or "Always"
        running.grace_seconds = float(pod["spec"].get("terminationGracePeriodSeconds", running.grace_seconds))
        for container in pod["spec"]["containers"]:
            run = ContainerRun(container, self._runtime(pod, running.kind, container, sandbox), None, ip, restart_policy=restart_policy)  # type: ignore[arg-type]
            run.prober = ContainerProber(container, ip, sandbox.namespace, run.request_restart)
            if running.kind in ("proxy", "envoy-gateway", "certgen"):  # those whose containers run chrooted
                run.exec_root = envoy_gateway_pod.container_root(self._pod_directory(pod), container)
            running.containers.append(run)
        for run in running.containers:
            run.prober.start()
        log.info("pod %s: network namespace %s at %s (%s)", running.name, sandbox.namespace, ip, running.kind)
        return running

    def _endpoint_picker_held(self, pod: dict) -> bool:
        return endpoint_picker_stop_request(self.layout, pod["metadata"]["namespace"], pool_of_pod(pod)).exists()

    def _keep(self, pod: dict, running: RunningPod) -> None:
        for run in running.containers:
            was_running = run.running
            run.held = running.kind == "endpoint-picker" and run.name == EPP_CONTAINER and self._endpoint_picker_held(pod)
            run.keep()
            if run.running and not was_running:
                log.info("pod %s: container %s started", running.name, run.name)
            elif was_running and not run.running:
                log.warning("pod %s: container %s stopped: %s", running.name, run.name, run.waiting_message or "on request")

    def _report_finished(self, pod: dict, running: RunningPod) -> None:
        """Write the phase of a pod whose containers all ended: Succeeded when each exited 0,
        else Failed. The pod is then no longer Running, so the next sync stops and removes it."""
        statuses = [run.status() for run in running.containers]
        failed = [run.name for run in running.containers if (run.terminated or {}).get("exitCode") != 0]
        phase = "Failed" if failed else "Succeeded"
        conditions = [
            {"type": kind, "status": "False", "lastTransitionTime": now_rfc3339(), "reason": "PodCompleted"}
            for kind in ("Ready", "ContainersReady")
        ]
        metadata = pod["metadata"]
        self.api.set_pod_status(metadata["namespace"], metadata["name"], conditions, statuses, phase=phase)
        log.info("pod %s %s%s", running.name, phase, f" (failed: {', '.join(failed)})" if failed else "")
        running.reported = ("finished", phase)

    def _report(self, pod: dict, running: RunningPod) -> None:
        """Write the pod's Ready/ContainersReady conditions and container statuses when they
        change; its phase once every container ended (`_report_finished`)."""
        if all(run.terminated is not None for run in running.containers):
            if not (running.reported and running.reported[0] == "finished"):
                self._report_finished(pod, running)
            return
        statuses = [run.status() for run in running.containers]
        ready = running.ready()
        summary = (ready, tuple((item["name"], item["ready"], item["restartCount"], str(item["state"])) for item in statuses))
        if summary == running.reported:
            return
        not_ready = [run.name for run in running.containers if not run.ready()]
        conditions = [
            {"type": kind, "status": "True" if ready else "False", "lastTransitionTime": now_rfc3339(),
             **({} if ready else {"reason": "ContainersNotReady", "message": f"containers with unready status: [{' '.join(not_ready)}]"})}
            for kind in ("Ready", "ContainersReady")
        ]
        metadata = pod["metadata"]
        self.api.set_pod_status(metadata["namespace"], metadata["name"], conditions, statuses)
        if running.reported is None or running.reported[0] != ready:
            log.info("pod %s is %s", running.name, "ready" if ready else f"not ready ({', '.join(not_ready)})")
        for run in running.containers:
            if run.waiting_reason == "CrashLoopBackOff" and run.waiting_message:
                log.warning("pod %s: container %s: %s", running.name, run.name, run.waiting_message)
        running.reported = summary

    def sync(self) -> None:
        pods = [
            pod
            for pod in self.api.pods()
            if pod.get("spec", {}).get("nodeName") == NODE_NAME
            and not pod.get("spec", {}).get("hostNetwork")
            and not pod["metadata"].get("deletionTimestamp")
            and pod.get("status", {}).get("phase") == "Running"
        ]
        wanted = {pod["metadata"]["uid"]: pod for pod in pods}
        with self.lock:
            for uid in [uid for uid in self.running if uid not in wanted]:
                self._forget(uid, graceful=True)
            for uid, pod in wanted.items():
                running = self.running.get(uid)
                if running is None:
                    try:
                        running = self.running[uid] = self._start(pod)
                        self.failed_pods.pop(uid, None)
                    except Exception as error:  # one broken pod must not stop the node
                        if self.failed_pods.get(uid) != str(error):
                            log.error("pod %s/%s: no sandbox: %s", pod["metadata"]["namespace"], pod["metadata"]["name"], error)
                            self.failed_pods[uid] = str(error)
                        continue
                self._keep(pod, running)
                try:
                    self._report(pod, running)
                except Exception as error:  # the API server may be busy: the next round reports
                    log.warning("pod %s: status not written: %s", running.name, error)

    def _forget(self, uid: str, graceful: bool = False) -> None:
        running = self.running.pop(uid)
        if graceful and running.has_pre_stop_handlers():
            thread = threading.Thread(target=self._remove, args=(running, True), name=f"terminate {running.name}", daemon=True)
            self.terminating[uid] = (running, thread)
            thread.start()
            return
        self._remove(running, False)

    def _remove(self, running: RunningPod, graceful: bool) -> None:
        if graceful:
            log.info("pod %s deleted: running its preStop handlers (grace period %.0f s)", running.name, running.grace_seconds)
            terminate_containers(running.containers, running.sandbox.namespace, running.grace_seconds,
                                 lambda line: log.info("pod %s: %s", running.name, line))
        running.stop()
        try:
            self.network.remove(running.uid)
        except Exception as error:
            log.warning("pod %s: network not fully removed: %s", running.name, error)
        self.terminating.pop(running.uid, None)
        log.info("stopped pod %s and removed namespace %s", running.name, running.sandbox.namespace)

    def stop(self) -> None:
        with self.lock:
            for uid in list(self.running):
                self._forget(uid)
            for running, thread in list(self.terminating.values()):
                running.stop()  # ends its handlers too: the thread then removes its namespace
                thread.join(timeout=10)

    def proxy_pods(self) -> list[RunningPod]:
        return [running for running in self.running.values() if running.kind == "proxy"]

    def inference_status(self) -> dict[str, dict]:
        """For `cluster status` and the failure-mode checks: EPP pods (their pool, whether the
        process runs and the pod is ready) and model-server stand-ins."""
        pickers = {}
        for running in self.running.values():
            epp = running.container(EPP_CONTAINER) if running.kind == "endpoint-picker" else None
            if epp is not None:
                pickers[running.name] = {"pool": running.pool, "ip": running.ip, "running": epp.running, "ready": running.ready()}
        servers = {
            running.name: [f"{stand_in.identity.address}:{stand_in.identity.port}" for stand_in in running.model_servers]
            for running in self.running.values()
            if running.model_servers
        }
        return {"endpointPickers": pickers, "modelServers": servers}

    def pod_status(self) -> dict[str, dict]:
        """For `cluster status`: each pod's namespace, address, readiness and containers."""
        return {
            running.name: {
                "networkNamespace": running.sandbox.namespace, "ip": running.ip, "ready": running.ready(),
                "containers": {run.name: {"ready": run.ready(), "restarts": run.restart_count,
                                          "waiting": run.waiting_reason, "message": run.waiting_message or run.prober.why_not_ready()}
                               for run in running.containers},
            }
            for running in self.running.values()
        }

    @staticmethod
    def clear_pod_folders(layout: ClusterLayout) -> None:
        shutil.rmtree(layout.pods_directory, ignore_errors=True)
