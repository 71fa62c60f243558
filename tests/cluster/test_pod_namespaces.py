"""Specification: the local cluster runs pods as a kubelet would, with the real Pulumi engine.

- every pod has a network namespace of its own (made with the CNI plugins), so a backend may
  listen on any port, those Envoy Gateway's controller holds in the cluster's namespace too,
  and a listener may use one of them;
- a container is Ready only when its own probes pass: a backend whose stand-in cannot start
  is reported (CrashLoopBackOff, with why) while `pulumi up` waits for it, and a pod failing
  its readiness probe gets no traffic from its Service;
- `ip netns` shows one namespace per pod (and the load balancer's) while the cluster runs and
  none after `cluster down`,
  and the machine's own interfaces and routes are what they were.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import yaml

from gatestack.cluster import netns
from gatestack.cluster.binaries import cluster_binaries, kubectl_binary
from gatestack.cluster.layout import LOAD_BALANCER_SANDBOX, NODE_NAME, ClusterLayout
from gatestack.cluster.lifecycle import down, inside_command, inside_environment, up
from gatestack.engine.deploy import pulumi_for
from gateway_config.models import SEED_ECHO_IMAGE
from tests.cluster.cluster_support import kubectl, kubectl_json
from tests.cluster.test_node_agent import host_network
from tests.cluster.test_real_engine import verify

# The ports Envoy Gateway's controller listens on in the cluster's namespace.
CONTROLLER_HELD_PORTS = [8080, 8081, 9443, 18000, 19001]
FAULT_IMAGE = "registry.gatestack.invalid/echo:v1"
REPORT_TIMEOUT_SECONDS = 240


def collect_lines(process: subprocess.Popen, lines: list[str]) -> None:
    """Append the process's output lines to `lines` as they come (on a thread of its own)."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


def small_stack(namespace: str, listener_port: int, backends: list[dict]) -> dict:
    """A stack of its own (namespace, class, Gateway), one route per backend by host name."""
    return {
        "config": {
            "api-gateway:namespace": namespace,
            "api-gateway:createNamespace": True,
            "api-gateway:gatewayClass": {"name": f"eg-{namespace}"},
            "api-gateway:gateway": {
                "name": f"{namespace}-gateway",
                "programmedTimeoutSeconds": 180,
                "listeners": [{"name": "http", "protocol": "HTTP", "port": listener_port}],
            },
            "api-gateway:backends": backends,
            "api-gateway:routes": [
                {"name": backend["name"], "hostnames": [f"{backend['name']}.example.com"],
                 "rules": [{"backendRefs": [{"name": backend["name"]}]}]}
                for backend in backends
            ],
        }
    }


def pods_on_the_node(cluster) -> list[dict]:
    return [
        pod for pod in kubectl_json(cluster, "get", "pods", "-A")["items"]
        if pod["spec"].get("nodeName") == NODE_NAME and pod["status"].get("podIP") and pod["status"].get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
    ]


def pod_namespaces(layout: ClusterLayout) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split()[0] for line in listed.splitlines() if line.split()[0].startswith(f"{layout.network_namespace}-"))


def wait_for_namespaces_to_match_pods(cluster, timeout: float = 60) -> tuple[list[str], list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        expected = sorted([cluster.pod_network_namespace(pod["metadata"]["uid"]) for pod in pods_on_the_node(cluster)]
                          + [cluster.pod_network_namespace(LOAD_BALANCER_SANDBOX)])
        found = pod_namespaces(cluster)
        if found == expected or time.monotonic() > deadline:
            return expected, found
        time.sleep(0.5)


def test_backends_and_a_listener_on_the_controllers_ports_come_up_and_verify_passes(cluster, engine_binaries, tmp_path: Path) -> None:
    # GIVEN a stack whose backends listen on 8080, 8081, 9443, 18000 and 19001, its listener on 8080
    backends = [{"name": f"port-{port}", "port": port} for port in CONTROLLER_HELD_PORTS]
    document = small_stack("ports", 8080, backends)
    stack_file = tmp_path / "Pulumi.ports.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    pulumi = pulumi_for(cluster, "ports", engine_binaries, stack_file.read_text())
    pulumi.select_stack("ports")
    # WHEN it is deployed with the real engine
    pulumi.up("ports")
    try:
        outputs = pulumi.outputs("ports")
        # THEN verify passes through the proxy, each backend answering on its own port
        result = verify(cluster, str(stack_file), outputs["GATEWAY_HOST"], None, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        for pod in kubectl_json(cluster, "get", "pods", "-n", "ports")["items"]:
            assert all(condition["status"] == "True" for condition in pod["status"]["conditions"] if condition["type"] == "Ready")
        # AND `ip netns` shows exactly one namespace per pod of the node (and the load balancer's)
        expected, found = wait_for_namespaces_to_match_pods(cluster)
        assert found == expected
    finally:
        pulumi.destroy("ports")


def test_a_backend_that_cannot_start_is_reported_by_pulumi_up_and_never_ready(cluster, engine_binaries) -> None:
    # GIVEN a stack whose backend's stand-in cannot start (the deliberate fault: an image of a
    # .invalid registry, which never resolves)
    document = small_stack("fault", 8000, [{"name": "broken", "image": FAULT_IMAGE}])
    pulumi = pulumi_for(cluster, "fault", engine_binaries, yaml.safe_dump(document, sort_keys=False))
    pulumi.select_stack("fault")
    command = pulumi.wrap([str(pulumi.layout.bin / "pulumi"), "up", "--stack", "fault", "--yes", "--skip-preview", "--non-interactive"])
    # WHEN pulumi up runs (it waits for the backend's Deployment)
    process = subprocess.Popen(command, cwd=pulumi.workspace, env=pulumi.environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    printed: list[str] = []
    try:
        threading.Thread(target=collect_lines, args=(process, printed), daemon=True).start()
        deadline = time.monotonic() + REPORT_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            text = "".join(list(printed))
            if "CrashLoopBackOff" in text and "never resolves" in text:
                break
            time.sleep(0.5)
        # THEN it reports the pod's reason while waiting, instead of finishing (and a 404 later)
        output = "".join(printed)
        assert "CrashLoopBackOff" in output and "registry.gatestack.invalid" in output, output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    # AND the pod is not Ready, its status saying why
    pods = kubectl_json(cluster, "get", "pods", "-n", "fault", "-l", "app=broken")["items"] or \
        [pod for pod in kubectl_json(cluster, "get", "pods", "-n", "fault")["items"] if pod["metadata"]["name"].startswith("broken-")]
    assert pods
    status = pods[0]["status"]
    assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["False"]
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff" and "never resolves" in waiting["message"]
    kubectl(cluster, "delete", "namespace", "fault", "--wait=false", check=False)
    kubectl(cluster, "delete", "gatewayclass", "eg-fault", "--wait=false", check=False)


def apply(cluster: ClusterLayout, objects: list[dict]) -> None:
    manifest = "\n---\n".join(json.dumps(item) for item in objects)
    applied = subprocess.run(
        inside_command(cluster, [str(kubectl_binary()), "apply", "-f", "-"]),
        input=manifest, capture_output=True, text=True, env=inside_environment(cluster),
    )
    assert applied.returncode == 0, applied.stderr


def readiness_objects() -> list[dict]:
    """Two Deployments behind one LoadBalancer Service: `healthy` probes /health, `failing`
    probes /status/503 (the echo answers 503 there: its health path fails)."""
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "probes"}}]
    for name, path in (("healthy", "/health"), ("failing", "/status/503")):
        objects.append({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "probes"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "probe-demo", "variant": name}},
                     "template": {"metadata": {"labels": {"app": "probe-demo", "variant": name}},
                                  "spec": {"containers": [{
                                      "name": "echo", "image": SEED_ECHO_IMAGE, "ports": [{"containerPort": 3000}],
                                      "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                                      "readinessProbe": {"httpGet": {"path": path, "port": 3000}, "periodSeconds": 1, "failureThreshold": 1},
                                  }]}}},
        })
    objects.append({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe-demo", "namespace": "probes"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "probe-demo"}, "ports": [{"name": "http", "port": 80, "targetPort": 3000}]},
    })
    return objects


