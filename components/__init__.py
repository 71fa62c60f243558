"""Pulumi components for an Envoy Gateway based API gateway on Kubernetes.

One component per file, each the name a user sees in `pulumi preview`. Each takes its own
typed keyword arguments (documented with their defaults) and the components it builds on, so
creation order follows from what is passed::

    controller = EnvoyGatewayController("envoy-gateway")
    proxy = EnvoyProxy("eg-proxy", controller=controller)
    gateway_class = GatewayClass("eg", envoy_proxy=proxy)
    gateway = Gateway("eg", gateway_class=gateway_class,
                      listeners=[{"name": "http", "protocol": "HTTP", "port": 80}])
    backend = EchoBackend("backend")
    WeightedRoute("backend", gateway=gateway, backends=[backend],
                  rules=[{"backendRefs": [{"name": "backend"}]}])

Structured arguments are the config models below (or dicts in their camelCase keys, as in
Gateway API); a bad one stops the program with one line naming the component and argument
(`ArgumentProblem`, a `pulumi.RunError`).
"""

from gateway_config.base import ResourceRequirements
from gateway_config.inference import InferencePoolConfig, ModelServerConfig
from gateway_config.models import (
    AutoscalingConfig,
    BackendRef,
    CertificateRef,
    DisruptionBudgetConfig,
    DistinguishedName,
    GrpcRouteRule,
    ListenerConfig,
    ParentRef,
    ProxyServiceConfig,
    RouteRule,
)
from gateway_config.security_policies import SecurityPolicyConfig
from gateway_config.traffic_policies import BackendTrafficPolicyConfig, ClientTrafficPolicyConfig

from .backend_traffic_policy import BackendTrafficPolicy
from .client_certificate_authority import ClientCertificateAuthority
from .client_traffic_policy import ClientTrafficPolicy
from .echo_backend import EchoBackend
from .envoy_gateway_controller import EnvoyGatewayController
from .envoy_proxy import EnvoyProxy
from .gateway import Gateway
from .gateway_class import GatewayClass
from .grpc_route import GrpcRoute
from .inference_pool import InferencePool
from .model_server import ModelServer
from .security_policy import SecurityPolicy
from .shared_gateway import GatewayFromStack, RouteNamespaceAdmission, SharedGateway, shared_gateway_outputs
from .shared_gateway import GatewayFromStack, RouteNamespaceAdmission, SharedGateway, shared_gateway_outputs
from .tls_cert import TlsCert
from .validation import ArgumentProblem
from .weighted_route import WeightedRoute

__all__ = [
    # components
    "BackendTrafficPolicy",
    "ClientCertificateAuthority",
    "ClientTrafficPolicy",
    "EchoBackend",
    "EnvoyGatewayController",
    "EnvoyProxy",
    "Gateway",
    "GatewayClass",
    "GrpcRoute",
    "InferencePool",
    "ModelServer",
    "SecurityPolicy",
    "TlsCert",
    "WeightedRoute",
    # a Gateway shared between stacks (platform and applications)
    "GatewayFromStack",
    "RouteNamespaceAdmission",
    "SharedGateway",
    "shared_gateway_outputs",
    # a Gateway one stack owns and other stacks' routes attach to (shared_gateway.py)
    "GatewayFromStack",
    "RouteNamespaceAdmission",
    "SharedGateway",
    "shared_gateway_outputs",
    # the error a bad argument stops the program with
    "ArgumentProblem",
    # argument models
    "AutoscalingConfig",
    "BackendRef",
    "BackendTrafficPolicyConfig",
    "CertificateRef",
    "ClientTrafficPolicyConfig",
    "DisruptionBudgetConfig",
    "DistinguishedName",
    "GrpcRouteRule",
    "InferencePoolConfig",
    "ListenerConfig",
    "ModelServerConfig",
    "ParentRef",
    "ProxyServiceConfig",
    "ResourceRequirements",
    "RouteRule",
    "SecurityPolicyConfig",
]
