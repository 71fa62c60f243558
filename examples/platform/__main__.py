"""The platform's half of a shared gateway: Envoy Gateway, a GatewayClass, certificates, and one
Gateway whose `http` and `https` listeners (*.apps.example.com) admit routes from every namespace
carrying the route-namespace label, while `internal` admits only the platform's own namespace.
It exports what an application needs to attach to it (examples/application reads them)."""

import pulumi
import pulumi_kubernetes as kubernetes

from pulumi_envoy_gateway import (
    EnvoyGatewayController, Gateway, GatewayClass, RouteNamespaceAdmission, TlsCert, shared_gateway_outputs,
)

config = pulumi.Config()
domain = config.get("domain") or "apps.example.com"
namespace = config.get("namespace") or "gateway-platform"
if config.get_bool("createNamespace", True):
    namespace = kubernetes.core.v1.Namespace(namespace, metadata={"name": namespace}).metadata.name
controller = EnvoyGatewayController("envoy-gateway", install=config.get_bool("installController", True))
gateway_class = GatewayClass(config.get("gatewayClassName") or "eg-platform", controller=controller)
certificate = TlsCert(
    "apps-wildcard-cert", namespace=namespace, source=config.get("certificateSource") or "generate", controller=controller,
    ca={"commonName": f"{domain} CA", "organization": "platform team"}, subject={"commonName": f"*.{domain}"},
    dns_names=[f"*.{domain}"],
)
# Applications label their namespaces so; the application listeners admit their routes.
admission = RouteNamespaceAdmission(labels={config.get("routeNamespaceLabel") or "gateway.example.com/shared": "true"},
                                    listeners=["http", "https"])
gateway = Gateway("shared", gateway_class=gateway_class, namespace=namespace, certificates=[certificate], listeners=[
    {"name": "http", "protocol": "HTTP", "port": 80, "hostname": f"*.{domain}"},
    {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": f"*.{domain}",
     "tls": {"certificateRefs": [{"name": "apps-wildcard-cert"}]}},
    {"name": "internal", "protocol": "HTTP", "port": 9080, "hostname": f"*.internal.{domain}"},
], opts=pulumi.ResourceOptions(transformations=[admission.transformation]))

for key, value in shared_gateway_outputs(gateway, admission).items():
    pulumi.export(key, value)
pulumi.export("CA_CERT_PEM", certificate.ca_certificate_pem)
