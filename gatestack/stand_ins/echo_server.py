"""A local stand-in for the seed's echo backend (Gateway API conformance ``echo-basic``).

It answers every request with the JSON the real image prints (same keys, order and layout):
``path`` (the raw request target), ``host``, ``method``, ``proto``, ``headers`` (canonical
header name as Go prints it, e.g. ``Added-Header``, to the list of values, ``Host`` excluded),
``namespace``, ``ingress``, ``service``, ``pod``. Like the image, the last four come from the
container's environment variables ``NAMESPACE``, ``INGRESS_NAME``, ``SERVICE_NAME`` and
``POD_NAME``; they are resolved from the Deployment the Service selects, so the seed (which only
sets ``POD_NAME`` and ``NAMESPACE``) shows ``"ingress": ""`` and ``"service": ""`` exactly as the
guide's sample output does. ``/health`` answers ``OK`` and ``/status/<code>`` answers that code,
as the image does.

Pod names are deterministic stand-ins for ``<deployment>-<pod-template-hash>-<suffix>``: the hash
is derived from the pod template, the suffix from the namespace, name and replica index.

Beyond the image, a request can tell the stand-in to misbehave, so that `verify` can prove a
gateway's retries, timeouts and health checks on the real data plane:

- ``X-Echo-Fail: <key>;<times>;<503|reset>``: the first ``<times>`` requests carrying ``<key>``,
  counted over every echo server of the process (a retry may reach another backend), answer 503
  or reset the connection without an answer; later ones answer normally.
- ``X-Echo-Delay: <milliseconds>``: wait that long before answering.
- ``X-Echo-Health-Checks: report``: the JSON gains ``healthChecks``, the health-check requests
  (``User-Agent: Envoy/HC``) this server has seen, as ``{"<method> <host><path>": count}``.
- ``X-Echo-Health-Fail: <deployment>;<milliseconds>;<reset|status>``: for that long, every echo
  server of the process answering for ``<deployment>`` fails the gateway's health checks, by
  resetting the connection (a network failure, which Envoy counts against ``unhealthyThreshold``)
  or answering the status (which Envoy takes as unhealthy at once); then they pass again.
- ``X-Echo-Mark: <token>``: the request is counted under ``<token>`` for the Deployment this server
  answers for, over every echo server of the process (so copies a gateway mirrors to another
  backend are counted too); ``X-Echo-Marks: <token>`` adds ``marks``, ``{"<deployment>": count}``,
  to the JSON.

Servers bind only to loopback addresses (the network rule: nothing leaves this machine).
Standard library only; one thread per connection.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import json
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gatestack.network_addresses import is_cluster_address

# Kubernetes' alphabet for generated name parts (no vowels, no confusable characters).
KUBERNETES_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
POD_TEMPLATE_HASH_LENGTH = 10
POD_SUFFIX_LENGTH = 5

# Characters Go's textproto accepts in a header name; other names are left exactly as received.
HEADER_TOKEN_PATTERN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
STATUS_PATH_PATTERN = re.compile(r"^/status/(\d\d\d)$")
FAIL_HEADER = "X-Echo-Fail"
DELAY_HEADER = "X-Echo-Delay"
HEALTH_CHECK_REPORT_HEADER = "X-Echo-Health-Checks"
HEALTH_CHECK_USER_AGENT = "Envoy/HC"
HEALTH_FAIL_HEADER = "X-Echo-Health-Fail"
MAX_DELAY_MILLISECONDS = 120_000


class FailureBudget:
    """How many more requests of each key must fail, shared by every echo server of the process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.remaining: dict[str, int] = {}
        self.started: set[str] = set()

    def should_fail(self, key: str, times: int) -> bool:
        with self.lock:
            if key not in self.started:
                self.started.add(key)
                self.remaining[key] = times
            if self.remaining[key] > 0:
                self.remaining[key] -= 1
                return True
            return False


FAILURES = FailureBudget()


class HealthFailures:
    """Deployments whose servers fail health checks until a (monotonic) time, and how; shared
    by every echo server of the process, so any request through the gateway can set it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failing: dict[str, tuple[float, str]] = {}

    def fail(self, deployment: str, seconds: float, how: str) -> None:
        with self.lock:
            self.failing[deployment] = (time.monotonic() + seconds, how)

    def failure_for(self, deployment: str) -> str | None:
        """'reset', a status code, or None when the deployment's health checks pass now."""
        with self.lock:
            until, how = self.failing.get(deployment, (0.0, ""))
            return how if time.monotonic() < until else None


