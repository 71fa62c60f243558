"""A container as the kubelet runs it: a runtime that starts and stops it (a real process, the
node agent's own stand-in servers, or a fault that cannot start), its probes, restarts with the
kubelet's doubling back-off as the pod's `restartPolicy` allows (a Job's container that exits
under `Never`, or exits 0 under `OnFailure`, stays terminated), and the entry of
`status.containerStatuses` it reports; and, when its pod is deleted, its `lifecycle.preStop`
handler run before it is stopped (`terminate_containers`), as the kubelet does.

The kubelet stops the containers of a deleted pod all at once, each after its preStop handler
returned (an `httpGet` to the pod's address, or an `exec` inside the container), within the
pod's `terminationGracePeriodSeconds`. That is what lets Envoy Gateway's proxies drain: the
`envoy` container's handler asks the `shutdown-manager` container's `/shutdown/ready`, which
answers once the `shutdown-manager`'s own handler, `envoy-gateway envoy shutdown`, has drained
Envoy's listeners (at least `--min-drain-duration`, 10 s by default) while the load balancer
takes the pod out of its endpoints; Envoy keeps serving until then."""

from __future__ import annotations

import datetime
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from gatestack.cluster import netns
from gatestack.cluster.container_probes import ContainerProber, http_get
from gatestack.cluster.processes import ManagedProcess, log_tail

# Restart back-off: the kubelet's doubling, from 2 s up to 60 s (the kubelet: 10 s to 5 min).
BACK_OFF_FIRST_SECONDS = 2.0
BACK_OFF_LIMIT_SECONDS = 60.0
UNRUNNABLE_REGISTRY_SUFFIX = ".invalid"
# PATH of an `exec` handler: the usual one (Envoy Gateway's distroless image has the same).
EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def declared_tcp_ports(container: dict) -> list[int]:
    return [int(port["containerPort"]) for port in container.get("ports") or [] if port.get("protocol", "TCP") == "TCP"]


def unrunnable_image_reason(image: str) -> Optional[str]:
    """Why this node cannot run `image` (the deliberate fault), or None."""
    registry = image.split("/", 1)[0] if "/" in image else ""
    if registry.split(":", 1)[0].endswith(UNRUNNABLE_REGISTRY_SUFFIX):
        return (
            f"image {image} cannot be run: its registry {registry} is a reserved .invalid name (RFC 6761) "
            "that never resolves, so no stand-in starts for it"
        )
    return None


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerStartError(RuntimeError):
    """A container could not start; the message is the reason the pod's status shows."""


