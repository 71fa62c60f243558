"""The machinery every Go-built tool shares: one build recipe, locks, staging, progress and logs.

A tool is installed as ``.tools/<name>-<version>/<name>``. It is built into a temporary directory
beside it that is renamed into place only when the build succeeded, so an interrupted build never
leaves a half-written binary that a later run would reuse; a file lock per tool keeps two
processes (parallel test runs, two shells) from building the same tool at once.

Every build uses the same compile settings (``GO_BUILD_ENVIRONMENT`` and ``-trimpath -ldflags
"-s -w ..."``): Go's build cache is keyed by them, so tools that share packages (egctl and the
envoy-gateway controller, the three Kubernetes control-plane binaries) compile them once.

Binaries that cannot be built with ``go install <package>@<version>`` (their module has
``replace`` directives, or a ``main`` that upstream generates) are built from a *wrapper module*:
a small generated Go module under ``.tools/src/<name>-<version>/`` that requires the upstream
module at the pinned version (see ``prepare_wrapper_module``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

from gatestack.paths import TOOLS_DIRECTORY, shown
from gatestack.progress import progress


# A Go module version: a semantic version, optionally a pseudo-version or pre-release suffix.
# Checked before a version reaches a command line, so a typo fails with a sentence.
GO_VERSION_PATTERN = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.\-]+)?$")

# The one set of compile settings for every tool. Pure-Go static binaries; no VCS stamping (the
# sources come from the module cache, not a checkout); wrapper modules may complete their go.mod.
GO_BUILD_ENVIRONMENT = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -mod=mod"}
# Strip the symbol table and DWARF: the binaries are run, never debugged, and it halves their size.
STRIP_LINKER_FLAGS = "-s -w"

# A line of `go build -v` naming a package it compiled: an import path, no spaces or colons.
IMPORT_PATH = re.compile(r"^[A-Za-z0-9_.\-~/]+$")
# How often to report compile progress while `go build -v` names the packages it compiles.
PACKAGES_PER_PROGRESS_LINE = 100

# Name of the file in a wrapper module recording the digest of what was generated.
WRAPPER_RECIPE_FILE = ".gatestack-recipe.sha256"


class ToolchainError(RuntimeError):
    """A tool could not be found or built; the message is one sentence for the user."""


# Called with (staging directory, log path); must leave the binary in the staging directory.
BuildSteps = Callable[[Path, Path], None]


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
            "(https://go.dev/dl/) to build the pinned tools into .tools/"
        )
    return found


def install_directory(name: str, version: str) -> Path:
    """``.tools/<name>-<version>``: where ``name`` at ``version`` is installed."""
    return TOOLS_DIRECTORY / f"{name}-{version}"


def installed_binary(name: str, version: str) -> Path:
    """``.tools/<name>-<version>/<name>``, whether or not it exists yet."""
    return install_directory(name, version) / name


@contextmanager
def exclusive_lock(name: str) -> Iterator[None]:
    """Hold a file lock so two processes (e.g. parallel test runs) never build the same thing at once."""
    TOOLS_DIRECTORY.mkdir(parents=True, exist_ok=True)
    with open(TOOLS_DIRECTORY / f".{name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def linker_flags(*variables: tuple[str, str]) -> str:
    """``-s -w`` plus one ``-X symbol=value`` per variable (how Go stamps a version into a binary)."""
    return " ".join([STRIP_LINKER_FLAGS, *(f"-X {symbol}={value}" for symbol, value in variables)])


def run_go(arguments: list[str], *, name: str, version: str, directory: Path, log_path: Path,
           extra_environment: Mapping[str, str] | None = None) -> None:
    """Run ``go <arguments>`` in ``directory`` with the shared settings, streaming condensed progress.

    Module downloads and errors are printed as go prints them; compiled packages (``-v`` names
    each) are counted and reported every ``PACKAGES_PER_PROGRESS_LINE``, because the full list
    runs to thousands of lines. Everything is appended to ``log_path`` for when a build fails.
    """
    settings = {**GO_BUILD_ENVIRONMENT, **(extra_environment or {})}
    environment = dict(os.environ, **settings)
    command = [go_executable(), *arguments]
    started = time.monotonic()
    compiled_packages = 0
    last_message: list[str] = []  # go's last message, with its indented continuation lines
    with open(log_path, "a") as log_file:
        assignments = " ".join(f"{variable}={shlex.quote(value)}" for variable, value in settings.items())
        log_file.write(f"$ cd {shlex.quote(str(directory))} && {assignments} {shlex.join(command)}\n")
        log_file.flush()
        process = subprocess.Popen(
            command, cwd=directory, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            line = line.rstrip()
            if not line:
                continue
            if line[0].isspace() and last_message:
                last_message.append(line.strip())
            else:
                last_message = [line]
            if IMPORT_PATH.match(line):  # `-v` names each package as it compiles it
                compiled_packages += 1
                if compiled_packages % PACKAGES_PER_PROGRESS_LINE == 0:
                    elapsed = time.monotonic() - started
                    progress(f"  … {compiled_packages} packages compiled ({elapsed:.0f} s)")
            else:  # downloads, errors and anything else go says
                progress(("    " if line[0].isspace() else "  ") + line.strip())
        return_code = process.wait()
    if return_code != 0:
        raise ToolchainError(
            f"building {name} {version} failed (go {arguments[0]} exited {return_code}): "
            f"{' '.join(last_message)} — full log in {log_path}"
        )


def go_install(package: str, version: str, *, name: str, staging: Path, log_path: Path,
               ldflags: str = STRIP_LINKER_FLAGS) -> None:
    """``go install <package>@<version>`` into ``staging`` (for modules without replace directives)."""
    run_go(
        ["install", "-v", "-trimpath", "-ldflags", ldflags, f"{package}@{version}"],
        name=name,
        version=version,
        directory=Path(tempfile.gettempdir()),  # outside any go.mod, so the pinned version is what builds
        log_path=log_path,
        extra_environment={"GOBIN": str(staging)},
    )


def go_build(package: str, *, name: str, version: str, wrapper: Path, output: Path,
             log_path: Path, ldflags: str = STRIP_LINKER_FLAGS) -> None:
    """``go build -o <output> <package>`` inside the wrapper module at ``wrapper``."""
    run_go(
        ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(output), package],
        name=name,
        version=version,
        directory=wrapper,
        log_path=log_path,
    )


def ensure_built(name: str, version: str, build_steps: BuildSteps, *, how: str) -> Path:
    """Return ``.tools/<name>-<version>/<name>``, running ``build_steps`` first if it is absent.

    ``build_steps(staging, log_path)`` must leave ``staging/<name>`` behind (and anything that
    belongs beside it); ``how`` names the recipe in the start line (e.g. "go install").
    """
    check_version(version, name)
    binary = installed_binary(name, version)
    if os.access(binary, os.X_OK):
        return binary
    with exclusive_lock(f"{name}-{version}"):
        # Another process may have finished the build while we waited for the lock.
        if os.access(binary, os.X_OK):
            return binary
        go_executable()
        logs_directory = TOOLS_DIRECTORY / "logs"
        logs_directory.mkdir(parents=True, exist_ok=True)
        log_path = logs_directory / f"{name}-{version}.log"
        log_path.write_text("")
        progress(
            f"building {name} {version} with {how} "
            f"(a first build takes minutes; later runs reuse {shown(binary)})…"
        )
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-{version}.", dir=TOOLS_DIRECTORY))
        staging.chmod(0o755)  # mkdtemp makes it private; the installed tool should be readable by all
        try:
            build_steps(staging, log_path)
            if not os.access(staging / name, os.X_OK):
                raise ToolchainError(
                    f"the build of {name} {version} reported success but produced no {name} binary "
                    f"— full log in {log_path}"
                )
            final_directory = install_directory(name, version)
            if final_directory.exists():
                shutil.rmtree(final_directory)
            staging.rename(final_directory)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        progress(f"built {name} {version} in {time.monotonic() - started:.0f} s")
        return binary


@dataclass(frozen=True)
class GoTool:
    """A command built with ``go install <package>@<version>`` (its module has no replace directives).

    ``version_symbol``, when set, is the package variable (``path.name``) the command reports its
    version from; upstream's release builds set it with ``-X``, a plain go install leaves it empty.
    """

    name: str
    package: str
    version: str
    version_symbol: str | None = None

    @property
    def install_directory(self) -> Path:
        return install_directory(self.name, self.version)

    @property
    def binary_path(self) -> Path:
        return installed_binary(self.name, self.version)


def ensure_go_tool(tool: GoTool) -> Path:
    """Return the path of ``tool``'s binary, building it first if this version is not installed."""
    stamps = [(tool.version_symbol, tool.version)] if tool.version_symbol else []

    def build_steps(staging: Path, log_path: Path) -> None:
        go_install(tool.package, tool.version, name=tool.name, staging=staging, log_path=log_path,
                   ldflags=linker_flags(*stamps))

    return ensure_built(tool.name, tool.version, build_steps, how="go install")


