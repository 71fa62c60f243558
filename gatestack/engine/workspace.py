"""The Pulumi workspace a local-cluster deploy runs in: the project's own program, unchanged,
with each stack's config as in `stacks/`, plus what the local cluster needs.

The pulumi-tls provider cannot be built here, so a deploy into the local cluster runs every
certificate with `source: existingSecret` (the Secrets are made beforehand with the material
TlsCert would produce). The controller is deployed as the stack says: a stack with
`controller.install: true` (every stack file here, the seed included) installs Envoy Gateway
from its charts into a cluster started without one of its own, as on kind, EKS or GKE. A
cluster that runs Envoy Gateway itself plays ACK's managed add-on; a deploy into it runs the
stack with `controller.install: false` (`managed_controller`), as an ACK user sets it. Those
settings must not be written into the stack files people edit, and `pulumi stack init` writes
the stack's encryption salt into its config file; so the workspace is a folder of its own under
the cluster's state: a `Pulumi.yaml` whose `main` is the repository (the program that runs is
`__main__.py` itself) and `stacks/Pulumi.<stack>.yaml` derived from the real one.

The same holds for any other Pulumi program (the examples in `examples/`, or this program as
an earlier commit had it, checked out elsewhere): `prepare_program_workspace` writes a
workspace whose `main` is that program's folder, run with the virtualenv given, and a stack
file with the config given. Each program gets a workspace folder of its own, named after it
(`EngineLayout.workspace_for`); they share the layout's backend, home and passphrase, so one
program's stack can read another's outputs (`pulumi.StackReference`).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway_config.loader import PROJECT_NAME, STACKS_DIRECTORY, parse_stack_config
from gatestack.paths import REPOSITORY_ROOT
from gatestack.stack_source import StackSource
from gatestack.stand_ins.existing_secrets import with_certificates_from_existing_secrets

CONTROLLER_KEY = f"{PROJECT_NAME}:controller"
ENCRYPTION_SALT_KEY = "encryptionsalt"


@dataclass(frozen=True)
class EngineLayout:
    """Folders of the engine's state, all under `root` (inside the cluster's state directory)."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    def workspace_for(self, name: str) -> Path:
        """The workspace of another program than the repository's own (an example, say)."""
        return self.root / "workspaces" / name

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def passphrase_file(self) -> Path:
        return self.root / "passphrase"

    def passphrase(self) -> str:
        """The secrets passphrase of this cluster's stacks: random, made once, owner-only."""
        if not self.passphrase_file.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self.passphrase_file.write_text(secrets.token_urlsafe(32))
            self.passphrase_file.chmod(0o600)
        return self.passphrase_file.read_text()


def with_managed_controller(config: dict[str, Any], controller_key: str = CONTROLLER_KEY) -> dict[str, Any]:
    """`config` (a stack file's `config:` mapping; `controller_key="controller"` for the
    program's view of it) with `controller.install: false`.

    A controller section that is not a mapping is left as it is, for the program's own
    validation to report."""
    controller = config.get(controller_key, {})
    if not isinstance(controller, dict):
        return config
    return {**config, controller_key: {**controller, "install": False}}


def deployed_to_local_cluster(source: StackSource, managed_controller: bool = True) -> StackSource:
    """The stack as a deploy into the local cluster runs it: every certificate from an existing
    Secret and, with `managed_controller` (a cluster running Envoy Gateway itself),
    `controller.install: false`, applied to its config and its file's text (what the workspace
    holds), the derived config validated as the program will validate it."""
    raw = with_certificates_from_existing_secrets(source.raw_config)
    if managed_controller:
        raw = with_managed_controller(raw, "controller")
    return StackSource(
        name=source.name,
        file=source.file,
        display_file=source.display_file,
        text=local_cluster_stack_file(source.text, None, managed_controller),
        raw_config=raw,
        config=parse_stack_config(raw, source.display_file),
    )


