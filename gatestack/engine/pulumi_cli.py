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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from gatestack.engine.workspace import EngineLayout


class PulumiCommandFailed(RuntimeError):
    """A pulumi command exited non-zero; `output` is what it printed."""

    def __init__(self, command: list[str], code: int, output: str):
        self.command = command
        self.code = code
        self.output = output
        # The end of what pulumi printed: its diagnostics and summary say why.
        tail = "\n".join(line for line in output.strip().splitlines()[-15:])
        super().__init__(f"`pulumi {' '.join(command)}` exited {code}:\n{tail}")


def link_binaries(layout: EngineLayout, binaries: dict[str, Path]) -> Path:
    """One folder holding links to every engine binary, for PATH."""
    layout.bin.mkdir(parents=True, exist_ok=True)
    for name, path in binaries.items():
        link = layout.bin / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path)
    return layout.bin


# The engine's settings docs/benchmarks.md measured (issue 20: `pulumi up` beside `kubectl
# apply`), as a user sets them for their own `pulumi` (README, "Performance"); a value the
# caller's environment gives wins. On 2 cores the CLI runs 8 steps at once (GOMAXPROCS x 4),
# though a step mostly waits for the API server; it diffs one resource after another unless
# PARALLEL_DIFF; and the file backend rewrites the whole state file after every step
# (2.2 MB at 100 routes), which SKIP_CHECKPOINTS defers to the end of the command.
ENGINE_SETTINGS = {"PULUMI_PARALLEL": "64", "PULUMI_PARALLEL_DIFF": "true", "PULUMI_SKIP_CHECKPOINTS": "true"}


@dataclass
class PulumiCli:
    """`pulumi` in a workspace (`gatestack.engine.workspace`: this project's program, an
    example, or any program folder), run with the Python of `python_virtualenv` (the
    repository's .venv, or one a wheel was installed into), against the cluster in
    `kubeconfig`. Every workspace of one `layout` shares its backend, so a program can read
    another's stack outputs."""

    layout: EngineLayout
    workspace: Path
    kubeconfig: Path
    python_virtualenv: Path
    # How to run a command where the cluster is reachable (inside its network namespace).
    wrap: Callable[[list[str]], list[str]] = lambda command: command
    # Added to the engine's environment (the chart registry's trust: `SSL_CERT_FILE`).
    added_environment: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {
            # PYTHONPATH is left out: the program imports what its virtualenv has, as a user's would.
            **{key: value for key, value in os.environ.items() if not key.startswith("PULUMI_") and key != "PYTHONPATH"},
            # The language host (sdk v3.79) predates the CLI's way of passing the `virtualenv`
            # runtime option, so the program's Python is found on PATH, as an activated
            # virtualenv would put it.
            "PATH": os.pathsep.join([str(self.layout.bin), str(self.python_virtualenv / "bin"), os.environ.get("PATH", "")]),
            "VIRTUAL_ENV": str(self.python_virtualenv),
            "PULUMI_HOME": str(self.layout.home),
            "PULUMI_BACKEND_URL": f"file://{self.layout.backend}",
            "PULUMI_CONFIG_PASSPHRASE": self.layout.passphrase(),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            **{key: os.environ.get(key, value) for key, value in ENGINE_SETTINGS.items()},
            "KUBECONFIG": str(self.kubeconfig),
            # Helm inside the Kubernetes provider keeps its cache and registry settings with the
            # engine's state, not in the user's ~/.cache/helm and ~/.config/helm.
            "HELM_CACHE_HOME": str(self.layout.home / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.layout.home / "helm" / "config"),
            "HELM_DATA_HOME": str(self.layout.home / "helm" / "data"),
            **self.added_environment,
        }

    def run(self, arguments: list[str], *, echo: bool = True, check: bool = True) -> subprocess.CompletedProcess:
        """Run `pulumi ARGUMENTS` in the workspace. With `echo`, its output is streamed as it
        comes (stdout and stderr together, in `.stdout`); without, they are kept apart, so
        `--json` output parses."""
        self.layout.backend.mkdir(parents=True, exist_ok=True)
        self.layout.home.mkdir(parents=True, exist_ok=True)
        command = self.wrap([str(self.layout.bin / "pulumi"), *arguments, "--non-interactive"])
        if not echo:
            completed = subprocess.run(
                command, cwd=self.workspace, env=self.environment(), capture_output=True, text=True, stdin=subprocess.DEVNULL
            )
        else:
            print(f"$ pulumi {' '.join(arguments)}", file=sys.stderr, flush=True)
            process = subprocess.Popen(
                command,
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
                sys.stderr.write(line)
                sys.stderr.flush()
            completed = subprocess.CompletedProcess(command, process.wait(), "".join(lines), "")
        if check and completed.returncode != 0:
            raise PulumiCommandFailed(arguments, completed.returncode, completed.stdout + completed.stderr)
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

    def remove_stack(self, stack: str) -> None:
        """Forget `stack` (its state and config), whatever it still holds: for stacks that were
        only previewed, or whose objects are gone with the cluster."""
        self.run(["stack", "rm", stack, "--yes", "--force"], echo=False)

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
