"""Specification: the node agent's probes behave as the kubelet's (`gatestack/cluster/container_probes.py`).

Run against an echo server on a loopback address: `/health` answers 200, `/status/<code>`
answers that code.
"""

from __future__ import annotations

import time

import pytest

from gatestack.cluster.container_probes import ContainerProber, ProbeResult, ProbeState, resolve_port, run_probe
from gatestack.stand_ins.echo_server import EchoContext, EchoServer

ADDRESS = "127.0.0.83"


@pytest.fixture(scope="module")
def echo_port():
    server = EchoServer(ADDRESS, 0, EchoContext("ns", "", "svc", ("pod-a",))).start()
    yield server.port
    server.stop()


def container(port: int, **probes: dict) -> dict:
    return {"name": "echo", "ports": [{"name": "http", "containerPort": port}], **probes}


def test_an_http_probe_passes_on_2xx_and_3xx_and_fails_otherwise(echo_port: int) -> None:
    spec = container(echo_port)
    assert run_probe({"httpGet": {"path": "/health", "port": echo_port}}, ADDRESS, spec, "unused").passed
    assert run_probe({"httpGet": {"path": "/status/302", "port": "http"}}, ADDRESS, spec, "unused").passed
    failed = run_probe({"httpGet": {"path": "/status/503", "port": echo_port}}, ADDRESS, spec, "unused")
    assert not failed.passed and "503" in failed.detail


def test_a_probe_naming_an_undeclared_port_fails_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="does not declare"):
        resolve_port("metrics", container(1))
    result = run_probe({"tcpSocket": {"port": "metrics"}}, ADDRESS, container(1), "unused")
    assert not result.passed and "metrics" in result.detail


def test_a_tcp_probe_passes_when_the_port_accepts(echo_port: int) -> None:
    assert run_probe({"tcpSocket": {"port": echo_port}}, ADDRESS, container(echo_port), "unused").passed
    assert not run_probe({"tcpSocket": {"port": 1}}, ADDRESS, container(echo_port), "unused").passed


def test_an_exec_probe_whose_command_this_node_lacks_fails() -> None:
    result = run_probe({"exec": {"command": ["/no/such/health-check"]}}, ADDRESS, container(1), "unused")
    assert not result.passed and "not found" in result.detail


def test_failures_count_once_per_period_and_decide_at_the_threshold() -> None:
    state = ProbeState("readiness", {"periodSeconds": 10, "failureThreshold": 3})
    for second in (0.0, 0.5, 1.0):  # warming up: tried again quickly, counted once
        state.record(ProbeResult(False, "no"), second)
    assert state.failures == 1 and state.passed is None and state.next_try == 1.5
    state.record(ProbeResult(False, "no"), 10.0)
    state.record(ProbeResult(False, "no"), 20.0)
    assert state.passed is False and state.next_try == 30.0
    state.record(ProbeResult(True), 30.0)
    assert state.passed is True


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_readiness_follows_the_readiness_probe(echo_port: int) -> None:
    # GIVEN a container whose readiness probe asks for /health, one whose asks for /status/503
    good = ContainerProber(container(echo_port, readinessProbe={"httpGet": {"path": "/health", "port": echo_port}, "periodSeconds": 1}),
                           ADDRESS, "unused", lambda reason: None).start()
    bad = ContainerProber(container(echo_port, readinessProbe={"httpGet": {"path": "/status/503", "port": echo_port},
                                                               "periodSeconds": 1, "failureThreshold": 1}),
                          ADDRESS, "unused", lambda reason: None).start()
    try:
        # THEN the first becomes ready, the second never does and says why
        assert not bad.ready()
        assert wait_until(good.ready)
        assert wait_until(lambda: "503" in bad.why_not_ready())
        assert not bad.ready()
    finally:
        good.stop()
        bad.stop()


def test_a_failed_liveness_probe_asks_for_a_restart_and_startup_gates_the_others(echo_port: int) -> None:
    restarts: list[str] = []
    prober = ContainerProber(
        container(echo_port,
                  startupProbe={"httpGet": {"path": "/health", "port": echo_port}, "periodSeconds": 1},
                  readinessProbe={"httpGet": {"path": "/health", "port": echo_port}, "periodSeconds": 1},
                  livenessProbe={"httpGet": {"path": "/status/500", "port": echo_port}, "periodSeconds": 1, "failureThreshold": 2}),
        ADDRESS, "unused", restarts.append,
    )
    assert not prober.started() and [state.kind for state in prober.due(time.monotonic())] == ["startup"]
    prober.start()
    try:
        assert wait_until(lambda: bool(restarts), timeout=15)
        assert restarts[0].startswith("Liveness probe failed: HTTP probe failed with statuscode: 500")
        assert prober.started()
    finally:
        prober.stop()
