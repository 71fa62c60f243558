"""Specification: the engine's workspaces (gatestack/engine/workspace.py) run any program folder
with any virtualenv: this project's program (or an earlier commit's checkout of it), and the
example programs, each with its stack config, keeping the encryption salt `pulumi stack init`
wrote."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import yaml

from gatestack.engine.workspace import EngineLayout, deployed_to_local_cluster, prepare_program_workspace, prepare_workspace
from gatestack.paths import REPOSITORY_ROOT
from gatestack.stack_source import load_stack
from gatestack.verify.verification_run import VerificationRequest


def test_a_program_workspace_runs_the_example_folder_with_the_virtualenv_given(tmp_path: Path) -> None:
    layout = EngineLayout(tmp_path / "engine")
    program = REPOSITORY_ROOT / "examples" / "seed"
    workspace = prepare_program_workspace(layout, program, "one", tmp_path / "venv", {"envoy-gateway-seed:namespace": "one"})
    project = yaml.safe_load((workspace / "Pulumi.yaml").read_text())
    assert project["name"] == "envoy-gateway-seed"
    assert (workspace / project["main"]).resolve() == program
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": str(tmp_path / "venv")}}
    assert "stackConfigDir" not in project
    assert yaml.safe_load((workspace / "Pulumi.one.yaml").read_text()) == {"config": {"envoy-gateway-seed:namespace": "one"}}


def test_a_program_workspace_keeps_the_stacks_encryption_salt_when_its_config_changes(tmp_path: Path) -> None:
    layout = EngineLayout(tmp_path / "engine")
    program = REPOSITORY_ROOT / "examples" / "seed"
    workspace = prepare_program_workspace(layout, program, "one", tmp_path / "venv", {"envoy-gateway-seed:namespace": "one"})
    stack_file = workspace / "Pulumi.one.yaml"
    stack_file.write_text(stack_file.read_text() + "encryptionsalt: v1:salt\n")
    prepare_program_workspace(layout, program, "one", tmp_path / "venv", {"envoy-gateway-seed:namespace": "two"})
    assert yaml.safe_load(stack_file.read_text()) == {"config": {"envoy-gateway-seed:namespace": "two"}, "encryptionsalt": "v1:salt"}


def test_two_programs_get_workspaces_of_their_own(tmp_path: Path) -> None:
    layout = EngineLayout(tmp_path / "engine")
    platform = prepare_program_workspace(layout, REPOSITORY_ROOT / "examples" / "platform", "p", tmp_path / "venv", {})
    application = prepare_program_workspace(layout, REPOSITORY_ROOT / "examples" / "application", "a", tmp_path / "venv", {})
    assert platform != application and platform.parent == application.parent


def test_the_projects_workspace_can_run_an_earlier_checkout_of_the_program(tmp_path: Path) -> None:
    # GIVEN a checkout of the program elsewhere, whose dev stack file differs
    earlier = tmp_path / "earlier"
    (earlier / "stacks").mkdir(parents=True)
    (earlier / "Pulumi.yaml").write_text((REPOSITORY_ROOT / "Pulumi.yaml").read_text())
    (earlier / "stacks" / "Pulumi.dev.yaml").write_text("config:\n  api-gateway:namespace: earlier\n")
    layout = EngineLayout(tmp_path / "engine")
    # WHEN the workspace is prepared for it
    workspace = prepare_workspace(layout, "dev", tmp_path / "venv", program=earlier)
    # THEN main points at it and the stack's config is its own
    project = yaml.safe_load((workspace / "Pulumi.yaml").read_text())
    assert Path(os.path.normpath(workspace / project["main"])) == earlier
    assert yaml.safe_load((workspace / "stacks" / "Pulumi.dev.yaml").read_text())["config"]["api-gateway:namespace"] == "earlier"
    # AND prepared again for this repository, main points back here
    workspace = prepare_workspace(layout, "dev", tmp_path / "venv")
    assert (workspace / yaml.safe_load((workspace / "Pulumi.yaml").read_text())["main"]).resolve() == REPOSITORY_ROOT


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_the_stack_deployed_to_the_local_cluster_is_the_one_parsed_with_the_two_local_settings(tmp_path: Path, stack: str) -> None:
    # GIVEN a stack as the command line parsed it (controller installed, certificates or client CAs generated)
    source = load_stack(stack, None)
    generated = [*source.config.certificates, *source.config.client_certificate_authorities]
    assert source.config.controller.install and any(item.source == "generate" for item in generated)
    # WHEN it is derived for the local cluster
    deployed = deployed_to_local_cluster(source)
    # THEN its config says what the workspace's stack file says: the managed controller, every
    # certificate and client CA from an existing Secret; everything else as written
    assert deployed.config.controller.install is False
    assert {item.source for item in [*deployed.config.certificates, *deployed.config.client_certificate_authorities]} == {"existingSecret"}
    assert deployed.config.routes == source.config.routes and deployed.config.gateway == source.config.gateway
    workspace = prepare_workspace(EngineLayout(tmp_path / "engine"), deployed.name, tmp_path / "venv", deployed.text)
    written = yaml.safe_load((workspace / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert written == yaml.safe_load(deployed.text)["config"]
    assert {key.split(":", 1)[1]: value for key, value in written.items()} == deployed.raw_config


def test_verify_inside_the_cluster_gets_the_deployed_stack_object_itself() -> None:
    # `gatestack up` hands verify the derived stack as a pickle: what arrives is that object,
    # validated config included, with nothing to read or parse again.
    deployed = deployed_to_local_cluster(load_stack("staging", None))
    request = VerificationRequest(stack=deployed, host="198.51.100.1", sample_size=20)
    arrived = pickle.loads(pickle.dumps(request))
    assert arrived == request and arrived.stack.config == deployed.config and arrived.stack.config is not deployed.config
