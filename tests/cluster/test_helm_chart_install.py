"""Specification (real engine, local cluster): `pulumi up` of an EnvoyGatewayController with
`install: true` from the charts `gatestack charts` writes completes, with the chart's pods run
as a kubelet would run them (gatestack/cluster/envoy_gateway_pod.py): the certgen Job's pod runs
`envoy-gateway certgen` to completion, which marks the Job complete and lets the controller's
Chart go on, and the controller's pod runs the real controller with the chart's arguments, its
mounted config and certificates, and its ServiceAccount's credentials, until it is Ready; a
Gateway of its class is Programmed, its proxy configured over xDS by that controller's pod.

The chart's controller runs beside the cluster's managed one (`envoy-gateway-system`), which
every other test deploys against, so the program gives it a controllerName of its own: it acts
on GatewayClasses of that name only and never on the other tests' objects. Which identity the
controller and certgen used is read from the API server's audit log, not from the node agent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from gatestack.cluster.layout import ClusterLayout
from tests.cluster.chart_program import CERTGEN, CRDS, NAMESPACE, PROGRAM, program_engine, state_objects
from tests.cluster.cluster_support import kubectl, kubectl_json

STACK = "charts-up"
CONTROLLER_NAME = "gatestack.dev/chart-install-test"
GATEWAY_CLASS = "chart-install-test"
GATEWAY = "chart-installed"
# The program with a controllerName of its own; without Gateway API's CRDs, which the cluster
# ships (the channel Envoy Gateway's own CRD file has: gateway-crds-helm's default differs in
# BackendTLSPolicy, a server-side apply conflict with the cluster's field manager), as a stack on
# such a platform sets it; and bounds on pulumi-kubernetes' waits (10 min each by default), so
# that a pod that never becomes Ready fails the test in minutes.
PROGRAM_INSTALLED = PROGRAM.replace(
    'chart_repository=config.require("chartRepository")\n)',
    f'''chart_repository=config.require("chartRepository"),
    install_gateway_api_crds=False,
    values={{"config": {{"envoyGateway": {{"gateway": {{"controllerName": "{CONTROLLER_NAME}"}}}}}}}},
)''',
).replace(
    "config = pulumi.Config()\n",
    """config = pulumi.Config()


def bounded_waits(args):
    if args.type_ not in ("kubernetes:batch/v1:Job", "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"):
        return None
    timeouts = pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="4m", update="4m"))
    return pulumi.ResourceTransformResult(args.props, pulumi.ResourceOptions.merge(args.opts, timeouts))


pulumi.runtime.register_resource_transform(bounded_waits)
""",
)
assert CONTROLLER_NAME in PROGRAM_INSTALLED and "install_gateway_api_crds=False" in PROGRAM_INSTALLED and "bounded_waits" in PROGRAM_INSTALLED
PROGRAMMED_TIMEOUT_SECONDS = 150


def state_outputs(pulumi: Any, stack: str, resource_type: str, name: str) -> dict[str, Any]:
    """The live object the engine recorded for `name` of `resource_type` (its outputs)."""
    for item in pulumi.export(stack)["deployment"].get("resources") or []:
        if item["type"] == resource_type and ((item.get("outputs") or {}).get("metadata") or {}).get("name") == name:
            return item["outputs"]
    raise AssertionError(f"no {resource_type} {name} in the state of {stack}")


def audit_events(cluster: ClusterLayout, namespace: str) -> list[dict[str, Any]]:
    """The API server's audit events of requests made by ServiceAccounts of `namespace`."""
    prefix = f"system:serviceaccount:{namespace}:"
    events = [json.loads(line) for line in cluster.audit_log.read_text().splitlines() if line.strip()]
    return [event for event in events if event.get("user", {}).get("username", "").startswith(prefix)]


