"""The Helm hooks a chart runs before its install and upgrade (`helm.sh/hook: pre-install`),
which pulumi-kubernetes' `helm.v4.Chart` leaves out (pulumi/pulumi-kubernetes#3284): rendered
by the provider from the chart itself, and ordered as Helm runs them.

gateway-helm makes the controller's TLS Secrets with such a hook: the `certgen` Job, its
ServiceAccount, Role and RoleBinding (and, with the topology injector, a ClusterRole, its
binding and a MutatingWebhookConfiguration). Without them the controller's pod never starts.
"""

from __future__ import annotations

import copy
from typing import Any, Optional, Union

import pulumi
import pulumi_kubernetes as kubernetes

HOOK = "helm.sh/hook"
# yaml/v2's explicit ordering inside a ConfigGroup (the provider reads it, as kpt does).
DEPENDS_ON = "config.kubernetes.io/depends-on"
# Hooks that run something; Helm creates a weight's other hooks first and waits for these.
RUNNING_KINDS = ("Job", "Pod")
# The render `helm.v3.Chart` asks the provider for (`helm template`, hooks included but tests).
HELM_TEMPLATE = "kubernetes:helm:template"


def rendered_chart(
    release: str,
    chart: str,
    version: str,
    namespace: str,
    values: dict[str, Any],
    repository: Optional[str],
    invoke_opts: pulumi.InvokeOptions,
) -> pulumi.Output[list[dict[str, Any]]]:
    """Every object `helm template` renders for `chart` (an `oci://` reference, a name in the
    `https://` `repository`, or a local path: a chart folder or archive), hooks included, the
    chart's CRDs not."""
    options: Union[kubernetes.helm.v3.ChartOpts, kubernetes.helm.v3.LocalChartOpts]
    if chart.startswith("oci://") or repository:
        options = kubernetes.helm.v3.ChartOpts(
            chart=chart,
            version=version,
            namespace=namespace,
            values=values,
            fetch_opts=kubernetes.helm.v3.FetchOpts(repo=repository) if repository else None,
            skip_crd_rendering=True,
        )
    else:  # the provider pulls anything given as `chart`; a path is `path`
        options = kubernetes.helm.v3.LocalChartOpts(path=chart, namespace=namespace, values=values, skip_crd_rendering=True)
    options.release_name = release  # what `helm.v3.Chart` sets before rendering

    async def render(json_opts: str) -> list[dict[str, Any]]:
        answer = await pulumi.runtime.invoke_async(HELM_TEMPLATE, {"jsonOpts": json_opts}, invoke_opts)
        return list((answer or {}).get("result") or [])

    return options.to_json().apply(render)


def is_pre_install_hook(kubernetes_object: dict[str, Any]) -> bool:
    annotations = (kubernetes_object.get("metadata") or {}).get("annotations") or {}
    return "pre-install" in {phase.strip() for phase in str(annotations.get(HOOK, "")).split(",")}


def reference(kubernetes_object: dict[str, Any]) -> str:
    """`<group>/namespaces/<namespace>/<kind>/<name>`, or `<group>/<kind>/<name>` for an object
    the chart gives no namespace (cluster-scoped), as `config.kubernetes.io/depends-on` names it."""
    group = kubernetes_object["apiVersion"].rpartition("/")[0]
    metadata = kubernetes_object["metadata"]
    scope = f"/namespaces/{metadata['namespace']}" if metadata.get("namespace") else ""
    return f"{group}{scope}/{kubernetes_object['kind']}/{metadata['name']}"


def pre_install_hooks(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chart's pre-install hooks, each Job or Pod annotated to wait for the others (its
    ServiceAccount and RBAC), as Helm creates them; everything else is the Chart's to install.

    Helm orders hooks by `helm.sh/hook-weight` and then by kind, waiting only for Jobs and Pods;
    gateway-helm's certgen RBAC weighs -1 and its Job 0, so "the rest before the Jobs" is Helm's
    own order for this chart.
    """
    hooks = [copy.deepcopy(item) for item in rendered if item and is_pre_install_hook(item)]
    preparing = [reference(item) for item in hooks if item["kind"] not in RUNNING_KINDS]
    for item in hooks:
        if item["kind"] in RUNNING_KINDS and preparing:
            annotations = item["metadata"].setdefault("annotations", {})
            annotations[DEPENDS_ON] = ",".join(preparing)
    return hooks
