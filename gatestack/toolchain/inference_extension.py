"""The Gateway API Inference Extension's Endpoint Picker (EPP) and InferencePool CRD, from the Go
module proxy into .tools/.

- ``epp`` at ``INFERENCE_EXTENSION_VERSION`` (v1.5.0), the upstream ``cmd/epp`` that ACK's
  "Gateway with Inference Extension" runs as the pool's picker. ``go install ...@v1.5.0`` does not
  work here (it asks the proxy for the module's version list, which is refused), so it is built
  from a wrapper module that requires exactly v1.5.0 (no replace directives needed), with the same
  compile settings as every other tool, and the build stamped as upstream's images are
  (``version.BuildRef``, which the EPP logs and exports as a metric).
- The ``InferencePool`` CRD (``inference.networking.k8s.io``) of the same release, from the module's
  ``config/crd/bases``: the local cluster applies it beside Gateway API's and Envoy Gateway's, and
  the offline validation reads it.
"""

from __future__ import annotations

from pathlib import Path

from gatestack.toolchain.go_build import (
    ToolchainError,
    check_version,
    ensure_built,
    go_build,
    linker_flags,
    module_directory,
    prepare_wrapper_module,
)

INFERENCE_EXTENSION_VERSION = "v1.5.0"
INFERENCE_EXTENSION_MODULE = "sigs.k8s.io/gateway-api-inference-extension"
EPP_PACKAGE = f"{INFERENCE_EXTENSION_MODULE}/cmd/epp"
EPP_BUILD_REF_SYMBOL = f"{INFERENCE_EXTENSION_MODULE}/version.BuildRef"
# The go directive of the wrapper: Go 1.26, as the other wrappers (upstream's go.mod says 1.25.0).
EPP_WRAPPER_GO_DIRECTIVE = "1.26.0"
INFERENCE_POOL_CRD_IN_MODULE = Path("config/crd/bases/inference.networking.k8s.io_inferencepools.yaml")


def epp_wrapper_files(version: str = INFERENCE_EXTENSION_VERSION) -> dict[str, str]:
    """go.mod of the module that builds the EPP at ``version``."""
    check_version(version, "Gateway API Inference Extension")
    return {
        "go.mod": (
            f"module localbuild/epp\n\ngo {EPP_WRAPPER_GO_DIRECTIVE}\n\n"
            f"require {INFERENCE_EXTENSION_MODULE} {version}\n"
        )
    }


def ensure_epp(version: str = INFERENCE_EXTENSION_VERSION) -> Path:
    """Path of the Endpoint Picker ``epp`` at ``version`` (default v1.5.0), built from
    ``.tools/src/epp-<version>`` if absent (a first build takes about three minutes on two cores)."""

    def build_steps(staging: Path, log_path: Path) -> None:
        wrapper = prepare_wrapper_module("epp", version, epp_wrapper_files(version))
        go_build(
            EPP_PACKAGE,
            name="epp",
            version=version,
            wrapper=wrapper,
            output=staging / "epp",
            log_path=log_path,
            ldflags=linker_flags((EPP_BUILD_REF_SYMBOL, version)),
        )

    return ensure_built("epp", version, build_steps, how="go build of a wrapper module")


def inference_pool_crd_file(version: str = INFERENCE_EXTENSION_VERSION) -> Path:
    """The InferencePool CRD (``inference.networking.k8s.io/v1``) of ``version``, in Go's module cache."""
    path = module_directory(INFERENCE_EXTENSION_MODULE, version) / INFERENCE_POOL_CRD_IN_MODULE
    if not path.is_file():
        raise ToolchainError(f"the Gateway API Inference Extension {version} has no InferencePool CRD at {path}")
    return path
