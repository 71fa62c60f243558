"""Specification: the containers of a deleted pod are stopped as the kubelet stops them, each
after its `lifecycle.preStop` handler returned, all at once, within the pod's grace period
(gatestack/cluster/containers.py `terminate_containers`), which is what lets Envoy Gateway's
proxies drain (tests/cluster/test_controller_upgrade.py shows it end to end).

No cluster: the handler is an `httpGet` to a server of this test on 127.0.0.1 (the pod's
address here), and the containers' runtimes record when they were stopped."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gatestack.cluster.container_probes import ContainerProber
from gatestack.cluster.containers import ContainerRun, ContainerRuntime, terminate_containers

HANDLER_SECONDS = 0.5


class RecordingRuntime(ContainerRuntime):
    def __init__(self) -> None:
        self.stopped_at: float | None = None

    def start(self) -> None:
        pass

    def alive(self) -> bool:
        return self.stopped_at is None

    def stop(self) -> None:
        self.stopped_at = self.stopped_at or time.monotonic()


@pytest.fixture
def shutdown_ready_server():
    """A `/shutdown/ready` that answers after HANDLER_SECONDS, as the shutdown-manager's does once drained."""
    asked: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(time.monotonic())
            time.sleep(HANDLER_SECONDS)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *arguments) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked
    finally:
        server.shutdown()
        server.server_close()


def container(spec: dict) -> tuple[ContainerRun, RecordingRuntime]:
    runtime = RecordingRuntime()
    run = ContainerRun(spec, runtime, ContainerProber(spec, "127.0.0.1", "unused", lambda reason: None), "127.0.0.1")
    run.running = True
    return run, runtime


def test_a_container_is_stopped_only_after_its_pre_stop_handler_returned(shutdown_ready_server) -> None:
    port, asked = shutdown_ready_server
    # GIVEN Envoy Gateway's envoy container: preStop httpGet /shutdown/ready, and a sidecar without a handler
    envoy, envoy_runtime = container({"name": "envoy", "lifecycle": {"preStop": {"httpGet": {"path": "/shutdown/ready", "port": port}}}})
    sidecar, sidecar_runtime = container({"name": "sidecar"})
    lines: list[str] = []
    # WHEN the pod is deleted
    started = time.monotonic()
    terminate_containers([envoy, sidecar], "unused", 30, lines.append)
    # THEN the handler was asked at once, and the envoy container stopped once it answered
    assert len(asked) == 1 and asked[0] - started < HANDLER_SECONDS
    assert envoy_runtime.stopped_at is not None and envoy_runtime.stopped_at - started >= HANDLER_SECONDS
    # AND the one without a handler was stopped at once, not after the other's handler
    assert sidecar_runtime.stopped_at is not None and sidecar_runtime.stopped_at - started < HANDLER_SECONDS
    assert [line for line in lines if line.startswith("container envoy: preStop handler returned after")], lines


def test_a_handler_that_does_not_return_is_cut_at_the_grace_period() -> None:
    # GIVEN a handler whose server never answers (a port nothing listens on fails at once, so
    # a listening socket that never accepts stands for it)
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    try:
        run, runtime = container({"name": "envoy", "lifecycle": {"preStop": {"httpGet": {"path": "/", "port": silent.getsockname()[1]}}}})
        started = time.monotonic()
        # WHEN the pod's grace period is 1 s
        terminate_containers([run], "unused", 1, lambda line: None)
        # THEN the container is stopped after about that long
        assert runtime.stopped_at is not None and 0.9 <= runtime.stopped_at - started < 5
    finally:
        silent.close()
