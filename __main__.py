"""The API gateway program: load this stack's config, map it onto the components, export outputs.

A thin consumer of the `pulumi_envoy_gateway` package: each component is given its own typed
arguments and the components it builds on (a route its Gateway and backends, a Gateway its
GatewayClass and certificates, a policy its targets), so the order of creation follows from
those references: CRDs and controller -> EnvoyProxy -> GatewayClass -> Gateway -> routes ->
policies, with Secrets, backends and the stack's Namespace before whatever uses them.
"""

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes
from pydantic import BaseModel

from pulumi_envoy_gateway import (
    BackendTrafficPolicy,
    ClientCertificateAuthority,
    ClientTrafficPolicy,
    EchoBackend,
    EnvoyGatewayController,
    EnvoyProxy,
    Gateway,
    GatewayClass,
    GrpcRoute,
    InferencePool,
    ModelServer,
    SecurityPolicy,
    TlsCert,
    WeightedRoute,
)
from gateway_config.inference_semantics import selected_servers
from gateway_config.loader import PROJECT_NAME, ConfigError, parse_stack_config, raw_config_from_engine, stack_file_name
from gateway_config.models import StackConfig


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


def arguments_of(settings: BaseModel, *leave_out: str) -> dict[str, Any]:
    """A config model's fields as a component's keyword arguments: the components name their
    arguments after the models' fields, and take the nested models as they are."""
    return {key: getattr(settings, key) for key in type(settings).model_fields if key not in leave_out}


config = load_config()
# Production stacks protect what an accident must not delete: the controller and the CAs.
protect = config.production

controller = EnvoyGatewayController(
    "envoy-gateway",
    **arguments_of(config.controller),
    protect=protect,
    inference_pool_crd=bool(config.inference_pools),
    envoy_patch_policies=any(pool.failure_mode == "FailOpen" for pool in config.inference_pools),
)

# The stack's namespace, as an Output of the Namespace when the stack creates it: what is
# declared in it then waits for it.
namespace: pulumi.Input[str] = config.namespace
# Options of what lives in that namespace: when the stack creates it, `pulumi destroy` deletes
# the Namespace and lets Kubernetes delete its contents, instead of deleting and awaiting each
# object in turn (`deleted_with`). The Gateways and certificates are deleted themselves: the
# GatewayClass, cluster-scoped, is deleted before the Namespace and its controller holds it
# (a finalizer) while a Gateway of it exists.
in_namespace: Optional[pulumi.ResourceOptions] = None
if config.create_namespace:
    namespace_resource = kubernetes.core.v1.Namespace(
        config.namespace, metadata={"name": config.namespace}, opts=pulumi.ResourceOptions(protect=protect)
    )
    namespace = namespace_resource.metadata["name"]
    in_namespace = pulumi.ResourceOptions(deleted_with=namespace_resource)

backends = {
    backend.name: EchoBackend(backend.name, **arguments_of(backend, "name"), namespace=namespace, opts=in_namespace)
    for backend in config.backends
}
model_servers = {
    server.name: ModelServer(server.name, model=server.model, spec=server, namespace=namespace, opts=in_namespace)
    for server in config.model_servers
}
certificates = {
    certificate.secret_name: TlsCert(
        certificate.secret_name,
        **arguments_of(certificate, "namespace"),
        namespace=certificate.namespace or namespace,
        # A Secret outside the Gateway's namespace needs a ReferenceGrant from it.
        gateway_name=config.default_gateway.name,
        gateway_namespace=config.namespace if config.certificate_namespace(certificate) != config.namespace else None,
        controller=controller,
        protect=protect,
    )
    for certificate in config.certificates
}
proxy = EnvoyProxy(
    config.proxy_name, **arguments_of(config.proxy, "name"), namespace=namespace, controller=controller, opts=in_namespace
)
gateway_class = GatewayClass(config.gateway_class.name, **arguments_of(config.gateway_class, "name"), envoy_proxy=proxy, controller=controller)


def served_certificates(listeners) -> list[TlsCert]:
    """The stack's certificates the listeners serve (a Gateway waits for those only)."""
    names = [ref.name for listener in listeners if listener.tls for ref in listener.tls.certificate_refs if not ref.external]
    return [certificates[name] for name in dict.fromkeys(names) if name in certificates]


def declare_gateway(entry) -> Gateway:
    """One Gateway of the stack, with the GatewayClass and EnvoyProxy of its own that it asks for
    (a class of its own points at the stack's EnvoyProxy; a proxy of its own replaces its class's)."""
    own_class, own_proxy = entry.own_gateway_class, entry.own_proxy
    entry_class = gateway_class
    if own_class is not None:
        entry_class = GatewayClass(own_class.name, **arguments_of(own_class, "name"), envoy_proxy=proxy, controller=controller)
    entry_proxy = None
    if own_proxy is not None:
        entry_proxy = EnvoyProxy(
            entry.own_proxy_name, **arguments_of(own_proxy, "name"), namespace=namespace, controller=controller, opts=in_namespace
        )
    return Gateway(
        entry.name,
        **arguments_of(entry, "name", "gateway_class", "proxy"),
        gateway_class=entry_class,
        envoy_proxy=entry_proxy,
        certificates=served_certificates(entry.listeners),
        namespace=config.namespace,
    )


