"""The stack config, as typed models: what a `stacks/Pulumi.<stack>.yaml` may say.

Keys are camelCase in the stack file (as in Kubernetes and Gateway API), snake_case in
Python. Every model forbids unknown keys and is strict: a number given as a string, or a
string given as a list, is refused rather than guessed at. Defaults reproduce the seed
guide (`../shared/seed/SEED-BRIEF.md`), so a stack states only what it changes.
The route models are in `routes.py`. Rules that relate several values are checked afterwards
(`semantics.py` gathers them).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from gateway_config.base import ConfigModel, ResourceRequirements
from gateway_config.fields import (
    ChartRepository,
    ChartVersion,
    ControllerName,
    DnsLabel,
    Hostname,
    Image,
    KubernetesName,
    Port,
    Replicas,
    SectionName,
)
from gateway_config.inference import InferencePoolConfig, ModelServerConfig
# The route models are importable from here too, as every model of the stack is.
from gateway_config.routes import (
    BackendRef,
    GrpcMethodMatch,
    GrpcRouteConfig,
    GrpcRouteFilter,
    GrpcRouteMatch,
    GrpcRouteRule,
    HeaderMatch,
    HeaderModifier,
    HeaderValuePair,
    MirrorBackendRef,
    MirrorFraction,
    ParentRef,
    PathMatch,
    PathModifier,
    QueryParamMatch,
    RequestMirror,
    RequestRedirect,
    RouteConfig,
    RouteFilter,
    RouteMatch,
    RouteRule,
    RouteTimeouts,
    UrlRewrite,
)
from gateway_config.security_policies import Credentials, SecurityPolicyConfig
from gateway_config.traffic_policies import (
    BackendTrafficPolicyConfig,
    ClientCertificateAuthorityConfig,
    ClientTrafficPolicyConfig,
)

SEED_ECHO_IMAGE = (
    "registry-cn-hangzhou.ack.aliyuncs.com/ack-demo/envoygateway-echo-basic:v20231214-v1.0.0-140-gf544a46e"
)
ENVOY_GATEWAY_CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
DEFAULT_ENVOY_GATEWAY_VERSION = "v1.9.0"


# --- controller ------------------------------------------------------------------


class ControllerConfig(ConfigModel):
    """The Envoy Gateway control plane, installed from its Helm charts.

    Defaults: installed (`install: true`) into `envoy-gateway-system`, chart version
    v1.9.0 from `oci://docker.io/envoyproxy`, 1 replica, the chart's own resources,
    Gateway API CRDs installed with Envoy Gateway's (`installGatewayApiCrds: true`).
    Set `install: false` where the cluster already runs Envoy Gateway (ACK's managed
    "Gateway with Inference Extension" add-on); set `installGatewayApiCrds: false` where
    the platform already provides the Gateway API CRDs.
    """

    install: bool = True
    """`false`: the cluster already runs Envoy Gateway (ACK's managed add-on, or another stack's); nothing is
    installed."""
    namespace: DnsLabel = "envoy-gateway-system"
    """The namespace the controller runs in."""
    version: ChartVersion = DEFAULT_ENVOY_GATEWAY_VERSION
    """The chart version of both charts, `gateway-helm` and `gateway-crds-helm` (a semantic version such as
    `v1.9.0`)."""
    chart_repository: ChartRepository = "oci://docker.io/envoyproxy"
    """Where `gateway-helm` and `gateway-crds-helm` come from: an `oci://` registry (a mirror, for in-region
    registries), an `https://` Helm repository, or, for air-gapped and vendored installs, a local directory
    written `./…`, `../…` or `/…` (relative to the project directory) that holds both charts, unpacked
    (`gateway-helm/`, as `gatestack charts --version <version> --out <directory>` writes them) or packaged
    (`gateway-helm-<version>.tgz`, as `helm pull` saves them). A local chart must be of `version`."""
    install_gateway_api_crds: bool = True
    """`false` where the platform ships the Gateway API CRDs: only Envoy Gateway's own CRDs are installed."""
    replicas: Replicas = 1
    """Replicas of the controller Deployment."""
    resources: Optional[ResourceRequirements] = None
    """The controller container's `requests`/`limits` of `cpu`, `memory`, `ephemeral-storage`; default: the chart's."""
    # The escape hatch: any gateway-helm value, deep-merged over the curated ones above.
    values: dict[str, Any] = Field(default_factory=dict)
    """Escape hatch: any `gateway-helm` value, deep-merged over the settings above."""


