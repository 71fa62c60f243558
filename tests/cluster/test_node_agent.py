"""Specification: the node agent runs each pod in a network namespace of its own, made with the
real CNI plugins, and reports a pod Ready only when its containers are.

The agent runs against a stand-in for the API server (the pods it lists, the statuses it
writes) inside a cluster namespace this test makes and removes; no interface or route of the
machine's own namespace is made or changed.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable

import pytest
import yaml

from gatestack.cluster import netns
from gatestack.cluster.envoy_gateway_pod import SERVICE_ACCOUNT_DIRECTORY
from gatestack.cluster.layout import ClusterLayout, NODE_NAME
from gatestack.cluster.pki import ClusterPki
from gatestack.cluster.node_agent import NodeAgent, unrunnable_image_reason
from gatestack.cluster.pod_network import remove_all_pod_namespaces
from gatestack.toolchain.cluster_builds import CNI_PLUGINS_DIRECTORY, ensure_cni_plugins

# Ports Envoy Gateway's controller holds in the cluster's namespace: a pod may use them all.
CONTROLLER_HELD_PORTS = [8080, 8081, 9443, 18000, 19001]


class ApiStandIn:
    """What the node agent reads from and writes to the API server."""

    def __init__(self) -> None:
        self.listed: list[dict] = []
        self.statuses: dict[str, dict] = {}

    def pods(self) -> list[dict]:
        return self.listed

    def set_pod_ip(self, namespace: str, name: str, ip: str) -> None:
        pod = next(item for item in self.listed if item["metadata"]["name"] == name)
        pod["status"].update(podIP=ip, podIPs=[{"ip": ip}])

    def set_pod_status(self, namespace: str, name: str, conditions: list[dict], container_statuses: list[dict], phase: str | None = None) -> None:
        self.statuses[f"{namespace}/{name}"] = {"conditions": conditions, "containerStatuses": container_statuses}
        if phase is not None:
            self.statuses[f"{namespace}/{name}"]["phase"] = phase
            next(item for item in self.listed if item["metadata"]["name"] == name)["status"]["phase"] = phase

    def service_account_token(self, namespace: str, name: str, seconds: int) -> str:
        return f"token-of-{namespace}-{name}"

    def ready(self, name: str) -> bool:
        status = self.statuses.get(f"default/{name}")
        return status is not None and any(item["type"] == "Ready" and item["status"] == "True" for item in status["conditions"])


def pod(name: str, ip: str | None, ports: list[int], image: str = "gcr.io/k8s-staging-gateway-api/echo-basic:v20231214-v1.0.0-140-gf544a46e", **probes: dict) -> dict:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": name}},
        "spec": {"nodeName": NODE_NAME, "containers": [{
            "name": "echo", "image": image, "ports": [{"containerPort": port} for port in ports],
            "env": [{"name": "POD_NAME", "value": name}], **probes,
        }]},
        "status": {"phase": "Running", **({"podIP": ip} if ip else {})},
    }


def host_network() -> tuple[str, str]:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    # a link's counters and flags may change on their own; its index and name may not
    return "\n".join(line.split(":")[0] + ":" + line.split(":")[1] for line in links.splitlines()), routes


@pytest.fixture
def cluster_namespace(tmp_path: Path):
    ensure_cni_plugins()
    before = host_network()
    layout = ClusterLayout(tmp_path / "state")
    layout.pki_directory.mkdir(parents=True)
    ClusterPki(layout.pki_directory).ca_certificate.write_text("the cluster's CA\n")
    netns.create(layout.network_namespace)
    api = ApiStandIn()
    agent = NodeAgent(api, layout, Path("/nonexistent/envoy"), CNI_PLUGINS_DIRECTORY)  # type: ignore[arg-type]
    try:
        yield layout, api, agent
    finally:
        netns.call_inside(layout.network_namespace, agent.stop)
        remove_all_pod_namespaces(layout)
        netns.delete(layout.network_namespace)
        assert host_network() == before, "the machine's own interfaces or routes changed"


def sync_until(layout: ClusterLayout, agent: NodeAgent, condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        netns.call_inside(layout.network_namespace, agent.sync)
        if condition():
            return True
        time.sleep(0.2)
    return False


def answered_by(layout: ClusterLayout, address: str, port: int) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://{address}:{port}/", timeout=3) as response:
            return json.loads(response.read())["pod"]

    return netns.call_inside(layout.network_namespace, get)


def test_each_pod_gets_its_own_namespace_and_binds_any_port_the_controller_also_uses(cluster_namespace) -> None:
    layout, api, agent = cluster_namespace
    # GIVEN two pods declaring the same ports, the ones the controller holds in the cluster's namespace
    api.listed = [pod("web-a", "10.244.0.11", CONTROLLER_HELD_PORTS), pod("web-b", "10.244.0.12", CONTROLLER_HELD_PORTS)]
    # WHEN the node agent runs them, THEN both become Ready and answer on every port at their own address
    assert sync_until(layout, agent, lambda: api.ready("web-a") and api.ready("web-b")), api.statuses
    for port in CONTROLLER_HELD_PORTS:
        assert answered_by(layout, "10.244.0.11", port) == "web-a"
        assert answered_by(layout, "10.244.0.12", port) == "web-b"
    # AND `ip netns` shows one namespace per pod
    pod_namespaces = netns.names_with_prefix(f"{layout.network_namespace}-")
    assert pod_namespaces == sorted(layout.pod_network_namespace(f"uid-web-{x}") for x in "ab")
    # WHEN a pod goes away, THEN its namespace does too
    api.listed = api.listed[:1]
    netns.call_inside(layout.network_namespace, agent.sync)
    assert netns.names_with_prefix(f"{layout.network_namespace}-") == [layout.pod_network_namespace("uid-web-a")]


def test_a_pod_without_an_address_gets_the_one_cni_gives_it_in_its_status(cluster_namespace) -> None:
    layout, api, agent = cluster_namespace
    api.listed = [pod("first", None, [3000]), pod("second", None, [3000])]
    assert sync_until(layout, agent, lambda: api.ready("first") and api.ready("second"))
    addresses = [item["status"]["podIP"] for item in api.listed]
    assert len(set(addresses)) == 2 and all(address.startswith("10.244.") for address in addresses)
    assert [answered_by(layout, address, 3000) for address in addresses] == ["first", "second"]


def test_a_pod_whose_readiness_probe_fails_is_not_ready_and_says_why(cluster_namespace) -> None:
    layout, api, agent = cluster_namespace
    probe = {"httpGet": {"path": "/status/503", "port": 3000}, "periodSeconds": 1, "failureThreshold": 1}
    api.listed = [pod("healthy", "10.244.0.21", [3000]), pod("failing", "10.244.0.22", [3000], readinessProbe=probe)]
    assert sync_until(layout, agent, lambda: api.ready("healthy"))
    time.sleep(2)
    netns.call_inside(layout.network_namespace, agent.sync)
    assert not api.ready("failing")
    status = api.statuses["default/failing"]
    assert status["containerStatuses"][0]["ready"] is False
    assert status["conditions"][0]["message"] == "containers with unready status: [echo]"
    assert "503" in agent.pod_status()["default/failing"]["containers"]["echo"]["message"]


def test_a_container_that_cannot_start_crash_loops_with_the_reason_and_is_never_ready(cluster_namespace) -> None:
    layout, api, agent = cluster_namespace
    api.listed = [pod("broken", "10.244.0.31", [3000], image="registry.gatestack.invalid/echo:v1")]

    def crash_looping() -> bool:
        statuses = (api.statuses.get("default/broken") or {}).get("containerStatuses") or [{}]
        return (statuses[0].get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"

    assert sync_until(layout, agent, crash_looping)
    waiting = api.statuses["default/broken"]["containerStatuses"][0]["state"]["waiting"]
    assert "registry.gatestack.invalid" in waiting["message"] and "never resolves" in waiting["message"]
    assert not api.ready("broken")


def job_pod(name: str, image: str, arguments: list[str]) -> dict:
    """A pod of gateway-helm's certgen Job (templates/certgen.yaml), with `arguments`."""
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": "certgen"},
                     "ownerReferences": [{"kind": "Job", "name": name}]},
        "spec": {"nodeName": NODE_NAME, "restartPolicy": "Never", "serviceAccountName": "eg-gateway-helm-certgen", "containers": [{
            "name": "envoy-gateway-certgen", "image": image, "command": ["envoy-gateway", "certgen"], "args": arguments,
            "env": [{"name": "ENVOY_GATEWAY_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        }]},
        "status": {"phase": "Running", "podIP": "10.244.0.41"},
    }


def phase_of(api: ApiStandIn, name: str) -> str:
    return (api.statuses.get(f"default/{name}") or {}).get("phase", "")


def test_a_job_pods_container_that_exits_0_makes_the_pod_succeeded_and_is_not_restarted(cluster_namespace) -> None:
    layout, api, agent = cluster_namespace
    # GIVEN a certgen pod (restartPolicy Never) whose real envoy-gateway prints its help and exits 0
    api.listed = [job_pod("certgen", "docker.io/envoyproxy/gateway:v1.9.0", ["--help"])]
    # THEN the pod is Succeeded, its container terminated with exit code 0, never restarted
    assert sync_until(layout, agent, lambda: phase_of(api, "certgen") == "Succeeded"), api.statuses
    (status,) = api.statuses["default/certgen"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == 0 and status["state"]["terminated"]["reason"] == "Completed", status
    assert status["restartCount"] == 0
    assert "certgen" in (layout.pods_directory / "default_certgen" / "envoy-gateway-certgen.log").read_text()
    # AND it ran chrooted with its ServiceAccount's credentials where in-cluster config reads them
    credentials = layout.pods_directory / "default_certgen" / "root" / "envoy-gateway-certgen" / SERVICE_ACCOUNT_DIRECTORY
    assert (credentials / "token").read_text() == "token-of-default-eg-gateway-helm-certgen"
    assert (credentials / "ca.crt").read_text() == "the cluster's CA\n" and (credentials / "namespace").read_text() == "default"
    # AND once no longer Running, the pod's namespace is removed
    netns.call_inside(layout.network_namespace, agent.sync)
    assert netns.names_with_prefix(f"{layout.network_namespace}-") == []


def test_a_job_pods_container_that_fails_makes_the_pod_failed(cluster_namespace) -> None:
    layout, api, agent = cluster_namespace
    # GIVEN certgen pods whose container exits 1 (an unknown flag), or cannot start (a tag not built)
    api.listed = [job_pod("bad-flag", "docker.io/envoyproxy/gateway:v1.9.0", ["--no-such-flag"]),
                  job_pod("not-built", "docker.io/envoyproxy/gateway:v0.0.0-not-built", [])]
    api.listed[1]["status"]["podIP"] = "10.244.0.42"
    # THEN both pods are Failed, with the reason, and neither container was restarted
    assert sync_until(layout, agent, lambda: phase_of(api, "bad-flag") == "Failed" and phase_of(api, "not-built") == "Failed"), api.statuses
    (exited,) = api.statuses["default/bad-flag"]["containerStatuses"]
    assert exited["state"]["terminated"]["exitCode"] == 1 and exited["restartCount"] == 0, exited
    (unbuilt,) = api.statuses["default/not-built"]["containerStatuses"]
    assert unbuilt["state"]["terminated"]["reason"] == "StartError", unbuilt
    assert "envoy-gateway v0.0.0-not-built has not been built" in unbuilt["state"]["terminated"]["message"]


def test_only_invalid_registries_are_the_deliberate_fault() -> None:
    assert unrunnable_image_reason("registry.gatestack.invalid/echo:v1") is not None
    assert unrunnable_image_reason("gatestack.invalid:5000/echo") is not None
    assert unrunnable_image_reason("gcr.io/k8s-staging-gateway-api/echo-basic:v1") is None
    assert unrunnable_image_reason("echo") is None


def test_kwok_starts_a_pod_not_ready_so_readiness_is_the_node_agents(tmp_path: Path) -> None:
    from gatestack.cluster.control_plane import POD_READY_STAGE, pod_start_stage
    from gatestack.toolchain.cluster_builds import kwok_stage_files

    original = next(path for path in kwok_stage_files() if path.name == POD_READY_STAGE)
    template = yaml.safe_load(pod_start_stage(original, tmp_path).read_text())["spec"]["next"]["statusTemplate"]
    assert 'status: "False"\n  type: Ready\n' in template and 'status: "False"\n  type: ContainersReady\n' in template
    assert "reason: ContainerCreating" in template and "phase: Running" in template and "hostIP:" in template
    assert "podIP" not in template  # the address is CNI's, written by the node agent
    # a kwok whose Stage no longer has the text edited is refused, not silently run Ready
    changed = tmp_path / "changed" / POD_READY_STAGE
    changed.parent.mkdir()
    changed.write_text(original.read_text().replace("type: Ready", "type: Readiness"))
    with pytest.raises(RuntimeError, match="changed"):
        pod_start_stage(changed, tmp_path / "out")


def test_the_cni_plugins_install_is_idempotent_and_a_failure_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    from gatestack.toolchain import cluster_builds as toolchain_cluster
    from gatestack.toolchain.go_build import ToolchainError

    # a machine that has the plugins runs no command
    monkeypatch.setattr(toolchain_cluster.subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    assert ensure_cni_plugins() == CNI_PLUGINS_DIRECTORY
    # one without them and without apt-get is told which package and version to install
    monkeypatch.setattr(toolchain_cluster.shutil, "which", lambda name: None)
    with pytest.raises(ToolchainError, match=r"containernetworking-plugins package \(1\.1\.1\+ds1-3\+b5\)"):
        ensure_cni_plugins(tmp_path)
