"""Specification: the import architecture holds (`.importlinter`): gatestack -> pulumi_envoy_gateway -> gateway_config, inside gateway_config, and gatestack's jobs (cli -> engine -> proofs -> verify -> cluster -> ...).

Its layers point one way (loader -> manifests -> rules -> models), its modules import each other
without loops, and no module of the three packages hides a loop by importing inside a function. `lint-imports`
(import-linter, pinned in requirements-dev.txt) checks the contracts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPOSITORY_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_import_contracts_are_kept() -> None:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install requirements-dev.txt (import-linter)")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(REPOSITORY_ROOT / ".importlinter")],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"an import contract of .importlinter is broken:\n{result.stdout}{result.stderr}"


# The one import left inside a function: a dependency of the `local` extra only, so that a
# missing package is a sentence from the toolchain, not an ImportError at start-up.
OPTIONAL_DEPENDENCY_IMPORTS = {"gatestack/toolchain/data_plane.py": {"envoy"}}


@pytest.mark.parametrize("package", ["gateway_config", "components", "gatestack"])
def test_no_module_imports_inside_a_function(package: str) -> None:
    # An import inside a function is how a loop between modules hides from Python at import time.
    inside_functions = []
    for path in sorted((REPOSITORY_ROOT / package).rglob("*.py")):
        allowed = OPTIONAL_DEPENDENCY_IMPORTS.get(str(path.relative_to(REPOSITORY_ROOT)), set())
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside_functions += [
                    f"{path.relative_to(REPOSITORY_ROOT)}:{node.lineno}"
                    for node in ast.walk(function)
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    and not (isinstance(node, ast.ImportFrom) and node.module in allowed)
                ]
    assert not inside_functions, f"imports inside functions (import at the top of the module instead): {inside_functions}"


# A package's own markers, the same meaning wherever they are.
PACKAGE_MARKERS = {"__init__.py", "__main__.py"}


def test_no_module_name_is_used_twice_in_the_packages() -> None:
    """One name, one meaning: `chart_registry.py` in two folders would be two different jobs."""
    modules = [
        path
        for package in ("gateway_config", "components", "gatestack")
        for path in (REPOSITORY_ROOT / package).rglob("*.py")
        if path.name not in PACKAGE_MARKERS
    ]
    by_name: dict[str, list[str]] = {}
    for path in modules:
        by_name.setdefault(path.name, []).append(str(path.relative_to(REPOSITORY_ROOT)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}
