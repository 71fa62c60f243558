"""Specification of gatestack.toolchain.pulumi_engine: the real Pulumi engine's binaries, built into .tools/.

Tests that run a binary use the one installed in .tools/; they are skipped where it is not built
yet (building it would take tens of minutes with a cold Go build cache).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from toolchain_support import installed_or_skip

from gatestack.paths import REPOSITORY_ROOT
from gatestack.toolchain import ToolchainError, pulumi_engine

SCHEMA = """{
  "name": "kubernetes",
  "version": "",
  "description": "A Pulumi package — für Kubernetes",
  "resources": {"kubernetes:core/v1:Pod": {"description": "<b>Pod</b>"}}
}
"""
TERRAFORM_MAPPING = '{\n  "kubernetes_pod": {"kind": "Pod"}\n}\n'


def test_the_embedded_schema_carries_the_plugin_version_and_is_minified():
    files = pulumi_engine.kubernetes_provider_embed_files(SCHEMA, TERRAFORM_MAPPING, "4.34.2")
    assert files["schema-embed.json"] == (
        '{"name":"kubernetes","version":"4.34.2","description":"A Pulumi package \\u2014 f\\u00fcr Kubernetes",'
        '"resources":{"kubernetes:core/v1:Pod":{"description":"<b>Pod</b>"}}}'
    )
    assert files["terraform-mapping-embed.json"] == '{"kubernetes_pod":{"kind":"Pod"}}'


def test_a_schema_without_a_version_gets_one():
    files = pulumi_engine.kubernetes_provider_embed_files('{"name": "kubernetes"}', "{}", "4.34.2")
    assert json.loads(files["schema-embed.json"]) == {"name": "kubernetes", "version": "4.34.2"}


def test_the_provider_wrapper_is_made_from_the_modules_schema_and_mapping(tmp_path):
    # GIVEN the provider module's cmd/pulumi-resource-kubernetes with its two JSON files
    (tmp_path / "schema.json").write_text(SCHEMA)
    (tmp_path / "terraform-mapping.json").write_text(TERRAFORM_MAPPING)
    files = pulumi_engine.kubernetes_provider_wrapper_files(tmp_path, "v4.0.0-20260115033456-f47bc2d6f199", "4.34.2")
    assert sorted(files) == ["go.mod", "main.go", "schema-embed.json", "terraform-mapping-embed.json"]
    assert files["go.mod"] == (
        "module localbuild/pulumi-resource-kubernetes\n\ngo 1.26\n\nrequire (\n"
        "\tgithub.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199\n"
        "\tgithub.com/pulumi/pulumi-kubernetes/sdk/v4 v4.24.0\n)\n"
    )
    main = files["main.go"]
    assert "//go:embed schema-embed.json\nvar pulumiSchema []byte" in main
    assert "//go:embed terraform-mapping-embed.json\nvar terraformMapping []byte" in main
    assert 'provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)' in main
    assert json.loads(files["schema-embed.json"])["version"] == "4.34.2"


def test_a_provider_module_without_its_schema_is_reported_in_one_sentence(tmp_path):
    with pytest.raises(ToolchainError, match="lacks a file its build needs") as raised:
        pulumi_engine.kubernetes_provider_wrapper_files(tmp_path)
    assert "\n" not in str(raised.value)


def test_the_plugin_reports_the_pulumi_kubernetes_sdk_version_of_requirements_txt():
    pinned = re.search(r"^pulumi-kubernetes==(\S+)$", (REPOSITORY_ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned is not None
    assert pulumi_engine.KUBERNETES_PROVIDER_PLUGIN_VERSION == pinned.group(1)


def test_the_cli_wrapper_pins_pkg_and_sdk_and_restates_the_clipboard_fork():
    assert pulumi_engine.pulumi_wrapper_files("v3.274.1") == {
        "go.mod": "module localbuild/pulumi\n\ngo 1.26.6\n\nrequire (\n"
        "\tgithub.com/pulumi/pulumi/pkg/v3 v3.274.1\n\tgithub.com/pulumi/pulumi/sdk/v3 v3.274.1\n)\n\n"
        "replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e\n"
    }


def test_the_language_host_wrapper_pins_the_sdk_and_its_old_x_text():
    assert pulumi_engine.language_host_wrapper_files("v3.79.0") == {
        "go.mod": "module localbuild/pulumi-language-python\n\ngo 1.26\n\n"
        "require github.com/pulumi/pulumi/sdk/v3 v3.79.0\n\nreplace golang.org/x/text => golang.org/x/text v0.3.6\n"
    }


@pytest.mark.parametrize("ensure", [pulumi_engine.ensure_pulumi, pulumi_engine.ensure_pulumi_language_python,
                                    pulumi_engine.ensure_pulumi_resource_kubernetes])
def test_a_version_that_is_not_a_go_module_version_is_refused(ensure):
    with pytest.raises(ToolchainError, match="not a Go module version"):
        ensure("3.274.1")


def test_the_installed_cli_reports_its_version():
    binary = installed_or_skip("pulumi", pulumi_engine.PULUMI_VERSION)
    completed = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true"))
    assert completed.stdout.strip() == "v3.274.1"


def test_the_installed_language_host_has_its_exec_shim_beside_it():
    binary = installed_or_skip("pulumi-language-python", pulumi_engine.PULUMI_LANGUAGE_PYTHON_SDK_VERSION)
    shim = binary.parent / "pulumi-language-python-exec"
    assert os.access(shim, os.X_OK)
    assert shim.read_text().startswith("#!")
    # AND the host runs: its flags include the ones the engine passes it
    completed = subprocess.run([str(binary), "-help"], capture_output=True, text=True, timeout=60)
    assert "-root string" in completed.stderr and "-virtualenv string" in completed.stderr


def test_the_installed_kubernetes_provider_embeds_the_schema_at_the_plugin_version():
    binary = installed_or_skip("pulumi-resource-kubernetes", pulumi_engine.KUBERNETES_PROVIDER_MODULE_VERSION)
    content = binary.read_bytes()
    assert b'{"name":"kubernetes","displayName":"Kubernetes"' in content
    assert b'"version":"4.34.2"' in content


def test_the_engine_is_returned_by_name_from_tools():
    installed_or_skip("pulumi", pulumi_engine.PULUMI_VERSION)
    installed_or_skip("pulumi-language-python", pulumi_engine.PULUMI_LANGUAGE_PYTHON_SDK_VERSION)
    installed_or_skip("pulumi-resource-kubernetes", pulumi_engine.KUBERNETES_PROVIDER_MODULE_VERSION)
    paths = pulumi_engine.ensure_pulumi_engine()
    assert list(paths) == ["pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-kubernetes"]
    for name, path in paths.items():
        assert path.name == name and os.access(path, os.X_OK)
        assert path.parent.parent == REPOSITORY_ROOT / ".tools"
