"""Specification (real engine, local cluster): the seed stack, `stacks/Pulumi.dev.yaml`, deploys
as it is written (issue 21, item 3): `controller.install: true` with the default
`chartRepository`, `oci://docker.io/envoyproxy`, into a cluster that, as a fresh kind, EKS or
GKE cluster, has no Envoy Gateway. Only its certificate is rewritten (pulumi-tls cannot run
here). What runs is what `make preview`, `make up` and `make destroy` run (`gatestack
preview|up|destroy --stack dev`, pointed at the session's cluster with `--state-dir`):

- preview, then up: the Kubernetes provider pulls both charts through Helm's registry client
  from the cluster's stand-in for Docker Hub (the registry's own access log shows the pulls),
  the certgen Job completes, the controller's pod becomes Ready, the Gateway is Programmed;
- verify: the seed's checks, as `make up` prints them;
- a second `pulumi up` with nothing changed changes nothing (`--expect-no-changes`);
- destroy removes every object of the stack, the charts' included, and leaves the CRDs: deleting
  a CRD deletes every object of its kind, other stacks' too (issue 21, item 5).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatestack.cluster.layout import ClusterLayout
from gatestack.engine.deploy import engine_layout, pulumi_for
from gatestack.engine.pulumi_cli import PulumiCli
from gatestack.paths import REPOSITORY_ROOT
from tests.cluster.cluster_support import kubectl, kubectl_json
from tests.test_conformance import SEED_CHECKS, passed_checks

STACK = "dev"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
# The EnvoyGatewayController's Chart of gateway-crds-helm, whose objects destroy keeps.
CRDS_CHART = "envoy-gateway-crds"
CONTROLLER_NAMESPACE = "envoy-gateway-system"
GONE_TIMEOUT_SECONDS = 120


def gatestack(cluster: ClusterLayout, *arguments: str) -> subprocess.CompletedProcess:
    """`python -m gatestack ARGUMENTS --state-dir <the session's cluster>`, as make runs it."""
    command = [sys.executable, "-m", "gatestack", *arguments, "--state-dir", str(cluster.state_directory)]
    completed = subprocess.run(command, cwd=REPOSITORY_ROOT, capture_output=True, text=True)
    print(f"$ gatestack {' '.join(arguments)}: exit {completed.returncode}\n{completed.stderr[-3000:]}{completed.stdout[-3000:]}")
    return completed


def kubernetes_objects(pulumi: PulumiCli) -> list[dict[str, Any]]:
    """Type, apiVersion, kind, namespace and name of every Kubernetes object in the stack's
    state, and the Chart it came from (the name of its parent Chart, or None)."""
    resources = pulumi.export(STACK)["deployment"].get("resources") or []
    types = {item["urn"]: item["type"] for item in resources}
    found = []
    for item in resources:
        outputs = item.get("outputs") or {}
        metadata = outputs.get("metadata") or {}
        if item["type"].startswith("kubernetes:") and outputs.get("kind") and metadata.get("name"):
            found.append({
                "type": item["type"], "apiVersion": outputs["apiVersion"], "kind": outputs["kind"],
                "namespace": metadata.get("namespace"), "name": metadata["name"],
                "chart": item["parent"].rpartition("::")[2] if types.get(item.get("parent", "")) == CHART_TYPE else None,
            })
    return found


def exists(cluster: ClusterLayout, item: dict[str, Any]) -> bool:
    group, _, version = item["apiVersion"].rpartition("/")
    resource = f"{item['kind']}.{version}.{group}" if group else item["kind"]
    where = ["--namespace", item["namespace"]] if item["namespace"] else []
    found = kubectl(cluster, "get", resource, item["name"], *where, "--ignore-not-found", "--output", "name", check=False)
    assert found.returncode == 0, found.stderr
    return bool(found.stdout.strip())


def condition(item: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((entry for entry in item.get("status", {}).get("conditions") or [] if entry["type"] == kind), {})


@pytest.fixture(scope="module")
def dev(cluster_without_envoy_gateway: ClusterLayout, engine_binaries: dict[str, Path]) -> dict[str, Any]:
    """make preview, make up, a second pulumi up, make destroy of the dev stack, and what the
    cluster, the state and the chart registry showed after each."""
    cluster = cluster_without_envoy_gateway
    found: dict[str, Any] = {"preview": gatestack(cluster, "preview", "--stack", STACK)}
    found["up"] = gatestack(cluster, "up", "--stack", STACK)
    pulumi = pulumi_for(cluster, STACK, engine_binaries)
    found["workspace_stack_file"] = yaml.safe_load(
        (engine_layout(cluster).workspace / "stacks" / f"Pulumi.{STACK}.yaml").read_text())["config"]
    found["registry_log"] = (cluster.logs_directory / "chart-registry.log").read_text()
    found["objects"] = kubernetes_objects(pulumi) if found["up"].returncode == 0 else []
    found["controller_pods"] = kubectl_json(cluster, "get", "pods", "--namespace", CONTROLLER_NAMESPACE,
                                            "--selector", "control-plane=envoy-gateway")["items"]
    found["gateway"] = kubectl_json(cluster, "get", "gateway", "eg", "--namespace", "default") if found["up"].returncode == 0 else {}
    second = pulumi.run(["up", "--stack", STACK, "--yes", "--skip-preview", "--expect-no-changes"], echo=False, check=False)
    found["second_up"] = second
    print(f"second pulumi up: exit {second.returncode}\n{second.stdout[-2000:]}{second.stderr[-2000:]}")
    found["destroy"] = gatestack(cluster, "destroy", "--stack", STACK)
    deadline = time.monotonic() + GONE_TIMEOUT_SECONDS  # a namespace's deletion finishes in the background
    left = [item for item in found["objects"] if item["chart"] != CRDS_CHART and exists(cluster, item)]
    while left and time.monotonic() < deadline:
        time.sleep(2)
        left = [item for item in left if exists(cluster, item)]
    found["left"] = left
    found["kept"] = [item for item in found["objects"] if item["chart"] == CRDS_CHART and exists(cluster, item)]
    return found


def test_preview_plans_the_seed_with_envoy_gateway_from_its_charts(dev: dict[str, Any]) -> None:
    # GIVEN a cluster with neither Envoy Gateway's nor Gateway API's CRDs: the preview of the
    # GatewayClass, Gateway and HTTPRoute knows their kinds from the charts the program declares
    preview = dev["preview"]
    assert preview.returncode == 0, preview.stdout[-4000:] + preview.stderr[-4000:]
    planned = re.search(r"\+ (\d+) to create", preview.stdout + preview.stderr)
    assert planned and int(planned.group(1)) > 0, preview.stdout[-2000:]


def test_the_stack_deploys_as_written_apart_from_its_certificate(dev: dict[str, Any]) -> None:
    written = yaml.safe_load((REPOSITORY_ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text())["config"]
    deployed = dev["workspace_stack_file"]
    assert deployed["api-gateway:controller"] == written["api-gateway:controller"] == {"install": True, "version": "v1.9.0"}
    assert [item["source"] for item in deployed["api-gateway:certificates"]] == ["existingSecret"]
    assert {key: value for key, value in deployed.items() if key != "api-gateway:certificates"} == {
        key: value for key, value in written.items() if key != "api-gateway:certificates"}


def test_make_up_installs_the_charts_from_the_default_oci_repository(dev: dict[str, Any]) -> None:
    up = dev["up"]
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    # THEN Helm's client inside the provider pulled both charts, at the stack's version, by the
    # default repository's name from the cluster's stand-in for it: the registry's access log has
    # each chart's tag resolved and its content downloaded by the Helm library the provider
    # embeds (user agent `Helm/3.18`, no patch version stamped; the helm CLI that pushed them is
    # `Helm/3.18.6`, and a push only asks whether a blob exists, with HEAD)
    for chart in ("gateway-helm", "gateway-crds-helm"):
        by_provider = rf' HTTP/[\d.]+" 200 \d+ "[^"]*" "Helm/3\.18"'
        assert re.search(rf'"GET /v2/envoyproxy/{chart}/manifests/v1\.9\.0{by_provider}', dev["registry_log"]), chart
        pulls = re.findall(rf'"GET /v2/envoyproxy/{chart}/blobs/sha256:[0-9a-f]+{by_provider}', dev["registry_log"])
        assert pulls, f"no pull of {chart} in the registry's log:\n{dev['registry_log'][-3000:]}"


def test_the_charts_controller_pod_is_ready(dev: dict[str, Any]) -> None:
    assert dev["up"].returncode == 0
    (pod,) = dev["controller_pods"]
    assert condition(pod, "Ready").get("status") == "True", pod["status"]


def test_the_gateway_is_programmed_by_the_charts_controller(dev: dict[str, Any]) -> None:
    assert dev["up"].returncode == 0
    assert condition(dev["gateway"], "Programmed").get("status") == "True", dev["gateway"].get("status")
    assert dev["gateway"]["status"]["addresses"], dev["gateway"]["status"]


def test_make_up_verifies_the_seed(dev: dict[str, Any]) -> None:
    # THEN the seed's checks, through Envoys the chart's controller configured, all pass
    output = dev["up"].stdout
    assert dev["up"].returncode == 0, output[-4000:]
    assert "route backend rule 0: split backend 8 : backend-2 2 over 200 requests" in output, output[-4000:]
    assert re.search(r"^(\d+) passed, 0 failed$", output, re.MULTILINE), output[-4000:]


def test_make_up_prints_the_address_the_gateway_got_and_verifies_the_stack_it_parsed(dev: dict[str, Any]) -> None:
    # THEN the command's own preview and up ran, GATEWAY_HOST is the address the Gateway got, and
    # verify checked the stack object the command parsed once and deployed: every seed check
    addresses = [entry["value"] for entry in dev["gateway"].get("status", {}).get("addresses") or []]
    assert addresses and f"GATEWAY_HOST: {addresses[0]}" in dev["up"].stdout, dev["up"].stdout[-3000:]
    assert set(SEED_CHECKS) <= set(passed_checks(dev["up"].stdout)), dev["up"].stdout[-4000:]
    assert "==> pulumi up --stack dev" in dev["up"].stderr and "==> verify dev against GATEWAY_HOST" in dev["up"].stderr


def test_a_second_up_with_nothing_changed_changes_nothing(dev: dict[str, Any]) -> None:
    second = dev["second_up"]
    # THEN the engine reports no change (with --expect-no-changes any change is an error)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    summary = second.stdout[second.stdout.rfind("Resources:"):]
    assert re.search(r"\d+ unchanged", summary) and not re.search(r"created|updated|deleted|replaced", summary), summary


def test_destroy_leaves_no_object_of_the_stack_or_the_controllers_chart(dev: dict[str, Any]) -> None:
    destroy = dev["destroy"]
    assert destroy.returncode == 0, destroy.stdout[-4000:] + destroy.stderr[-4000:]
    from_chart = [item for item in dev["objects"] if item["chart"] and item["chart"] != CRDS_CHART]
    assert {item["kind"] for item in from_chart} >= {"Deployment", "ServiceAccount", "ClusterRole", "ConfigMap", "Service"}, from_chart
    # THEN every object of the stack is gone, but for the CRDs chart's
    assert dev["left"] == [], dev["left"]


def test_destroy_keeps_the_crds_and_the_policy_that_guards_them(dev: dict[str, Any]) -> None:
    # GIVEN the CRDs chart (gateway-crds-helm): Envoy Gateway's and Gateway API's CRDs, and Gateway
    # API's ValidatingAdmissionPolicy (and its binding) that refuses unsafe changes to them
    of_crds_chart = [item for item in dev["objects"] if item["chart"] == CRDS_CHART]
    crds = {item["name"] for item in of_crds_chart if item["type"] == CRD_TYPE}
    assert {"gateways.gateway.networking.k8s.io", "envoyproxies.gateway.envoyproxy.io"} <= crds, crds
    assert {item["kind"] for item in of_crds_chart} <= {
        "CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}, of_crds_chart
    # THEN destroy keeps all of them: deleting a CRD deletes every object of its kind, other stacks' too
    assert dev["kept"] == of_crds_chart
