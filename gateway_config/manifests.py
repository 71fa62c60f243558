"""Kubernetes objects and Helm values built from a validated `StackConfig`, as plain dicts.

Pure functions, no Pulumi: the components hand these dicts to pulumi-kubernetes, and the
tests read them directly. Field names are the real APIs' (Gateway API v1, Envoy Gateway
`gateway.envoyproxy.io/v1alpha1` EnvoyProxy, Kubernetes core/apps v1, the gateway-helm
and gateway-crds-helm chart values of Envoy Gateway v1.9).
"""

from __future__ import annotations

from typing import Any

from gateway_config.inference_wiring import pool_backend_ref
# The API groups, versions and helpers shared by every builder; components and tests import them from here too.
from gateway_config.kubernetes_objects import (
    ENVOY_GATEWAY_API_VERSION,
    ENVOY_GATEWAY_GROUP,
    GATEWAY_API_GROUP,
    GATEWAY_API_VERSION,
    REFERENCE_GRANT_API_VERSION,
    deep_merge,
    object_metadata,
    resources_dict,
)
from gateway_config.models import (
    BackendConfig,
    CertificateConfig,
    ControllerConfig,
    GatewayConfig,
    DistinguishedName,
    HeaderModifier,
    PathModifier,
    RequestMirror,
    RouteConfig,
    RouteFilter,
    RouteRule,
    StackConfig,
)

ENVOY_PROXY_API_VERSION = ENVOY_GATEWAY_API_VERSION

# pulumi-kubernetes reads these annotations: wait for a condition, for at most N seconds.
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"

CONTROLLER_CHART = "gateway-helm"
CRDS_CHART = "gateway-crds-helm"
# Release names as Envoy Gateway's own install guide uses them.
CONTROLLER_RELEASE = "eg"
CRDS_RELEASE = "eg-crds"


# --- controller ---------------------------------------------------------------------


def crds_chart_values(controller: ControllerConfig) -> dict[str, Any]:
    """Values of gateway-crds-helm: Envoy Gateway's CRDs always, Gateway API's unless the
    platform provides them (standard channel: everything this program declares is standard)."""
    return {
        "crds": {
            "gatewayAPI": {"enabled": controller.install_gateway_api_crds, "channel": "standard"},
            "envoyGateway": {"enabled": True},
        }
    }


def controller_chart_values(controller: ControllerConfig) -> dict[str, Any]:
    """Values of gateway-helm: the curated settings, then `values` (the escape hatch) over them.

    The chart's own CRDs are turned off (`crds.enabled: false`): Helm never upgrades CRDs,
    so they come from gateway-crds-helm, applied first and server-side.
    """
    deployment: dict[str, Any] = {"replicas": controller.replicas}
    if controller.resources is not None:
        deployment["envoyGateway"] = {"resources": resources_dict(controller.resources)}
    curated = {"crds": {"enabled": False}, "deployment": deployment}
    return deep_merge(curated, controller.values)


def chart_reference(controller: ControllerConfig, chart: str) -> dict[str, Any]:
    """Where pulumi-kubernetes' `helm.v4.Chart` finds one of Envoy Gateway's charts: its `chart`
    argument, and `repository_opts` for a Helm repository (`version` is given beside them).

    - an `oci://` registry: `chart` is the chart's reference, `oci://docker.io/envoyproxy/gateway-helm`;
    - an `https://` Helm repository: `chart` is the chart's name and `repository_opts.repo` the
      repository, whose `index.yaml` Helm reads (a URL in `chart` would name one archive);
    - a local directory: `chart` is the unpacked chart in it, `<directory>/gateway-helm`
      (Helm ignores `version` for a path; the component checks the chart's own, and uses a
      packaged `<directory>/gateway-helm-<version>.tgz` instead when that is what the directory holds).
    """
    repository = controller.chart_repository
    if repository.startswith("https://"):
        return {"chart": chart, "repository_opts": {"repo": repository}}
    return {"chart": f"{repository.rstrip('/')}/{chart}"}


# --- gateway class, proxy, gateway ------------------------------------------------------


