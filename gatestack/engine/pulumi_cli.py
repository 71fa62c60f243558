"""The real Pulumi CLI, run with nothing downloaded at run time.

The CLI, the Python language host and the Kubernetes provider are the binaries
`gatestack.toolchain` built; they are put on PATH through one folder of links (plugins on
PATH are used whatever version the SDK asks for). State goes to a file backend, secrets are
encrypted with the passphrase provider, the update check and plugin downloads are off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from gatestack.engine.workspace import EngineLayout


class PulumiCommandFailed(RuntimeError):
    """A pulumi command exited non-zero; `output` is what it printed."""

    def __init__(self, command: list[str], code: int, output: str):
        self.command = command
        self.code = code
        self.output = output
        super().__init__(f"`pulumi {' '.join(command)}` exited {code}")


def link_binaries(layout: EngineLayout, binaries: dict[str, Path]) -> Path:
    """One folder holding links to every engine binary, for PATH."""
    layout.bin.mkdir(parents=True, exist_ok=True)
    for name, path in binaries.items():
        link = layout.bin / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path)
    return layout.bin


@dataclass
class PulumiCli:
    """`pulumi` in the local-cluster workspace, against the cluster in `kubeconfig`."""

    layout: EngineLayout
    workspace: Path
    kubeconfig: Path
    # How to run a command where the cluster is reachable (inside its network namespace).
    wrap: Callable[[list[str]], list[str]] = lambda command: command

    def environment(self) -> dict[str, str]:
        return {
            **{key: value for key, value in os.environ.items() if not key.startswith("PULUMI_")},
            "PATH": f"{self.layout.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(self.layout.home),
            "PULUMI_BACKEND_URL": f"file://{self.layout.backend}",
            "PULUMI_CONFIG_PASSPHRASE": self.layout.passphrase(),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "KUBECONFIG": str(self.kubeconfig),
        }

    def run(self, arguments: list[str], *, echo: bool = True, check: bool = True) -> subprocess.CompletedProcess:
        """Run `pulumi ARGUMENTS` in the workspace; with `echo`, stream its output as it comes."""
        self.layout.backend.mkdir(parents=True, exist_ok=True)
        self.layout.home.mkdir(parents=True, exist_ok=True)
        command = [str(self.layout.bin / "pulumi"), *arguments, "--non-interactive"]
        if echo:
            print(f"$ pulumi {' '.join(arguments)}", file=sys.stderr, flush=True)
        process = subprocess.Popen(
            self.wrap(command),
            cwd=self.workspace,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if echo:
                sys.stderr.write(line)
                sys.stderr.flush()
        code = process.wait()
        completed = subprocess.CompletedProcess(command, code, "".join(lines), "")
        if check and code != 0:
            raise PulumiCommandFailed(arguments, code, completed.stdout)
        return completed

    def select_stack(self, stack: str) -> None:
        self.run(["stack", "select", stack, "--create", "--secrets-provider", "passphrase"], echo=False)

    def preview(self, stack: str, *, diff: bool = False, json_output: bool = False, echo: bool = True) -> subprocess.CompletedProcess:
        arguments = ["preview", "--stack", stack]
        if diff:
            arguments.append("--diff")
        if json_output:
            arguments.append("--json")
        return self.run(arguments, echo=echo and not json_output)

    def up(self, stack: str) -> subprocess.CompletedProcess:
        return self.run(["up", "--stack", stack, "--yes", "--skip-preview"])

    def destroy(self, stack: str) -> subprocess.CompletedProcess:
        return self.run(["destroy", "--stack", stack, "--yes", "--skip-preview"])

    def outputs(self, stack: str) -> dict:
        return json.loads(self.run(["stack", "output", "--stack", stack, "--json"], echo=False).stdout)

    def export(self, stack: str) -> dict:
        return json.loads(self.run(["stack", "export", "--stack", stack], echo=False).stdout)

    def unprotect_all(self, stack: str) -> None:
        self.run(["state", "unprotect", "--stack", stack, "--all", "--yes"])

    def stack_exists(self, stack: str) -> bool:
        listing = self.run(["stack", "ls", "--json"], echo=False, check=False)
        try:
            return any(item.get("name") == stack for item in json.loads(listing.stdout or "[]"))
        except json.JSONDecodeError:
            return False


def preview_steps(preview_json: str) -> list[dict]:
    """The steps of `pulumi preview --json` (`op`, `urn`, ...), for tests and summaries."""
    document = json.loads(preview_json)
    return document.get("steps") or []


def resource_type_of(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1] if urn.count("::") >= 3 else urn


def count_operations(steps: list[dict], operation: str, resource_type: Optional[str] = None) -> int:
    return sum(
        1
        for step in steps
        if step.get("op") == operation and (resource_type is None or resource_type_of(step.get("urn", "")) == resource_type)
    )
