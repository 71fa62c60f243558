"""EnvoyGatewayController: Envoy Gateway's CRDs and control plane, from its Helm charts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as kubernetes
import yaml

from .chart_hooks import pre_install_hooks, rendered_chart
from .options import child_options
from .validation import ArgumentProblem, validate_model

from gateway_config.manifests import (
    CONTROLLER_CHART,
    CONTROLLER_RELEASE,
    CRDS_CHART,
    CRDS_RELEASE,
    chart_reference,
    controller_chart_values,
    deep_merge,
    crds_chart_values,
)
from gateway_config.inference_manifests import inference_pool_crd as inference_pool_crd_manifest
from gateway_config.base import ResourceRequirements
from gateway_config.models import DEFAULT_ENVOY_GATEWAY_VERSION, ControllerConfig
from gateway_config.problems import Problem


# gateway-helm's values for Envoy Gateway's own config: EnvoyPatchPolicy turned on.
ENABLE_ENVOY_PATCH_POLICY = {"config": {"envoyGateway": {"extensionApis": {"enableEnvoyPatchPolicy": True}}}}
# The model's keys -> this component's keyword arguments, for messages.
ARGUMENTS = {"chartRepository": "chart_repository", "installGatewayApiCrds": "install_gateway_api_crds"}


class EnvoyGatewayController(pulumi.ComponentResource):
    """Installs Envoy Gateway in four ordered steps, or nothing at all.

    1. `gateway-crds-helm`: the CRDs, applied server-side by pulumi-kubernetes (Helm itself
       never upgrades CRDs, and the Gateway API CRDs are too large for client-side apply).
       Gateway API's CRDs are left out when `installGatewayApiCrds: false` (the platform
       ships them, as ACK does).
       The CRDs are kept in the cluster when the component is deleted (`retain_on_delete`):
       deleting a CRD deletes every object of its kind, other stacks' included.
    2. `certgen`: gateway-helm's pre-install hooks, which helm.v4.Chart leaves out
       (pulumi/pulumi-kubernetes#3284), rendered from the same chart and values by the
       provider and applied as a `yaml.v2.ConfigGroup`: the certgen Job's ServiceAccount and
       RBAC, then the Job, awaited until it completed (it writes the controller's TLS Secrets).
    3. `gateway-helm`: the controller, with its own CRDs disabled, into `namespace`.
    4. For a stack with inference pools (`inference_pool_crd=True`), the Gateway API Inference
       Extension's InferencePool CRD (v1.5.0, `gateway_config/crds/`), also server-side; with a
       FailOpen pool (`envoy_patch_policies=True`) the controller is configured with
       `extensionApis.enableEnvoyPatchPolicy`, which that pool's wiring needs.
    5. Nothing else: every component built on this one (an EnvoyProxy or GatewayClass given
       it as `controller`, and whatever is built on those) has its custom resources wait for
       `ready`, so none is created before its CRD and the controller exist.

    With `install: false` (ACK's managed add-on, or a controller another stack owns) it
    declares nothing and `ready` is empty. With `protect=True` (production stacks) the
    charts and namespace cannot be deleted by accident.
    """

    namespace: Optional[kubernetes.core.v1.Namespace]
    crds: Optional[kubernetes.helm.v4.Chart]
    certgen: Optional[kubernetes.yaml.v2.ConfigGroup]
    chart: Optional[kubernetes.helm.v4.Chart]
    inference_pool_crd: Optional[kubernetes.apiextensions.v1.CustomResourceDefinition]
    ready: list[pulumi.Resource]
    settings: ControllerConfig

    def __init__(
        self,
        name: str,
        *,
        install: bool = True,
        namespace: str = "envoy-gateway-system",
        version: str = DEFAULT_ENVOY_GATEWAY_VERSION,
        chart_repository: str = "oci://docker.io/envoyproxy",
        install_gateway_api_crds: bool = True,
        replicas: int = 1,
        resources: Optional[Union[ResourceRequirements, Mapping[str, Any]]] = None,
        values: Optional[Mapping[str, Any]] = None,
        inference_pool_crd: bool = False,
        envoy_patch_policies: bool = False,
        protect: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `install` [True]: False declares nothing (the platform or another stack runs Envoy
          Gateway, as ACK's managed add-on); `ready` is then empty.
        - `namespace` ["envoy-gateway-system"]: where the control plane runs; created here.
        - `version` ["v1.9.0"]: of both charts.
        - `chart_repository` ["oci://docker.io/envoyproxy"]: an `oci://` registry, an `https://`
          Helm repository, or a local directory (`./charts`, `/srv/charts`) holding both charts
          of `version`, unpacked as `gatestack charts` writes them or packaged as `helm pull` saves them.
        - `install_gateway_api_crds` [True]: False where the platform ships Gateway API's CRDs.
        - `replicas` [1] and `resources` [the chart's]: of the controller Deployment, e.g.
          `{"requests": {"cpu": "100m", "memory": "256Mi"}}`.
        - `values` [{}]: any gateway-helm value, deep-merged over the curated ones (escape hatch).
        - `inference_pool_crd` [False]: also install the InferencePool CRD (v1.5.0).
        - `envoy_patch_policies` [False]: turn on `extensionApis.enableEnvoyPatchPolicy`
          (a FailOpen InferencePool needs it).
        - `protect` [False]: protect the namespace, the charts, the certgen hooks and the CRD
          from deletion. The CRDs are retained on delete either way.
        """
        self.settings = validate_model(
            ControllerConfig,
            {
                "install": install,
                "namespace": namespace,
                "version": version,
                "chartRepository": chart_repository,
                "installGatewayApiCrds": install_gateway_api_crds,
                "replicas": replicas,
                "resources": resources,
                "values": dict(values or {}),
            },
            component="EnvoyGatewayController",
            name=name,
            arguments=ARGUMENTS,
        )
        controller = self.settings
        super().__init__("api-gateway:components:EnvoyGatewayController", name, None, opts)
        self.namespace = self.crds = self.certgen = self.chart = self.inference_pool_crd = None
        self.ready = []
        if controller.install:
            self.namespace = kubernetes.core.v1.Namespace(
                f"{name}-namespace",
                metadata={"name": controller.namespace},
                opts=child_options(self, opts, protect=protect),
            )
            self.crds = kubernetes.helm.v4.Chart(
                f"{name}-crds",
                name=CRDS_RELEASE,
                **located_chart(controller, CRDS_CHART, name),
                version=controller.version,
                values=crds_chart_values(controller),
                opts=pulumi.ResourceOptions.merge(
                    child_options(self, opts, protect=protect),
                    pulumi.ResourceOptions(retain_on_delete=True, transforms=[retained_on_delete]),
                ),
            )
            controller_chart = located_chart(controller, CONTROLLER_CHART, name)
            values = (
                deep_merge(controller_chart_values(controller), ENABLE_ENVOY_PATCH_POLICY)
                if envoy_patch_policies
                else controller_chart_values(controller)
            )
            rendered = rendered_chart(
                CONTROLLER_RELEASE,
                controller_chart["chart"],
                controller.version,
                controller.namespace,
                values,
                (controller_chart.get("repository_opts") or {}).get("repo"),
                pulumi.InvokeOptions(parent=self, provider=opts.provider if opts else None),
            )
            self.certgen = kubernetes.yaml.v2.ConfigGroup(
                f"{name}-certgen",
                objs=rendered.apply(pre_install_hooks),
                opts=child_options(self, opts, protect=protect, depends_on=[self.namespace]),
            )
            self.chart = kubernetes.helm.v4.Chart(
                f"{name}-chart",
                name=CONTROLLER_RELEASE,
                **controller_chart,
                version=controller.version,
                namespace=controller.namespace,
                skip_crds=True,
                values=values,
                opts=child_options(self, opts, protect=protect, depends_on=[self.namespace, self.crds, self.certgen]),
            )
            self.ready = [self.crds, self.chart]
            if inference_pool_crd:
                crd = inference_pool_crd_manifest()
                self.inference_pool_crd = kubernetes.apiextensions.v1.CustomResourceDefinition(
                    f"{name}-inference-pool-crd",
                    metadata=crd["metadata"],
                    spec=crd["spec"],
                    opts=pulumi.ResourceOptions.merge(
                        child_options(self, opts, protect=protect), pulumi.ResourceOptions(retain_on_delete=True)
                    ),
                )
                self.ready.append(self.inference_pool_crd)
        # Passed on to the components built on this one (see `options.controller_ready`).
        self._controller_ready = self.ready
        self.register_outputs(
            {
                "installed": controller.install,
                "version": controller.version if controller.install else None,
                "namespace": controller.namespace if controller.install else None,
            }
        )


def retained_on_delete(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
    """A transform that keeps each object of the CRDs chart in the cluster when Pulumi deletes it.

    Set on the Chart, it reaches each object the provider declares inside it, whether or not
    the Chart's own `retain_on_delete` would be passed on to them (Python passes no resource
    option but `protect` and the provider on to a child by itself)."""
    return pulumi.ResourceTransformResult(
        props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    )


def located_chart(controller: ControllerConfig, chart: str, name: str) -> dict[str, Any]:
    """`helm.v4.Chart`'s arguments that locate `chart` (`chart`, and `repository_opts` for an
    https:// Helm repository), see `chart_reference`.

    A local directory is resolved against the program's directory (where `pulumi` runs it), so
    the provider, whose working directory is its own, finds the same files. Helm ignores
    `version` for a path, so the chart found there is checked to be of `version`: the packaged
    `<chart>-<version>.tgz` (`helm pull`'s name) if the directory holds it, else the unpacked
    `<chart>/` whose Chart.yaml must say that version (the module source's `v0.0.0-latest`
    is not a released chart). Anything else stops the program with one line.
    """
    reference = chart_reference(controller, chart)
    if controller.chart_repository.startswith(("oci://", "https://")):
        return reference
    unpacked = Path(os.path.abspath(reference["chart"]))
    packaged = unpacked.parent / f"{chart}-{controller.version}.tgz"
    if packaged.is_file():
        return {"chart": str(packaged)}

    def refuse(message: str) -> ArgumentProblem:
        return ArgumentProblem("EnvoyGatewayController", name, [Problem("chart_repository", message)])

    write_them = f"write them with `gatestack charts --version {controller.version} --out {controller.chart_repository}`"
    chart_file = unpacked / "Chart.yaml"
    if not chart_file.is_file():
        raise refuse(f"{unpacked.parent} holds neither {packaged.name} nor {chart}/Chart.yaml; {write_them}")
    metadata = yaml.safe_load(chart_file.read_text()) or {}
    if metadata.get("name") != chart or metadata.get("version") != controller.version:
        raise refuse(
            f"{chart_file} is chart {metadata.get('name')!r} version {metadata.get('version')!r}, "
            f"not {chart!r} version {controller.version!r}; {write_them}"
        )
    return {"chart": str(unpacked)}
