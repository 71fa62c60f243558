"""Support for the toolchain tests: whether Go's build cache already holds what a build compiles.

Tests that really build a binary run only when it would be a cached build (seconds); on a machine
whose cache is cold they are skipped with the command that builds everything instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gatestack.toolchain import go_build

# What `go list` says of a package whose compiled form is in the build cache.
CACHED = "not installed but available in build cache"


def packages_to_compile(module_directory: Path, package: str) -> list[str]:
    """Packages that building ``package`` in ``module_directory`` would compile (not in the cache).

    Asked of ``go list -deps`` with the toolchain's own compile settings, which key the cache.
    """
    completed = subprocess.run(
        [shutil.which("go") or "go", "list", "-trimpath", "-deps", "-f", "{{if .Stale}}{{.ImportPath}}|{{.StaleReason}}{{end}}", package],
        cwd=module_directory,
        env=dict(os.environ, **go_build.GO_BUILD_ENVIRONMENT),
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        return [f"(go list failed: {completed.stderr.strip()})"]
    return [line.split("|")[0] for line in completed.stdout.splitlines() if line and not line.endswith(CACHED)]


def skip_unless_cached(module_directory: Path, package: str, what: str) -> None:
    """Skip the test when building ``package`` would compile from scratch."""
    uncompiled = packages_to_compile(module_directory, package)
    if uncompiled:
        pytest.skip(
            f"{what} is not in Go's build cache ({len(uncompiled)} packages to compile, e.g. {uncompiled[0]}); "
            "`python -m gatestack tools --cluster --engine` builds it once"
        )


def installed_or_skip(name: str, version: str) -> Path:
    """The installed ``.tools/<name>-<version>/<name>``, or skip: these tests never start a cold build."""
    binary = go_build.installed_binary(name, version)
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{name} {version} is not built; `python -m gatestack tools --cluster --engine` builds it")
    return binary