def test_a_pod_failing_its_readiness_probe_gets_no_traffic_from_its_service(cluster) -> None:
    # GIVEN one healthy pod and one whose readiness probe fails, behind one Service
    apply(cluster, readiness_objects())
    try:
        deadline = time.monotonic() + 120
        address, endpoints = "", []
        while time.monotonic() < deadline:
            service = kubectl_json(cluster, "get", "service", "-n", "probes", "probe-demo")
            address = ((service["status"].get("loadBalancer") or {}).get("ingress") or [{}])[0].get("ip", "")
            slices = kubectl_json(cluster, "get", "endpointslices", "-n", "probes", "-l", "kubernetes.io/service-name=probe-demo")["items"]
            endpoints = [(e.get("targetRef", {}).get("name", ""), e.get("conditions", {}).get("ready")) for s in slices for e in s.get("endpoints") or []]
            if address and len(endpoints) == 2 and any(ready for _, ready in endpoints):
                break
            time.sleep(0.5)
        # THEN the EndpointSlice has the failing pod not ready, the healthy one ready
        assert sorted((name.split("-")[0], ready) for name, ready in endpoints) == [("failing", False), ("healthy", True)], endpoints
        failing = [p for p in kubectl_json(cluster, "get", "pods", "-n", "probes", "-l", "variant=failing")["items"]][0]
        ready = [c for c in failing["status"]["conditions"] if c["type"] == "Ready"][0]
        assert ready["status"] == "False" and "echo" in ready.get("message", "")
        # AND every request through the Service's load balancer reaches the healthy pod
        program = (
            "import json, urllib.request\n"
            f"print(json.dumps([json.loads(urllib.request.urlopen('http://{address}:80/', timeout=5).read())['pod'] for _ in range(20)]))"
        )
        answered = subprocess.run(inside_command(cluster, ["python3", "-c", program]), capture_output=True, text=True, timeout=120)
        assert answered.returncode == 0, answered.stderr
        assert {pod.split("-")[0] for pod in json.loads(answered.stdout)} == {"healthy"}
    finally:
        kubectl(cluster, "delete", "namespace", "probes", "--wait=false", check=False)


def test_cluster_down_leaves_no_namespace_and_the_machines_network_as_it_was(tmp_path: Path) -> None:
    # GIVEN a cluster of its own with one pod running
    before = host_network()
    layout = ClusterLayout(tmp_path / "cluster")
    try:
        up(layout, cluster_binaries, print)
        apply(layout, readiness_objects()[:2])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(pod_namespaces(layout)) < 2:
            time.sleep(0.5)
        pod_uid = kubectl_json(layout, "get", "pods", "-n", "probes")["items"][0]["metadata"]["uid"]
        assert pod_namespaces(layout) == sorted([layout.pod_network_namespace(pod_uid), layout.pod_network_namespace(LOAD_BALANCER_SANDBOX)])
        assert netns.exists(layout.network_namespace)
    finally:
        # WHEN it is taken down
        down(layout, print)
    # THEN no namespace of it remains, and the machine's interfaces and routes are unchanged
    assert pod_namespaces(layout) == [] and not netns.exists(layout.network_namespace)
    assert host_network() == before