class GatewayClassConfig(ConfigModel):
    """The GatewayClass. Default name `eg` (the seed's); cluster-scoped, so two stacks
    sharing a cluster need different names."""

    name: KubernetesName = "eg"
    """The GatewayClass's name; cluster-scoped, so stacks sharing a cluster need different names."""
    controller_name: ControllerName = ENVOY_GATEWAY_CONTROLLER_NAME
    """The controller that owns the class."""
    description: Optional[str] = Field(default=None, max_length=64)
    """A description of the class, shown by `kubectl get gatewayclass` (at most 64 characters)."""


# --- proxy (EnvoyProxy) ------------------------------------------------------------


class ProxyServiceConfig(ConfigModel):
    """The Service in front of the Envoy proxies. Default: LoadBalancer, no annotations."""

    type: Literal["LoadBalancer", "NodePort", "ClusterIP"] = "LoadBalancer"
    """The Service's type: `LoadBalancer`, `NodePort` or `ClusterIP`."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the Service, e.g. `service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec`."""
    external_traffic_policy: Optional[Literal["Cluster", "Local"]] = None
    """`Cluster` or `Local` (keeps the clients' addresses); default: Kubernetes' (`Cluster`)."""
    load_balancer_class: Optional[str] = None
    """The load balancer implementation to use, e.g. `service.k8s.aws/nlb`; default: the cluster's."""


class AutoscalingConfig(ConfigModel):
    """A HorizontalPodAutoscaler for the proxies. Default target: 80 % CPU."""

    min_replicas: int = Field(default=1, ge=1)
    """The HorizontalPodAutoscaler's lower bound (at most `maxReplicas`)."""
    max_replicas: int = Field(ge=1)
    """The HorizontalPodAutoscaler's upper bound."""
    # Percent of the pods' CPU requests; above 100 is allowed (pods may use more than they request). int32, as the HPA's.
    cpu_utilization: int = Field(default=80, ge=1, le=2_147_483_647)
    """The CPU target, in percent of the pods' CPU requests."""


class DisruptionBudgetConfig(ConfigModel):
    """A PodDisruptionBudget for the proxies: exactly one of minAvailable / maxUnavailable."""

    min_available: Optional[int | str] = None
    """Pods that must stay available during voluntary disruptions: a number or a percentage such as `50%`."""
    max_unavailable: Optional[int | str] = None
    """Pods that may be unavailable during voluntary disruptions: a number or a percentage such as `25%`."""


class ProxyConfig(ConfigModel):
    """The Envoy proxies the controller creates for the Gateway (an EnvoyProxy resource,
    always declared, referenced by the GatewayClass).

    Defaults: the controller's own (1 replica, the Envoy image of that Envoy Gateway
    release), a LoadBalancer Service, no HPA, no PDB. `name` defaults to
    `<gateway class name>-proxy`.
    """

    name: Optional[KubernetesName] = None
    """The EnvoyProxy's name; default `<gatewayClass.name>-proxy` (a Gateway's own: `<gateway name>-proxy`)."""
    replicas: Optional[Replicas] = None
    """Replicas of the proxy Deployment; default: the controller's (1)."""
    image: Optional[Image] = None
    """The Envoy image; default: the one of the Envoy Gateway release. Pin it in production."""
    resources: Optional[ResourceRequirements] = None
    """The proxy container's `requests`/`limits` of `cpu`, `memory`, `ephemeral-storage`; default: the controller's."""
    pod_labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to the proxy pods."""
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations added to the proxy pods."""
    service: ProxyServiceConfig = Field(default_factory=ProxyServiceConfig)
    """The Service in front of the proxies."""
    autoscaling: Optional[AutoscalingConfig] = None
    """A HorizontalPodAutoscaler for the proxies; default: none."""
    disruption_budget: Optional[DisruptionBudgetConfig] = None
    """A PodDisruptionBudget for the proxies (exactly one of `minAvailable`, `maxUnavailable`); default: none."""


