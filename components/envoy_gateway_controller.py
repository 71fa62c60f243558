"""EnvoyGatewayController: Envoy Gateway's CRDs and control plane, from its Helm charts."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options
from .validation import validate_model

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


# gateway-helm's values for Envoy Gateway's own config: EnvoyPatchPolicy turned on.
ENABLE_ENVOY_PATCH_POLICY = {"config": {"envoyGateway": {"extensionApis": {"enableEnvoyPatchPolicy": True}}}}
# The model's keys -> this component's keyword arguments, for messages.
ARGUMENTS = {"chartRepository": "chart_repository", "installGatewayApiCrds": "install_gateway_api_crds"}


class EnvoyGatewayController(pulumi.ComponentResource):
    """Installs Envoy Gateway in three ordered steps, or nothing at all.

    1. `gateway-crds-helm`: the CRDs, applied server-side by pulumi-kubernetes (Helm itself
       never upgrades CRDs, and the Gateway API CRDs are too large for client-side apply).
       Gateway API's CRDs are left out when `installGatewayApiCrds: false` (the platform
       ships them, as ACK does).
    2. `gateway-helm`: the controller, with its own CRDs disabled, into `namespace`.
    3. For a stack with inference pools (`inference_pool_crd=True`), the Gateway API Inference
       Extension's InferencePool CRD (v1.5.0, `gateway_config/crds/`), also server-side; with a
       FailOpen pool (`envoy_patch_policies=True`) the controller is configured with
       `extensionApis.enableEnvoyPatchPolicy`, which that pool's wiring needs.
    4. Nothing else: every component built on this one (an EnvoyProxy or GatewayClass given
       it as `controller`, and whatever is built on those) has its custom resources wait for
       `ready`, so none is created before its CRD and the controller exist.

    With `install: false` (ACK's managed add-on, or a controller another stack owns) it
    declares nothing and `ready` is empty. With `protect=True` (production stacks) the
    charts and namespace cannot be deleted by accident.
    """

    namespace: Optional[kubernetes.core.v1.Namespace]
    crds: Optional[kubernetes.helm.v4.Chart]
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
        - `version` ["v1.9.0"]: of both charts. `chart_repository` ["oci://docker.io/envoyproxy"].
        - `install_gateway_api_crds` [True]: False where the platform ships Gateway API's CRDs.
        - `replicas` [1] and `resources` [the chart's]: of the controller Deployment, e.g.
          `{"requests": {"cpu": "100m", "memory": "256Mi"}}`.
        - `values` [{}]: any gateway-helm value, deep-merged over the curated ones (escape hatch).
        - `inference_pool_crd` [False]: also install the InferencePool CRD (v1.5.0).
        - `envoy_patch_policies` [False]: turn on `extensionApis.enableEnvoyPatchPolicy`
          (a FailOpen InferencePool needs it).
        - `protect` [False]: protect the namespace, the charts and the CRD from deletion.
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
        self.namespace = self.crds = self.chart = self.inference_pool_crd = None
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
                chart=chart_reference(controller, CRDS_CHART),
                version=controller.version,
                values=crds_chart_values(controller),
                opts=child_options(self, opts, protect=protect),
            )
            self.chart = kubernetes.helm.v4.Chart(
                f"{name}-chart",
                name=CONTROLLER_RELEASE,
                chart=chart_reference(controller, CONTROLLER_CHART),
                version=controller.version,
                namespace=controller.namespace,
                skip_crds=True,
                values=(
                    deep_merge(controller_chart_values(controller), ENABLE_ENVOY_PATCH_POLICY)
                    if envoy_patch_policies
                    else controller_chart_values(controller)
                ),
                opts=child_options(self, opts, protect=protect, depends_on=[self.namespace, self.crds]),
            )
            self.ready = [self.crds, self.chart]
            if inference_pool_crd:
                crd = inference_pool_crd_manifest()
                self.inference_pool_crd = kubernetes.apiextensions.v1.CustomResourceDefinition(
                    f"{name}-inference-pool-crd",
                    metadata=crd["metadata"],
                    spec=crd["spec"],
                    opts=child_options(self, opts, protect=protect),
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
