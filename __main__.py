"""The API gateway program: load this stack's config, wire it into components, export outputs.

Order of creation (each step waits for the one before):
CRDs chart -> controller chart -> EnvoyProxy -> GatewayClass -> Gateway -> HTTPRoutes,
with TLS Secrets and echo backends before the Gateway and routes that use them.
"""

import pulumi
import pulumi_kubernetes as kubernetes

from pulumi_envoy_gateway import (
    BackendTrafficPolicy,
    ClientCertificateAuthority,
    ClientTrafficPolicy,
    EchoBackend,
    EnvoyGatewayController,
    EnvoyProxy,
    Gateway,
    GatewayClass,
    InferencePool,
    ModelServer,
    GrpcRoute,
    SecurityPolicy,
    TlsCert,
    WeightedRoute,
)
from gateway_config.loader import PROJECT_NAME, ConfigError, parse_stack_config, raw_config_from_engine, stack_file_name
from gateway_config.models import RouteConfig, StackConfig


def load_config() -> StackConfig:
    """The stack's config, validated; a user mistake stops the program with the message alone."""
    engine_config = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    try:
        config = parse_stack_config(raw_config_from_engine(engine_config), stack_file_name(pulumi.get_stack()))
    except ConfigError as error:
        # RunError: the engine prints the message without a Python traceback.
        raise pulumi.RunError(str(error)) from None
    # Passwords and API keys are accepted only as Pulumi secrets: never in a stack file in clear.
    credentials_key = f"{PROJECT_NAME}:credentials"
    is_secret = pulumi.runtime.config.is_config_secret(credentials_key) or (
        credentials_key in pulumi.runtime.config.get_config_secret_keys_env()
    )
    if config.credentials and not is_secret:
        raise pulumi.RunError(
            f"{stack_file_name(pulumi.get_stack())}: credentials: holds passwords and API keys in clear text; "
            "set each as a secret: pulumi config set --secret --path 'credentials.<policy>.<user>' <value>"
        )
    return config


config = load_config()
# Production stacks protect what an accident must not delete: the controller and the CAs.
protect = config.production

controller = EnvoyGatewayController(
    "envoy-gateway",
    controller=config.controller,
    protect=protect,
    inference_pool_crd=bool(config.inference_pools),
    envoy_patch_policies=any(pool.failure_mode == "FailOpen" for pool in config.inference_pools),
)
after_controller = pulumi.ResourceOptions(depends_on=controller.ready)

workload_dependencies: list[pulumi.Resource] = []
if config.create_namespace:
    workload_dependencies.append(
        kubernetes.core.v1.Namespace(config.namespace, metadata={"name": config.namespace}, opts=pulumi.ResourceOptions(protect=protect))
    )
in_namespace = pulumi.ResourceOptions(depends_on=workload_dependencies)

backends = {
    backend.name: EchoBackend(backend.name, backend=backend, namespace=config.namespace, opts=in_namespace)
    for backend in config.backends
}
model_servers = [
    ModelServer(server.name, server=server, namespace=config.namespace, opts=in_namespace) for server in config.model_servers
]
certificates = [
    TlsCert(
        certificate.secret_name,
        certificate=certificate,
        config=config,
        protect=protect,
        opts=pulumi.ResourceOptions(depends_on=[*controller.ready, *workload_dependencies]),
    )
    for certificate in config.certificates
]
proxy = EnvoyProxy(
    config.proxy_name, config=config, opts=pulumi.ResourceOptions(depends_on=[*controller.ready, *workload_dependencies])
)
gateway_class = GatewayClass(
    config.gateway_class.name, config=config, opts=pulumi.ResourceOptions(depends_on=[*controller.ready, proxy])
)
gateway = Gateway(
    config.gateway.name,
    config=config,
    opts=pulumi.ResourceOptions(depends_on=[*controller.ready, gateway_class, *certificates]),
)


def backends_of(route: RouteConfig) -> list[EchoBackend]:
    """The stack's backends a route forwards (or mirrors) to: it waits for those, not for every backend."""
    names = {ref.name for rule in route.rules for ref in rule.backend_refs if not ref.external and ref.kind == "Service"}
    mirrors = [f.request_mirror.backend_ref for rule in route.rules for f in rule.filters if f.request_mirror is not None]
    names |= {ref.name for ref in mirrors if not ref.external}
    return [backends[name] for name in sorted(names)]


