"""Specification: the package as a user gets it. A wheel built from this repository, installed
into a virtualenv outside it, runs the example programs of examples/ with the real Pulumi
engine into the local cluster: the seed example passes the seed's checks, and the
platform/application split serves each application through the platform's Gateway, refuses
what that Gateway would not accept before declaring anything, and loses no request of one
application while another is destroyed.

The local cluster plays a managed Envoy Gateway and cannot run pulumi-tls, so the examples are
told so through their own config (installController: false, certificateSource:
existingSecret, with the Secrets made beforehand), as a user on ACK with cert-manager would.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from gatestack.cluster.binaries import kubectl_binary
from gatestack.engine.deploy import ensure_certificate_secrets
from gatestack.paths import REPOSITORY_ROOT
from gatestack.engine.pulumi_cli import preview_steps, resource_type_of
from gatestack.stack_source import load_stack
from tests.cluster.cluster_support import kubectl, kubectl_json
from tests.cluster.example_support import PackageInstall, create_tls_secret, example_cli, install_package, request, steady_client
from tests.cluster.test_real_engine import verify
from tests.test_conformance import SEED_CHECKS, passed_checks


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> PackageInstall:
    install = install_package(tmp_path_factory.mktemp("package"))
    print(f"\nwheel {install.wheel.name} built in {install.build_seconds:.0f} s, "
          f"installed into a new virtualenv in {install.install_seconds:.0f} s", flush=True)
    return install


def test_the_wheel_installs_the_package_into_a_virtualenv_outside_the_repository(package: PackageInstall) -> None:
    import subprocess

    # Run from the example's folder, as the language host does: the package comes from the virtualenv.
    found = subprocess.run(
        [str(package.virtualenv / "bin" / "python"), "-c",
         "import pulumi_envoy_gateway, gateway_config, gatestack; print(pulumi_envoy_gateway.__file__)"],
        cwd=REPOSITORY_ROOT / "examples" / "seed", capture_output=True, text=True, check=True,
    )
    location = Path(found.stdout.strip())
    assert location.is_relative_to(package.virtualenv)
    assert not package.virtualenv.is_relative_to(REPOSITORY_ROOT)


# --- the seed -----------------------------------------------------------------------------------------

SEED_STACK = "seed-example"
SEED_NAMESPACE = "seed-example"
SEED_CLASS = "eg-seed-example"


def seed_stack_file(tmp_path: Path) -> Path:
    """dev's stack file (the seed, which the example declares) in the example's namespace and
    class: what `gatestack verify --config` checks the deployed example against."""
    text = (REPOSITORY_ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    text = text.replace("api-gateway:namespace: default", f"api-gateway:namespace: {SEED_NAMESPACE}")
    text = text.replace("api-gateway:gatewayClass:\n    name: eg\n", f"api-gateway:gatewayClass:\n    name: {SEED_CLASS}\n")
    assert SEED_NAMESPACE in text and SEED_CLASS in text
    path = tmp_path / f"Pulumi.{SEED_STACK}.yaml"
    path.write_text(text)
    return path


def test_the_seed_example_run_from_the_wheel_is_deployed_and_passes_the_seeds_checks(cluster, engine_binaries, package, tmp_path: Path) -> None:
    # GIVEN the seed's certificate as an existing Secret in the example's namespace
    stack_file = seed_stack_file(tmp_path)
    ensure_certificate_secrets(cluster, kubectl_binary(), load_stack(None, stack_file).config)
    pulumi = example_cli(cluster, engine_binaries, "seed", SEED_STACK, package.virtualenv, {
        "namespace": SEED_NAMESPACE, "gatewayClassName": SEED_CLASS, "installController": False, "certificateSource": "existingSecret",
    })
    # WHEN the example is previewed and brought up with the real engine
    steps = preview_steps(pulumi.preview(SEED_STACK, json_output=True).stdout)
    planned = sorted({resource_type_of(step["urn"]) for step in steps if step.get("op") == "create"})
    print(f"seed example preview: {sum(step.get('op') == 'create' for step in steps)} creates of {planned}")
    assert "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute" in planned
    pulumi.up(SEED_STACK)
    outputs = pulumi.outputs(SEED_STACK)
    # THEN gatestack verify passes, the seed's own checks among them
    result = verify(cluster, str(stack_file), outputs["GATEWAY_HOST"], outputs["CA_CERT_PEM"], tmp_path)
    print(result.stdout[-600:])
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\d+ passed, 0 failed$", result.stdout, re.MULTILINE), result.stdout
    assert set(SEED_CHECKS) <= set(passed_checks(result.stdout))


# --- the platform and its applications ----------------------------------------------------------------

PLATFORM_NAMESPACE = "gateway-platform"
PLATFORM_REFERENCE = "organization/gateway-platform/platform"
DOMAIN = "apps.example.com"
TEAMS = ("team-a", "team-b")


def application_config(team: str, **changes) -> dict:
    return {"platformStack": PLATFORM_REFERENCE, "namespace": team, "hostnames": [f"{team}.{DOMAIN}"], **changes}


@pytest.fixture(scope="module")
def platform(cluster, engine_binaries, package) -> dict:
    """The platform example up, its wildcard certificate made beforehand; its outputs."""
    create_tls_secret(cluster, PLATFORM_NAMESPACE, {
        "secretName": "apps-wildcard-cert", "ca": {"commonName": f"{DOMAIN} CA", "organization": "platform team"},
        "subject": {"commonName": f"*.{DOMAIN}"}, "dnsNames": [f"*.{DOMAIN}"],
    })
    pulumi = example_cli(cluster, engine_binaries, "platform", "platform", package.virtualenv, {
        "createNamespace": False, "installController": False, "certificateSource": "existingSecret",
    })
    started = time.monotonic()
    pulumi.up("platform")
    print(f"platform up in {time.monotonic() - started:.0f} s")
    return pulumi.outputs("platform")


@pytest.fixture(scope="module")
def applications(cluster, engine_binaries, package, platform) -> dict:
    """team-a and team-b, each an application stack in its own namespace."""
    deployed = {}
    for team in TEAMS:
        pulumi = example_cli(cluster, engine_binaries, "application", team, package.virtualenv, application_config(team))
        started = time.monotonic()
        pulumi.up(team)
        print(f"application {team} up in {time.monotonic() - started:.0f} s")
        deployed[team] = pulumi
    return deployed


def test_each_application_is_served_from_its_own_namespace_through_the_shared_gateway(cluster, platform, applications) -> None:
    for team in TEAMS:
        answer = request(cluster, platform["GATEWAY_HOST"], 80, f"{team}.{DOMAIN}")
        assert answer["status"] == 200, answer
        assert answer["body"]["namespace"] == team
    assert request(cluster, platform["GATEWAY_HOST"], 80, f"team-z.{DOMAIN}")["status"] == 404


def test_an_application_whose_namespace_the_listener_does_not_admit_is_refused_before_anything_is_declared(
    cluster, engine_binaries, package, platform, applications
) -> None:
    # GIVEN team-c asks for the platform's internal listener, which admits the platform's namespace only
    pulumi = example_cli(cluster, engine_binaries, "application", "team-c", package.virtualenv, application_config("team-c", listener="internal"))
    message = (
        f"config namespace 'team-c' is not admitted by listener 'internal' of Gateway {PLATFORM_NAMESPACE}/shared of stack "
        f"{PLATFORM_REFERENCE}: its output GATEWAY_LISTENERS says the listener admits routes from its own namespace "
        f"({PLATFORM_NAMESPACE}) only"
    )
    for arguments in (["preview", "--stack", "team-c"], ["up", "--stack", "team-c", "--yes", "--skip-preview"]):
        # WHEN it is previewed, and brought up
        result = pulumi.run(arguments, echo=False, check=False)
        printed = result.stdout + result.stderr
        # THEN both fail with the one line, and no traceback
        assert result.returncode != 0
        assert message in printed, printed
        assert "Traceback" not in printed
    # AND nothing of it exists: no namespace, no route, nothing in its state
    assert "NotFound" in kubectl(cluster, "get", "namespace", "team-c", check=False).stderr
    routes = kubectl_json(cluster, "get", "httproutes", "-A")["items"]
    assert not [route for route in routes if route["metadata"]["namespace"] == "team-c"]
    state = json.loads(pulumi.run(["stack", "export", "--stack", "team-c"], echo=False).stdout)
    assert not [item for item in state["deployment"].get("resources") or [] if item["type"].startswith("kubernetes:")]
    pulumi.remove_stack("team-c")


def test_destroying_one_application_leaves_the_platform_and_the_other_serving_without_a_failed_request(
    cluster, platform, applications, tmp_path: Path
) -> None:
    address = platform["GATEWAY_HOST"]
    stop = tmp_path / "stop"
    # GIVEN a client sending requests to team-b the whole time
    client = steady_client(cluster, address, 80, f"team-b.{DOMAIN}", stop, max_requests=20000, max_seconds=420)
    try:
        time.sleep(1)
        # WHEN team-a is destroyed
        started = time.monotonic()
        applications["team-a"].destroy("team-a")
        destroyed_in = time.monotonic() - started
        time.sleep(1)
    finally:
        stop.touch()
        output, errors = client.communicate(timeout=120)
    summary = json.loads(output)
    print(f"team-a destroyed in {destroyed_in:.0f} s; meanwhile {summary['sent']} requests to team-b in {summary['seconds']} s, "
          f"{summary['failed']} failed")
    # THEN no request to team-b failed, team-a is gone, team-b and the platform still serve
    assert summary["sent"] > 0
    assert summary["failed"] == 0, summary["failures"]
    assert request(cluster, address, 80, f"team-a.{DOMAIN}")["status"] == 404
    assert request(cluster, address, 80, f"team-b.{DOMAIN}")["status"] == 200
    gateway = kubectl_json(cluster, "get", "gateway", "-n", PLATFORM_NAMESPACE, "shared")
    assert {item["type"]: item["status"] for item in gateway["status"]["conditions"]}["Programmed"] == "True"
    assert "NotFound" in kubectl(cluster, "get", "namespace", "team-a", check=False).stderr