class ContainerRuntime:
    """What runs for one container: started, checked and stopped by the node agent."""

    def start(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def exit_reason(self) -> str:
        return "the container exited"

    def exit_code(self) -> int:
        """The exit code of the run that ended (1 when it has none: stand-ins do not exit)."""
        return 1

    def stop(self) -> None:
        raise NotImplementedError


class ProcessRuntime(ContainerRuntime):
    """A real program (Envoy, the EPP, the shutdown manager), made anew by `make` for each run."""

    def __init__(self, make: Callable[[], ManagedProcess]):
        self.make = make
        self.process: Optional[ManagedProcess] = None

    def start(self) -> None:
        self.process = self.make().start()

    def alive(self) -> bool:
        return self.process is not None and self.process.running

    def exit_reason(self) -> str:
        if self.process is None or self.process.process is None:
            return "the container did not start"
        return f"exited with code {self.process.process.returncode}: {log_tail(self.process.log_path, 5)}"

    def exit_code(self) -> int:
        if self.process is None or self.process.process is None or self.process.process.returncode is None:
            return 1
        return self.process.process.returncode

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class StandInRuntime(ContainerRuntime):
    """Servers of this process listening inside the pod's namespace (echo or model server)."""

    def __init__(self, network_namespace: str, start_servers: Callable[[], list]):
        self.network_namespace = network_namespace
        self.start_servers = start_servers
        self.servers: list = []
        self.started = False

    def start(self) -> None:
        try:
            self.servers = netns.call_inside(self.network_namespace, self.start_servers)
        except OSError as error:
            raise ContainerStartError(f"the stand-in could not listen: {error}") from None
        self.started = True

    def alive(self) -> bool:
        return self.started

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []
        self.started = False


class FaultRuntime(ContainerRuntime):
    """A container that cannot start, for the reason given."""

    def __init__(self, reason: str):
        self.reason = reason

    def start(self) -> None:
        raise ContainerStartError(self.reason)

    def alive(self) -> bool:
        return False

    def stop(self) -> None:
        pass


@dataclass
class ContainerRun:
    """One container of a running pod: its runtime, probes, restarts and what its status says."""

    spec: dict
    runtime: ContainerRuntime
    prober: ContainerProber
    pod_ip: str
    running: bool = False
    listening: bool = False
    started_at: str = ""
    restart_count: int = 0
    failures_in_a_row: int = 0
    next_start: float = 0.0
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    last_terminated: Optional[dict] = None
    restart_request: Optional[str] = None
    held: bool = False  # kept stopped on request (an EPP's failure mode)
    restart_policy: str = "Always"  # the pod's: Always, OnFailure or Never
    terminated: Optional[dict] = None  # set once it ended for good (restartPolicy forbids a restart)
    # The root a container run chrooted (the image's files) is in, where its `exec` handlers run.
    exec_root: Optional[Path] = None
    hook_process: Optional[subprocess.Popen] = None  # a running `exec` preStop handler

    @property
    def name(self) -> str:
        return self.spec["name"]

    def restarts_after(self, exit_code: int) -> bool:
        """Whether the pod's restartPolicy restarts a container that exited with `exit_code`."""
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and exit_code != 0)

    def request_restart(self, reason: str) -> None:
        self.restart_request = reason

    @property
    def has_probes(self) -> bool:
        return any(self.spec.get(f"{kind}Probe") for kind in ("startup", "readiness", "liveness"))

    def ready(self) -> bool:
        """Running and its probes passed; a container without probes: listening on its ports."""
        return self.running and self.listening and self.prober.ready()

    def _record_termination(self, reason: str, message: str, exit_code: int) -> None:
        self.last_terminated = {
            "exitCode": exit_code, "reason": reason, "message": message[-1000:],
            "startedAt": self.started_at or now_rfc3339(), "finishedAt": now_rfc3339(),
        }

    def _back_off(self, message: str) -> None:
        delay = min(BACK_OFF_LIMIT_SECONDS, BACK_OFF_FIRST_SECONDS * 2 ** self.failures_in_a_row)
        self.failures_in_a_row += 1
        self.next_start = time.monotonic() + delay
        self.waiting_reason = "CrashLoopBackOff"
        self.waiting_message = f"back-off {delay:.0f}s restarting failed container={self.name}: {message}"[-1000:]

    def _end(self, reason: str, message: str, exit_code: int) -> None:
        """Terminated for good: the restartPolicy does not restart it."""
        self._record_termination(reason, message, exit_code)
        self.terminated, self.last_terminated = self.last_terminated, None
        self.waiting_reason = self.waiting_message = ""

    def try_start(self) -> None:
        try:
            self.runtime.start()
        except Exception as error:
            if not self.restarts_after(128):
                self._end("StartError", str(error), 128)
                return
            if self.started_at or self.restart_count or self.last_terminated:
                self.restart_count += 1
            self._record_termination("StartError", str(error), 128)
            self._back_off(str(error))
            return
        self.running, self.listening = True, False
        self.started_at = now_rfc3339()
        self.waiting_reason = self.waiting_message = ""
        self.prober.reset()

    def pre_stop(self, network_namespace: str, seconds: float) -> str:
        """Run the container's `lifecycle.preStop` handler until it returns, at most `seconds`;
        what it did (for the log), or "" for a container without one."""
        handler = (self.spec.get("lifecycle") or {}).get("preStop") or {}
        if "httpGet" in handler:
            return http_get(handler["httpGet"], self.pod_ip, self.spec, seconds).detail
        if "exec" in handler and self.running:
            command = list(handler["exec"].get("command") or [])
            if self.exec_root is not None:
                command = ["chroot", str(self.exec_root), *command]
            try:
                self.hook_process = subprocess.Popen(
                    netns.command_inside(network_namespace, command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, text=True, env={"PATH": EXEC_PATH, "HOME": "/tmp"},
                )
                output, _ = self.hook_process.communicate(timeout=seconds)
                return f"exec {handler['exec']['command']} exited {self.hook_process.returncode}: {output.strip()[-300:]}"
            except subprocess.TimeoutExpired:
                self.hook_process.kill()
                return f"exec {command} still ran after the grace period ({seconds:.0f} s)"
            except OSError as error:
                return f"exec {command}: {error}"
        return ""

    def stop(self, reason: str, message: str, exit_code: int = 137) -> None:
        if self.hook_process is not None and self.hook_process.poll() is None:
            self.hook_process.kill()
        self.runtime.stop()
        if self.running:
            self._record_termination(reason, message, exit_code)
        self.running = self.listening = False

    def keep(self) -> None:
        """One round: start, notice an exit, restart on a failed probe, check the ports."""
        if self.held:
            if self.running:
                self.stop("Completed", "stopped on request", 0)
            self.waiting_reason, self.waiting_message = "CrashLoopBackOff", "stopped on request (a failure-mode check)"
            return
        if self.terminated is not None:
            return
        if self.running and not self.runtime.alive():
            message, exit_code = self.runtime.exit_reason(), self.runtime.exit_code()
            self.runtime.stop()
            self.running = self.listening = False
            if not self.restarts_after(exit_code):
                self._end("Completed" if exit_code == 0 else "Error", message, exit_code)
                return
            self.restart_count += 1
            self._record_termination("Error", message, 1)
            self._back_off(message)
        if self.running and self.restart_request is not None:
            reason, self.restart_request = self.restart_request, None
            self.stop("Error", reason)
            self.restart_count += 1
            self._back_off(reason)
            self.next_start = time.monotonic()  # a probe failure restarts at once, as the kubelet does
        self.restart_request = None
        if not self.running and time.monotonic() >= self.next_start:
            self.try_start()
        if self.running and not self.listening:
            # With probes, they alone decide; without, it has started once it listens.
            self.listening = self.has_probes or all(_accepts(self.pod_ip, port) for port in declared_tcp_ports(self.spec))
            if self.listening:
                self.failures_in_a_row = 0

    def status(self) -> dict:
        """The container's entry of `status.containerStatuses`, as the kubelet writes it."""
        entry: dict = {
            "name": self.name, "image": self.spec.get("image", ""), "imageID": "", "restartCount": self.restart_count,
            "ready": self.ready(), "started": self.running and self.listening and self.prober.started(),
        }
        if self.terminated is not None:
            entry["state"] = {"terminated": self.terminated}
        elif self.running:
            entry["state"] = {"running": {"startedAt": self.started_at}}
        else:
            waiting = {"reason": self.waiting_reason or "ContainerCreating"}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            entry["state"] = {"waiting": waiting}
        if self.last_terminated is not None:
            entry["lastState"] = {"terminated": self.last_terminated}
        return entry


def terminate_containers(containers: list[ContainerRun], network_namespace: str, grace_seconds: float,
                         log: Callable[[str], None]) -> None:
    """Stop the containers of a deleted pod as the kubelet does: all at once, each after its
    preStop handler returned (bounded by the pod's grace period); returns when all stopped."""
    deadline = time.monotonic() + grace_seconds

    def terminate(run: ContainerRun) -> None:
        run.prober.stop()
        started = time.monotonic()
        did = run.pre_stop(network_namespace, max(1.0, deadline - time.monotonic()))
        if did:
            log(f"container {run.name}: preStop handler returned after {time.monotonic() - started:.1f} s: {did}")
        run.stop("Completed", "the pod was deleted", 0)

    threads = [threading.Thread(target=terminate, args=(run,), name=f"terminate {run.name}", daemon=True) for run in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.3):
            return True
    except OSError:
        return False
