"""The seed guide's gateway: Envoy Gateway, GatewayClass eg, Gateway eg (HTTP 80, HTTPS 443 with a
certificate for www.example.com), echo backends backend and backend-2, and the HTTPRoute that
sends www.example.com/get to them 80/20 with the header added-header: foo."""

import pulumi

from pulumi_envoy_gateway import EchoBackend, EnvoyGatewayController, Gateway, GatewayClass, TlsCert, WeightedRoute

config = pulumi.Config()
namespace = config.get("namespace") or "default"  # an existing namespace, as the guide's default
controller = EnvoyGatewayController("envoy-gateway", install=config.get_bool("installController", True))
gateway_class = GatewayClass(config.get("gatewayClassName") or "eg", controller=controller)
certificate = TlsCert(
    "example-cert", namespace=namespace, source=config.get("certificateSource") or "generate", controller=controller,
    ca={"commonName": "example.com", "organization": "example Inc."},
    subject={"commonName": "www.example.com", "organization": "example organization"}, dns_names=["www.example.com"],
)
gateway = Gateway("eg", gateway_class=gateway_class, namespace=namespace, certificates=[certificate], listeners=[
    {"name": "http", "protocol": "HTTP", "port": 80},
    {"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [{"name": "example-cert"}]}},
])
backends = [EchoBackend(name, namespace=namespace) for name in ("backend", "backend-2")]
WeightedRoute("backend", gateway=gateway, hostnames=["www.example.com"], backends=backends, rules=[{
    "matches": [{"path": {"type": "PathPrefix", "value": "/get"}}],
    "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "added-header", "value": "foo"}]}}],
    "backendRefs": [{"name": "backend", "weight": 8}, {"name": "backend-2", "weight": 2}],
}])

pulumi.export("GATEWAY_HOST", gateway.address)
pulumi.export("CA_CERT_PEM", certificate.ca_certificate_pem)
