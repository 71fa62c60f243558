"""Specification: inference routing for real. The inference stack, deployed by the real engine into
the local cluster, runs the upstream Endpoint Picker (v1.5.0) against the API server with its own
ServiceAccount, and Envoy Gateway v1.9's own data plane sends each completion to the model-server
pod the EPP picks; FailClose and FailOpen behave as declared when the EPP stops; without the
endpoint override the traffic check fails.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gatestack.cluster.lifecycle import status
from gatestack.engine.deploy import pulumi_for
from gatestack.paths import REPOSITORY_ROOT
from tests.cluster.cluster_support import kubectl, kubectl_json
from tests.cluster.test_real_engine import passed_checks, verify

NAMESPACE = "inference"
POOL = "vllm-llama3-8b-instruct"
STACK_FILE = REPOSITORY_ROOT / "stacks" / "Pulumi.inference.yaml"
INFERENCE_CHECKS = [
    "route llm rule 0: GET llm.example.com/v1/models lists the pool's model (http)",
    f"route llm rule 0: POST llm.example.com/v1/completions -> pool {POOL} via its EPP (http)",
    "route llm rule 0: vllm-llama3-a idle, the others queued: >= 90% of 30 completions reach it",
    "route llm rule 0: metrics flip to vllm-llama3-b idle: traffic follows within the refresh interval 50ms (+250ms)",
    f"route llm rule 0: a client's x-gateway-destination-endpoint (queued vllm-llama3-a) is ignored by pool {POOL}'s EPP",
]
FAIL_CLOSE_CHECK = f"route llm rule 0: pool {POOL}'s EPP stopped: FailClose answers 5xx (http)"
FAIL_OPEN_CHECK = f"route llm rule 0: pool {POOL}'s EPP stopped: FailOpen still serves (200) (http)"
PREFERENCE_CHECK = INFERENCE_CHECKS[2]


def failed_checks(output: str) -> list[str]:
    return [line.split(" | ")[0].strip() for line in output.splitlines() if "| FAIL" in line]


def test_verify_runs_every_inference_check_and_each_passes(cluster, deployments, tmp_path: Path) -> None:
    deployment = deployments["inference"]
    result = verify(cluster, "inference", deployment.outputs["GATEWAY_HOST"], deployment.outputs.get("CA_CERT_PEM"), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(INFERENCE_CHECKS + [FAIL_CLOSE_CHECK]) <= set(passed_checks(result.stdout)), result.stdout


def test_the_api_server_accepts_the_inference_objects_and_envoy_gateway_reports_every_condition_true(cluster, deployments) -> None:
    pool = kubectl_json(cluster, "get", "inferencepool", "-n", NAMESPACE, POOL)
    assert pool["spec"]["endpointPickerRef"] == {
        "failureMode": "FailClose", "group": "", "kind": "Service", "name": f"{POOL}-epp", "port": {"number": 9002},
    }  # the CRD's defaults (group, kind) filled in by the API server
    for kind in ("envoyextensionpolicy", "backendtrafficpolicy", "httproute"):
        for item in kubectl_json(cluster, "get", kind, "-n", NAMESPACE)["items"]:
            parents = item["status"].get("ancestors") or item["status"].get("parents") or []
            assert parents, f"{kind} {item['metadata']['name']} has no status from Envoy Gateway"
            for parent in parents:
                conditions = {c["type"]: c["status"] for c in parent["conditions"]}
                assert set(conditions.values()) == {"True"}, f"{kind} {item['metadata']['name']}: {conditions}"


def test_the_endpoint_picker_runs_with_its_own_service_account_and_is_ready(cluster, deployments) -> None:
    pickers = status(cluster)["endpointPickers"]
    mine = [item for item in pickers.values() if item["pool"] == f"{NAMESPACE}/{POOL}"]
    assert mine and all(item["running"] and item["ready"] for item in mine), pickers
    (pod,) = kubectl_json(cluster, "get", "pods", "-n", NAMESPACE, "-l", f"inferencepool={POOL}-epp")["items"]
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    kubeconfig = next((cluster.pods_directory / f"{NAMESPACE}_{pod['metadata']['name']}").glob("kubeconfig"))
    assert "token:" in kubeconfig.read_text() and "client-certificate" not in kubeconfig.read_text()


def test_fail_open_still_serves_with_the_epp_stopped(cluster, deployments, engine_binaries, tmp_path: Path) -> None:
    # GIVEN the pool switched to FailOpen
    text = STACK_FILE.read_text().replace("failureMode: FailClose", "failureMode: FailOpen")
    changed = tmp_path / "Pulumi.inference.yaml"
    changed.write_text(text)
    pulumi = pulumi_for(cluster, "inference", engine_binaries, text)
    try:
        pulumi.up("inference")
        patch = kubectl_json(cluster, "get", "envoypatchpolicy", "-n", NAMESPACE, f"{POOL}-fail-open")
        conditions = {c["type"]: c["status"] for c in patch["status"]["ancestors"][0]["conditions"]}
        assert conditions == {"Accepted": "True", "Programmed": "True"}
        # WHEN verify stops the EPP THEN requests are still served (and picked again once it is back)
        outputs = pulumi.outputs("inference")
        result = verify(cluster, str(changed), outputs["GATEWAY_HOST"], outputs.get("CA_CERT_PEM"), tmp_path)
        assert FAIL_OPEN_CHECK in passed_checks(result.stdout), result.stdout
        assert result.returncode == 0, result.stdout
    finally:
        pulumi_for(cluster, "inference", engine_binaries).up("inference")


def proxy_has_endpoint_override(cluster) -> bool:
    """Whether the inference Gateway's Envoy has the override cluster: its admin endpoint listens on
    127.0.0.1 of its pod, so it is asked from inside the pod's network namespace (as `kubectl exec`)."""
    pods = status(cluster)["pods"]
    proxy = next(name for name in status(cluster)["proxyPods"] if "inference-gateway" in name)
    dump = curl_inside_pod(pods[proxy]["networkNamespace"], "http://127.0.0.1:19000/config_dump?resource=dynamic_active_clusters")
    return "override_host" in dump


