"""`cluster up`, `cluster down`, `cluster status` and running commands inside the cluster.

A cluster lives from `up` to `down`: `up` builds what is missing, makes the cluster's network
namespace and starts the supervisor in it (whose node agent makes one more per pod) (detached, so the cluster outlives the command);
`down` stops the supervisor, which stops every component, then removes the namespaces and
the state directory (including the Pulumi state of stacks deployed into it, which would
describe objects that no longer exist). An `up` that finds a dead cluster's leftovers
clears them first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from gatestack.cluster import netns
from gatestack.cluster.chart_registry import remove_hosts_file
from gatestack.cluster.layout import ClusterLayout, endpoint_picker_stop_request
from gatestack.cluster.pod_network import remove_all_pod_namespaces
from gatestack.paths import REPOSITORY_ROOT
from gatestack.cluster.processes import log_tail, pid_is_alive
from gatestack.cluster.supervisor import binaries_file, controller_stop_request_file, status_file

READY_TIMEOUT_SECONDS = 300
STOP_TIMEOUT_SECONDS = 60


class ClusterError(RuntimeError):
    """The cluster could not be started, reached or stopped; the message is for the user."""


@dataclass(frozen=True)
class ClusterInfo:
    layout: ClusterLayout
    supervisor_pid: int

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig


def supervisor_pid(layout: ClusterLayout) -> Optional[int]:
    try:
        pid = int(layout.supervisor_pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_is_alive(pid) else None


def running_cluster(layout: ClusterLayout) -> Optional[ClusterInfo]:
    """The cluster in `layout` if its supervisor is alive and reported ready."""
    pid = supervisor_pid(layout)
    if pid is not None and layout.ready_file.exists() and netns.exists(layout.network_namespace):
        return ClusterInfo(layout, pid)
    return None


def require_running(layout: ClusterLayout) -> ClusterInfo:
    info = running_cluster(layout)
    if info is None:
        raise ClusterError("no local cluster is running; start one with `make cluster` (or `python -m gatestack cluster up`)")
    return info


def _clear(layout: ClusterLayout) -> None:
    # Pods' namespaces first (the node agent removes them on a clean stop; this is for a crash).
    remove_all_pod_namespaces(layout)
    remove_hosts_file(layout)
    netns.delete(layout.network_namespace)
    if layout.state_directory.exists():
        shutil.rmtree(layout.state_directory)


def up(
    layout: ClusterLayout,
    resolve_binaries: Callable[[], dict],
    progress: Callable[[str], None],
    envoy_gateway: bool = True,
) -> ClusterInfo:
    """Start the cluster (or return the running one). `resolve_binaries` builds what is missing.

    `envoy_gateway` [True]: the cluster applies Envoy Gateway's and Gateway API's CRDs and runs
    Envoy Gateway's controller outside any pod, as ACK's managed add-on does (the mode of
    `controller.install: false`). False: it has neither, as a fresh cluster anywhere else; a
    running cluster of the other mode is refused, since it cannot change mode while it runs."""
    info = running_cluster(layout)
    if info is not None:
        if has_envoy_gateway(layout) != envoy_gateway:
            raise ClusterError(
                f"the local cluster in {layout.state_directory} is running "
                f"{'with' if has_envoy_gateway(layout) else 'without'} an Envoy Gateway of its own; "
                f"stop it with `make down` to start one {'with' if envoy_gateway else 'without'}"
            )
        progress(f"local cluster already running (supervisor pid {info.supervisor_pid})")
        return info
    if supervisor_pid(layout) is not None:
        down(layout, progress)
    binaries = resolve_binaries()
    _clear(layout)
    layout.logs_directory.mkdir(parents=True)
    if not envoy_gateway:
        layout.without_envoy_gateway_file.write_text("no Envoy Gateway CRDs or controller of the cluster's own\n")
    binaries_file(layout).write_text(json.dumps(binaries, indent=1, default=str))
    netns.create(layout.network_namespace)
    progress(f"starting the local cluster in network namespace {layout.network_namespace} (logs: {layout.logs_directory})")
    started = time.monotonic()
    with open(layout.supervisor_log, "ab") as log_file:
        process = subprocess.Popen(
            netns.command_inside(
                layout.network_namespace, [sys.executable, "-m", "gatestack.cluster.supervisor", str(layout.state_directory)]
            ),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPOSITORY_ROOT,
            start_new_session=True,
        )
    layout.supervisor_pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if layout.ready_file.exists():
            progress(f"local cluster ready in {time.monotonic() - started:.1f} s")
            return ClusterInfo(layout, process.pid)
        if layout.failed_file.exists() or process.poll() is not None:
            reason = layout.failed_file.read_text() if layout.failed_file.exists() else log_tail(layout.supervisor_log)
            down(layout, lambda _: None)
            raise ClusterError(f"the local cluster did not start: {reason}")
        time.sleep(0.3)
    down(layout, lambda _: None)
    raise ClusterError(f"the local cluster was not ready within {READY_TIMEOUT_SECONDS} s; see {layout.supervisor_log}")


def has_envoy_gateway(layout: ClusterLayout) -> bool:
    """Whether the cluster applies Envoy Gateway's CRDs and runs its controller itself (see `up`)."""
    return not layout.without_envoy_gateway_file.exists()


