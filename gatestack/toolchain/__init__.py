"""Pinned tools installed on first use into the repository's git-ignored ``.tools/``.

Every tool lives under a version-stamped directory (``.tools/egctl-v1.9.0/egctl``), so a second
run reuses it at once and two versions never overwrite each other. Failures raise
``ToolchainError`` whose message is one sentence meant to be printed as is.

The parts:
- ``go_build``: what every Go-built tool shares (one set of compile settings, a lock per tool, a
  staging directory renamed into place, condensed progress, a log per build, wrapper modules);
- ``data_plane``: the offline data-plane proof's tools (egctl, kubectl-validate, actionlint,
  Envoy, Envoy Gateway's CRDs); ``ensure_all`` installs them;
- ``cluster``: the local Kubernetes cluster's binaries (etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler, kwok and its Stages, the envoy-gateway controller,
  the inference extension's Endpoint Picker, kubectl); ``ensure_cluster_tools`` installs them;
- ``chart_registry``: the stand-in for Envoy Gateway's chart registry (CNCF Distribution's
  ``registry``, the ``helm`` CLI at the Kubernetes provider's Helm version, the released charts
  packaged by it); part of the cluster group;
- ``inference``: the Gateway API Inference Extension's Endpoint Picker (``epp``, v1.5.0) and its
  InferencePool CRD;
- ``pulumi_engine``: the real Pulumi engine (CLI, Python language host, Kubernetes provider);
  ``ensure_pulumi_engine`` installs them.

``ensure_tools`` installs a selection of the groups; ``python -m gatestack.toolchain [VERSION]
[--cluster] [--engine]`` and ``python -m gatestack tools`` do the same from the command line.
"""

from pathlib import Path

from gatestack.toolchain.registry_builds import (
    HELM_VERSION,
    REGISTRY_VERSION,
    ensure_chart_registry_tools,
    ensure_helm,
    ensure_packaged_charts,
    ensure_registry,
)
from gatestack.toolchain.cluster_builds import (
    CONTROL_PLANE_COMPONENTS,
    ETCD_VERSION,
    KUBERNETES_VERSION,
    KWOK_VERSION,
    ensure_cluster_tools,
    ensure_control_plane_component,
    ensure_envoy_gateway,
    ensure_etcd,
    ensure_kube_apiserver,
    ensure_kube_controller_manager,
    ensure_kube_scheduler,
    ensure_kubectl,
    ensure_kwok,
    kwok_stage_files,
)
from gatestack.toolchain.data_plane import (
    ACTIONLINT_VERSION,
    DEFAULT_ENVOY_GATEWAY_VERSION,
    KUBECTL_VALIDATE_VERSION,
    ensure_actionlint,
    ensure_all,
    ensure_egctl,
    ensure_envoy,
    ensure_kubectl_validate,
    envoy_gateway_crd_directory,
    envoy_gateway_module_directory,
)
from gatestack.toolchain.inference_extension import INFERENCE_EXTENSION_VERSION, ensure_epp, inference_pool_crd_file
from gatestack.toolchain.go_build import (
    TOOLS_DIRECTORY,
    GoTool,
    ToolchainError,
    check_version,
    ensure_go_tool,
)
from gatestack.toolchain.pulumi_engine import (
    KUBERNETES_PROVIDER_MODULE_VERSION,
    KUBERNETES_PROVIDER_PLUGIN_VERSION,
    PULUMI_LANGUAGE_PYTHON_SDK_VERSION,
    PULUMI_VERSION,
    ensure_pulumi,
    ensure_pulumi_engine,
    ensure_pulumi_language_python,
    ensure_pulumi_resource_kubernetes,
)


def ensure_tools(
    envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION, *, cluster: bool = False, engine: bool = False
) -> dict[str, Path]:
    """Install the data-plane tools, plus the cluster's and the engine's when asked; paths by name.

    The defaults install only what the tests need: the other two groups take far longer to build
    the first time.
    """
    paths = ensure_all(envoy_gateway_version)
    if cluster:
        paths.update(ensure_cluster_tools(envoy_gateway_version))
        paths.update(ensure_chart_registry_tools(envoy_gateway_version))
    if engine:
        paths.update(ensure_pulumi_engine())
    return paths


__all__ = [
    "ACTIONLINT_VERSION",
    "CONTROL_PLANE_COMPONENTS",
    "DEFAULT_ENVOY_GATEWAY_VERSION",
    "ETCD_VERSION",
    "HELM_VERSION",
    "INFERENCE_EXTENSION_VERSION",
    "KUBECTL_VALIDATE_VERSION",
    "KUBERNETES_PROVIDER_MODULE_VERSION",
    "KUBERNETES_PROVIDER_PLUGIN_VERSION",
    "KUBERNETES_VERSION",
    "KWOK_VERSION",
    "PULUMI_LANGUAGE_PYTHON_SDK_VERSION",
    "PULUMI_VERSION",
    "REGISTRY_VERSION",
    "TOOLS_DIRECTORY",
    "GoTool",
    "ToolchainError",
    "check_version",
    "ensure_actionlint",
    "ensure_all",
    "ensure_chart_registry_tools",
    "ensure_cluster_tools",
    "ensure_control_plane_component",
    "ensure_egctl",
    "ensure_envoy",
    "ensure_envoy_gateway",
    "ensure_epp",
    "ensure_etcd",
    "ensure_go_tool",
    "ensure_helm",
    "ensure_kube_apiserver",
    "ensure_kube_controller_manager",
    "ensure_kube_scheduler",
    "ensure_kubectl",
    "ensure_kubectl_validate",
    "ensure_kwok",
    "ensure_packaged_charts",
    "ensure_pulumi",
    "ensure_pulumi_engine",
    "ensure_pulumi_language_python",
    "ensure_pulumi_resource_kubernetes",
    "ensure_registry",
    "ensure_tools",
    "envoy_gateway_crd_directory",
    "envoy_gateway_module_directory",
    "inference_pool_crd_file",
    "kwok_stage_files",
]
