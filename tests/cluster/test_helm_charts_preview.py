"""Specification (real engine, local cluster): the charts `gatestack charts` writes are what
pulumi-kubernetes' helm.v4.Chart renders, from a local directory, into the objects of Envoy
Gateway's own install: `pulumi preview` of an EnvoyGatewayController with `install: true`,
including the certgen hook (its Job and RBAC) that helm.v4.Chart leaves out.

The cluster's namespace has no way out, so what the preview plans can only come from the
local directory. The program (tests/cluster/chart_program.py) installs into a namespace of its
own, `eg-charts`. What `pulumi up` of it does, with the certgen Job's pod and the controller's
pod run as a kubelet would, is tests/cluster/test_helm_chart_install.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.node_agent import pod_kind
from gatestack.engine.pulumi_cli import preview_steps, resource_type_of
from tests.cluster.chart_program import CERTGEN, NAMESPACE, PROGRAM, VERSION, program_engine

STACK = "charts"


@pytest.fixture(scope="module")
def planned(cluster: ClusterLayout, engine_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The steps `pulumi preview --json` plans for the program above."""
    pulumi = program_engine(cluster, engine_binaries, tmp_path_factory.mktemp("chart-install"), PROGRAM, STACK)
    try:
        result = pulumi.run(["preview", "--stack", STACK, "--json"], echo=False, check=False)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        steps = preview_steps(result.stdout)
        print(f"pulumi preview planned {sum(step.get('op') == 'create' for step in steps)} creates from the local charts")
        return steps
    finally:
        pulumi.remove_stack(STACK)


def step_of(steps: list[dict[str, Any]], resource_type: str, name: str) -> tuple[int, dict[str, Any]]:
    """The position of the step creating the object `name` of `resource_type`, and the step."""
    for index, step in enumerate(steps):
        inputs = (step.get("newState") or {}).get("inputs") or {}
        if step.get("op") == "create" and resource_type_of(step.get("urn", "")) == resource_type:
            if (inputs.get("metadata") or {}).get("name") == name:
                return index, step
    raise AssertionError(f"no {resource_type} {name} planned")