def down(layout: ClusterLayout, progress: Callable[[str], None]) -> None:
    """Stop every process of the cluster and remove its namespace and state."""
    pid = supervisor_pid(layout)
    if pid is not None:
        progress(f"stopping the local cluster (supervisor pid {pid})")
        os.kill(pid, 15)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while pid_is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Everything the supervisor started is in its process group: none may outlive it.
        try:
            os.killpg(pid, 9)
        except ProcessLookupError:
            pass
    _clear(layout)
    progress("local cluster removed")


def status(layout: ClusterLayout) -> dict:
    info = running_cluster(layout)
    if info is None:
        return {"running": False}
    try:
        details = json.loads(status_file(layout).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        details = {}
    return {
        "running": True,
        "networkNamespace": layout.network_namespace,
        "kubeconfig": str(layout.kubeconfig),
        "apiServer": layout.api_server_url,
        "envoyGateway": "managed (outside any pod)" if has_envoy_gateway(layout) else "none (install it from the charts)",
        **details,
    }


def inside_command(layout: ClusterLayout, command: list[str]) -> list[str]:
    """`command` to run inside the cluster's namespace (where pod and LB addresses exist)."""
    return netns.command_inside(layout.network_namespace, command)


def inside_environment(layout: ClusterLayout, base: Optional[dict[str, str]] = None) -> dict[str, str]:
    return {**(base if base is not None else os.environ), "KUBECONFIG": str(layout.kubeconfig)}


def _wait_for_controller(layout: ClusterLayout, running: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(status_file(layout).read_text()).get("controllerRunning") is running:
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.2)
    raise ClusterError(f"Envoy Gateway's controller did not {'start' if running else 'stop'} within {timeout:.0f} s")


def stop_controller(layout: ClusterLayout, timeout: float = 30) -> None:
    """Stop Envoy Gateway's controller (as if its pod were gone) until `start_controller`."""
    require_running(layout)
    controller_stop_request_file(layout).touch()
    _wait_for_controller(layout, False, timeout)


def start_controller(layout: ClusterLayout, timeout: float = 150) -> None:
    require_running(layout)
    controller_stop_request_file(layout).unlink(missing_ok=True)
    _wait_for_controller(layout, True, timeout)


def _wait_for_endpoint_picker(layout: ClusterLayout, namespace: str, pool: str, serving: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pickers = json.loads(status_file(layout).read_text()).get("endpointPickers") or {}
        except (FileNotFoundError, json.JSONDecodeError):
            pickers = {}
        mine = [item for item in pickers.values() if item.get("pool") == f"{namespace}/{pool}"]
        if mine and all(item.get("running") is serving and item.get("ready") is serving for item in mine):
            return
        time.sleep(0.2)
    raise ClusterError(f"the Endpoint Picker of pool {namespace}/{pool} did not {'start serving' if serving else 'stop'} within {timeout:.0f} s")


def stop_endpoint_picker(layout: ClusterLayout, namespace: str, pool: str, timeout: float = 30) -> None:
    """Stop the EPP processes of an InferencePool (as if its container had crashed) until
    `start_endpoint_picker`; returns once none runs."""
    require_running(layout)
    request = endpoint_picker_stop_request(layout, namespace, pool)
    request.parent.mkdir(parents=True, exist_ok=True)
    request.touch()
    _wait_for_endpoint_picker(layout, namespace, pool, False, timeout)


def start_endpoint_picker(layout: ClusterLayout, namespace: str, pool: str, timeout: float = 60) -> None:
    """Let the node agent start the pool's EPP again; returns once its health service serves."""
    require_running(layout)
    endpoint_picker_stop_request(layout, namespace, pool).unlink(missing_ok=True)
    _wait_for_endpoint_picker(layout, namespace, pool, True, timeout)