HEALTH_FAILURES = HealthFailures()


def parse_health_failure(value: str) -> tuple[str, int, str] | None:
    """``deployment;milliseconds;reset|<status>`` -> (deployment, milliseconds, how), or None."""
    parts = [part.strip() for part in value.split(";")]
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        return None
    if parts[2] != "reset" and not (parts[2].isdigit() and 200 <= int(parts[2]) <= 599):
        return None
    return parts[0], min(int(parts[1]), MAX_DELAY_MILLISECONDS), parts[2]
MARK_HEADER = "X-Echo-Mark"
MARKS_REPORT_HEADER = "X-Echo-Marks"


class MarkCounter:
    """Marked requests by token and Deployment, shared by every echo server of the process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {}

    def count(self, token: str, deployment: str) -> None:
        with self.lock:
            by_deployment = self.counts.setdefault(token, {})
            by_deployment[deployment] = by_deployment.get(deployment, 0) + 1

    def report(self, token: str) -> dict[str, int]:
        with self.lock:
            return dict(self.counts.get(token, {}))


MARKS = MarkCounter()


def parse_failure(value: str) -> tuple[str, int, str] | None:
    """``key;times;503|reset`` -> (key, times, how), or None when it is not that form."""
    parts = [part.strip() for part in value.split(";")]
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or parts[2] not in ("503", "reset"):
        return None
    return parts[0], int(parts[1]), parts[2]


@dataclass(frozen=True)
class EchoContext:
    """Where the echoed request landed, as the image reports it from its environment."""

    namespace: str = ""
    ingress: str = ""
    service: str = ""
    pods: tuple[str, ...] = ("",)


def canonical_header_name(name: str) -> str:
    """Header name as Go's ``textproto.CanonicalMIMEHeaderKey`` prints it (``x-forwarded-proto`` -> ``X-Forwarded-Proto``)."""
    if not HEADER_TOKEN_PATTERN.match(name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def encode_safely(digest: bytes, length: int) -> str:
    """``length`` characters of Kubernetes' safe alphabet drawn from ``digest``."""
    return "".join(KUBERNETES_SAFE_ALPHABET[byte % len(KUBERNETES_SAFE_ALPHABET)] for byte in digest[:length])


def pod_names_for_deployment(deployment: dict) -> tuple[str, ...]:
    """Deterministic pod names, one per replica (``spec.replicas``, default 1), for a Deployment."""
    metadata = deployment.get("metadata", {})
    name = metadata.get("name", "")
    namespace = metadata.get("namespace", "default")
    template = deployment.get("spec", {}).get("template", {})
    template_digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    template_hash = encode_safely(template_digest, POD_TEMPLATE_HASH_LENGTH)
    replicas = deployment.get("spec", {}).get("replicas", 1)
    names = []
    for index in range(replicas):
        suffix_digest = hashlib.sha256(f"{namespace}/{name}/{template_hash}/{index}".encode()).digest()
        names.append(f"{name}-{template_hash}-{encode_safely(suffix_digest, POD_SUFFIX_LENGTH)}")
    return tuple(names)


def container_environment(
    container: dict, namespace: str, pod_name: str, pod_fields: dict[str, str] | None = None
) -> dict[str, str]:
    """A container's environment as the kubelet would set it, for literal values and the
    downward API fields (name and namespace, plus any `pod_fields` such as `status.podIP`)."""
    downward_api = {"metadata.name": pod_name, "metadata.namespace": namespace, **(pod_fields or {})}
    environment = {}
    for variable in container.get("env") or []:
        if "value" in variable:
            environment[variable["name"]] = str(variable["value"])
        else:
            field_path = ((variable.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if field_path in downward_api:
                environment[variable["name"]] = downward_api[field_path]
            elif field_path and field_path.startswith(("metadata.labels[", "metadata.annotations[")):
                environment[variable["name"]] = ""  # the kubelet's value for a label or annotation the pod lacks
    return environment


def echo_context_for_deployment(deployment: dict) -> EchoContext:
    """The echo image's context for a Deployment's pods (first container's environment)."""
    namespace = deployment.get("metadata", {}).get("namespace", "default")
    pods = pod_names_for_deployment(deployment)
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    environments = [container_environment(containers[0], namespace, pod) for pod in pods]
    first = environments[0] if environments else {}
    return EchoContext(
        namespace=first.get("NAMESPACE", ""),
        ingress=first.get("INGRESS_NAME", ""),
        service=first.get("SERVICE_NAME", ""),
        pods=tuple(environment.get("POD_NAME", "") for environment in environments),
    )


def deployment_selected_by_service(service: dict, objects: list[dict]) -> dict | None:
    """The Deployment in the Service's namespace whose pod labels match its selector (first by name), if any."""
    selector = service.get("spec", {}).get("selector") or {}
    if not selector:
        return None
    namespace = service.get("metadata", {}).get("namespace", "default")
    candidates = [
        manifest
        for manifest in objects
        if manifest.get("kind") == "Deployment"
        and manifest.get("metadata", {}).get("namespace", "default") == namespace
        and selector.items()
        <= (manifest.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}).items()
    ]
    candidates.sort(key=lambda manifest: manifest["metadata"]["name"])
    return candidates[0] if candidates else None


def go_json(value: object) -> str:
    """JSON the way Go's ``json.MarshalIndent(v, "", " ")`` writes it (HTML characters escaped)."""
    text = json.dumps(value, indent=1, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def require_loopback(address: str, allow_cluster_address: bool = False) -> None:
    """Raise ValueError unless ``address`` is in 127.0.0.0/8 (or ::1), or, with
    ``allow_cluster_address``, a pod or load-balancer address of the local cluster (those
    exist only on ``lo`` inside the cluster's own network namespace)."""
    if ipaddress.ip_address(address).is_loopback:
        return
    if allow_cluster_address:
        if is_cluster_address(address):
            return
    raise ValueError(f"the echo server may only listen on a loopback address, not {address}")


class EchoRequestHandler(BaseHTTPRequestHandler):
    """Answers like echo-basic; the context comes from the server it is attached to."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Go's server; Envoy reuses upstream connections
    disable_nagle_algorithm = True  # headers and body are separate writes; Nagle would delay each answer ~40 ms
    server: "EchoHTTPServer"

    def log_message(self, format: str, *arguments: object) -> None:  # noqa: A002 - signature is the base class's
        pass  # quiet: tests count requests through the server instead

    def send_plain_response(self, code: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        # send_response_only skips the Server header Python adds but Go does not send.
        self.send_response_only(code)
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def handle_any_method(self) -> None:
        self.read_body()
        if self.headers.get("User-Agent", "").startswith(HEALTH_CHECK_USER_AGENT):
            self.server.record_health_check(f"{self.command} {self.headers.get('Host', '')}{self.path}")
        else:
            self.server.count_request()  # requests the gateway forwarded, not its own health checks
        if self.headers.get(MARK_HEADER):
            MARKS.count(self.headers[MARK_HEADER], self.server.deployment)
        health_failure = parse_health_failure(self.headers.get(HEALTH_FAIL_HEADER, ""))
        if health_failure is not None:
            HEALTH_FAILURES.fail(health_failure[0], health_failure[1] / 1000, health_failure[2])
        if self.headers.get("User-Agent", "").startswith(HEALTH_CHECK_USER_AGENT) and not self.pass_health_check():
            return
        if not self.obey_instructions():
            return
        path_only = self.path.split("?", 1)[0]
        if path_only == "/health":
            self.send_plain_response(200, b"OK", [])
            return
        if path_only.startswith("/status/"):
            match = STATUS_PATH_PATTERN.match(self.path)
            self.send_plain_response(int(match.group(1)) if match else 400, b"", [])
            return
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            canonical = canonical_header_name(name)
            if canonical == "Host":
                continue  # Go moves Host out of the header map into the request's host
            headers.setdefault(canonical, []).append(value)
        context = self.server.context
        document = {
            "path": self.path,
            "host": self.headers.get("Host", ""),
            "method": self.command,
            "proto": self.request_version,
            "headers": dict(sorted(headers.items())),
            "namespace": context.namespace,
            "ingress": context.ingress,
            "service": context.service,
            "pod": self.server.next_pod(),
        }
        if self.headers.get(HEALTH_CHECK_REPORT_HEADER) == "report":
            document["healthChecks"] = self.server.health_checks_seen()
        if self.headers.get(MARKS_REPORT_HEADER):
            document["marks"] = MARKS.report(self.headers[MARKS_REPORT_HEADER])
        response_headers = [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
        for header_list in headers.get("X-Echo-Set-Header", []):
            for pair in header_list.split(","):
                name, _, value = pair.strip().partition(":")
                response_headers.append((name, value.strip()))
        self.send_plain_response(200, go_json(document).encode(), response_headers)

    def pass_health_check(self) -> bool:
        """Fail a health check as X-Echo-Health-Fail asked; False when it was failed already."""
        how = HEALTH_FAILURES.failure_for(self.server.deployment)
        if how is None:
            return True
        if how == "reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.send_plain_response(int(how), b"failing health checks as asked", [("Content-Type", "text/plain")])
        return False

    def obey_instructions(self) -> bool:
        """Fail or wait as the request asks (module docstring); False when it was answered already."""
        failure = parse_failure(self.headers.get(FAIL_HEADER, ""))
        if failure is not None and FAILURES.should_fail(failure[0], failure[1]):
            if failure[2] == "reset":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self.send_plain_response(503, b"failing as asked", [("Content-Type", "text/plain")])
            return False
        delay = self.headers.get(DELAY_HEADER, "")
        if delay.isdigit():
            time.sleep(min(int(delay), MAX_DELAY_MILLISECONDS) / 1000)
        return True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any_method


class EchoHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the echo context and a request counter."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, port: int, context: EchoContext, allow_cluster_address: bool = False):
        require_loopback(address, allow_cluster_address)
        super().__init__((address, port), EchoRequestHandler)
        self.context = context
        self.lock = threading.Lock()
        self.requests_served = 0
        self.health_checks: dict[str, int] = {}
        # `<deployment>-<hash>-<suffix>` pods: the Deployment this server answers for.
        self.deployment = (context.pods[0].rsplit("-", 2)[0] if context.pods and context.pods[0].count("-") >= 2 else "")
        self.pod_cycle = itertools.cycle(context.pods or ("",))

    def server_bind(self) -> None:
        # http.server's own server_bind looks the address up in DNS (socket.getfqdn) only to
        # fill in server_name: 75 ms per loopback address here, and an echo server never
        # uses the name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def count_request(self) -> None:
        with self.lock:
            self.requests_served += 1

    def record_health_check(self, request: str) -> None:
        with self.lock:
            self.health_checks[request] = self.health_checks.get(request, 0) + 1

    def health_checks_seen(self) -> dict[str, int]:
        with self.lock:
            return dict(self.health_checks)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client (Envoy) that gave up on a delayed answer, or a connection reset as asked:
        # expected here, not worth a traceback on stderr.
        pass

    def next_pod(self) -> str:
        # Replicas behind one Service take turns, as kube-proxy would spread connections.
        with self.lock:
            return next(self.pod_cycle)


@dataclass
class EchoServer:
    """One echo backend listening on ``address:port`` (loopback only) in a background thread.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    address: str
    port: int
    context: EchoContext = field(default_factory=EchoContext)
    # Pod addresses of the local cluster (gatestack.cluster), not only 127.0.0.0/8.
    allow_cluster_address: bool = False
    http_server: EchoHTTPServer | None = field(default=None, init=False, repr=False)
    thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self) -> "EchoServer":
        self.http_server = EchoHTTPServer(self.address, self.port, self.context, self.allow_cluster_address)
        self.port = self.http_server.server_address[1]  # resolves port 0 to the one chosen
        self.thread = threading.Thread(
            target=self.http_server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"echo-{self.address}:{self.port}",
            daemon=True,
        )
        self.thread.start()
        return self

    @property
    def requests_served(self) -> int:
        return self.http_server.requests_served if self.http_server else 0

    def stop(self) -> None:
        if self.http_server is not None:
            self.http_server.shutdown()
            self.http_server.server_close()
            self.http_server = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    def __enter__(self) -> "EchoServer":
        return self.start()

    @staticmethod
    def stop_all(servers: list["EchoServer"]) -> None:
        """Stop several servers at once: each takes up to its poll interval (0.1 s) to notice,
        which one after another adds up to seconds for a stack with many backends."""
        stoppers = [threading.Thread(target=server.stop) for server in servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def __exit__(self, *exception_information: object) -> None:
        self.stop()
