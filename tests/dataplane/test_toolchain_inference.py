"""Specification of gatestack.toolchain.inference_extension: the Endpoint Picker and the InferencePool CRD of
the Gateway API Inference Extension v1.5.0, from the Go module proxy."""

from __future__ import annotations

import subprocess

from toolchain_support import installed_or_skip

from gatestack.toolchain import inference_extension
from gateway_config.inference_manifests import INFERENCE_POOL_CRD_FILE, inference_pool_crd


def test_the_epp_wrapper_requires_exactly_the_pinned_release_without_replacements():
    files = inference_extension.epp_wrapper_files()
    assert files["go.mod"] == "module localbuild/epp\n\ngo 1.26.0\n\nrequire sigs.k8s.io/gateway-api-inference-extension v1.5.0\n"
    assert "replace" not in files["go.mod"]


def test_the_installed_epp_runs_and_reports_the_release_it_was_built_from():
    binary = installed_or_skip("epp", inference_extension.INFERENCE_EXTENSION_VERSION)
    completed = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60)
    output = completed.stdout + completed.stderr
    assert '"build-ref":"v1.5.0"' in output  # stamped as upstream's images are
    for flag in ("--pool-name", "--grpc-port", "--grpc-health-port", "--metrics-port", "--secure-serving", "--refresh-metrics-interval"):
        assert flag in output


def test_the_vendored_inference_pool_crd_is_the_modules_own():
    # The program installs gateway_config/crds/...; the local cluster applies the module's file.
    assert INFERENCE_POOL_CRD_FILE.read_bytes() == inference_extension.inference_pool_crd_file().read_bytes()
    crd = inference_pool_crd()
    assert crd["metadata"]["name"] == "inferencepools.inference.networking.k8s.io"
    assert [version["name"] for version in crd["spec"]["versions"]] == ["v1"]