routes = [
    WeightedRoute(
        route.name,
        config=config,
        route=route,
        opts=pulumi.ResourceOptions(depends_on=[*controller.ready, gateway, *backends_of(route)]),
    )
    for route in config.routes
]

# Each pool's policies attach to the routes that use it: the pool waits for them (and for its CRD).
inference_pools = [
    InferencePool(
        pool.name,
        config=config,
        pool=pool,
        opts=pulumi.ResourceOptions(
            depends_on=[
                *controller.ready,
                *workload_dependencies,
                *(component for route, component in zip(config.routes, routes)
                  if any(ref.kind == "InferencePool" and ref.name == pool.name for rule in route.rules for ref in rule.backend_refs)),
            ]
        ),
    )
    for pool in config.inference_pools
]

# Policies wait for what they attach to (and mutual TLS for the CAs it trusts).
client_authorities = {
    authority.name: ClientCertificateAuthority(
        authority.name,
        authority=authority,
        config=config,
        protect=protect,
        opts=pulumi.ResourceOptions(depends_on=[*controller.ready, *workload_dependencies]),
    )
    for authority in config.client_certificate_authorities
}
grpc_routes = [
    GrpcRoute(
        route.name,
        config=config,
        route=route,
        opts=pulumi.ResourceOptions(depends_on=[*controller.ready, gateway, *backends_of(route)]),
    )
    for route in config.grpc_routes
]
routes_by_name = {("HTTPRoute", route.name): component for route, component in zip(config.routes, routes)}
routes_by_name |= {("GRPCRoute", route.name): component for route, component in zip(config.grpc_routes, grpc_routes)}


def policy_targets(policy) -> list[pulumi.Resource]:
    return [gateway, *(routes_by_name[(ref.kind, ref.name)] for ref in policy.target_refs if ref.kind != "Gateway")]


backend_traffic_policies = [
    BackendTrafficPolicy(
        policy.name,
        config=config,
        policy=policy,
        opts=pulumi.ResourceOptions(depends_on=[*controller.ready, *policy_targets(policy)]),
    )
    for policy in config.backend_traffic_policies
]
client_traffic_policies = [
    ClientTrafficPolicy(
        policy.name,
        config=config,
        policy=policy,
        opts=pulumi.ResourceOptions(depends_on=[*controller.ready, gateway, *client_authorities.values()]),
    )
    for policy in config.client_traffic_policies
]
security_policies = [
    SecurityPolicy(
        policy.name,
        config=config,
        policy=policy,
        opts=pulumi.ResourceOptions(depends_on=[*controller.ready, *policy_targets(policy)]),
    )
    for policy in config.security_policies
]


def _url(scheme: str, port: int, default_port: int) -> pulumi.Output:
    suffix = "" if port == default_port else f":{port}"
    return gateway.address.apply(lambda host: f"{scheme}://{host}{suffix}" if host else None)


pulumi.export("GATEWAY_HOST", gateway.address)
http_listener = next((item for item in config.gateway.listeners if item.protocol == "HTTP"), None)
https_listener = next((item for item in config.gateway.listeners if item.protocol == "HTTPS"), None)
if http_listener is not None:
    pulumi.export("HTTP_URL", _url("http", http_listener.port, 80))
if https_listener is not None:
    pulumi.export("HTTPS_URL", _url("https", https_listener.port, 443))
ca_by_secret = {certificate.secret_name: tls_cert.ca_certificate_pem for certificate, tls_cert in zip(config.certificates, certificates)}
if ca_by_secret:
    pulumi.export("CA_CERTS", ca_by_secret)
    # The CA behind the first HTTPS listener's certificate: what `curl --cacert` needs.
    served = [ref.name for ref in https_listener.tls.certificate_refs] if https_listener and https_listener.tls else []
    first_served = next((name for name in served if name in ca_by_secret), next(iter(ca_by_secret)))
    pulumi.export("CA_CERT_PEM", ca_by_secret[first_served])
client_certificates = {
    name: authority.client_certificates for name, authority in client_authorities.items() if authority.client_certificates
}
if client_certificates:
    # Each client's certificate and private key, by CA: a Pulumi secret, shown only with --show-secrets.
    pulumi.export("CLIENT_CERTIFICATES", pulumi.Output.secret(client_certificates))