def condition(item: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((entry for entry in item.get("status", {}).get("conditions") or [] if entry["type"] == kind), {})


def gateway_conditions(cluster: ClusterLayout, folder: Path) -> dict[str, dict[str, Any]]:
    """Apply a GatewayClass of the chart's controllerName and a Gateway of it (one HTTP listener)
    in the chart's namespace; the class's Accepted and the Gateway's Programmed conditions once
    both are True (or what they were after `PROGRAMMED_TIMEOUT_SECONDS`); then delete both."""
    manifest = folder / "gateway.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
         "metadata": {"name": GATEWAY_CLASS}, "spec": {"controllerName": CONTROLLER_NAME}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": GATEWAY, "namespace": NAMESPACE},
         "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}},
    ]}))
    kubectl(cluster, "apply", "--filename", str(manifest))
    deadline = time.monotonic() + PROGRAMMED_TIMEOUT_SECONDS
    found: dict[str, dict[str, Any]] = {}
    try:
        while time.monotonic() < deadline:
            found = {
                "accepted": condition(kubectl_json(cluster, "get", "gatewayclass", GATEWAY_CLASS), "Accepted"),
                "programmed": condition(kubectl_json(cluster, "get", "gateway", GATEWAY, "--namespace", NAMESPACE), "Programmed"),
            }
            if all(item.get("status") == "True" for item in found.values()):
                break
            time.sleep(2)
    finally:
        kubectl(cluster, "delete", "--filename", str(manifest), "--ignore-not-found", "--wait=false", check=False)
    return found