def envoy_proxy_object(config: StackConfig, gateway: GatewayConfig | None = None) -> dict[str, Any]:
    """The EnvoyProxy that shapes the proxies the controller creates for a Gateway: the stack's
    (`proxy`, named by `StackConfig.proxy_name`), or with `gateway` that Gateway's own (its `proxy`
    under `gateways`, named `own_proxy_name`; the stack's when it has none)."""
    own = gateway is not None and gateway.own_proxy is not None
    proxy = gateway.own_proxy if own else config.proxy
    deployment: dict[str, Any] = {}
    if proxy.replicas is not None:
        deployment["replicas"] = proxy.replicas
    pod = {key: value for key, value in (("labels", proxy.pod_labels), ("annotations", proxy.pod_annotations)) if value}
    if pod:
        deployment["pod"] = pod
    container: dict[str, Any] = {}
    if proxy.image is not None:
        container["image"] = proxy.image
    if proxy.resources is not None:
        container["resources"] = resources_dict(proxy.resources)
    if container:
        deployment["container"] = container

    service: dict[str, Any] = {"type": proxy.service.type}
    if proxy.service.annotations:
        service["annotations"] = dict(proxy.service.annotations)
    if proxy.service.external_traffic_policy is not None:
        service["externalTrafficPolicy"] = proxy.service.external_traffic_policy
    if proxy.service.load_balancer_class is not None:
        service["loadBalancerClass"] = proxy.service.load_balancer_class

    kubernetes: dict[str, Any] = {"envoyService": service}
    if deployment:
        kubernetes["envoyDeployment"] = deployment
    if proxy.autoscaling is not None:
        kubernetes["envoyHpa"] = {
            "minReplicas": proxy.autoscaling.min_replicas,
            "maxReplicas": proxy.autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": proxy.autoscaling.cpu_utilization},
                    },
                }
            ],
        }
    if proxy.disruption_budget is not None:
        budget = proxy.disruption_budget
        kubernetes["envoyPDB"] = (
            {"minAvailable": budget.min_available}
            if budget.min_available is not None
            else {"maxUnavailable": budget.max_unavailable}
        )
    return {
        "apiVersion": ENVOY_PROXY_API_VERSION,
        "kind": "EnvoyProxy",
        "metadata": object_metadata(gateway.own_proxy_name if own else config.proxy_name, config.namespace),
        "spec": {"provider": {"type": "Kubernetes", "kubernetes": kubernetes}},
    }


def gateway_class_object(config: StackConfig, gateway: GatewayConfig | None = None) -> dict[str, Any]:
    """The GatewayClass, pointing at the stack's EnvoyProxy (parametersRef): the stack's
    (`gatewayClass`), or with `gateway` the class that Gateway belongs to (its own `gatewayClass`,
    else the stack's). A Gateway's own EnvoyProxy is named by the Gateway itself (`gateway_object`)."""
    gateway_class = config.gateway_class_of(gateway) if gateway is not None else config.gateway_class
    spec: dict[str, Any] = {
        "controllerName": gateway_class.controller_name,
        "parametersRef": {
            "group": ENVOY_GATEWAY_GROUP,
            "kind": "EnvoyProxy",
            "name": config.proxy_name,
            "namespace": config.namespace,
        },
    }
    if gateway_class.description:
        spec["description"] = gateway_class.description
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "GatewayClass",
        "metadata": object_metadata(
            gateway_class.name, None, annotations={WAIT_FOR_ANNOTATION: "condition=Accepted"}
        ),
        "spec": spec,
    }


def gateway_object(config: StackConfig, gateway: GatewayConfig | None = None) -> dict[str, Any]:
    """A Gateway with its listeners (default: the first of `StackConfig.all_gateways`, the seed's);
    `pulumi up` waits for it to be Programmed. A Gateway with its own `proxy` names that EnvoyProxy
    in `infrastructure.parametersRef`, which Envoy Gateway uses instead of its class's."""
    gateway = gateway or config.default_gateway
    listeners = []
    for listener in gateway.listeners:
        entry: dict[str, Any] = {"name": listener.name, "protocol": listener.protocol, "port": listener.port}
        if listener.hostname is not None:
            entry["hostname"] = listener.hostname
        if listener.tls is not None:
            entry["tls"] = {
                "mode": listener.tls.mode,
                "certificateRefs": [
                    {"kind": "Secret", "group": "", "name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})}
                    for ref in listener.tls.certificate_refs
                ],
            }
        if listener.allowed_routes is not None:
            entry["allowedRoutes"] = {"namespaces": {"from": listener.allowed_routes.namespaces}}
        listeners.append(entry)
    infrastructure: dict[str, Any] = {}
    if gateway.own_proxy_name is not None:
        infrastructure["infrastructure"] = {
            "parametersRef": {"group": ENVOY_GATEWAY_GROUP, "kind": "EnvoyProxy", "name": gateway.own_proxy_name}
        }
    annotations = {
        **gateway.annotations,
        WAIT_FOR_ANNOTATION: "condition=Programmed",
        TIMEOUT_ANNOTATION: str(gateway.programmed_timeout_seconds),
    }
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "Gateway",
        "metadata": object_metadata(gateway.name, config.namespace, annotations=annotations),
        "spec": {"gatewayClassName": config.gateway_class_of(gateway).name, **infrastructure, "listeners": listeners},
    }