def curl_inside_pod(network_namespace: str, url: str) -> str:
    import subprocess

    from gatestack.cluster.netns import command_inside

    return subprocess.run(command_inside(network_namespace, ["curl", "-s", url]), capture_output=True, text=True, timeout=30).stdout


def test_without_the_endpoint_override_the_traffic_check_fails(cluster, deployments, engine_binaries, tmp_path: Path) -> None:
    deployment = deployments["inference"]
    assert proxy_has_endpoint_override(cluster)
    # GIVEN a deliberately wrong wiring: the override policy left out
    kubectl(cluster, "delete", "backendtrafficpolicy", "-n", NAMESPACE, f"{POOL}-endpoint-override")
    try:
        deadline = time.monotonic() + 90
        while proxy_has_endpoint_override(cluster) and time.monotonic() < deadline:
            time.sleep(1)
        assert not proxy_has_endpoint_override(cluster), "Envoy still has the override 90 s after the policy was deleted"
        # WHEN verify runs THEN the EPP still picks (the header is set) but the traffic check fails
        result = verify(cluster, "inference", deployment.outputs["GATEWAY_HOST"], deployment.outputs.get("CA_CERT_PEM"), tmp_path)
        assert result.returncode != 0
        assert PREFERENCE_CHECK in failed_checks(result.stdout), result.stdout
        assert INFERENCE_CHECKS[1] in passed_checks(result.stdout), result.stdout
    finally:
        # AND `pulumi up --refresh` puts the policy back
        pulumi = pulumi_for(cluster, "inference", engine_binaries)
        pulumi.run(["up", "--stack", "inference", "--yes", "--skip-preview", "--refresh"], echo=False)
    assert kubectl_json(cluster, "get", "backendtrafficpolicy", "-n", NAMESPACE, f"{POOL}-endpoint-override")["spec"]["loadBalancer"]


@pytest.mark.parametrize("kind", ["modelServers", "endpointPickers"])
def test_cluster_status_shows_the_inference_pods(cluster, deployments, kind: str) -> None:
    shown = json.dumps(status(cluster)[kind])
    assert ("vllm-llama3-a" in shown) if kind == "modelServers" else (POOL in shown)
