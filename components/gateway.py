"""Gateway: the listeners, and the address the proxies get once the Gateway is Programmed."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as kubernetes

from .envoy_proxy import EnvoyProxy
from .gateway_class import GatewayClass
from .options import child_options, controller_ready, custom_resource
from .tls_cert import TlsCert
from .validation import check_rules, part, stack_view, validate_model, validate_value, when_known

from gateway_config.fields import DnsLabel
from gateway_config.manifests import ENVOY_GATEWAY_GROUP, GATEWAY_API_VERSION, gateway_object
from gateway_config.models import GatewayClassConfig, GatewayConfig, ListenerConfig

ARGUMENTS = {"programmedTimeoutSeconds": "programmed_timeout_seconds"}


class _LiveGateway(pulumi.CustomResource):
    """A read of the Gateway as it is in the cluster, status included.

    pulumi-kubernetes' Python `CustomResource` only resolves the properties it was given
    (apiVersion, kind, metadata, spec), so its `status` cannot be read from it. Declaring
    `status` here makes the engine's read of the live object fill it in.
    """

    status: pulumi.Output[Any]

    def __init__(
        self,
        name: str,
        *,
        api_version: str,
        kind: str,
        metadata: dict,
        object_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ):
        # The provider reads the object in `metadata.namespace`, not in the namespace part of
        # the ID: without it every Gateway is looked up in `default` (a real-engine run of two
        # stacks whose Gateways share a name read the other stack's address).
        super().__init__(
            f"kubernetes:{api_version}:{kind}",
            name,
            {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
                "spec": None,
                "status": None,
            },
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=object_id)),
        )


def first_address(status: Any) -> Optional[str]:
    """`status.addresses[0].value`, as `kubectl get gateway -o jsonpath=...` prints it, or None."""
    addresses = (status or {}).get("addresses") or []
    return addresses[0].get("value") if addresses else None


class Gateway(pulumi.ComponentResource):
    """A Gateway (the seed's `eg`) with HTTP and HTTPS listeners, of a GatewayClass.

    Annotated `pulumi.com/waitFor: condition=Programmed` with a timeout of
    `programmed_timeout_seconds`: `pulumi up` returns only once the controller has created
    the proxies and their Service has an address. `address` is then read from the live
    object (`status.addresses[0].value`), so it stays current after `pulumi refresh`.

    Routes and policies are given this component: they attach to it, are checked against its
    listeners, and wait for it (and, through it, for its class and the controller).
    """

    resource: kubernetes.apiextensions.CustomResource
    address: pulumi.Output[Optional[str]]
    gateway_name: str
    namespace: pulumi.Input[str]
    listeners: Union[list[ListenerConfig], pulumi.Output[list[ListenerConfig]]]
    listener_ports: Union[dict[str, int], pulumi.Output[dict[str, int]]]

    def __init__(
        self,
        name: str,
        *,
        gateway_class: Union[GatewayClass, pulumi.Input[str]],
        listeners: Sequence[Union[ListenerConfig, Mapping[str, Any]]],
        certificates: Sequence[TlsCert] = (),
        envoy_proxy: Optional[EnvoyProxy] = None,
        namespace: pulumi.Input[str] = "default",
        annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
        programmed_timeout_seconds: int = 600,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the Gateway object.
        - `gateway_class`: the GatewayClass component (created first), or the name of one
          that exists already.
        - `listeners`: one to 64, each `{"name", "protocol": "HTTP"|"HTTPS", "port", "hostname"?,
          "tls"?: {"certificateRefs": [{"name", "namespace"?, "external"?}]}, "allowedRoutes"?}`
          (camelCase, as Gateway API; values may be Outputs) or `ListenerConfig`s.
        - `certificates` [()]: the TlsCerts the HTTPS listeners serve; created first. A
          certificateRef naming none of them must say `external: true`.
        - `envoy_proxy` [None: its class's]: an EnvoyProxy of this Gateway's own, named in
          `spec.infrastructure.parametersRef` (Envoy Gateway then uses it instead of the
          class's); created first.
        - `namespace` ["default"]: an Input, e.g. a Namespace's `metadata.name`.
        - `annotations` [{}]; `programmed_timeout_seconds` [600]: how long `pulumi up` waits
          for the Gateway to be Programmed.
        """
        arguments = {
            "namespace": namespace,
            "className": gateway_class.class_name if isinstance(gateway_class, GatewayClass) else gateway_class,
            "gateway": {
                "name": name,
                "listeners": list(listeners),
                "annotations": dict(annotations or {}),
                "programmedTimeoutSeconds": programmed_timeout_seconds,
            },
            "certificates": [{"settings": certificate.settings, "namespace": certificate.namespace} for certificate in certificates],
            "proxy": None if envoy_proxy is None else envoy_proxy.proxy_name,
        }

        # The Gateway's own settings are known without its namespace and certificates (which
        # may be Outputs): routes and policies read them, and stay plain when they are.
        settings = when_known(
            {"gateway": arguments["gateway"]},
            lambda values: validate_model(GatewayConfig, values["gateway"], component="Gateway", name=name, arguments=ARGUMENTS),
        )

        def build(values: dict[str, Any]) -> dict[str, Any]:
            gateway = validate_model(GatewayConfig, values["gateway"], component="Gateway", name=name, arguments=ARGUMENTS)
            validate_value(DnsLabel, values["namespace"], component="Gateway", name=name, argument="namespace")
            class_settings = GatewayClassConfig.model_construct(name=values["className"])
            served = [item["settings"].model_copy(update={"namespace": item["namespace"]}) for item in values["certificates"]]
            view = stack_view(values["namespace"], gateway=gateway, gateway_class=class_settings, certificates=served)
            check_rules(view, "gateway", component="Gateway", name=name, arguments=ARGUMENTS)
            manifest = gateway_object(view)
            if values["proxy"] is not None:
                # Before the listeners, where Gateway API's own examples put it.
                infrastructure = {"parametersRef": {"group": ENVOY_GATEWAY_GROUP, "kind": "EnvoyProxy", "name": values["proxy"]}}
                manifest["spec"] = {"gatewayClassName": manifest["spec"]["gatewayClassName"], "infrastructure": infrastructure,
                                    **{key: value for key, value in manifest["spec"].items() if key != "gatewayClassName"}}
            return manifest

        manifest = when_known(arguments, build)
        super().__init__("api-gateway:components:Gateway", name, None, opts)
        self.gateway_name = name
        self.namespace = namespace
        self.certificates = list(certificates)
        self._controller_ready = controller_ready(gateway_class, envoy_proxy)
        waits_for = [
            *self._controller_ready,
            *([gateway_class] if isinstance(gateway_class, GatewayClass) else []),
            *([envoy_proxy] if envoy_proxy is not None else []),
            *certificates,
        ]
        self.listeners = part(settings, lambda gateway: list(gateway.listeners))
        self.listener_ports = part(settings, lambda gateway: {item.name: item.port for item in gateway.listeners})
        self.resource = custom_resource(
            f"{name}-gateway", manifest, child_options(self, opts, depends_on=waits_for), api_version=GATEWAY_API_VERSION, kind="Gateway"
        )
        live = _LiveGateway(
            f"{name}-gateway-status",
            api_version=GATEWAY_API_VERSION,
            kind="Gateway",
            metadata={"name": name, "namespace": namespace},
            object_id=self.resource.id,
            opts=child_options(self, opts, depends_on=[*waits_for, self.resource]),
        )
        self.address = live.status.apply(first_address)
        self.register_outputs({"address": self.address})
