"""An application's half of a shared gateway: its own namespace (labelled as the platform asks),
echo backends, an HTTPRoute on one listener of the platform's Gateway, and a timeout policy on
that route. The platform's stack outputs say where to attach; what the Gateway would not accept
is refused before anything is declared."""

import pulumi
import pulumi_kubernetes as kubernetes

from pulumi_envoy_gateway import BackendTrafficPolicy, EchoBackend, GatewayFromStack, SharedGateway, WeightedRoute

config = pulumi.Config()
namespace = config.require("namespace")
listener = config.get("listener") or "http"
hostnames = config.require_object("hostnames")
backend_settings = config.get_object("backends") or [{"name": "echo", "weight": 1}]

shared = SharedGateway.read(config.require("platformStack"))
shared.check_attachment(
    namespace=namespace, namespace_labels=shared.route_namespace_labels, section_name=listener, hostnames=hostnames,
    arguments={"namespace": "config namespace", "section_name": "config listener", "hostnames": "config hostnames"},
)

gateway = GatewayFromStack("shared-gateway", shared=shared)
labelled = kubernetes.core.v1.Namespace(namespace, metadata={"name": namespace, "labels": dict(shared.route_namespace_labels)})
backends = [EchoBackend(item["name"], namespace=labelled.metadata.name) for item in backend_settings]
route = WeightedRoute(
    namespace, gateway=gateway, namespace=labelled.metadata.name, hostnames=hostnames, backends=backends,
    parent_refs=[shared.parent_ref(listener)],
    rules=[{"backendRefs": [{"name": item["name"], "weight": item.get("weight", 1)} for item in backend_settings]}],
)
BackendTrafficPolicy(f"{namespace}-timeout", targets=[route], namespace=labelled.metadata.name,
                     spec={"timeout": {"http": {"requestTimeout": config.get("requestTimeout") or "10s"}}})

pulumi.export("GATEWAY_HOST", gateway.address)
pulumi.export("URLS", [f"http://{hostname}/" for hostname in hostnames])
