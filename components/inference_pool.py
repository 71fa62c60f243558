"""InferencePool: a pool of model servers, its Endpoint Picker, and the Envoy Gateway wiring."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .envoy_gateway_controller import EnvoyGatewayController
from .model_server import ModelServer
from .options import child_options, controller_ready, custom_resource, field
from .validation import ArgumentProblem, check_rules, gateway_view, part, stack_view, validate_model, validate_value, when_known
from .weighted_route import WeightedRoute

from gateway_config.inference import InferencePoolConfig
from gateway_config.inference_manifests import INFERENCE_POOL_API_VERSION, endpoint_picker_objects, inference_pool_object
from gateway_config.inference_wiring import (
    endpoint_override_traffic_policy,
    endpoint_picker_extension_policy,
    fail_open_patch_policy,
    pool_service,
    pool_targets,
)
from gateway_config.fields import DnsLabel
from gateway_config.models import ParentRef
from gateway_config.policy_manifests import POLICY_API_VERSION
from gateway_config.semantics import Problem

# The model's keys -> where a message finds them.
ARGUMENTS = {key: f"spec.{key}" for key in InferencePoolConfig.model_json_schema(by_alias=True)["properties"] if key != "name"}


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
    - `fail_open_policies` (FailOpen pools only): an EnvoyPatchPolicy per Gateway of its routes
      (`fail_open_policy`: the first Gateway's), giving that ext_proc filter
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
    fail_open_policy: Optional[kubernetes.apiextensions.CustomResource]  # the first Gateway's
    fail_open_policies: list[kubernetes.apiextensions.CustomResource]  # one per Gateway of its routes
    settings: InferencePoolConfig

    def __init__(
        self,
        name: str,
        *,
        spec: Union[InferencePoolConfig, Mapping[str, Any]],
        model_servers: Sequence[ModelServer] = (),
        routes: Sequence[WeightedRoute] = (),
        controller: Optional[EnvoyGatewayController] = None,
        namespace: pulumi.Input[str] = "default",
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component, the pool and its Service (the EPP is `<name>-epp`).
        - `spec`: camelCase as in a stack file: `selector` (the model servers' pod labels),
          `targetPorts` [[8000]], `failureMode` ["FailClose"], `endpointPicker` (image, replicas,
          resources, port [9002], scorer weights or a whole plugins config).
        - `model_servers` [()]: the ModelServers it selects; its selector is checked against
          them and the pool is created after them.
        - `routes` [()]: the WeightedRoutes whose rules forward to it (`kind: InferencePool`);
          its Envoy Gateway policies attach to them (and wait for them). None: no policies.
        - `controller` [the routes']: the EnvoyGatewayController installed with
          `inference_pool_crd=True` (and `envoy_patch_policies=True` for a FailOpen pool).
        - `namespace` ["default"]: an Input, e.g. a Namespace's `metadata.name`.
        """
        data = spec.model_dump(by_alias=True, exclude_unset=True) if isinstance(spec, InferencePoolConfig) else dict(spec)
        self.settings = pool = validate_model(InferencePoolConfig, {**data, "name": name}, component="InferencePool", name=name, arguments=ARGUMENTS)
        # The Gateways its routes attach to, each once, in order: a FailOpen pool patches each.
        gateways = list({id(item): item for route in routes for item in route.gateways}.values())
        arguments = {
            "namespace": namespace,
            "servers": [server.settings for server in model_servers],
            "routes": [{"settings": route.settings, "gateways": [item.gateway_name for item in route.gateways]} for route in routes],
            "gateways": [{"name": item.gateway_name, "listeners": item.listeners} for item in gateways],
        }

        def build(values: dict[str, Any]) -> dict[str, Any]:
            validate_value(DnsLabel, values["namespace"], component="InferencePool", name=name, argument="namespace")
            views = [gateway_view(item["name"], item["listeners"]) for item in values["gateways"]]
            # A route without parentRefs attaches to the Gateways it was given; in the view, which
            # attaches such a route to its first Gateway, it names them.
            routes_in_view = [
                item["settings"] if item["settings"].parent_refs or item["gateways"] == [views[0].name]
                else item["settings"].model_copy(update={"parent_refs": [ParentRef.model_validate({"name": gateway}) for gateway in item["gateways"]]})
                for item in values["routes"]
            ]
            view = stack_view(
                values["namespace"], gateway=views[0] if views else None, gateways=views[1:],
                inference_pools=[pool], model_servers=values["servers"], routes=routes_in_view,
            )
            check_rules(view, "inferencePools.0", component="InferencePool", name=name, arguments=ARGUMENTS)
            unused = [route.name for route in routes_in_view if not any(target.name == route.name for target, _ in pool_targets(view, pool))]
            if unused:
                raise ArgumentProblem("InferencePool", name, [Problem("routes", f"route '{unused[0]}' has no rule forwarding to this pool; give only the routes that do")])
            patches = [fail_open_patch_policy(view, pool, gateway) for gateway in views]
            if pool.failure_mode == "FailOpen" and None in patches:
                missing = views[patches.index(None)].name
                raise ArgumentProblem("InferencePool", name, [Problem("routes", f"no route given attaches to Gateway '{missing}' with a rule forwarding to this pool")])
            return {
                "namespace": values["namespace"],
                "epp": endpoint_picker_objects(pool, values["namespace"]),
                "pool": inference_pool_object(pool, values["namespace"]),
                "service": pool_service(pool, values["namespace"]),
                "extension": endpoint_picker_extension_policy(view, pool),
                "override": endpoint_override_traffic_policy(view, pool),
                "patches": patches,
            }

        built = when_known(arguments, build)
        super().__init__("api-gateway:components:InferencePool", name, None, opts)
        ready = controller_ready(controller, *routes)
        waits_for = [*ready, *routes]
        child = child_options(self, opts, depends_on=waits_for)

        def piece(*keys: str) -> Any:
            return field(built, *keys)

        self.pool = custom_resource(
            f"{name}-inference-pool", piece("pool"), child_options(self, opts, depends_on=[*waits_for, *model_servers]),
            api_version=INFERENCE_POOL_API_VERSION, kind="InferencePool",
        )
        service_account = kubernetes.core.v1.ServiceAccount(
            f"{name}-epp-service-account", metadata=piece("epp", "service_account", "metadata"), opts=child
        )
        rbac: list[pulumi.Resource] = []
        for index, manifest in enumerate(endpoint_picker_objects(pool, "default")["rbac"]):
            rbac.append(
                self._rbac_object(
                    name, pool.epp_name, manifest, part(built, lambda result, at=index: result["epp"]["rbac"][at]),
                    child_options(self, opts, depends_on=[*waits_for, service_account]),
                )
            )
        config_map = kubernetes.core.v1.ConfigMap(
            f"{name}-epp-config-map", metadata=piece("epp", "config_map", "metadata"), data=piece("epp", "config_map", "data"), opts=child
        )
        self.epp_deployment = custom_resource(
            f"{name}-epp-deployment", piece("epp", "deployment"),
            child_options(self, opts, depends_on=[*waits_for, service_account, config_map, *rbac]),
            api_version="apps/v1", kind="Deployment",
        )
        self.epp_service = kubernetes.core.v1.Service(
            f"{name}-epp-service", metadata=piece("epp", "service", "metadata"), spec=piece("epp", "service", "spec"), opts=child
        )
        self.service = kubernetes.core.v1.Service(
            f"{name}-service", metadata=piece("service", "metadata"), spec=piece("service", "spec"), opts=child
        )
        # Declared when routes use the pool (checked above: every route given does).
        self.extension_policy = self.traffic_policy = self.fail_open_policy = None
        self.fail_open_policies = []
        if routes:
            self.extension_policy = custom_resource(
                f"{name}-envoy-extension-policy", piece("extension"),
                child_options(self, opts, depends_on=[*waits_for, self.epp_service]),
                api_version=POLICY_API_VERSION, kind="EnvoyExtensionPolicy",
            )
            self.traffic_policy = custom_resource(
                f"{name}-backend-traffic-policy", piece("override"),
                child_options(self, opts, depends_on=[*waits_for, self.service]),
                api_version=POLICY_API_VERSION, kind="BackendTrafficPolicy",
            )
            if pool.failure_mode == "FailOpen":
                # One per Gateway of its routes (an EnvoyPatchPolicy targets one Gateway); the
                # first's keeps the name it had when a stack had one Gateway.
                self.fail_open_policies = [
                    custom_resource(
                        f"{name}-envoy-patch-policy" + (f"-{item.gateway_name}" if index else ""),
                        part(built, lambda result, at=index: result["patches"][at]),
                        child_options(self, opts, depends_on=[*waits_for, self.extension_policy]),
                        api_version=POLICY_API_VERSION, kind="EnvoyPatchPolicy",
                    )
                    for index, item in enumerate(gateways)
                ]
                self.fail_open_policy = self.fail_open_policies[0]
        self.register_outputs(
            {
                "endpointPicker": pulumi.Output.concat(pulumi.Output.from_input(namespace), f"/{pool.epp_name}:{pool.endpoint_picker.port}"),
                "failureMode": pool.failure_mode,
                "targets": [route.route_name for route in routes],
            }
        )

    @staticmethod
    def _rbac_object(
        name: str, epp_name: str, shape: dict[str, Any], manifest: Any, opts: pulumi.ResourceOptions
    ) -> pulumi.Resource:
        # `<pool>-epp-sa` -> `<name>-epp-role-sa`, `<name>-epp-role-binding-sa`; the kind and
        # name come from `shape` (the namespace does not change them), the rest from `manifest`.
        suffix = shape["metadata"]["name"].removeprefix(f"{epp_name}-")
        if shape["kind"] == "Role":
            return kubernetes.rbac.v1.Role(
                f"{name}-epp-role-{suffix}", metadata=field(manifest, "metadata"), rules=field(manifest, "rules"), opts=opts
            )
        return kubernetes.rbac.v1.RoleBinding(
            f"{name}-epp-role-binding-{suffix}",
            metadata=field(manifest, "metadata"),
            subjects=field(manifest, "subjects"),
            role_ref=field(manifest, "roleRef"),
            opts=opts,
        )
