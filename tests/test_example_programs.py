"""Specification: the example programs in examples/ (a user's programs: only `pulumi_envoy_gateway`
imported) declare what their docstrings say, under the SDK's mock engine; and the shared-Gateway
checks an application runs before it declares anything (components/shared_gateway.py).

The same programs are deployed for real in tests/cluster/test_examples.py.
"""

from __future__ import annotations

import ast
import json
import runpy
from pathlib import Path
from typing import Any, Optional

import pulumi
import pytest
import yaml
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from gatestack.mock_engine.program_run import PLACEHOLDER_ADDRESS, ProgramFailed, ProgramRun, _Mocks, _RecordingMonitor
from gatestack.stand_ins.pulumi_tls_material import PlaceholderMaterial
from pulumi_envoy_gateway.shared_gateway import (
    GATEWAY_HOST,
    GATEWAY_LISTENERS,
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    READ_STACK_OUTPUTS,
    ROUTE_NAMESPACE_LABELS,
    RouteNamespaceAdmission,
    SharedGateway,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLATFORM_STACK = "organization/gateway-platform/platform"
LABEL = {"gateway.example.com/shared": "true"}
PLATFORM_OUTPUTS = {
    GATEWAY_NAME: "shared",
    GATEWAY_NAMESPACE: "gateway-platform",
    GATEWAY_HOST: "10.0.0.7",
    GATEWAY_LISTENERS: [
        {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.apps.example.com", "admits": {"from": "Selector", "matchLabels": LABEL}},
        {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "*.apps.example.com", "admits": {"from": "Selector", "matchLabels": LABEL}},
        {"name": "internal", "protocol": "HTTP", "port": 9080, "hostname": "*.internal.apps.example.com", "admits": {"from": "Same"}},
    ],
    ROUTE_NAMESPACE_LABELS: LABEL,
}


class _PlatformMocks(_Mocks):
    """The mock engine, with a platform stack whose outputs are `stacks[name]`."""

    def __init__(self, stacks: dict[str, dict[str, Any]]):
        super().__init__(PlaceholderMaterial(), PLACEHOLDER_ADDRESS, {})
        self.stacks = stacks

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == READ_STACK_OUTPUTS:
            return {"name": args.args["name"], "outputs": self.stacks.get(args.args["name"], {}), "secretOutputNames": []}
        return {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":
            return [args.resource_id, {"name": args.resource_id, "outputs": self.stacks.get(args.resource_id, {}), "secretOutputNames": []}]
        return super().new_resource(args)


def run_example(example: str, config: dict[str, Any], stacks: Optional[dict[str, dict[str, Any]]] = None) -> ProgramRun:
    """examples/<example>/__main__.py under mocks, its project's config set from `config`."""
    project = yaml.safe_load((EXAMPLES / example / "Pulumi.yaml").read_text())["name"]
    mocks = _PlatformMocks(stacks or {})
    monitor = _RecordingMonitor(mocks)
    settings.set_root_resource(None)
    settings.SETTINGS.outputs.clear()
    raw = {f"{project}:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    pulumi.runtime.set_all_config(raw, [])
    pulumi.runtime.set_mocks(mocks, project=project, stack="test", preview=False, monitor=monitor)
    root = settings.get_root_resource()
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(EXAMPLES / example / "__main__.py"), run_name="__main__")))
    except pulumi.RunError as error:
        raise ProgramFailed(str(error), monitor.declared) from None
    finally:
        pulumi.runtime.set_all_config({}, [])
    outputs = {key: _sync_await(pulumi.Output.from_input(value).future()) for key, value in root.outputs.items()}
    return ProgramRun(resources=monitor.declared, outputs=outputs)


def kubernetes_objects(run: ProgramRun) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> inputs of every Kubernetes object the run declared (reads left out)."""
    found = {}
    for resource in run.resources:
        if resource.type.startswith("kubernetes:") and not resource.read and "providers" not in resource.type:
            kind = resource.type.rsplit(":", 1)[-1]
            found[(kind, (resource.inputs.get("metadata") or {}).get("name", resource.name))] = resource.inputs
    return found


# --- the examples import only the package ------------------------------------------------------------


@pytest.mark.parametrize("example", ["seed", "platform", "application"])
def test_an_example_imports_only_the_package_and_the_pulumi_sdks(example: str) -> None:
    tree = ast.parse((EXAMPLES / example / "__main__.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"pulumi", "pulumi_kubernetes", "pulumi_envoy_gateway"}


# --- the seed ---------------------------------------------------------------------------------------


def test_the_seed_example_declares_the_seed_guides_objects() -> None:
    run = run_example("seed", {})
    objects = kubernetes_objects(run)
    gateway = objects[("Gateway", "eg")]
    assert gateway["spec"]["gatewayClassName"] == "eg"
    assert [(item["name"], item["protocol"], item["port"]) for item in gateway["spec"]["listeners"]] == [("http", "HTTP", 80), ("https", "HTTPS", 443)]
    route = objects[("HTTPRoute", "backend")]["spec"]
    assert route["hostnames"] == ["www.example.com"]
    assert [(ref["name"], ref["weight"]) for ref in route["rules"][0]["backendRefs"]] == [("backend", 8), ("backend-2", 2)]
    assert {("Deployment", "backend"), ("Deployment", "backend-2"), ("Secret", "example-cert")} <= set(objects)
    assert run.outputs["GATEWAY_HOST"] == PLACEHOLDER_ADDRESS


def test_the_seed_example_on_a_managed_controller_with_an_existing_secret_declares_no_chart_and_no_secret() -> None:
    run = run_example("seed", {"installController": "false", "certificateSource": "existingSecret", "namespace": "seed-example"})
    types = {resource.type for resource in run.resources if not resource.read}
    assert not any(kind.startswith("kubernetes:helm") or kind.startswith("tls:") for kind in types)
    assert ("Secret", "example-cert") not in kubernetes_objects(run)
    assert kubernetes_objects(run)[("Gateway", "eg")]["metadata"]["namespace"] == "seed-example"


# --- the platform -----------------------------------------------------------------------------------


def test_the_platform_example_admits_routes_from_labelled_namespaces_on_its_application_listeners() -> None:
    run = run_example("platform", {"installController": "false", "certificateSource": "existingSecret"})
    listeners = {item["name"]: item for item in kubernetes_objects(run)[("Gateway", "shared")]["spec"]["listeners"]}
    selector = {"from": "Selector", "selector": {"matchLabels": LABEL}}
    assert listeners["http"]["allowedRoutes"]["namespaces"] == selector
    assert listeners["https"]["allowedRoutes"]["namespaces"] == selector
    assert "allowedRoutes" not in listeners["internal"] or listeners["internal"]["allowedRoutes"]["namespaces"]["from"] == "Same"


def test_the_platform_example_exports_what_an_application_reads() -> None:
    run = run_example("platform", {"installController": "false", "certificateSource": "existingSecret"})
    shared = SharedGateway.from_outputs(PLATFORM_STACK, run.outputs)
    assert (shared.name, shared.namespace, shared.address) == ("shared", "gateway-platform", PLACEHOLDER_ADDRESS)
    assert [(item.name, item.port, item.hostname, item.admits["from"]) for item in shared.listeners] == [
        ("http", 80, "*.apps.example.com", "Selector"),
        ("https", 443, "*.apps.example.com", "Selector"),
        ("internal", 9080, "*.internal.apps.example.com", "Same"),
    ]
    assert shared.route_namespace_labels == LABEL


# --- the application --------------------------------------------------------------------------------

APPLICATION = {"platformStack": PLATFORM_STACK, "namespace": "team-a", "hostnames": ["team-a.apps.example.com"]}


def test_the_application_example_attaches_its_route_to_the_platforms_listener_from_its_labelled_namespace() -> None:
    run = run_example("application", APPLICATION, {PLATFORM_STACK: PLATFORM_OUTPUTS})
    objects = kubernetes_objects(run)
    assert objects[("Namespace", "team-a")]["metadata"]["labels"] == LABEL
    route = objects[("HTTPRoute", "team-a")]
    assert route["metadata"]["namespace"] == "team-a"
    assert route["spec"]["parentRefs"] == [{"name": "shared", "namespace": "gateway-platform", "sectionName": "http"}]
    assert ("Deployment", "echo") in objects
    assert not any(kind == "Gateway" for kind, _ in objects)
    assert run.outputs["GATEWAY_HOST"] == "10.0.0.7"


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"listener": "internal"},
            "config namespace 'team-a' is not admitted by listener 'internal' of Gateway gateway-platform/shared of stack "
            f"{PLATFORM_STACK}: its output GATEWAY_LISTENERS says the listener admits routes from its own namespace "
            "(gateway-platform) only",
        ),
        (
            {"hostnames": ["team-a.example.org"]},
            "config hostnames[0] 'team-a.example.org' is outside listener 'http' of Gateway gateway-platform/shared of stack "
            f"{PLATFORM_STACK}: its output GATEWAY_LISTENERS gives the listener hostname *.apps.example.com",
        ),
        (
            {"listener": "admin"},
            "config listener 'admin' is not a listener of Gateway gateway-platform/shared of stack "
            f"{PLATFORM_STACK}: its output GATEWAY_LISTENERS offers http, https, internal",
        ),
    ],
)
def test_the_application_example_refuses_what_the_gateway_would_not_accept_before_declaring_anything(change, message) -> None:
    with pytest.raises(ProgramFailed) as refused:
        run_example("application", {**APPLICATION, **change}, {PLATFORM_STACK: PLATFORM_OUTPUTS})
    assert str(refused.value) == message
    assert refused.value.resources == []


def test_the_application_example_names_a_stack_that_is_not_a_platform() -> None:
    with pytest.raises(ProgramFailed) as refused:
        run_example("application", APPLICATION, {})
    assert str(refused.value).startswith(f"stack {PLATFORM_STACK} has no output GATEWAY_NAME, GATEWAY_NAMESPACE")


# --- the checks on their own ------------------------------------------------------------------------


def shared_gateway() -> SharedGateway:
    return SharedGateway.from_outputs(PLATFORM_STACK, PLATFORM_OUTPUTS)


def test_a_labelled_namespace_is_admitted_by_a_selector_listener_and_an_unlabelled_one_is_not() -> None:
    assert shared_gateway().check_attachment(namespace="team-b", namespace_labels=LABEL, section_name="https").name == "https"
    with pytest.raises(pulumi.RunError, match=r"^namespace 'team-b' is not admitted by listener 'http' .* admits routes from "
                       r"namespaces labelled gateway.example.com/shared=true only \(output ROUTE_NAMESPACE_LABELS\)$"):
        shared_gateway().check_attachment(namespace="team-b", namespace_labels={}, section_name="http")


def test_the_platforms_own_namespace_is_admitted_by_a_same_namespace_listener() -> None:
    shared_gateway().check_attachment(namespace="gateway-platform", namespace_labels={}, section_name="internal",
                                      hostnames=["grafana.internal.apps.example.com"])


def test_a_hostname_deeper_under_the_wildcard_is_inside_and_the_bare_domain_is_not() -> None:
    shared_gateway().check_attachment(namespace="team-a", namespace_labels=LABEL, section_name="http", hostnames=["a.b.apps.example.com"])
    with pytest.raises(pulumi.RunError, match=r"^hostnames\[1\] 'apps.example.com' is outside listener 'http'"):
        shared_gateway().check_attachment(namespace="team-a", namespace_labels=LABEL, section_name="http",
                                          hostnames=["a.apps.example.com", "apps.example.com"])


def test_the_admission_sets_a_selector_on_the_named_listeners_only() -> None:
    admission = RouteNamespaceAdmission(labels=LABEL, listeners=["http"])
    spec = {"listeners": [{"name": "http", "port": 80}, {"name": "internal", "port": 9080, "allowedRoutes": {"namespaces": {"from": "Same"}}}]}
    changed = admission._spec(spec)
    assert changed["listeners"][0]["allowedRoutes"] == {"namespaces": {"from": "Selector", "selector": {"matchLabels": LABEL}}}
    assert changed["listeners"][1] == spec["listeners"][1]


def test_an_admission_without_labels_is_refused() -> None:
    with pytest.raises(pulumi.RunError, match="give at least one label"):
        RouteNamespaceAdmission(labels={})
