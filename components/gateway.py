"""Gateway: the listeners, and the address the proxies get once the Gateway is Programmed."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from .options import child_options, custom_resource

from gateway_config.manifests import gateway_object
from gateway_config.models import StackConfig


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
    """A Gateway (the seed's `eg`) with HTTP and HTTPS listeners.

    Annotated `pulumi.com/waitFor: condition=Programmed` with a timeout of
    `programmedTimeoutSeconds` (default 600): `pulumi up` returns only once the controller
    has created the proxies and their Service has an address. `address` is then read from
    the live object (`status.addresses[0].value`), so it stays current after `pulumi refresh`.
    """

    resource: kubernetes.apiextensions.CustomResource
    address: pulumi.Output[Optional[str]]
    listener_ports: dict[str, int]

    def __init__(self, name: str, *, config: StackConfig, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("api-gateway:components:Gateway", name, None, opts)
        manifest = gateway_object(config)
        self.listener_ports = {listener["name"]: listener["port"] for listener in manifest["spec"]["listeners"]}
        self.resource = custom_resource(f"{name}-gateway", manifest, child_options(self, opts))
        live = _LiveGateway(
            f"{name}-gateway-status",
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            object_id=self.resource.id,
            opts=child_options(self, opts, depends_on=[self.resource]),
        )
        self.address = live.status.apply(first_address)
        self.register_outputs({"address": self.address})
