"""Pulumi component resources: one per file, each the name a user sees in `pulumi preview`."""

from components.echo_backend import EchoBackend
from components.envoy_gateway_controller import EnvoyGatewayController
from components.envoy_proxy import EnvoyProxy
from components.gateway import Gateway
from components.gateway_class import GatewayClass
from components.tls_cert import TlsCert
from components.weighted_route import WeightedRoute

__all__ = [
    "EchoBackend",
    "EnvoyGatewayController",
    "EnvoyProxy",
    "Gateway",
    "GatewayClass",
    "TlsCert",
    "WeightedRoute",
]