# Every Gateway of the stack, the seed's `gateway` first: routes without parentRefs attach to it.
gateways = {entry.name: declare_gateway(entry) for entry in config.all_gateways()}
gateway = gateways[config.default_gateway.name]


def backends_of(route) -> list[EchoBackend]:
    """The stack's backends a route forwards (or mirrors) to: it waits for those, not for every backend."""
    names = {ref.name for rule in route.rules for ref in rule.backend_refs if not ref.external and ref.kind == "Service"}
    mirrors = [f.request_mirror.backend_ref for rule in route.rules for f in rule.filters if f.request_mirror is not None]
    names |= {ref.name for ref in mirrors if not ref.external}
    return [backends[name] for name in sorted(names) if name in backends]


def gateways_of(route) -> list[Gateway]:
    """The stack's Gateways a route attaches to (the first without parentRefs; with external
    parents only, the first too, which it is checked against)."""
    return [gateways[entry.name] for entry in config.parent_gateways(route)] or [gateway]


def pools_of(route) -> list:
    names = {ref.name for rule in route.rules for ref in rule.backend_refs if ref.kind == "InferencePool"}
    return [pool for pool in config.inference_pools if pool.name in names]


# Routes are declared in the stack's namespace as plain text: they wait for their Gateway,
# which already waits for the namespace.
routes = {
    route.name: WeightedRoute(
        route.name,
        gateway=gateways_of(route),
        rules=route.rules,
        hostnames=route.hostnames,
        parent_refs=route.parent_refs,
        backends=backends_of(route),
        inference_pools=pools_of(route),
        namespace=config.namespace,
        opts=in_namespace,
    )
    for route in config.routes
}
grpc_routes = {
    route.name: GrpcRoute(
        route.name,
        gateway=gateways_of(route),
        rules=route.rules,
        hostnames=route.hostnames,
        parent_refs=route.parent_refs,
        backends=backends_of(route),
        namespace=config.namespace,
        opts=in_namespace,
    )
    for route in config.grpc_routes
}

inference_pools = [
    InferencePool(
        pool.name,
        spec=pool,
        model_servers=[model_servers[server.name] for server in selected_servers(config, pool)],
        # Its policies attach to the routes that forward to it: it waits for them.
        routes=[routes[route.name] for route in config.routes if pool in pools_of(route)],
        controller=controller,
        namespace=namespace,
    )
    for pool in config.inference_pools
]

client_authorities = {
    authority.name: ClientCertificateAuthority(
        authority.name, **arguments_of(authority, "name"), namespace=namespace, protect=protect
    )
    for authority in config.client_certificate_authorities
}
targets_by_name: dict[tuple[str, str], Any] = {("Gateway", name): item for name, item in gateways.items()}
targets_by_name |= {("HTTPRoute", name): item for name, item in routes.items()}
targets_by_name |= {("GRPCRoute", name): item for name, item in grpc_routes.items()}


def targets_of(policy) -> list[tuple[Any, Optional[str]]]:
    """A policy's targetRefs as the components they name, with their sectionName."""
    return [(targets_by_name[(ref.kind, ref.name)], ref.section_name) for ref in policy.target_refs]


backend_traffic_policies = [
    BackendTrafficPolicy(policy.name, targets=targets_of(policy), spec=policy, namespace=config.namespace, opts=in_namespace)
    for policy in config.backend_traffic_policies
]


def trusted_authorities(policy) -> list[ClientCertificateAuthority]:
    """The stack's client CAs a ClientTrafficPolicy's mutual TLS trusts."""
    validation = policy.tls.client_validation if policy.tls is not None else None
    refs = validation.ca_certificate_refs if validation is not None else []
    return [client_authorities[ref.name] for ref in refs if ref.name in client_authorities]


client_traffic_policies = [
    ClientTrafficPolicy(
        policy.name,
        targets=targets_of(policy),
        spec=policy,
        client_certificate_authorities=trusted_authorities(policy),
        namespace=config.namespace,
        opts=in_namespace,
    )
    for policy in config.client_traffic_policies
]
security_policies = [
    SecurityPolicy(
        policy.name,
        targets=targets_of(policy),
        spec=policy,
        credentials={holder: secret.get_secret_value() for holder, secret in config.credentials.get(policy.name, {}).items()},
        namespace=config.namespace,
        opts=in_namespace,
    )
    for policy in config.security_policies
]


def _url(scheme: str, port: int, default_port: int) -> pulumi.Output:
    suffix = "" if port == default_port else f":{port}"
    return gateway.address.apply(lambda host: f"{scheme}://{host}{suffix}" if host else None)


pulumi.export("GATEWAY_HOST", gateway.address)
pulumi.export("GATEWAY_HOSTS", {name: item.address for name, item in gateways.items()})
# The URLs and the CA of the first Gateway, as before there were several.
http_listener = next((item for item in config.default_gateway.listeners if item.protocol == "HTTP"), None)
https_listener = next((item for item in config.default_gateway.listeners if item.protocol == "HTTPS"), None)
if http_listener is not None:
    pulumi.export("HTTP_URL", _url("http", http_listener.port, 80))
if https_listener is not None:
    pulumi.export("HTTPS_URL", _url("https", https_listener.port, 443))
ca_by_secret = {name: tls_cert.ca_certificate_pem for name, tls_cert in certificates.items()}
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