# --- gateway and listeners --------------------------------------------------------


class CertificateRef(ConfigModel):
    """A TLS Secret a listener serves. It must be declared in `certificates` unless
    `external: true` (a Secret managed elsewhere, e.g. by cert-manager)."""

    name: KubernetesName
    """The TLS Secret's name: the `secretName` of an entry of `certificates` unless `external: true`."""
    namespace: Optional[DnsLabel] = None
    """The Secret's namespace; default: the stack's."""
    external: bool = False
    """`true`: a Secret managed elsewhere (e.g. by cert-manager), not declared in `certificates`."""


class ListenerTls(ConfigModel):
    """TLS for an HTTPS listener: terminated at the proxy with the given certificates."""

    mode: Literal["Terminate"] = "Terminate"
    """`Terminate`: the proxy terminates TLS with the certificates below (the only mode supported)."""
    certificate_refs: list[CertificateRef] = Field(min_length=1, max_length=64)
    """The TLS Secrets the listener serves (1-64)."""


class AllowedRoutes(ConfigModel):
    """Which namespaces' routes may attach. Default `Same` (the Gateway's namespace)."""

    namespaces: Literal["Same", "All"] = "Same"
    """`Same`: only routes of the Gateway's namespace attach; `All`: routes of any namespace."""


class ListenerConfig(ConfigModel):
    """One Gateway listener: HTTP, or HTTPS terminating TLS."""

    name: SectionName
    """The listener's name, unique in the Gateway; what a route's `parentRefs[].sectionName` and a policy's
    `sectionName` name."""
    protocol: Literal["HTTP", "HTTPS"]
    """`HTTP`, or `HTTPS` (terminating TLS, with `tls`)."""
    port: Port
    """The port the listener accepts connections on, e.g. `80` or `443`."""
    hostname: Optional[Hostname] = None
    """The host the listener serves, e.g. `www.example.com` or `*.example.com`; default: any."""
    tls: Optional[ListenerTls] = None
    """The certificates of an HTTPS listener (required for HTTPS, refused for HTTP)."""
    allowed_routes: Optional[AllowedRoutes] = None
    """Which namespaces' routes may attach; default: the Gateway's namespace only."""


class GatewayConfig(ConfigModel):
    """A Gateway. Default name `eg`; `pulumi up` waits up to `programmedTimeoutSeconds`
    (default 600) for it to be Programmed, i.e. for its proxies to have an address. It uses the
    stack's `gatewayClass` and `proxy` (a Gateway under `gateways` may have its own)."""

    name: KubernetesName = "eg"
    """The Gateway's name, unique among the stack's Gateways."""
    listeners: list[ListenerConfig] = Field(min_length=1, max_length=64)
    """The Gateway's listeners (1-64), with unique names, no two on the same port, protocol and hostname."""
    programmed_timeout_seconds: int = Field(default=600, ge=1, le=7200)
    """How long `pulumi up` waits for the Gateway to be Programmed (its proxies to have an address), in seconds."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations added to the Gateway."""

    @property
    def own_gateway_class(self) -> Optional[GatewayClassConfig]:
        """The GatewayClass of this Gateway's own, or None when it uses the stack's."""
        return None

    @property
    def own_proxy(self) -> Optional[ProxyConfig]:
        """The EnvoyProxy settings of this Gateway's own, or None when the stack's shape it."""
        return None

    @property
    def own_proxy_name(self) -> Optional[str]:
        """The name of this Gateway's own EnvoyProxy, or None when it uses the stack's."""
        return None


