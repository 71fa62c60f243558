"""A container's startup, readiness and liveness probes, run as the kubelet runs them.

Each probe of the pod spec (`httpGet`, `tcpSocket`, `grpc`, `exec`) is tried against the pod's
address from the node (the cluster's namespace, over the pods' bridge), with the kubelet's
defaults and rules (Kubernetes' `pkg/kubelet/prober`):

- `initialDelaySeconds` (0) after the container started, then every `periodSeconds` (10), each
  try given `timeoutSeconds` (1);
- a result counts once it repeats: `successThreshold` (1) successes in a row make the probe
  pass, `failureThreshold` (3) failures in a row make it fail;
- `httpGet`: scheme HTTP or HTTPS (a certificate is not verified), host the pod's IP unless
  given, a port by number or by the container port's name, `httpHeaders`, a `User-Agent` of
  `kube-probe/<major>.<minor>`; a status from 200 to 399 passes (a redirect is not followed);
- `tcpSocket`: the connection opens; `grpc`: `grpc.health.v1.Health/Check` for `service`
  answers SERVING; `exec`: the command, run inside the pod's network namespace, exits 0 (a
  command this node does not have fails, as it would in an image without it);
- while a startup probe has not passed, neither readiness nor liveness is probed; a failed
  startup or liveness probe asks for the container to be restarted; readiness starts False.

One difference, in timing only: until a probe first decides (passes or fails) in a container's
run, a failed try is tried again after `WARM_UP_RETRY_SECONDS` instead of a whole period, but
failures still count at most once per period. A container is thus found ready as soon as it
is, and one that never becomes ready fails after the same time as under the kubelet.

A container without a readiness probe is ready once started (and its startup probe passed);
what "started" means is the node agent's: its process listens on its declared ports.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import grpc

from gatestack.cluster import netns
from gatestack.cluster.layout import KUBERNETES_VERSION

USER_AGENT = "kube-probe/" + ".".join(KUBERNETES_VERSION.lstrip("v").split(".")[:2])
PROBE_KINDS = ("httpGet", "tcpSocket", "grpc", "exec")
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
WARM_UP_RETRY_SECONDS = 0.5
SERVING = 1  # grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING


@dataclass(frozen=True)
class ProbeResult:
    passed: bool
    detail: str = ""


def resolve_port(port: object, container: dict) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"the probe names port {port!r}, which container {container.get('name')} does not declare")


def http_get(action: dict, pod_ip: str, container: dict, timeout: float) -> ProbeResult:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    path = action.get("path") or "/"
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for header in action.get("httpHeaders") or []:
        headers[header["name"]] = header.get("value", "")
    if (action.get("scheme") or "HTTP").upper() == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return ProbeResult(False, f"Get \"http://{host}:{port}{path}\": {error}")
    finally:
        connection.close()
    if 200 <= status < 400:
        return ProbeResult(True, f"HTTP probe succeeded with statuscode: {status}")
    return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")


def tcp_socket(action: dict, pod_ip: str, container: dict, timeout: float) -> ProbeResult:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(True)
    except OSError as error:
        return ProbeResult(False, f"dial tcp {host}:{port}: {error}")


def grpc_health_request(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service} in protobuf wire format (field 1, a string)."""
    encoded = service.encode()
    return (b"\x0a" + bytes([len(encoded)]) + encoded) if encoded else b""


def grpc_health(action: dict, pod_ip: str, container: dict, timeout: float) -> ProbeResult:
    port = int(action["port"])
    service = action.get("service") or ""
    with grpc.insecure_channel(f"{pod_ip}:{port}") as channel:
        check = channel.unary_unary(HEALTH_CHECK_METHOD, request_serializer=None, response_deserializer=None)
        try:
            answer = check(grpc_health_request(service), timeout=timeout)
        except grpc.RpcError as error:
            return ProbeResult(False, f"failed to connect service \"{pod_ip}:{port}\" within {timeout:g}s: {error.code()}")
    # HealthCheckResponse{status}: field 1, varint.
    if answer == bytes([0x08, SERVING]):
        return ProbeResult(True)
    return ProbeResult(False, f"service unhealthy (responded with {answer!r})")


def exec_command(action: dict, network_namespace: str, timeout: float) -> ProbeResult:
    command = list(action.get("command") or [])
    if not command or shutil.which(command[0]) is None:
        return ProbeResult(False, f"exec probe {command!r}: executable not found on this node")
    try:
        completed = subprocess.run(
            netns.command_inside(network_namespace, command), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"command {command!r} timed out")
    if completed.returncode == 0:
        return ProbeResult(True)
    return ProbeResult(False, f"command {command!r} exited with {completed.returncode}: {completed.stdout.strip()[-200:]}")


