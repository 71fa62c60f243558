"""Specification of the package: what `pip install .` ships and what it exposes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pulumi_envoy_gateway
from gatestack.paths import REPOSITORY_ROOT


def _pyproject() -> dict:
    return tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_in_pyproject() -> None:
    # GIVEN the folders that hold Python modules under the shipped trees
    folders = {
        ".".join(path.parent.relative_to(REPOSITORY_ROOT).parts)
        for root in ("gatestack", "gateway_config")
        for path in (REPOSITORY_ROOT / root).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    # THEN each is a package of the wheel (a missing one would be left out of it silently)
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    assert folders - listed == set()
    assert "pulumi_envoy_gateway" in listed


def test_components_folder_is_the_public_package() -> None:
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == {"pulumi_envoy_gateway": "components"}
    assert Path(pulumi_envoy_gateway.__file__).parent == REPOSITORY_ROOT / "components"


def test_runtime_dependencies_are_the_programs_pins() -> None:
    # The wheel's runtime pins are requirements.txt's (what `pulumi up` installs), nothing looser.
    pins = {
        line.strip()
        for line in (REPOSITORY_ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-e"))
    }
    assert pins <= set(_pyproject()["project"]["dependencies"])
    assert all("==" in requirement for requirement in _pyproject()["project"]["dependencies"])


def test_requirements_install_the_project_itself() -> None:
    # `pip install -r requirements.txt` (Pulumi's own install, the CI previews) must make the
    # program's `import pulumi_envoy_gateway` work.
    lines = (REPOSITORY_ROOT / "requirements.txt").read_text().splitlines()
    assert "-e ." in lines
