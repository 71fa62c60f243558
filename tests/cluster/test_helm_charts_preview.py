"""Specification (real engine, local cluster): the charts `gatestack charts` writes are what
pulumi-kubernetes' helm.v4.Chart renders, from a local directory, into the objects of Envoy
Gateway's own install: `pulumi preview` of an EnvoyGatewayController with `install: true`,
including the certgen hook (its Job and RBAC) that helm.v4.Chart leaves out.

The cluster's namespace has no way out, so what the preview plans can only come from the
local directory. The program installs into a namespace of its own, `eg-charts`: the cluster's
own controller (the managed mode) runs in `envoy-gateway-system`, and this stack's destroy deletes
its namespace, with everything the other tests' controller keeps there. The cluster runs Envoy Gateway's controller out of cluster (the managed mode);
running the chart's controller pod and the certgen Job's pod as a kubelet would is issue 21's
next part. Until then `pulumi up` cannot complete: it is run with the Job's wait cut short, to
show what it creates before the Job and that it starts nothing of the controller's chart
before the Job completed, and then `pulumi destroy`, to show that it leaves the CRDs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import inside_command
from gatestack.engine.deploy import engine_layout
from gatestack.engine.pulumi_cli import PulumiCli, link_binaries, preview_steps, resource_type_of
from gatestack.engine.workspace import prepare_program_workspace
from gatestack.paths import VIRTUALENV
from gatestack.toolchain.helm_charts import write_released_charts
from tests.cluster.cluster_support import kubectl

VERSION = "v1.9.0"
STACK = "charts"
PROGRAM = '''"""Envoy Gateway installed from the charts in a local directory, and nothing else."""
import pulumi
from pulumi_envoy_gateway import EnvoyGatewayController

config = pulumi.Config()
EnvoyGatewayController(
    "envoy-gateway", namespace="eg-charts", version=config.require("version"), chart_repository=config.require("chartRepository")
)
'''


# The same, with the waits of the certgen Job and the controller's Deployment and Service cut to
# 20 s: their pods do not become Ready here, so `pulumi up` stops at the Job, which shows what it
# had created by then, and what it had not; a second up, going on past errors, stops at the
# Deployment and the Service (which pulumi-kubernetes holds until an endpoint is ready) in 20 s,
# not 10 min each.
PROGRAM_WAITING_FOR_THE_JOB = PROGRAM.replace(
    "config = pulumi.Config()\n",
    """config = pulumi.Config()


def short_job_wait(args):
    if args.type_ not in ("kubernetes:batch/v1:Job", "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"):
        return None
    timeouts = pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="20s"))
    return pulumi.ResourceTransformResult(args.props, pulumi.ResourceOptions.merge(args.opts, timeouts))


pulumi.runtime.register_resource_transform(short_job_wait)
""",
)
NAMESPACE = "eg-charts"
CRDS = ("envoyproxies.gateway.envoyproxy.io", "backendtrafficpolicies.gateway.envoyproxy.io")


def program_engine(cluster: ClusterLayout, engine_binaries: dict[str, Path], folder: Path, text: str, stack: str) -> PulumiCli:
    """The real engine on `text` as a program of its own, its charts written by `gatestack charts`
    into `folder`, `stack` selected."""
    write_released_charts(VERSION, folder / "charts")
    program = folder / "chart-install"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: chart-install\nruntime: python\n")
    (program / "__main__.py").write_text(text)
    layout = engine_layout(cluster)
    link_binaries(layout, engine_binaries)
    config = {"chart-install:version": VERSION, "chart-install:chartRepository": str(folder / "charts")}
    workspace = prepare_program_workspace(layout, program, stack, VIRTUALENV, config)
    pulumi = PulumiCli(layout, workspace, cluster.kubeconfig, VIRTUALENV, wrap=lambda command: inside_command(cluster, command))
    pulumi.select_stack(stack)
    return pulumi


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


def state_objects(pulumi: PulumiCli, stack: str) -> set[tuple[str, str]]:
    """(type, metadata.name) of each Kubernetes object in the stack's state."""
    resources = pulumi.export(stack)["deployment"].get("resources") or []
    return {(item["type"], ((item.get("inputs") or {}).get("metadata") or {}).get("name")) for item in resources}