def run_probe(probe: dict, pod_ip: str, container: dict, network_namespace: str) -> ProbeResult:
    """One try of `probe` (a pod spec's probe object)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "httpGet" in probe:
            return http_get(probe["httpGet"], pod_ip, container, timeout)
        if "tcpSocket" in probe:
            return tcp_socket(probe["tcpSocket"], pod_ip, container, timeout)
        if "grpc" in probe:
            return grpc_health(probe["grpc"], pod_ip, container, timeout)
        if "exec" in probe:
            return exec_command(probe["exec"], network_namespace, timeout)
    except ValueError as error:
        return ProbeResult(False, str(error))
    return ProbeResult(False, f"the probe has none of {', '.join(PROBE_KINDS)}")


@dataclass
class ProbeState:
    """One probe of one container: its spec and the counts that decide its result."""

    kind: str  # startup, readiness, liveness
    spec: dict
    passed: Optional[bool] = None
    successes: int = 0
    failures: int = 0
    next_try: float = 0.0
    last_detail: str = ""
    last_counted_failure: float = float("-inf")

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    def record(self, result: ProbeResult, now: float) -> None:
        """Count one try's result and schedule the next try."""
        self.last_detail = result.detail
        if result.passed:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.spec.get("successThreshold") or 1):
                self.passed = True
        elif now - self.last_counted_failure >= self.period - 0.05 or self.passed is not None:
            self.last_counted_failure = now
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= int(self.spec.get("failureThreshold") or 3):
                self.passed = False
        warming_up = self.passed is None and not result.passed
        self.next_try = now + (WARM_UP_RETRY_SECONDS if warming_up else self.period)


@dataclass
class ContainerProber:
    """The probes of one container, tried on a thread of their own while it runs.

    `started_at` is when the container's current run started; `restart(reason)` is called
    when a startup or liveness probe failed (the caller restarts the container and then calls
    `reset`)."""

    container: dict
    pod_ip: str
    network_namespace: str
    restart: Callable[[str], None]
    probe: Callable[[dict, str, dict, str], ProbeResult] = run_probe
    probes: dict[str, ProbeState] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: Optional[threading.Thread] = None

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new run of the container: every probe starts over (readiness False)."""
        with self.lock:
            self.started_at = time.monotonic()
            self.probes = {}
            for kind in ("startup", "readiness", "liveness"):
                spec = self.container.get(f"{kind}Probe")
                if spec:
                    delay = float(spec.get("initialDelaySeconds") or 0)
                    self.probes[kind] = ProbeState(kind, spec, next_try=self.started_at + delay)

    @property
    def has_readiness_probe(self) -> bool:
        return "readiness" in self.probes

    def ready(self) -> bool:
        """Startup passed (or none) and readiness passed (or none)."""
        with self.lock:
            startup = self.probes.get("startup")
            if startup is not None and startup.passed is not True:
                return False
            readiness = self.probes.get("readiness")
            return readiness is None or readiness.passed is True

    def started(self) -> bool:
        with self.lock:
            startup = self.probes.get("startup")
            return startup is None or startup.passed is True

    def why_not_ready(self) -> str:
        with self.lock:
            for kind in ("startup", "readiness"):
                state = self.probes.get(kind)
                if state is not None and state.passed is not True:
                    return f"{kind.capitalize()} probe failed: {state.last_detail}" if state.last_detail else f"{kind} probe not yet passed"
        return ""

    def due(self, now: float) -> list[ProbeState]:
        with self.lock:
            startup = self.probes.get("startup")
            if startup is not None and startup.passed is not True:
                candidates = [startup]
            else:
                candidates = [state for kind, state in self.probes.items() if kind != "startup"]
            return [state for state in candidates if state.next_try <= now]

    def tick(self) -> None:
        """Try every probe that is due now, once."""
        now = time.monotonic()
        for state in self.due(now):
            result = self.probe(state.spec, self.pod_ip, self.container, self.network_namespace)
            with self.lock:
                if self.probes.get(state.kind) is not state:
                    continue  # the container restarted meanwhile
                state.record(result, time.monotonic())
                failed = state.kind in ("startup", "liveness") and state.passed is False
            if failed:
                self.restart(f"{state.kind.capitalize()} probe failed: {result.detail}")

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            try:
                self.tick()
            except Exception:  # a probe must never end the prober
                pass

    def start(self) -> "ContainerProber":
        if self.probes and self.thread is None:
            self.thread = threading.Thread(target=self.run, name=f"probe-{self.container.get('name')}", daemon=True)
            self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