class ListedGatewayConfig(GatewayConfig):
    """A Gateway under `gateways`: as the seed's `gateway`, and optionally with a `gatewayClass`
    of its own (a GatewayClass pointing at the stack's EnvoyProxy; cluster-wide, so its name must
    be new) and a `proxy` of its own (an EnvoyProxy named `proxy.name`, default
    `<gateway name>-proxy`, that the Gateway names in `spec.infrastructure.parametersRef` and that
    replaces its class's for it). Default: neither; the stack's `gatewayClass` and `proxy` apply."""

    gateway_class: Optional[GatewayClassConfig] = None
    """A GatewayClass of this Gateway's own (pointing at the stack's EnvoyProxy; its name must be new); default: the
    stack's `gatewayClass`."""
    proxy: Optional[ProxyConfig] = None
    """An EnvoyProxy of this Gateway's own (named `proxy.name`, default `<gateway name>-proxy`), replacing its
    class's for it; default: the stack's `proxy`."""

    @property
    def own_gateway_class(self) -> Optional[GatewayClassConfig]:
        return self.gateway_class

    @property
    def own_proxy(self) -> Optional[ProxyConfig]:
        return self.proxy

    @property
    def own_proxy_name(self) -> Optional[str]:
        if self.proxy is None:
            return None
        return self.proxy.name or f"{self.name}-proxy"


# --- certificates ------------------------------------------------------------------


class DistinguishedName(ConfigModel):
    """A certificate subject, e.g. `{commonName: example.com, organization: example Inc.}`."""

    common_name: str = Field(min_length=1, max_length=64)
    """The subject's common name (CN), e.g. `example.com` (1-64 characters)."""
    organization: Optional[str] = None
    """The organization (O), e.g. `example Inc.`."""
    organizational_unit: Optional[str] = None
    """The organizational unit (OU)."""
    country: Optional[str] = None
    """The country (C), e.g. `CN`."""
    province: Optional[str] = None
    """The state or province (ST)."""
    locality: Optional[str] = None
    """The locality or city (L)."""


class CertificateConfig(ConfigModel):
    """A server certificate and the CA that signed it, in a kubernetes.io/tls Secret.

    `source` says where the certificate comes from. `generate` (the default): the stack
    makes a self-signed CA and a server certificate it signs, and declares the Secret.
    `existingSecret`: the stack makes nothing; the Secret `secretName` must already exist
    in the certificate's namespace and hold `tls.crt`, `tls.key` and `ca.crt` (the CA that
    signed it, as cert-manager writes it), e.g. issued by cert-manager or a security team.
    `ca`, `subject` and `dnsNames` describe the certificate either way (`verify` checks the
    served certificate against them); the key and validity settings only shape a generated one.

    Defaults: generated, RSA 2048, both certificates valid 8760 h (365 days, as the seed),
    renewed by `pulumi up` once fewer than `earlyRenewalHours` (720 h, 30 days) remain; DNS
    names default to the subject's common name; the Secret lives in the stack's namespace.
    """

    secret_name: KubernetesName
    """The `kubernetes.io/tls` Secret (keys `tls.crt`, `tls.key`; and `ca.crt` when read from an existing Secret)."""
    source: Literal["generate", "existingSecret"] = "generate"
    """`generate`: the stack makes a self-signed CA and a server certificate it signs and declares the Secret;
    `existingSecret`: the Secret `secretName` already exists and holds `tls.crt`, `tls.key` and `ca.crt`, and the
    stack makes nothing."""
    namespace: Optional[DnsLabel] = None
    """The Secret's namespace; default: the stack's. A ReferenceGrant is declared when it differs from the
    Gateway's."""
    ca: DistinguishedName
    """The subject of the CA (self-signed when generated)."""
    subject: DistinguishedName
    """The subject of the server certificate."""
    dns_names: list[Hostname] = Field(default_factory=list, max_length=100)
    """The names the server certificate is valid for (up to 100); default: the subject's common name."""
    key_algorithm: Literal["RSA", "ECDSA", "ED25519"] = "RSA"
    """The key algorithm of a generated certificate and CA: `RSA`, `ECDSA` or `ED25519`."""
    rsa_bits: Literal[2048, 3072, 4096] = 2048
    """The RSA key size: 2048, 3072 or 4096."""
    ecdsa_curve: Literal["P224", "P256", "P384", "P521"] = "P256"
    """The ECDSA curve: `P224`, `P256`, `P384` or `P521`."""
    validity_hours: int = Field(default=8760, ge=1)
    """How long a generated server certificate is valid, in hours (8760: 365 days)."""
    ca_validity_hours: int = Field(default=8760, ge=1)
    """How long a generated CA is valid, in hours."""
    early_renewal_hours: int = Field(default=720, ge=0)
    """`pulumi up` renews a generated certificate once fewer hours than this remain (720: 30 days); shorter than
    both validities."""

    @property
    def effective_dns_names(self) -> list[str]:
        return list(self.dns_names) or [self.subject.common_name]