def go_module_download(module: str, version: str) -> dict[str, str]:
    """``go mod download -json <module>@<version>``: the module's ``Dir``, ``GoMod`` and so on.

    Downloads the module into Go's module cache if needed (seconds once cached).
    """
    check_version(version, module)
    reference = f"{module}@{version}"
    completed = subprocess.run(
        [go_executable(), "mod", "download", "-json", reference],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
    )
    try:
        answer = json.loads(completed.stdout) if completed.stdout.strip() else {}
    except json.JSONDecodeError:
        answer = {}
    if completed.returncode != 0 or "Dir" not in answer:
        reason = answer.get("Error") or (completed.stderr.strip().splitlines() or ["no Dir in its output"])[-1]
        raise ToolchainError(f"could not download the Go module {reference}: {reason}")
    return answer


def module_directory(module: str, version: str) -> Path:
    """Directory of ``module`` at ``version`` in Go's module cache (read-only source)."""
    return Path(go_module_download(module, version)["Dir"])


def wrapper_module_directory(name: str, version: str) -> Path:
    """``.tools/src/<name>-<version>``: where the wrapper module for ``name`` is generated."""
    return TOOLS_DIRECTORY / "src" / f"{name}-{version}"


def recipe_digest(files: Mapping[str, str | bytes]) -> str:
    """SHA-256 over the file names and contents a wrapper module is generated from."""
    digest = hashlib.sha256()
    for file_name in sorted(files):
        content = files[file_name]
        digest.update(file_name.encode() + b"\0")
        digest.update(content.encode() if isinstance(content, str) else content)
        digest.update(b"\0")
    return digest.hexdigest()


def prepare_wrapper_module(name: str, version: str, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` as the wrapper module ``.tools/src/<name>-<version>/`` and return it.

    ``go build -mod=mod`` completes the go.mod (indirect requirements) and writes go.sum there,
    so an existing directory is kept as long as it was generated from the same ``files`` (their
    digest is recorded beside them); otherwise it is generated afresh, again through a staging
    directory renamed into place.
    """
    directory = wrapper_module_directory(name, version)
    digest = recipe_digest(files)
    with exclusive_lock(f"src-{name}-{version}"):
        recorded = directory / WRAPPER_RECIPE_FILE
        if recorded.is_file() and recorded.read_text().strip() == digest:
            return directory
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-{version}.", dir=directory.parent))
        try:
            for file_name, content in files.items():
                path = staging / file_name
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    path.write_bytes(content)
                else:
                    path.write_text(content)
            (staging / WRAPPER_RECIPE_FILE).write_text(digest + "\n")
            staging.chmod(0o755)
            if directory.exists():
                shutil.rmtree(directory)
            staging.rename(directory)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return directory
