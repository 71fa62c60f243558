"""Pulumi component resources: one per file, each the name a user sees in `pulumi preview`."""

from .backend_traffic_policy import BackendTrafficPolicy
from .client_certificate_authority import ClientCertificateAuthority
from .client_traffic_policy import ClientTrafficPolicy
from .echo_backend import EchoBackend
from .envoy_gateway_controller import EnvoyGatewayController
from .envoy_proxy import EnvoyProxy
from .gateway import Gateway
from .gateway_class import GatewayClass
from .inference_pool import InferencePool
from .model_server import ModelServer
from .grpc_route import GrpcRoute
from .security_policy import SecurityPolicy
from .tls_cert import TlsCert
from .weighted_route import WeightedRoute

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