# --- backends ----------------------------------------------------------------------


class BackendConfig(ConfigModel):
    """An echo backend as in the seed: ServiceAccount, Service and Deployment.

    Defaults: the seed's echo-basic image, 1 replica, port 3000, label `version: v1`,
    requests 10m CPU / 32Mi, limits 200m / 128Mi.
    """

    name: DnsLabel
    """The name of the ServiceAccount, Service and Deployment (a DNS label, unique among backends)."""
    image: Image = SEED_ECHO_IMAGE
    """The container image; default: the seed's echo-basic. Pin it in production."""
    replicas: Replicas = 1
    """Replicas of the Deployment."""
    port: Port = 3000
    """The Service port and the container port."""
    version: str = "v1"
    """The pods' `version` label."""
    # `grpc`: the echo image serves gRPC (GRPC_ECHO_SERVER) and the Service says h2c, for GRPCRoutes.
    protocol: Literal["http", "grpc"] = "http"
    """`grpc`: the echo image serves gRPC (`GRPC_ECHO_SERVER=true`) and the Service port says `appProtocol:
    kubernetes.io/h2c`; GRPCRoutes need such backends."""
    resources: ResourceRequirements = Field(
        default_factory=lambda: ResourceRequirements.model_validate(
            {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
        )
    )
    """The container's `requests`/`limits` of `cpu`, `memory`, `ephemeral-storage`."""


# --- the whole stack -----------------------------------------------------------------


class StackConfig(ConfigModel):
    """Everything one stack declares.

    Defaults: not production; everything in the `default` namespace (as the seed),
    which is not created by the stack unless `createNamespace: true`.
    """

    production: bool = False
    """A production stack: images must have a pinned tag or digest (not `latest`); the controller, its namespace,
    the stack namespace and the CAs are protected from deletion."""
    namespace: DnsLabel = "default"
    """The namespace of the Gateways, EnvoyProxy, routes, backends and (by default) certificates."""
    create_namespace: bool = False
    """Declare that namespace too (`false`: it must exist)."""
    controller: ControllerConfig = Field(default_factory=ControllerConfig)
    """The Envoy Gateway control plane."""
    gateway_class: GatewayClassConfig = Field(default_factory=GatewayClassConfig)
    """The GatewayClass."""
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    """The EnvoyProxy: how the proxies run."""
    # The seed's Gateway, and more of them; a stack declares at least one (see all_gateways).
    gateway: Optional[GatewayConfig] = None
    """The Gateway and its listeners (the seed's); a stack declares it, `gateways`, or both."""
    gateways: list[ListedGatewayConfig] = Field(default_factory=list, max_length=16)
    """More Gateways (up to 16), each optionally with a GatewayClass and an EnvoyProxy of its own; routes and
    policies choose theirs by name."""
    certificates: list[CertificateConfig] = Field(default_factory=list, max_length=64)
    """Server certificates and the CAs that signed them: generated, or read from existing Secrets."""
    backends: list[BackendConfig] = Field(default_factory=list, max_length=256)
    """Echo backends: a ServiceAccount, Service and Deployment each."""
    routes: list[RouteConfig] = Field(default_factory=list)
    """HTTPRoutes."""
    # Paths or glob patterns (relative to the project directory) of YAML files holding more routes,
    # grpcRoutes and backends, appended to those above by the loader before validation
    # (gateway_config/route_files.py): a stack's whole config must fit in one 128 KiB environment string.
    # Default: none.
    route_files: list[str] = Field(default_factory=list, max_length=256)
    """YAML files of the repository (paths or glob patterns) whose `routes`, `grpcRoutes` and `backends` are
    appended to the stack's own: for stacks of more than about 250 routes."""
    # Envoy Gateway policies (gateway_config/traffic_policies.py) and the CAs mutual TLS trusts.
    grpc_routes: list[GrpcRouteConfig] = Field(default_factory=list, max_length=256)
    """GRPCRoutes."""
    client_certificate_authorities: list[ClientCertificateAuthorityConfig] = Field(default_factory=list, max_length=16)
    """CAs whose client certificates mutual TLS accepts, and the client certificates they issue."""
    backend_traffic_policies: list[BackendTrafficPolicyConfig] = Field(default_factory=list, max_length=64)
    """Envoy Gateway BackendTrafficPolicies: retries, timeouts, circuit breakers, local rate limits, active health
    checks, load balancing."""
    client_traffic_policies: list[ClientTrafficPolicyConfig] = Field(default_factory=list, max_length=64)
    """Envoy Gateway ClientTrafficPolicies: TLS versions, ciphers, ALPN, mutual TLS, client timeouts, client address
    detection, connection limits."""
    security_policies: list[SecurityPolicyConfig] = Field(default_factory=list, max_length=64)
    """Envoy Gateway SecurityPolicies: CORS, basic auth, JWT, API keys, IP allow/deny rules."""
    # Basic-auth passwords and API keys by policy and user: a Pulumi secret (security_policies.py).
    credentials: Credentials = Field(default_factory=dict)
    """Basic-auth passwords and API keys, `credentials.<policy>.<user or client>`: must be a Pulumi secret (`pulumi
    config set --secret`)."""
    # Inference routing (gateway_config/inference.py): vLLM-style model servers and the pools in front of them.
    model_servers: list[ModelServerConfig] = Field(default_factory=list, max_length=64)
    """vLLM-style model servers, the workloads inference pools select."""
    inference_pools: list[InferencePoolConfig] = Field(default_factory=list, max_length=16)
    """InferencePools and their Endpoint Pickers, with the Envoy Gateway wiring that makes them effective."""

    def certificate_namespace(self, certificate: CertificateConfig) -> str:
        return certificate.namespace or self.namespace

    @property
    def proxy_name(self) -> str:
        """The stack's EnvoyProxy: `proxy.name`, default `<gateway class name>-proxy`."""
        return self.proxy.name or f"{self.gateway_class.name}-proxy"

    # --- the stack's Gateways ---------------------------------------------------------------

    def all_gateways(self) -> list[GatewayConfig]:
        """Every Gateway the stack declares: the seed's `gateway` first (when given), then
        `gateways` in order. The loader refuses a stack with neither."""
        return ([self.gateway] if self.gateway is not None else []) + list(self.gateways)

    @property
    def default_gateway(self) -> GatewayConfig:
        """The first Gateway: where a route without parentRefs attaches (the seed's `gateway`)."""
        return self.all_gateways()[0]

    def gateway_named(self, name: str) -> Optional[GatewayConfig]:
        """The stack's Gateway called `name`, or None."""
        return next((gateway for gateway in self.all_gateways() if gateway.name == name), None)

    def gateway_key(self, gateway: GatewayConfig) -> str:
        """Where `gateway` is in the stack file: `gateway` (the seed's) or `gateways.<index>`."""
        if gateway is self.gateway:
            return "gateway"
        return f"gateways.{next(index for index, item in enumerate(self.gateways) if item is gateway)}"

    def gateway_class_of(self, gateway: GatewayConfig) -> GatewayClassConfig:
        """The GatewayClass `gateway` belongs to: its own, or the stack's."""
        return gateway.own_gateway_class or self.gateway_class

    def proxy_name_of(self, gateway: GatewayConfig) -> str:
        """The EnvoyProxy that shapes `gateway`'s proxies: its own, or the stack's."""
        return gateway.own_proxy_name or self.proxy_name

    def parent_gateways(self, route: RouteConfig | GrpcRouteConfig) -> list[GatewayConfig]:
        """The stack's Gateways a route (HTTP or gRPC) attaches to, each once: those its parentRefs
        name (external ones and names the stack does not declare left out), or the first Gateway
        when it has none."""
        if not route.parent_refs:
            return [self.default_gateway]
        named = [
            self.gateway_named(ref.name)
            for ref in route.parent_refs
            if not ref.external and (ref.namespace or self.namespace) == self.namespace
        ]
        return list({id(gateway): gateway for gateway in named if gateway is not None}.values())