# --- routes --------------------------------------------------------------------------


def header_modifier_object(modifier: HeaderModifier) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if modifier.set:
        result["set"] = [{"name": pair.name, "value": pair.value} for pair in modifier.set]
    if modifier.add:
        result["add"] = [{"name": pair.name, "value": pair.value} for pair in modifier.add]
    if modifier.remove:
        result["remove"] = list(modifier.remove)
    return result


def _path_modifier(path: PathModifier) -> dict[str, Any]:
    if path.type == "ReplaceFullPath":
        return {"type": path.type, "replaceFullPath": path.replace_full_path}
    return {"type": path.type, "replacePrefixMatch": path.replace_prefix_match}


def _filter(route_filter: RouteFilter, ports: dict[str, int] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"type": route_filter.type}
    if route_filter.request_header_modifier is not None:
        result["requestHeaderModifier"] = header_modifier_object(route_filter.request_header_modifier)
    if route_filter.response_header_modifier is not None:
        result["responseHeaderModifier"] = header_modifier_object(route_filter.response_header_modifier)
    if route_filter.request_redirect is not None:
        redirect = route_filter.request_redirect
        block: dict[str, Any] = {"statusCode": redirect.status_code}
        for key, value in (("scheme", redirect.scheme), ("hostname", redirect.hostname), ("port", redirect.port)):
            if value is not None:
                block[key] = value
        if redirect.path is not None:
            block["path"] = _path_modifier(redirect.path)
        result["requestRedirect"] = block
    if route_filter.url_rewrite is not None:
        rewrite: dict[str, Any] = {}
        if route_filter.url_rewrite.hostname is not None:
            rewrite["hostname"] = route_filter.url_rewrite.hostname
        if route_filter.url_rewrite.path is not None:
            rewrite["path"] = _path_modifier(route_filter.url_rewrite.path)
        result["urlRewrite"] = rewrite
    if route_filter.request_mirror is not None:
        result["requestMirror"] = request_mirror_object(route_filter.request_mirror, ports or {})
    return result


def request_mirror_object(mirror: RequestMirror, ports: dict[str, int]) -> dict[str, Any]:
    """A RequestMirror filter's block (HTTPRoute and GRPCRoute alike); the port defaults to the
    declared backend's (`ports`, by backend name)."""
    ref = mirror.backend_ref
    port = ref.port if ref.port is not None else ports.get(ref.name)
    block: dict[str, Any] = {
        "backendRef": {
            "group": "",
            "kind": "Service",
            "name": ref.name,
            **({"namespace": ref.namespace} if ref.namespace else {}),
            **({"port": port} if port is not None else {}),
        }
    }
    if mirror.percent is not None:
        block["percent"] = mirror.percent
    if mirror.fraction is not None:
        block["fraction"] = {"numerator": mirror.fraction.numerator, "denominator": mirror.fraction.denominator}
    return block


def _rule(config: StackConfig, rule: RouteRule) -> dict[str, Any]:
    ports = {backend.name: backend.port for backend in config.backends}
    result: dict[str, Any] = {}
    if rule.name is not None:
        result["name"] = rule.name
    if rule.matches:
        matches = []
        for match in rule.matches:
            entry: dict[str, Any] = {}
            if match.path is not None:
                entry["path"] = {"type": match.path.type, "value": match.path.value}
            if match.headers:
                entry["headers"] = [{"type": h.type, "name": h.name, "value": h.value} for h in match.headers]
            if match.query_params:
                entry["queryParams"] = [{"type": q.type, "name": q.name, "value": q.value} for q in match.query_params]
            if match.method is not None:
                entry["method"] = match.method
            matches.append(entry)
        result["matches"] = matches
    if rule.filters:
        result["filters"] = [_filter(route_filter, ports) for route_filter in rule.filters]
    if rule.backend_refs:
        result["backendRefs"] = [
            {
                "group": "",
                "kind": "Service",
                "name": ref.name,
                **({"namespace": ref.namespace} if ref.namespace else {}),
                # A reference to an undeclared backend has no port to default to (the config is
                # refused; the differential test still renders what would have been emitted).
                **({"port": port} if (port := ref.port if ref.port is not None else ports.get(ref.name)) is not None else {}),
                "weight": ref.weight,
            }
            if ref.kind != "InferencePool"
            # Envoy Gateway v1.9 takes no InferencePool backendRef: the pool's Service stands in for it.
            else pool_backend_ref(config, ref)
            for ref in rule.backend_refs
        ]
    if rule.timeouts is not None:
        timeouts = {
            key: value
            for key, value in (("request", rule.timeouts.request), ("backendRequest", rule.timeouts.backend_request))
            if value is not None
        }
        if timeouts:
            result["timeouts"] = timeouts
    return result


