"""EnvoyProxy: how the controller runs the Envoy proxies (Deployment, Service, HPA, PDB)."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .envoy_gateway_controller import EnvoyGatewayController
from .options import child_options, controller_ready, custom_resource
from .validation import check_rules, stack_view, validate_model, validate_value, when_known

from gateway_config.base import ResourceRequirements
from gateway_config.fields import DnsLabel
from gateway_config.manifests import ENVOY_PROXY_API_VERSION, envoy_proxy_object
from gateway_config.models import AutoscalingConfig, DisruptionBudgetConfig, ProxyConfig, ProxyServiceConfig

# The model's keys -> this component's keyword arguments, for messages.
ARGUMENTS = {"podLabels": "pod_labels", "podAnnotations": "pod_annotations", "disruptionBudget": "disruption_budget"}


class EnvoyProxy(pulumi.ComponentResource):
    """An EnvoyProxy resource, which a GatewayClass given it points at (`parametersRef`).

    The controller turns it into the proxy Deployment (replicas, image, resources, pod
    labels and annotations), its Service (LoadBalancer by default, with annotations such as
    Alibaba Cloud SLB's, externalTrafficPolicy, loadBalancerClass), and optionally an HPA
    and a PDB. Everything left out keeps the controller's own default.
    """

    resource: kubernetes.apiextensions.CustomResource
    proxy_name: str
    namespace: pulumi.Input[str]

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str] = "default",
        controller: Optional[EnvoyGatewayController] = None,
        replicas: Optional[int] = None,
        image: Optional[str] = None,
        resources: Optional[Union[ResourceRequirements, Mapping[str, Any]]] = None,
        pod_labels: Optional[Mapping[str, str]] = None,
        pod_annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
        service: Optional[Union[ProxyServiceConfig, Mapping[str, Any]]] = None,
        autoscaling: Optional[Union[AutoscalingConfig, Mapping[str, Any]]] = None,
        disruption_budget: Optional[Union[DisruptionBudgetConfig, Mapping[str, Any]]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the EnvoyProxy object.
        - `namespace` ["default"]: an Input, e.g. a Namespace's `metadata.name`.
        - `controller` [None]: the EnvoyGatewayController whose CRDs this waits for (None: one
          installed outside this program).
        - `replicas`, `image`, `resources` [the controller's: 1 replica, its Envoy image].
        - `pod_labels`, `pod_annotations` [none].
        - `service` [`{"type": "LoadBalancer"}`]: `type`, `annotations`,
          `externalTrafficPolicy`, `loadBalancerClass` (camelCase, as in the CRD).
        - `autoscaling` [no HPA]: `{"maxReplicas": 4, "minReplicas": 2, "cpuUtilization": 80}`.
        - `disruption_budget` [no PDB]: `{"minAvailable": 1}` or `{"maxUnavailable": 1}`.
        """
        arguments: dict[str, Any] = {
            "name": name,
            "replicas": replicas,
            "image": image,
            "resources": resources,
            "podLabels": dict(pod_labels or {}),
            "podAnnotations": dict(pod_annotations or {}),
            "autoscaling": autoscaling,
            "disruptionBudget": disruption_budget,
        }
        if service is not None:
            arguments["service"] = service

        def build(values: dict[str, Any]) -> dict[str, Any]:
            settings = validate_model(ProxyConfig, values["settings"], component="EnvoyProxy", name=name, arguments=ARGUMENTS)
            validate_value(DnsLabel, values["namespace"], component="EnvoyProxy", name=name, argument="namespace")
            view = stack_view(values["namespace"], proxy=settings)
            check_rules(view, "proxy", component="EnvoyProxy", name=name, arguments=ARGUMENTS)
            return envoy_proxy_object(view)

        manifest = when_known({"namespace": namespace, "settings": arguments}, build)
        super().__init__("api-gateway:components:EnvoyProxy", name, None, opts)
        self.proxy_name = name
        self.namespace = namespace
        self._controller_ready = controller_ready(controller)
        self.resource = custom_resource(
            f"{name}-envoy-proxy",
            manifest,
            child_options(self, opts, depends_on=self._controller_ready),
            api_version=ENVOY_PROXY_API_VERSION,
            kind="EnvoyProxy",
        )
        self.register_outputs({"name": name})
