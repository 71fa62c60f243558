"""A Gateway one stack owns and other stacks' routes attach to (the platform/application split).

The platform's side:
- `RouteNamespaceAdmission`: the listeners of a Gateway that admit routes from every namespace
  carrying a label (`allowedRoutes.namespaces.from: Selector`), applied to a `Gateway`
  component through its `opts` (a transformation of the Gateway object it declares);
- `shared_gateway_outputs`: what the platform exports for the applications (GATEWAY_NAME,
  GATEWAY_NAMESPACE, GATEWAY_HOST, GATEWAY_LISTENERS, ROUTE_NAMESPACE_LABELS).

The application's side:
- `SharedGateway.read(stack)`: those outputs, read from the platform's stack while the program
  runs (what `pulumi.StackReference` reads), as plain values, before anything is declared;
- `SharedGateway.check_attachment(...)`: refuses, in one line naming the application's argument
  and the platform's output, a route the Gateway would not accept: a namespace the listener does
  not admit, a hostname outside the listener's, a listener (sectionName) it does not have;
- `GatewayFromStack`: the shared Gateway as a `Gateway` that routes and policies are given
  (`WeightedRoute(gateway=...)`); it declares no Kubernetes object, only the StackReference that
  records the dependency on the platform's stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi

from .gateway import Gateway

from gateway_config.gateway_api_rules import _intersection  # how Envoy Gateway intersects hostnames
from gateway_config.models import AllowedRoutes, ListenerConfig

# The platform's outputs an application reads (`pulumi stack output` shows them).
GATEWAY_NAME = "GATEWAY_NAME"
GATEWAY_NAMESPACE = "GATEWAY_NAMESPACE"
GATEWAY_HOST = "GATEWAY_HOST"
GATEWAY_LISTENERS = "GATEWAY_LISTENERS"
ROUTE_NAMESPACE_LABELS = "ROUTE_NAMESPACE_LABELS"
REQUIRED_OUTPUTS = (GATEWAY_NAME, GATEWAY_NAMESPACE, GATEWAY_LISTENERS, ROUTE_NAMESPACE_LABELS)
# The engine's built-in function behind `pulumi.StackReference` (the Node.js SDK's synchronous
# stack outputs call it too): the outputs of a stack of the same backend, by its full name.
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


@dataclass(frozen=True)
class RouteNamespaceAdmission:
    """Which listeners of a Gateway admit routes from namespaces carrying `labels`.

    `listeners` names them (default: every listener); the others keep what the Gateway says
    (`Same` by default: only the Gateway's own namespace). Give `transformation` to the Gateway
    component: `Gateway(..., opts=pulumi.ResourceOptions(transformations=[admission.transformation]))`.
    """

    labels: Mapping[str, str]
    listeners: Optional[Sequence[str]] = None

    def __post_init__(self) -> None:
        if not self.labels:
            raise pulumi.RunError("RouteNamespaceAdmission: labels: give at least one label (key: value) a namespace must carry")

    def admits(self, listener: str) -> bool:
        return self.listeners is None or listener in self.listeners

    def selector(self) -> dict[str, Any]:
        return {"from": "Selector", "selector": {"matchLabels": dict(self.labels)}}

    def _spec(self, spec: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if not spec:
            return spec
        listeners = [
            {**listener, "allowedRoutes": {"namespaces": self.selector()}} if self.admits(listener["name"]) else listener
            for listener in spec.get("listeners") or []
        ]
        return {**spec, "listeners": listeners}

    def transformation(self, args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
        """The Gateway object's listeners with `allowedRoutes.namespaces` set to the selector
        (the Gateway component's read of the live object, which has no spec, is left alone)."""
        if not args.type_.endswith(":Gateway") or args.props.get("spec") is None:
            return None
        spec = pulumi.Output.from_input(args.props["spec"]).apply(self._spec)
        return pulumi.ResourceTransformationResult({**args.props, "spec": spec}, args.opts)


def _admits(listener: ListenerConfig, admission: Optional[RouteNamespaceAdmission]) -> dict[str, Any]:
    if admission is not None and admission.admits(listener.name):
        return {"from": "Selector", "matchLabels": dict(admission.labels)}
    return {"from": listener.allowed_routes.namespaces if listener.allowed_routes else "Same"}


def shared_gateway_outputs(gateway: Gateway, admission: Optional[RouteNamespaceAdmission] = None) -> dict[str, Any]:
    """The outputs an application needs to attach routes to `gateway` (export each:
    `for key, value in shared_gateway_outputs(...).items(): pulumi.export(key, value)`).

    GATEWAY_LISTENERS lists each listener's `name`, `protocol`, `port`, `hostname` (None: any)
    and `admits`: `{"from": "Selector", "matchLabels": {...}}`, `{"from": "Same"}` or
    `{"from": "All"}`."""

    def described(listeners: list[ListenerConfig]) -> list[dict[str, Any]]:
        return [
            {"name": item.name, "protocol": item.protocol, "port": item.port, "hostname": item.hostname, "admits": _admits(item, admission)}
            for item in listeners
        ]

    listeners = gateway.listeners
    return {
        GATEWAY_NAME: gateway.gateway_name,
        GATEWAY_NAMESPACE: gateway.namespace,
        GATEWAY_HOST: gateway.address,
        GATEWAY_LISTENERS: listeners.apply(described) if isinstance(listeners, pulumi.Output) else described(listeners),
        ROUTE_NAMESPACE_LABELS: dict(admission.labels) if admission is not None else {},
    }


@dataclass(frozen=True)
class SharedListener:
    name: str
    protocol: str
    port: int
    hostname: Optional[str]
    admits: Mapping[str, Any]

    def as_listener_config(self) -> ListenerConfig:
        # Admission is checked by `SharedGateway.check_attachment` (a Selector needs the
        # namespace's labels, which a route's own rules cannot see): the route's view admits all.
        return ListenerConfig.model_construct(
            name=self.name, protocol=self.protocol, port=self.port, hostname=self.hostname, tls=None,
            allowed_routes=AllowedRoutes.model_construct(namespaces="All"),
        )


@dataclass(frozen=True)
class SharedGateway:
    """The shared Gateway as the platform's stack outputs describe it (plain values)."""

    stack: str
    name: str
    namespace: str
    listeners: tuple[SharedListener, ...]
    route_namespace_labels: Mapping[str, str]
    address: Optional[str] = None
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_outputs(cls, stack: str, outputs: Mapping[str, Any]) -> "SharedGateway":
        """From a platform stack's outputs; refuses outputs that are not the platform's, in one line."""
        missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
        if missing:
            raise pulumi.RunError(
                f"stack {stack} has no output {', '.join(missing)}: it is not a platform stack that exported "
                "shared_gateway_outputs (is it up, and is the name organization/<project>/<stack>?)"
            )
        listeners = tuple(
            SharedListener(item["name"], item["protocol"], int(item["port"]), item.get("hostname"), dict(item.get("admits") or {}))
            for item in outputs[GATEWAY_LISTENERS]
        )
        return cls(
            stack=stack,
            name=outputs[GATEWAY_NAME],
            namespace=outputs[GATEWAY_NAMESPACE],
            listeners=listeners,
            route_namespace_labels=dict(outputs[ROUTE_NAMESPACE_LABELS] or {}),
            address=outputs.get(GATEWAY_HOST),
            outputs=dict(outputs),
        )

    @classmethod
    def read(cls, stack: str) -> "SharedGateway":
        """The platform stack `stack`'s outputs (`organization/<project>/<stack>` on a file or
        self-managed backend, `<org>/<project>/<stack>` on Pulumi Cloud), read now, while the
        program runs, so a route the Gateway would refuse is refused before anything is declared."""
        result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": stack})
        return cls.from_outputs(stack, (result.value or {}).get("outputs") or {})

    def listener(self, name: str) -> Optional[SharedListener]:
        return next((item for item in self.listeners if item.name == name), None)

    def check_attachment(
        self,
        *,
        namespace: str,
        namespace_labels: Mapping[str, str],
        section_name: str,
        hostnames: Sequence[str] = (),
        arguments: Mapping[str, str] = {},
    ) -> SharedListener:
        """The listener `section_name` of the shared Gateway, if it accepts routes of
        `namespace` (labelled `namespace_labels`) for `hostnames`; else `pulumi.RunError` with one
        line naming the application's argument (`arguments` renames `namespace`, `section_name`
        and `hostnames` to what the application's user sets, e.g. its config keys) and the
        platform's output."""
        named = {key: arguments.get(key, key) for key in ("namespace", "section_name", "hostnames")}
        gateway = f"Gateway {self.namespace}/{self.name} of stack {self.stack}"
        listener = self.listener(section_name)
        if listener is None:
            offered = ", ".join(item.name for item in self.listeners)
            raise pulumi.RunError(
                f"{named['section_name']} '{section_name}' is not a listener of {gateway}: "
                f"its output {GATEWAY_LISTENERS} offers {offered}"
            )
        refusal = self._admission_refusal(listener, namespace, namespace_labels)
        if refusal:
            raise pulumi.RunError(
                f"{named['namespace']} '{namespace}' is not admitted by listener '{listener.name}' of {gateway}: "
                f"its output {GATEWAY_LISTENERS} says the listener admits {refusal}"
            )
        configs = [item.as_listener_config() for item in self.listeners]
        own = configs[self.listeners.index(listener)]
        for index, hostname in enumerate(hostnames):
            if not _intersection(own, [hostname], configs):
                raise pulumi.RunError(
                    f"{named['hostnames']}[{index}] '{hostname}' is outside listener '{listener.name}' of {gateway}: "
                    f"its output {GATEWAY_LISTENERS} gives the listener hostname {listener.hostname}"
                )
        return listener

    def _admission_refusal(self, listener: SharedListener, namespace: str, labels: Mapping[str, str]) -> Optional[str]:
        """None when the listener admits routes of `namespace`; else what it admits."""
        source = listener.admits.get("from", "Same")
        if source == "All":
            return None
        if source == "Same":
            return None if namespace == self.namespace else f"routes from its own namespace ({self.namespace}) only"
        wanted = dict(listener.admits.get("matchLabels") or {})
        if all(labels.get(key) == value for key, value in wanted.items()):
            return None
        shown = ", ".join(f"{key}={value}" for key, value in wanted.items())
        return f"routes from namespaces labelled {shown} only (output {ROUTE_NAMESPACE_LABELS})"

    def parent_ref(self, section_name: str) -> dict[str, Any]:
        """A route's parentRef to the listener `section_name` (checked: `check_attachment`)."""
        return {"name": self.name, "namespace": self.namespace, "sectionName": section_name, "external": True}


class GatewayFromStack(Gateway):
    """The shared Gateway of another stack, as the `gateway` of routes and policies.

    It declares no Kubernetes object: the Gateway is the platform's. Its only child is the
    `pulumi.StackReference` to the platform's stack (so `pulumi stack graph` and the state show
    the dependency, and `reference.outputs` are there for Output use). Give routes
    `parent_refs=[shared.parent_ref(listener)]` after `shared.check_attachment(...)`.
    """

    shared: SharedGateway
    reference: pulumi.StackReference

    def __init__(self, name: str, *, shared: SharedGateway, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        # Not Gateway.__init__: that declares a Gateway object; this one only describes one.
        pulumi.ComponentResource.__init__(self, "api-gateway:components:GatewayFromStack", name, None, opts)
        self.shared = shared
        self.gateway_name = shared.name
        self.namespace = shared.namespace
        self.certificates = []
        self._controller_ready = []
        self.listeners = [item.as_listener_config() for item in shared.listeners]
        self.listener_ports = {item.name: item.port for item in shared.listeners}
        self.reference = pulumi.StackReference(f"{name}-stack", stack_name=shared.stack, opts=pulumi.ResourceOptions(parent=self))
        self.address = self.reference.get_output(GATEWAY_HOST)
        self.register_outputs({"gateway": f"{shared.namespace}/{shared.name}", "stack": shared.stack})