def http_route_object(config: StackConfig, route: RouteConfig) -> dict[str, Any]:
    """An HTTPRoute; without parentRefs it attaches to every listener of the stack's Gateway."""
    parent_refs = [
        {
            "name": ref.name,
            **({"namespace": ref.namespace} if ref.namespace else {}),
            **({"sectionName": ref.section_name} if ref.section_name else {}),
        }
        for ref in route.parent_refs
    ] or [{"name": config.default_gateway.name}]
    spec: dict[str, Any] = {"parentRefs": parent_refs}
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    spec["rules"] = [_rule(config, rule) for rule in route.rules]
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": object_metadata(route.name, config.namespace),
        "spec": spec,
    }


# --- certificates --------------------------------------------------------------------

# What each certificate may be used for (x509 key usages, as pulumi-tls names them).
CA_ALLOWED_USES = ["cert_signing", "crl_signing", "digital_signature"]
SERVER_ALLOWED_USES = ["digital_signature", "key_encipherment", "server_auth"]


def certificate_subject(name: DistinguishedName) -> dict[str, str]:
    """A certificate subject as pulumi-tls takes it, leaving out the fields not given."""
    fields = {
        "commonName": name.common_name,
        "organization": name.organization,
        "organizationalUnit": name.organizational_unit,
        "country": name.country,
        "province": name.province,
        "locality": name.locality,
    }
    return {key: value for key, value in fields.items() if value is not None}


def private_key_settings(certificate: CertificateConfig) -> dict[str, Any]:
    """pulumi-tls PrivateKey inputs: the algorithm, with its RSA size or ECDSA curve."""
    settings: dict[str, Any] = {"algorithm": certificate.key_algorithm}
    if certificate.key_algorithm == "RSA":
        settings["rsaBits"] = certificate.rsa_bits
    if certificate.key_algorithm == "ECDSA":
        settings["ecdsaCurve"] = certificate.ecdsa_curve
    return settings


def reference_grant_object(config: StackConfig, certificate: CertificateConfig) -> dict[str, Any] | None:
    """A ReferenceGrant letting the Gateway read a Secret in another namespace, or None
    when the Secret is in the Gateway's own namespace (no grant needed)."""
    secret_namespace = config.certificate_namespace(certificate)
    if secret_namespace == config.namespace:
        return None
    return {
        "apiVersion": REFERENCE_GRANT_API_VERSION,
        "kind": "ReferenceGrant",
        "metadata": object_metadata(f"{config.default_gateway.name}-{certificate.secret_name}", secret_namespace),
        "spec": {
            "from": [{"group": GATEWAY_API_GROUP, "kind": "Gateway", "namespace": config.namespace}],
            "to": [{"group": "", "kind": "Secret", "name": certificate.secret_name}],
        },
    }


# --- echo backends -------------------------------------------------------------------

# The seed's echo server needs no privileges: run it as an unprivileged user with a
# read-only root filesystem and every capability dropped.
_UNPRIVILEGED_USER = 65532


def echo_backend_objects(backend: BackendConfig, namespace: str) -> dict[str, dict[str, Any]]:
    """The seed's ServiceAccount, Service and Deployment for one echo backend, hardened."""
    name = backend.name
    pod_labels = {"app": name, "version": backend.version}
    service_account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_metadata(name, namespace),
        # The echo server never calls the Kubernetes API: no token in its pods.
        "automountServiceAccountToken": False,
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(name, namespace, labels={"app": name, "service": name}),
        "spec": {
            "ports": [{"name": "http", "port": backend.port, "targetPort": backend.port}],
            "selector": {"app": name},
        },
    }
    container = {
        "image": backend.image,
        "imagePullPolicy": "IfNotPresent",
        "name": name,
        "ports": [{"containerPort": backend.port}],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": resources_dict(backend.resources),
    }
    # echo-basic listens on $PORT (default 3000): tell it when the stack picks another port.
    if backend.port != 3000:
        container["env"].append({"name": "PORT", "value": str(backend.port)})
    if backend.protocol == "grpc":
        # The echo image's gRPC mode; the Service's appProtocol tells the gateway to speak h2c.
        container["env"].append({"name": "GRPC_ECHO_SERVER", "value": "true"})
        service["spec"]["ports"][0]["appProtocol"] = "kubernetes.io/h2c"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_metadata(name, namespace),
        "spec": {
            "replicas": backend.replicas,
            "selector": {"matchLabels": dict(pod_labels)},
            "template": {
                "metadata": {"labels": dict(pod_labels)},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": _UNPRIVILEGED_USER,
                        "runAsGroup": _UNPRIVILEGED_USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                },
            },
        },
    }
    return {"service_account": service_account, "service": service, "deployment": deployment}
