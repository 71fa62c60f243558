"""InferencePool: a pool of model servers, its Endpoint Picker, and the Envoy Gateway wiring."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.inference import InferencePoolConfig
from gateway_config.inference_manifests import endpoint_picker_objects, inference_pool_object
from gateway_config.inference_wiring import (
    endpoint_override_traffic_policy,
    endpoint_picker_extension_policy,
    fail_open_patch_policy,
    pool_service,
)
from gateway_config.models import StackConfig


class InferencePool(pulumi.ComponentResource):
    """An `InferencePool` (`inference.networking.k8s.io/v1`) and its Endpoint Picker (EPP),
    declared as the upstream `inferencepool` chart v1.5.0 declares them (release name = pool
    name), plus what makes the pool effective on Envoy Gateway v1.9 without Envoy AI Gateway:

    - `pool`: the InferencePool (selector, targetPorts, appProtocol, endpointPickerRef with the
      pool's failureMode);
    - the EPP: ServiceAccount, Roles and RoleBindings (pods; InferencePools and the alpha
      objectives; leader election with more than one replica), the ConfigMap with its
      EndpointPickerConfig (scorers and weights), the Deployment `<pool>-epp` and its Service
      (`grpc-ext-proc` with `appProtocol: kubernetes.io/h2c`, `http-metrics`);
    - `service`: the Service `<pool>` selecting the pool's pods on its target ports, which the
      routes forward to (Envoy Gateway v1.9 refuses an InferencePool backendRef);
    - `extension_policy`: an EnvoyExtensionPolicy on the routes (rules) that use the pool, sending
      each request to the EPP over ext_proc with bodies FullDuplexStreamed;
    - `traffic_policy`: a BackendTrafficPolicy on the same targets whose endpoint override takes
      the pod the EPP named in `x-gateway-destination-endpoint`;
    - `fail_open_policy` (FailOpen pools only): an EnvoyPatchPolicy giving that ext_proc filter
      Envoy's `failure_mode_allow` (Envoy Gateway's CRD allows failOpen only without
      FullDuplexStreamed bodies, which the EPP needs); it needs Envoy Gateway's
      `extensionApis.enableEnvoyPatchPolicy`.

    The policies are left out when no route uses the pool. Children are named
    `<name>-<object>`; the EPP's objects wait for its ServiceAccount and ConfigMap.
    """

    pool: kubernetes.apiextensions.CustomResource
    service: kubernetes.core.v1.Service
    epp_deployment: kubernetes.apiextensions.CustomResource  # an apps/v1 Deployment (see `custom_resource`)
    epp_service: kubernetes.core.v1.Service
    extension_policy: Optional[kubernetes.apiextensions.CustomResource]
    traffic_policy: Optional[kubernetes.apiextensions.CustomResource]
    fail_open_policy: Optional[kubernetes.apiextensions.CustomResource]

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        pool: InferencePoolConfig,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:InferencePool", name, None, opts)
        namespace = config.namespace
        child = child_options(self, opts)
        epp = endpoint_picker_objects(pool, namespace)

        self.pool = custom_resource(f"{name}-inference-pool", inference_pool_object(pool, namespace), child)
        service_account = kubernetes.core.v1.ServiceAccount(
            f"{name}-epp-service-account", metadata=epp["service_account"]["metadata"], opts=child
        )
        rbac: list[pulumi.Resource] = []
        for manifest in epp["rbac"]:
            rbac.append(self._rbac_object(name, pool.epp_name, manifest, child_options(self, opts, depends_on=[service_account])))
        config_map = kubernetes.core.v1.ConfigMap(
            f"{name}-epp-config-map", metadata=epp["config_map"]["metadata"], data=epp["config_map"]["data"], opts=child
        )
        self.epp_deployment = custom_resource(
            f"{name}-epp-deployment", epp["deployment"], child_options(self, opts, depends_on=[service_account, config_map, *rbac])
        )
        self.epp_service = kubernetes.core.v1.Service(
            f"{name}-epp-service", metadata=epp["service"]["metadata"], spec=epp["service"]["spec"], opts=child
        )
        backend = pool_service(pool, namespace)
        self.service = kubernetes.core.v1.Service(
            f"{name}-service", metadata=backend["metadata"], spec=backend["spec"], opts=child
        )
        extension = endpoint_picker_extension_policy(config, pool)
        override = endpoint_override_traffic_policy(config, pool)
        self.extension_policy = (
            custom_resource(f"{name}-envoy-extension-policy", extension, child_options(self, opts, depends_on=[self.epp_service]))
            if extension is not None
            else None
        )
        self.traffic_policy = (
            custom_resource(f"{name}-backend-traffic-policy", override, child_options(self, opts, depends_on=[self.service]))
            if override is not None
            else None
        )
        patch = fail_open_patch_policy(config, pool)
        self.fail_open_policy = (
            custom_resource(f"{name}-envoy-patch-policy", patch, child_options(self, opts, depends_on=[self.extension_policy]))
            if patch is not None and self.extension_policy is not None
            else None
        )
        self.register_outputs(
            {
                "endpointPicker": f"{namespace}/{pool.epp_name}:{pool.endpoint_picker.port}",
                "failureMode": pool.failure_mode,
                "targets": [ref["name"] for ref in (extension or {}).get("spec", {}).get("targetRefs", [])],
            }
        )

    @staticmethod
    def _rbac_object(name: str, epp_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
        # `<pool>-epp-sa` -> `<name>-epp-role-sa`, `<name>-epp-role-binding-sa`
        suffix = manifest["metadata"]["name"].removeprefix(f"{epp_name}-")
        if manifest["kind"] == "Role":
            return kubernetes.rbac.v1.Role(f"{name}-epp-role-{suffix}", metadata=manifest["metadata"], rules=manifest["rules"], opts=opts)
        return kubernetes.rbac.v1.RoleBinding(
            f"{name}-epp-role-binding-{suffix}",
            metadata=manifest["metadata"],
            subjects=manifest["subjects"],
            role_ref=manifest["roleRef"],
            opts=opts,
        )