@pytest.fixture(scope="module")
def applied(cluster: ClusterLayout, engine_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What `pulumi up` of the program (the Job's wait cut short) left in the cluster and its
    state; then, after a second up with `--continue-on-error` (so that what does not wait for
    the Job, the CRDs, is applied too; the engine then goes on with the controller's Chart as
    well, and waits 20 s for its Deployment and Service), the state, and which CRDs `pulumi destroy` left."""
    stack = f"{STACK}-up"
    pulumi = program_engine(cluster, engine_binaries, tmp_path_factory.mktemp("chart-up"), PROGRAM_WAITING_FOR_THE_JOB, stack)
    try:
        up = pulumi.run(["up", "--stack", stack, "--yes", "--skip-preview"], echo=False, check=False)
        found = {
            kind: kubectl(cluster, "get", kind, "--namespace", NAMESPACE, "--ignore-not-found", "--output", "name").stdout.split()
            for kind in ("serviceaccounts", "roles", "rolebindings", "jobs", "deployments")
        }
        in_state = state_objects(pulumi, stack)
        pulumi.run(["up", "--stack", stack, "--yes", "--skip-preview", "--continue-on-error"], echo=False, check=False)
        in_state_after_all = state_objects(pulumi, stack)
        destroy = pulumi.run(["destroy", "--stack", stack, "--yes", "--skip-preview"], echo=False, check=False)
        kept = [crd for crd in CRDS if kubectl(cluster, "get", "crd", crd, "--ignore-not-found", "--output", "name").stdout.strip()]
        others = kubectl(cluster, "get", "namespace", "envoy-gateway-system", "--ignore-not-found", "--output", "name").stdout.split()
        print(f"pulumi up exited {up.returncode}; in the namespace then: {found}; after destroy (exit {destroy.returncode}) CRDs kept: {kept}")
        return {"up": up, "found": found, "in_state": in_state, "in_state_after_all": in_state_after_all, "destroy": destroy, "kept": kept, "others": others}
    finally:
        pulumi.remove_stack(stack)


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


CERTGEN = "eg-gateway-helm-certgen"
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



def test_up_creates_the_certgen_job_and_its_rbac_and_waits_for_the_job_before_the_controller(applied: dict[str, Any]) -> None:
    # GIVEN a cluster where nothing runs the certgen Job's pod WHEN `pulumi up` (20 s for the Job)
    up = applied["up"]
    # THEN up stops at the Job, having created its ServiceAccount, Role and RoleBinding, and the Job
    assert up.returncode != 0 and CERTGEN in up.stdout + up.stderr, up.stdout[-3000:]
    found, in_state = applied["found"], applied["in_state"]
    assert f"serviceaccount/{CERTGEN}" in found["serviceaccounts"], found
    assert f"role.rbac.authorization.k8s.io/{CERTGEN}" in found["roles"], found
    assert f"rolebinding.rbac.authorization.k8s.io/{CERTGEN}" in found["rolebindings"], found
    assert {*CERTGEN_RBAC, ("kubernetes:batch/v1:Job", CERTGEN)} <= in_state, sorted(in_state, key=str)
    # AND nothing of the controller's Chart was created: no Deployment, in the cluster or the state
    assert found["deployments"] == [], found
    assert ("kubernetes:apps/v1:Deployment", "envoy-gateway") not in in_state


def test_destroy_leaves_the_crds_the_stack_applied(applied: dict[str, Any]) -> None:
    # GIVEN the CRDs the stack applied (server-side: its state holds them)
    crd_type = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
    assert {(crd_type, crd) for crd in CRDS} <= applied["in_state_after_all"], sorted(applied["in_state_after_all"], key=str)
    # THEN destroy succeeds and leaves them in the cluster (retain_on_delete)
    assert applied["destroy"].returncode == 0, applied["destroy"].stdout[-3000:] + applied["destroy"].stderr[-3000:]
    assert applied["kept"] == list(CRDS)


def test_destroy_leaves_the_clusters_own_controller_namespace(applied: dict[str, Any]) -> None:
    # GIVEN the cluster's managed controller in `envoy-gateway-system`, which the tests after this
    # one deploy their stacks against, and this stack's controller in a namespace of its own
    # THEN destroying this stack deletes its own namespace only
    assert applied["destroy"].returncode == 0
    assert applied["others"] == ["namespace/envoy-gateway-system"], applied["others"]