@pytest.fixture(scope="module")
def installed(cluster: ClusterLayout, engine_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`pulumi up` of the program; right after it, the chart's objects in the cluster and the
    state, the API server's audit events of the namespace's ServiceAccounts, whether the chart's
    controller accepts a GatewayClass of its controllerName; then `pulumi destroy` and what it left."""
    folder = tmp_path_factory.mktemp("chart-up")
    pulumi = program_engine(cluster, engine_binaries, folder, PROGRAM_INSTALLED, STACK)
    try:
        started = time.monotonic()
        up = pulumi.run(["up", "--stack", STACK, "--yes", "--skip-preview"], echo=False, check=False)
        up_seconds = time.monotonic() - started
        found: dict[str, Any] = {
            "pods": kubectl_json(cluster, "get", "pods", "--namespace", NAMESPACE)["items"],
            "deployment": json.loads(kubectl(cluster, "get", "deployment", "envoy-gateway", "--namespace", NAMESPACE,
                                             "--ignore-not-found", "--output", "json").stdout or "{}"),
            "secrets": kubectl(cluster, "get", "secrets", "--namespace", NAMESPACE, "--output", "name").stdout.split(),
            "in_state": state_objects(pulumi, STACK),
            "audit": audit_events(cluster, NAMESPACE),
        }
        if up.returncode == 0:
            found["job"] = state_outputs(pulumi, STACK, "kubernetes:batch/v1:Job", CERTGEN)
            found["deployment_in_state"] = state_outputs(pulumi, STACK, "kubernetes:apps/v1:Deployment", "envoy-gateway")
            found.update(gateway_conditions(cluster, folder))
        destroy = pulumi.run(["destroy", "--stack", STACK, "--yes", "--skip-preview"], echo=False, check=False)
        kept = [crd for crd in CRDS if kubectl(cluster, "get", "crd", crd, "--ignore-not-found", "--output", "name").stdout.strip()]
        others = kubectl(cluster, "get", "namespace", "envoy-gateway-system", "--ignore-not-found", "--output", "name").stdout.split()
        print(f"pulumi up exited {up.returncode} in {up_seconds:.0f} s; destroy exited {destroy.returncode}, CRDs kept: {kept}")
        return {"up": up, **found, "destroy": destroy, "kept": kept, "others": others}
    finally:
        pulumi.remove_stack(STACK)


def test_up_completes_once_the_certgen_job_ran_to_completion(installed: dict[str, Any]) -> None:
    # GIVEN the certgen Job's pod run as a kubelet would: `envoy-gateway certgen` in it
    up = installed["up"]
    # THEN pulumi up completes
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    # AND the Job it waited for is complete, its one pod Succeeded
    job = installed["job"]
    assert condition(job, "Complete").get("status") == "True", job.get("status")
    assert job["status"].get("succeeded") == 1 and not job["status"].get("failed"), job["status"]
    # AND the certificates the controller mounts are the Secrets certgen made
    assert {"secret/envoy-gateway", "secret/envoy"} <= set(installed["secrets"]), installed["secrets"]


def test_the_controllers_chart_was_created_only_after_the_job_completed(installed: dict[str, Any]) -> None:
    assert installed["up"].returncode == 0
    completed = installed["job"]["status"]["completionTime"]
    created = installed["deployment_in_state"]["metadata"]["creationTimestamp"]
    assert completed <= created, (completed, created)  # RFC 3339 in UTC: ordered as text


def test_the_controllers_pod_is_ready_and_its_deployment_available(installed: dict[str, Any]) -> None:
    assert installed["up"].returncode == 0
    (pod,) = [pod for pod in installed["pods"] if pod["metadata"].get("labels", {}).get("control-plane") == "envoy-gateway"]
    # THEN its readiness probe (/readyz on 8081) passed against the real controller
    assert condition(pod, "Ready").get("status") == "True", pod["status"]
    (status,) = pod["status"]["containerStatuses"]
    assert status["name"] == "envoy-gateway" and status["ready"] and "running" in status["state"], status
    assert installed["deployment"]["status"].get("availableReplicas") == 1, installed["deployment"]["status"]


def test_the_controller_ran_with_its_service_accounts_token_from_its_pods_address(installed: dict[str, Any]) -> None:
    assert installed["up"].returncode == 0
    (pod,) = [pod for pod in installed["pods"] if pod["metadata"].get("labels", {}).get("control-plane") == "envoy-gateway"]
    # THEN the API server recorded requests authenticated as the chart's ServiceAccount, sent
    # by the controller (its user agent) from the pod's own address
    subject = f"system:serviceaccount:{NAMESPACE}:envoy-gateway"
    controller = [event for event in installed["audit"] if event["user"]["username"] == subject]
    assert controller, sorted({event["user"]["username"] for event in installed["audit"]})
    assert any(event.get("userAgent", "").startswith("envoy-gateway") for event in controller), {event.get("userAgent") for event in controller}
    assert {pod["status"]["podIP"]} == {address for event in controller for address in event.get("sourceIPs") or []}
    # AND its leases and watches were allowed by the chart's RBAC
    assert any(event["verb"] == "watch" and event["responseStatus"]["code"] == 200 for event in controller)


def test_certgen_created_the_certificates_with_its_own_service_account(installed: dict[str, Any]) -> None:
    assert installed["up"].returncode == 0
    subject = f"system:serviceaccount:{NAMESPACE}:{CERTGEN}"
    created = {
        event["objectRef"].get("name")
        for event in installed["audit"]
        if event["user"]["username"] == subject and event["verb"] == "create" and event["objectRef"].get("resource") == "secrets"
        and event["responseStatus"]["code"] == 201
    }
    assert {"envoy-gateway", "envoy"} <= created, created


def test_the_chart_controller_acts_on_its_own_controller_name_only(installed: dict[str, Any]) -> None:
    # GIVEN the chart's config (the ConfigMap mounted at /config) naming a controller of its own
    # THEN a GatewayClass of that name is accepted, which only the chart's controller can do
    assert installed["up"].returncode == 0
    assert installed["accepted"].get("status") == "True", installed["accepted"]


def test_a_gateway_of_the_chart_controller_is_programmed_by_its_proxies_own_xds(installed: dict[str, Any]) -> None:
    # GIVEN a Gateway of that class: the chart's controller creates its proxy Deployment, whose
    # Envoy reaches xDS at the controller's Service (its pod, with the certificates certgen made)
    # THEN the Gateway is Programmed: the proxy became Ready on the listeners that xDS sent
    assert installed["up"].returncode == 0
    assert installed["programmed"].get("status") == "True", installed["programmed"]


def test_destroy_leaves_the_crds_the_stack_applied(installed: dict[str, Any]) -> None:
    crd_type = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
    assert {(crd_type, crd) for crd in CRDS} <= installed["in_state"], sorted(installed["in_state"], key=str)
    # THEN destroy succeeds and leaves them in the cluster (retain_on_delete)
    assert installed["destroy"].returncode == 0, installed["destroy"].stdout[-3000:] + installed["destroy"].stderr[-3000:]
    assert installed["kept"] == list(CRDS)


def test_destroy_leaves_the_clusters_own_controller_namespace(installed: dict[str, Any]) -> None:
    # GIVEN the cluster's managed controller in `envoy-gateway-system`, which the tests after this
    # one deploy their stacks against, and this stack's controller in a namespace of its own
    # THEN destroying this stack deletes its own namespace only
    assert installed["destroy"].returncode == 0
    assert installed["others"] == ["namespace/envoy-gateway-system"], installed["others"]
