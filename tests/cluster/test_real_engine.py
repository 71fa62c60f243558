"""Specification: `pulumi up` for real. Every stack, deployed by the real Pulumi CLI and
pulumi-kubernetes provider into the local cluster, with Envoy Gateway's real controller in
the role of ACK's managed add-on, works as the mock-engine tests promise.

Traffic is checked through Envoys configured by the controller's own xDS, reached at the
load-balancer address the cluster gave the proxies' Service (`GATEWAY_HOST`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from gateway_config.loader import raw_config_from_stack_file
from gatestack.cluster.lifecycle import inside_command, start_controller, stop_controller
from gatestack.paths import REPOSITORY_ROOT
from gatestack.engine.pulumi_cli import PulumiCommandFailed, preview_steps, resource_type_of
from gatestack.stand_ins.existing_secrets import existing_certificate_secrets
from gatestack.mock_engine.program_run import run_program
from tests.cluster.cluster_support import Deployment, kubectl, kubectl_json
from tests.conftest import STACK_NAMES
from tests.test_conformance import SEED_CHECKS, passed_checks

ENGINE_TYPES = {"pulumi:pulumi:Stack", "pulumi:providers:kubernetes"}


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def verify(
    cluster, stack_or_file: str, host: str, ca_pem: str | None, tmp_path: Path, client_certificates: Path | None = None
) -> subprocess.CompletedProcess:
    """`gatestack verify` inside the cluster's namespace, as `make up` runs it."""
    selector = ["--config", stack_or_file] if stack_or_file.endswith(".yaml") else ["--stack", stack_or_file]
    command = [sys.executable, "-m", "gatestack", "verify", *selector, "--host", host, "--state-dir", str(cluster.state_directory)]
    if client_certificates is not None:
        command += ["--client-certificates", str(client_certificates)]
    if ca_pem:
        ca_file = tmp_path / "ca.crt"
        ca_file.write_text(ca_pem)
        command += ["--ca-file", str(ca_file)]
    return subprocess.run(inside_command(cluster, command), cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_preview_lists_exactly_the_resources_the_program_declares(deployments: dict[str, Deployment], stack: str) -> None:
    # GIVEN the stack's config as the local cluster runs it (managed controller, existing Secrets)
    deployment = deployments[stack]
    stack_file = deployment.pulumi.workspace / "stacks" / f"Pulumi.{stack}.yaml"
    declared = run_program(
        stack, raw_config_from_stack_file(stack_file), existing_secrets=existing_certificate_secrets(deployment.config)
    )
    expected = {(resource.type, resource.name) for resource in declared.resources if not resource.read}
    # THEN the real preview plans a create for each of them, and nothing else
    planned = {
        (resource_type_of(step["urn"]), urn_name(step["urn"]))
        for step in deployment.preview_steps
        if step.get("op") == "create" and resource_type_of(step["urn"]) not in ENGINE_TYPES
    }
    assert planned == expected


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_up_returns_with_the_gateway_programmed_at_the_load_balancer_address(cluster, deployments, stack: str) -> None:
    deployment = deployments[stack]
    gateway = kubectl_json(cluster, "get", "gateway", "-n", deployment.config.namespace, deployment.config.gateway.name)
    conditions = {item["type"]: item["status"] for item in gateway["status"]["conditions"]}
    assert conditions.get("Programmed") == "True"
    services = kubectl_json(
        cluster, "get", "service", "-n", "envoy-gateway-system",
        "-l", f"gateway.envoyproxy.io/owning-gateway-name={deployment.config.gateway.name},"
        f"gateway.envoyproxy.io/owning-gateway-namespace={deployment.config.namespace}",
    )["items"]
    assert len(services) == 1
    assigned = services[0]["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert deployment.outputs["GATEWAY_HOST"] == assigned


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_verify_passes_through_the_controller_programmed_envoy(cluster, deployments, stack: str, tmp_path: Path) -> None:
    deployment = deployments[stack]
    result = verify(
        cluster, stack, deployment.outputs["GATEWAY_HOST"], deployment.outputs.get("CA_CERT_PEM"), tmp_path,
        deployment.client_certificates,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\d+ passed, 0 failed$", result.stdout, re.MULTILINE), result.stdout
    if stack == "dev":
        assert set(SEED_CHECKS) <= set(passed_checks(result.stdout))


def test_dev_and_staging_run_side_by_side_without_sharing_anything(cluster, deployments) -> None:
    dev, staging = deployments["dev"], deployments["staging"]
    assert dev.outputs["GATEWAY_HOST"] != staging.outputs["GATEWAY_HOST"]
    classes = {item["metadata"]["name"] for item in kubectl_json(cluster, "get", "gatewayclass")["items"]}
    assert {dev.config.gateway_class.name, staging.config.gateway_class.name} <= classes
    assert dev.config.gateway_class.name != staging.config.gateway_class.name


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_a_second_up_changes_nothing(deployments, stack: str) -> None:
    pulumi = deployments[stack].pulumi
    # --expect-no-changes makes pulumi itself exit non-zero on any planned change.
    pulumi.run(["preview", "--stack", stack, "--expect-no-changes"], echo=False)
    result = pulumi.run(["up", "--stack", stack, "--yes", "--skip-preview", "--expect-no-changes"], echo=False)
    assert "unchanged" in result.stdout


def test_make_up_of_a_stack_that_installs_envoy_gateway_is_refused_by_a_cluster_running_its_own(cluster) -> None:
    # GIVEN this session's cluster, which runs Envoy Gateway's controller itself (the managed mode)
    # WHEN `python -m gatestack up` (what `make up` runs) is asked for dev as written, which installs
    # Envoy Gateway from its charts (controller.install: true); `make up` of it, parsed once and
    # verified as deployed, is tests/cluster/test_dev_as_written.py, in a cluster without one
    result = subprocess.run(
        [sys.executable, "-m", "gatestack", "up", "--stack", "dev", "--state-dir", str(cluster.state_directory)],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300,
    )
    # THEN one line says why and what to do, before the engine runs; no traceback
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert re.search(
        r"^error: stack dev installs Envoy Gateway from its charts \(controller.install: true\) and needs a cluster "
        r"without one: .* is running with an Envoy Gateway of its own; stop it with `make down`",
        output, re.MULTILINE,
    ), output[-3000:]
    assert "Traceback" not in output and "==> pulumi" not in output, output[-3000:]


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_the_exported_state_holds_no_private_key_in_plain_text(deployments, stack: str) -> None:
    state = deployments[stack].pulumi.run(["stack", "export", "--stack", stack], echo=False).stdout
    assert "PRIVATE KEY" not in state
    assert "tls.key" not in state or "ciphertext" in state


def test_changing_one_weight_updates_exactly_one_route_and_the_split_follows(cluster, deployments, engine_binaries, tmp_path: Path) -> None:
    # GIVEN dev is up with backend 8 : backend-2 2
    original = (REPOSITORY_ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    changed = original.replace("weight: 8", "weight: 5")
    assert changed != original
    pulumi = deployments["dev"].pulumi
    try:
        # WHEN the weight becomes 5
        from gatestack.engine.deploy import pulumi_for

        pulumi = pulumi_for(cluster, "dev", engine_binaries, changed)
        steps = preview_steps(pulumi.preview("dev", json_output=True).stdout)
        changes = [step for step in steps if step.get("op") not in ("same", "read")]
        # THEN preview shows one HTTPRoute update, and nothing else
        assert [(step["op"], urn_name(step["urn"])) for step in changes] == [("update", "backend-http-route")]
        diff = pulumi.run(["preview", "--stack", "dev", "--diff"], echo=False).stdout
        assert re.search(r"~\s*weight\s*:\s*8\s*=>\s*5", diff), diff
        pulumi.up("dev")
        changed_file = tmp_path / "Pulumi.dev.yaml"
        changed_file.write_text(changed)
        outputs = pulumi.outputs("dev")
        result = verify(cluster, str(changed_file), outputs["GATEWAY_HOST"], outputs.get("CA_CERT_PEM"), tmp_path)
        assert "split backend 5 : backend-2 2 over 200 requests" in "\n".join(passed_checks(result.stdout)), result.stdout
        assert result.returncode == 0, result.stdout
    finally:
        pulumi_for(cluster, "dev", engine_binaries).up("dev")


def cluster_objects(cluster) -> str:
    kinds = "gatewayclasses,gateways,httproutes,envoyproxies,deployments,services,secrets,serviceaccounts,namespaces"
    return kubectl(cluster, "get", kinds, "-A", "-o", "name").stdout


def test_a_bad_stack_file_is_refused_by_preview_and_up_with_one_line_and_no_change(cluster, deployments, engine_binaries) -> None:
    from gatestack.engine.deploy import pulumi_for

    bad = (REPOSITORY_ROOT / "stacks" / "Pulumi.dev.yaml").read_text().replace("weight: 8", "weigth: 8")
    before = cluster_objects(cluster)
    pulumi = pulumi_for(cluster, "broken", engine_binaries, bad)
    pulumi.select_stack("broken")
    for arguments in (["preview", "--stack", "broken"], ["up", "--stack", "broken", "--yes", "--skip-preview"]):
        result = pulumi.run(arguments, echo=False, check=False)
        printed = result.stdout + result.stderr
        assert result.returncode != 0
        assert "stacks/Pulumi.broken.yaml: routes.0.rules.0.backendRefs.0.weigth: unknown key 'weigth'; did you mean 'weight'?" in printed
        assert "Traceback" not in printed
    assert cluster_objects(cluster) == before


def midway_stack_text() -> str:
    """A small stack of its own (namespace, class, gateway) that gives up after 20 s."""
    document = {
        "config": {
            "api-gateway:namespace": "midway",
            "api-gateway:createNamespace": True,
            "api-gateway:gatewayClass": {"name": "eg-midway"},
            "api-gateway:gateway": {
                "name": "midway-gateway",
                "programmedTimeoutSeconds": 20,
                "listeners": [{"name": "http", "protocol": "HTTP", "port": 8000}],
            },
            "api-gateway:backends": [{"name": "echo"}],
            "api-gateway:routes": [{"name": "echo", "rules": [{"backendRefs": [{"name": "echo"}]}]}],
        }
    }
    return yaml.safe_dump(document, sort_keys=False)


def test_up_fails_within_the_timeout_when_the_controller_dies_midway_and_succeeds_after(cluster, deployments, engine_binaries) -> None:
    from gatestack.engine.deploy import pulumi_for

    pulumi = pulumi_for(cluster, "midway", engine_binaries, midway_stack_text())
    pulumi.select_stack("midway")
    outcome: dict = {}

    def run_up() -> None:
        started = time.monotonic()
        outcome["result"] = pulumi.run(["up", "--stack", "midway", "--yes", "--skip-preview"], echo=False, check=False)
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run_up)
    thread.start()
    try:
        # WHEN the controller goes away once it has accepted the class, before the Gateway is programmed
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = kubectl(cluster, "get", "gatewayclass", "eg-midway", "-o",
                            "jsonpath={.status.conditions[?(@.type=='Accepted')].status}", check=False)
            if found.stdout.strip() == "True":
                break
            time.sleep(0.1)
        stop_controller(cluster)
        thread.join(timeout=300)
        # THEN pulumi up fails within the Gateway's programmedTimeoutSeconds, naming it and the condition
        result = outcome["result"]
        assert result.returncode != 0
        printed = result.stdout + result.stderr
        assert "midway-gateway" in printed and "Programmed" in printed, printed
        assert outcome["seconds"] < 20 + 60
    finally:
        start_controller(cluster)
    # AND a re-run once the controller is back succeeds
    pulumi.up("midway")
    assert pulumi.outputs("midway")["GATEWAY_HOST"]
    pulumi.destroy("midway")


def declared_objects(pulumi, stack: str) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every Kubernetes object the stack's state says it created."""
    import json

    state = json.loads(pulumi.run(["stack", "export", "--stack", stack], echo=False).stdout)
    found = []
    for resource in state["deployment"].get("resources") or []:
        if not resource["type"].startswith("kubernetes:") or resource.get("external") or "providers" in resource["type"]:
            continue
        outputs = resource.get("outputs") or {}
        metadata = outputs.get("metadata") or {}
        found.append((outputs.get("kind", ""), metadata.get("namespace", ""), metadata.get("name", "")))
    return found


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_destroy_leaves_none_of_the_stacks_objects(cluster, deployments, stack: str) -> None:
    pulumi = deployments[stack].pulumi
    objects = declared_objects(pulumi, stack)
    assert objects
    if deployments[stack].config.production:
        # What the README tells an operator: production resources are protected.
        with pytest.raises(PulumiCommandFailed):
            pulumi.destroy(stack)
        pulumi.unprotect_all(stack)
    pulumi.destroy(stack)
    for kind, namespace, name in objects:
        arguments = ["get", kind, name] + (["-n", namespace] if namespace else [])
        result = kubectl(cluster, *arguments, check=False)
        assert result.returncode != 0 and "NotFound" in result.stderr, f"{kind} {namespace}/{name} is still there"