def created(steps: list[dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    """The objects of `resource_type` the preview would create, by `metadata.name`."""
    found = {}
    for step in steps:
        if step.get("op") == "create" and resource_type_of(step.get("urn", "")) == resource_type:
            inputs = (step.get("newState") or {}).get("inputs") or {}
            found[(inputs.get("metadata") or {}).get("name")] = inputs
    return found


def test_the_controller_chart_renders_the_released_controller(planned: list[dict[str, Any]]) -> None:
    # THEN the chart's Deployment runs the released image with the chart's pull policy
    deployments = created(planned, "kubernetes:apps/v1:Deployment")
    assert "envoy-gateway" in deployments, sorted(deployments)
    (container,) = [c for c in deployments["envoy-gateway"]["spec"]["template"]["spec"]["containers"] if c["name"] == "envoy-gateway"]
    assert container["image"] == f"docker.io/envoyproxy/gateway:{VERSION}" and container["imagePullPolicy"] == "IfNotPresent"
    # AND its ServiceAccount and Service are part of the install
    assert "envoy-gateway" in created(planned, "kubernetes:core/v1:ServiceAccount")
    assert "envoy-gateway" in created(planned, "kubernetes:core/v1:Service")


CERTGEN_RBAC = (
    ("kubernetes:core/v1:ServiceAccount", CERTGEN),
    ("kubernetes:rbac.authorization.k8s.io/v1:Role", CERTGEN),
    ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", CERTGEN),
)


def test_the_certgen_job_and_its_rbac_are_planned_before_the_controller(planned: list[dict[str, Any]]) -> None:
    # GIVEN gateway-helm, whose controller mounts the `envoy-gateway` Secret that its pre-install
    # hook Job (templates/certgen.yaml, certgen-rbac.yaml) writes, and which helm.v4.Chart skips
    # (pulumi/pulumi-kubernetes#3284)
    deployment_at, _ = step_of(planned, "kubernetes:apps/v1:Deployment", "envoy-gateway")
    mounted = created(planned, "kubernetes:apps/v1:Deployment")["envoy-gateway"]["spec"]["template"]["spec"]["volumes"]
    assert any((volume.get("secret") or {}).get("secretName") == "envoy-gateway" for volume in mounted), mounted
    # THEN the certgen Job is planned, running the released image's `envoy-gateway certgen`
    job_at, job = step_of(planned, "kubernetes:batch/v1:Job", CERTGEN)
    (container,) = job["newState"]["inputs"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["envoy-gateway", "certgen"]
    assert container["image"] == f"docker.io/envoyproxy/gateway:{VERSION}"
    # AND its ServiceAccount, Role and RoleBinding before it, the Job depending on each
    rbac = [step_of(planned, resource_type, name) for resource_type, name in CERTGEN_RBAC]
    assert all(index < job_at for index, _ in rbac), [index for index, _ in rbac] + [job_at]
    assert {step["urn"] for _, step in rbac} <= set(job["newState"].get("dependencies") or [])
    # AND all of them before the controller's Chart, which waits for the hooks: the SDK registers a
    # resource once what it depends on is registered, and a ConfigGroup is once its objects are
    # (the Job: complete), so the Chart and every object in it, the Deployment too, come after
    assert max(index for index, _ in rbac) < job_at < deployment_at
    ((chart_at, chart),) = [
        (index, step) for index, step in enumerate(planned) if step.get("urn", "").endswith("$kubernetes:helm.sh/v4:Chart::envoy-gateway-chart")
    ]
    (certgen,) = [step["urn"] for step in planned if step.get("urn", "").endswith("$kubernetes:yaml/v2:ConfigGroup::envoy-gateway-certgen")]
    in_certgen = [index for index, step in enumerate(planned) if "$kubernetes:yaml/v2:ConfigGroup$" in step.get("urn", "")]
    in_chart = [index for index, step in enumerate(planned) if "$kubernetes:helm.sh/v4:Chart$" in step.get("urn", "") and "::envoy-gateway-chart:" in step.get("urn", "")]
    assert certgen in (chart["newState"].get("dependencies") or [])
    assert max(in_certgen) < chart_at < min(in_chart), (in_certgen, chart_at, in_chart)
    print(f"certgen RBAC at steps {[index for index, _ in rbac]}, its Job at {job_at}, the controller's Chart at {chart_at}, its Deployment at {deployment_at}")


def test_every_pre_install_hook_of_the_chart_is_in_the_certgen_group_and_nothing_else(planned: list[dict[str, Any]]) -> None:
    # GIVEN the chart's defaults (topologyInjector.enabled: true)
    in_group = {
        (resource_type_of(step["urn"]), step["newState"]["inputs"]["metadata"]["name"])
        for step in planned
        if step.get("op") == "create" and "$kubernetes:yaml/v2:ConfigGroup$" in step["urn"]
    }
    # THEN the group holds templates/certgen*.yaml and the topology injector's webhook, all hooks
    assert in_group == {
        *CERTGEN_RBAC,
        ("kubernetes:batch/v1:Job", CERTGEN),
        ("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", f"{CERTGEN}:{NAMESPACE}"),
        ("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", f"{CERTGEN}:{NAMESPACE}"),
        ("kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration", f"envoy-gateway-topology-injector.{NAMESPACE}"),
    }


def test_the_crds_are_retained_on_delete_and_the_controllers_objects_are_not(planned: list[dict[str, Any]]) -> None:
    crds = [step for step in planned if resource_type_of(step.get("urn", "")) == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"]
    assert crds and all(step["newState"].get("retainOnDelete") for step in crds), [step["urn"] for step in crds if not step["newState"].get("retainOnDelete")]
    _, deployment = step_of(planned, "kubernetes:apps/v1:Deployment", "envoy-gateway")
    _, job = step_of(planned, "kubernetes:batch/v1:Job", CERTGEN)
    assert not deployment["newState"].get("retainOnDelete") and not job["newState"].get("retainOnDelete")


def test_the_crds_chart_renders_envoy_gateways_and_gateway_apis_crds(planned: list[dict[str, Any]]) -> None:
    crds = created(planned, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert {"envoyproxies.gateway.envoyproxy.io", "gateways.gateway.networking.k8s.io"} <= set(crds)



def test_the_node_agent_runs_the_charts_controller_and_certgen_pods_as_envoy_gateway(planned: list[dict[str, Any]]) -> None:
    # GIVEN the pod templates the chart renders (labels, container command and arguments)
    deployment = created(planned, "kubernetes:apps/v1:Deployment")["envoy-gateway"]
    job = created(planned, "kubernetes:batch/v1:Job")[CERTGEN]
    # THEN the node agent recognises each and runs the envoy-gateway binary for it, not a stand-in
    assert pod_kind(deployment["spec"]["template"]) == "envoy-gateway"
    assert pod_kind(job["spec"]["template"]) == "certgen"
    # AND the Job's pod is one whose end is its container's exit
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
