"""The local cluster's supervisor: one process inside the cluster's network namespace that
starts every component, keeps the node agent and the load balancer in step with the API
server, and stops everything on SIGTERM (`cluster down`).

Start-up order: PKI -> etcd -> kube-apiserver -> controller-manager, scheduler -> the kwok
node -> Gateway API, Envoy Gateway and InferencePool CRDs (server-side) -> Envoy Gateway's
controller (or, in a cluster without an Envoy Gateway of its own, the stand-in for Envoy
Gateway's chart registry with the released charts pushed into it) -> node agent (a network
namespace per pod, through the CNI plugins) and load balancer
(a namespace of its own on the pods' bridge). It writes `ready` (a summary line) when all of that is up, or
`failed` (the reason) when something did not come up, and then exits.

Run by `gatestack cluster up` as `python -m gatestack.cluster.supervisor STATE_DIRECTORY`;
the paths of the binaries are read from `STATE_DIRECTORY/binaries.json`.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from gatestack.cluster import netns
from gatestack.cluster.chart_registry import CHART_REPOSITORY, remove_hosts_file, start_chart_registry
from gatestack.cluster.control_plane import ControlPlaneBinaries, apply_crds, start_control_plane
from gatestack.cluster.managed_controller import start_envoy_gateway, run_controller
from gatestack.cluster.kubernetes_api import ClusterApi
from gatestack.cluster.layout import KUBERNETES_SERVICE_IP, LOAD_BALANCER_SANDBOX, ClusterLayout
from gatestack.network_addresses import LOAD_BALANCER_CIDR
from gatestack.cluster.load_balancer import LoadBalancerController
from gatestack.cluster.node_agent import NodeAgent
from gatestack.cluster.pki import ensure_pki
from gatestack.cluster.pod_network import PodNetwork, PodSandbox
from gatestack.cluster.processes import ManagedProcess, StartupError, stop_all

SYNC_INTERVAL_SECONDS = 0.3
log = logging.getLogger("gatestack.cluster.supervisor")


def binaries_file(layout: ClusterLayout) -> Path:
    return layout.state_directory / "binaries.json"


def controller_stop_request_file(layout: ClusterLayout) -> Path:
    """While this file exists the supervisor keeps Envoy Gateway's controller stopped (as if its
    pod were gone); when it is removed the controller is started again."""
    return layout.state_directory / "controller-stopped"


def status_file(layout: ClusterLayout) -> Path:
    """What is running now (proxy pods, load balancers), rewritten as it changes."""
    return layout.state_directory / "status.json"


class Supervisor:
    def __init__(self, layout: ClusterLayout):
        self.layout = layout
        self.paths = {key: Path(value) if isinstance(value, str) else [Path(item) for item in value]
                      for key, value in json.loads(binaries_file(layout).read_text()).items()}
        self.processes: list[ManagedProcess] = []  # the control plane: one that dies stops the cluster
        self.controller: ManagedProcess | None = None
        self.managed_envoy_gateway = not self.layout.without_envoy_gateway_file.exists()
        self.stopping = threading.Event()
        self.node_agent: NodeAgent | None = None
        self.load_balancer: LoadBalancerController | None = None
        self.load_balancer_sandbox: PodSandbox | None = None

    def start(self) -> None:
        paths = self.paths
        pki = ensure_pki(self.layout.pki_directory, KUBERNETES_SERVICE_IP)
        binaries = ControlPlaneBinaries(
            etcd=paths["etcd"],
            kube_apiserver=paths["kube-apiserver"],
            kube_controller_manager=paths["kube-controller-manager"],
            kube_scheduler=paths["kube-scheduler"],
            kwok=paths["kwok"],
            kwok_stages=tuple(paths["kwok-stages"]),
        )
        started = time.monotonic()
        self.processes += start_control_plane(binaries, paths["kubectl"], self.layout, pki)
        log.info("control plane up in %.1f s", time.monotonic() - started)
        if self.managed_envoy_gateway:
            apply_crds(paths["kubectl"], self.layout, paths["crds"])
            log.info("CRDs established")
            self.controller = start_envoy_gateway(paths["envoy-gateway"], paths["kubectl"], self.layout)
            log.info("Envoy Gateway controller ready")
        else:
            log.info("no Envoy Gateway of the cluster's own: a stack installs its CRDs and controller")
            # ... from its charts, pulled from their registry's stand-in (chart_registry.py).
            self.processes.append(
                start_chart_registry(paths["registry"], paths["helm"], paths["charts"], self.layout, pki, log.info)
            )
            log.info("chart registry serving %s", CHART_REPOSITORY)
        api = ClusterApi(self.layout.kubeconfig)
        self.node_agent = NodeAgent(
            api, self.layout, paths["envoy"], paths["cni-plugins"], paths.get("epp"), paths["envoy-gateway"]
        )
        # The cloud's load balancer: a namespace of its own on the pods' bridge (load_balancer.py).
        network = PodNetwork(self.layout, paths["cni-plugins"])
        self.load_balancer_sandbox = network.add(LOAD_BALANCER_SANDBOX)
        netns.route_through(LOAD_BALANCER_CIDR, self.load_balancer_sandbox.address)
        self.load_balancer = LoadBalancerController(api, self.load_balancer_sandbox.namespace)

    def write_status(self) -> None:
        assert self.node_agent is not None and self.load_balancer is not None
        status = {
            "controllerRunning": self.controller is not None and self.controller.running,
            "proxyPods": {pod.name: pod.ip for pod in self.node_agent.proxy_pods()},
            "pods": self.node_agent.pod_status(),
            "loadBalancers": self.load_balancer.routes(),
            **self.node_agent.inference_status(),
        }
        path = status_file(self.layout)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(status, indent=1, sort_keys=True))
        temporary.replace(path)

    def run(self) -> None:
        assert self.node_agent is not None and self.load_balancer is not None
        while not self.stopping.is_set():
            dead = [process for process in self.processes if not process.running]
            if dead:
                log.error("%s", dead[0].failure())
                self.layout.failed_file.write_text(dead[0].failure())
                return
            self.keep_controller()
            for loop in (self.node_agent.sync, self.load_balancer.sync):
                try:
                    loop()
                except Exception as error:  # the API server may be briefly busy; next round retries
                    log.warning("%s: %s", loop.__qualname__, error)
            self.write_status()
            self.stopping.wait(SYNC_INTERVAL_SECONDS)

    def keep_controller(self) -> None:
        """Stop the controller while a stop is requested; otherwise restart it if it exited
        (its Deployment would)."""
        if not self.managed_envoy_gateway:
            return
        stop_requested = controller_stop_request_file(self.layout).exists()
        running = self.controller is not None and self.controller.running
        if stop_requested and running:
            assert self.controller is not None
            self.controller.stop()
            log.info("Envoy Gateway controller stopped on request")
        elif not stop_requested and not running:
            if self.controller is not None and self.controller.process is not None:
                log.warning("%s", self.controller.failure())
            try:
                self.controller = run_controller(self.layout)
                log.info("Envoy Gateway controller (re)started")
            except StartupError as error:  # retried on the next round, as a crash-looping pod is
                log.error("Envoy Gateway controller did not start: %s", error)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
        if self.node_agent is not None:
            self.node_agent.stop()
        if self.load_balancer is not None:
            self.load_balancer.stop()
        if self.load_balancer_sandbox is not None:
            try:
                PodNetwork(self.layout, self.paths["cni-plugins"]).remove(LOAD_BALANCER_SANDBOX)
            except Exception as error:
                log.warning("the load balancer's namespace was not fully removed: %s", error)
        stop_all(self.processes)
        remove_hosts_file(self.layout)


def main(arguments: list[str]) -> int:
    layout = ClusterLayout(Path(arguments[0]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not netns.is_inside(layout.network_namespace):
        print(f"refusing to start: not inside network namespace {layout.network_namespace}", file=sys.stderr)
        return 2
    supervisor = Supervisor(layout)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stopping.set())
    try:
        supervisor.start()
        supervisor.layout.ready_file.write_text("ready\n")
        log.info("cluster ready")
        supervisor.run()
    except (StartupError, RuntimeError, OSError) as error:
        log.error("start-up failed: %s", error)
        layout.failed_file.write_text(str(error))
        return 1
    finally:
        supervisor.stop()
        layout.ready_file.unlink(missing_ok=True)
        log.info("cluster stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