def local_cluster_stack_file(stack_file_text: str, previous_text: str | None, managed_controller: bool = True) -> str:
    """The workspace's copy of a stack file: the local cluster's settings applied (certificates
    from existing Secrets; `controller.install: false` too with `managed_controller`), the
    encryption salt `pulumi stack init` wrote earlier kept. Text that is not a YAML mapping
    with a `config:` mapping is copied unchanged, so Pulumi and the program report it."""
    try:
        document = yaml.safe_load(stack_file_text)
    except yaml.YAMLError:
        return stack_file_text
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        return stack_file_text
    document = dict(document)
    config = with_certificates_from_existing_secrets(document.get("config") or {})
    document["config"] = with_managed_controller(config) if managed_controller else config
    if previous_text:
        try:
            previous = yaml.safe_load(previous_text) or {}
        except yaml.YAMLError:
            previous = {}
        if isinstance(previous, dict) and ENCRYPTION_SALT_KEY in previous:
            document[ENCRYPTION_SALT_KEY] = previous[ENCRYPTION_SALT_KEY]
    header = "# Derived by gatestack for the local cluster from the stack file of the same name; do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False)


def kept_encryption_salt(stack_file_text: str, previous_text: str | None) -> str:
    """`stack_file_text` with the encryption salt of `previous_text` (what `pulumi stack init`
    wrote into the workspace's copy earlier), so the stack's secrets stay readable."""
    if not previous_text:
        return stack_file_text
    try:
        previous = yaml.safe_load(previous_text) or {}
        document = yaml.safe_load(stack_file_text) or {}
    except yaml.YAMLError:
        return stack_file_text
    if not isinstance(previous, dict) or ENCRYPTION_SALT_KEY not in previous or not isinstance(document, dict):
        return stack_file_text
    return yaml.safe_dump({**document, ENCRYPTION_SALT_KEY: previous[ENCRYPTION_SALT_KEY]}, sort_keys=False)


def write_project_file(workspace: Path, program: Path, python_virtualenv: Path, stack_config_dir: str | None) -> None:
    """The workspace's Pulumi.yaml: the program's own, with `main` pointing at `program` and
    the program run with `python_virtualenv`."""
    workspace.mkdir(parents=True, exist_ok=True)
    project = yaml.safe_load((program / "Pulumi.yaml").read_text())
    project["main"] = os.path.relpath(program, workspace)
    project["runtime"] = {"name": "python", "options": {"virtualenv": str(python_virtualenv)}}
    if stack_config_dir is None:
        project.pop("stackConfigDir", None)
    else:
        project["stackConfigDir"] = stack_config_dir
    (workspace / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))


def prepare_workspace(
    layout: EngineLayout,
    stack: str,
    python_virtualenv: Path,
    stack_file_text: str | None = None,
    program: Path = REPOSITORY_ROOT,
    managed_controller: bool = True,
) -> Path:
    """Write the workspace's Pulumi.yaml and the stack's derived config; return the folder.

    `stack_file_text` replaces `stacks/Pulumi.<stack>.yaml` (tests deploy variants of a stack).
    `managed_controller`: the cluster runs Envoy Gateway itself (see `local_cluster_stack_file`).
    `program` is the folder of the project's program: the repository, or a checkout of an
    earlier commit of it (an upgrade test deploys with the earlier code, then with this one,
    in the same workspace, so the stacks keep their state and encryption salt)."""
    workspace = layout.workspace
    (workspace / STACKS_DIRECTORY).mkdir(parents=True, exist_ok=True)
    write_project_file(workspace, program, python_virtualenv, STACKS_DIRECTORY)
    source = program / STACKS_DIRECTORY / f"Pulumi.{stack}.yaml"
    target = workspace / STACKS_DIRECTORY / f"Pulumi.{stack}.yaml"
    previous = target.read_text() if target.exists() else None
    text = stack_file_text if stack_file_text is not None else source.read_text()
    target.write_text(local_cluster_stack_file(text, previous, managed_controller))
    return workspace


def prepare_program_workspace(
    layout: EngineLayout, program: Path, stack: str, python_virtualenv: Path, config: dict[str, Any]
) -> Path:
    """A workspace for the Pulumi program in `program` (any project folder: an example, a
    user's program), run with `python_virtualenv`, with `config` (keys as a stack file has
    them, `project:key`) as the stack's config. Returns the folder (`workspace_for` the
    program's folder name); the stack's encryption salt is kept across calls."""
    workspace = layout.workspace_for(program.name)
    write_project_file(workspace, program, python_virtualenv, None)
    target = workspace / f"Pulumi.{stack}.yaml"
    previous = target.read_text() if target.exists() else None
    text = yaml.safe_dump({"config": config}, sort_keys=False)
    target.write_text(kept_encryption_salt(text, previous))
    return workspace
