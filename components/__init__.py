"""Pulumi component resources: one per file, each the name a user sees in `pulumi preview`."""

from components.backend_traffic_policy import BackendTrafficPolicy
from components.client_certificate_authority import ClientCertificateAuthority
from components.client_traffic_policy import ClientTrafficPolicy
from components.echo_backend import EchoBackend
from components.envoy_gateway_controller import EnvoyGatewayController
from components.envoy_proxy import EnvoyProxy
from components.gateway import Gateway
from components.gateway_class import GatewayClass
from components.inference_pool import InferencePool
from components.model_server import ModelServer
from components.grpc_route import GrpcRoute
from components.security_policy import SecurityPolicy
from components.tls_cert import TlsCert
from components.weighted_route import WeightedRoute

__all__ = [
    "BackendTrafficPolicy",
    "ClientCertificateAuthority",
    "ClientTrafficPolicy",
    "EchoBackend",
    "EnvoyGatewayController",
    "EnvoyProxy",
    "Gateway",
    "GatewayClass",
    "InferencePool",
    "ModelServer",
    "GrpcRoute",
    "SecurityPolicy",
    "TlsCert",
    "WeightedRoute",
]
