"""Turn egctl's per-Gateway xDS ConfigDump into a static Envoy bootstrap that runs with no control plane.

The rewrites follow /work/shared/notes/egctl-xds-to-envoy.md (each one was needed: Envoy rejects
or silently mis-serves the config without it):

1. the top-level ``@type`` of Listener, Cluster, RouteConfiguration and ClusterLoadAssignment
   objects is dropped (the one inside ``typedConfig`` is kept);
2. ``dynamicResources`` (ADS) and the ``xds_cluster`` static cluster are dropped;
3. an HTTP connection manager's ``rds`` becomes an inline ``routeConfig`` of the same name;
4. EDS clusters become ``type: STATIC`` with their endpoints inlined as ``loadAssignment``; the
   ``local_cluster`` and ``clusterManager.localClusterName`` are dropped;
5. SDS references lose their ``sdsConfig: {ads: {}}`` and the secrets become
   ``staticResources.secrets`` built from the stack's Secret objects (``data`` base64 is used as
   it is, ``stringData`` PEM is base64-encoded);
6. keys stay lowerCamelCase, exactly as egctl printed them.

And for a local run:
- every listener is bound to 127.0.0.1 (not 0.0.0.0); Gateway listener ports below 1024 are
  shifted by +10000 (egctl already does this; the rule is applied again only where needed);
  Envoy Gateway's own ready/stats listeners (``envoy-gateway-proxy-*``) get port 0 (any free
  port), so two local gateways never collide;
- the admin interface listens on 127.0.0.1 at the port given (choose one with ``free_loopback_port``).

``assert_loopback_only(bootstrap)`` refuses any listener, endpoint or DNS cluster outside
127.0.0.0/8: a local run must never send traffic off this machine.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import socket
from typing import Iterator

LOCAL_ADDRESS = "127.0.0.1"
PRIVILEGED_PORT_LIMIT = 1024
PRIVILEGED_PORT_SHIFT = 10000
XDS_CLUSTER_NAME = "xds_cluster"
ENVOY_GATEWAY_INTERNAL_LISTENER_PREFIX = "envoy-gateway-proxy-"

BOOTSTRAP_DUMP_TYPE = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"
ENDPOINTS_DUMP_TYPE = "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump"
CLUSTERS_DUMP_TYPE = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"
LISTENERS_DUMP_TYPE = "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"
ROUTES_DUMP_TYPE = "type.googleapis.com/envoy.admin.v3.RoutesConfigDump"

# Cluster discovery types whose upstream addresses are fixed in the config, so they can be checked.
CHECKABLE_CLUSTER_TYPES = frozenset({"STATIC", "STRICT_DNS", "LOGICAL_DNS"})
DNS_CLUSTER_TYPES = frozenset({"STRICT_DNS", "LOGICAL_DNS"})
DNS_CLUSTER_EXTENSION = "envoy.cluster.dns"  # how Envoy Gateway writes DNS clusters for FQDN backends
LOOPBACK_HOSTNAMES = frozenset({"localhost"})


class BootstrapError(ValueError):
    """The ConfigDump cannot be turned into a static bootstrap (missing route, secret, ...)."""


class NonLoopbackAddressError(ValueError):
    """The bootstrap would make Envoy listen on or connect to an address outside 127.0.0.0/8."""


def free_loopback_port() -> int:
    """A TCP port currently free on 127.0.0.1 (the kernel picks it; there is a small race until it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCAL_ADDRESS, 0))
        return probe.getsockname()[1]


def without_type(resource: dict) -> dict:
    """A deep copy of an xDS resource without its top-level ``@type`` (rewrite 1)."""
    resource = copy.deepcopy(resource)
    resource.pop("@type", None)
    return resource


def walk_dictionaries(node: object) -> Iterator[dict]:
    """Every dictionary inside ``node``, depth first, ``node`` included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_dictionaries(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_dictionaries(value)


def split_config_dump(config_dump: dict) -> tuple[dict, dict[str, dict], list[dict], list[dict], dict[str, dict]]:
    """Bootstrap, endpoints by cluster name, clusters, listeners and routes by name, from a ConfigDump."""
    bootstrap: dict | None = None
    endpoints: dict[str, dict] = {}
    clusters: list[dict] = []
    listeners: list[dict] = []
    routes: dict[str, dict] = {}
    for config in config_dump.get("configs") or []:
        config_type = config.get("@type")
        if config_type == BOOTSTRAP_DUMP_TYPE:
            bootstrap = config.get("bootstrap") or {}
        elif config_type == ENDPOINTS_DUMP_TYPE:
            for entry in (config.get("staticEndpointConfigs") or []) + (config.get("dynamicEndpointConfigs") or []):
                assignment = entry.get("endpointConfig") or {}
                endpoints[assignment.get("clusterName", "")] = assignment
        elif config_type == CLUSTERS_DUMP_TYPE:
            for entry in (config.get("staticClusters") or []) + (config.get("dynamicActiveClusters") or []):
                clusters.append(entry.get("cluster") or {})
        elif config_type == LISTENERS_DUMP_TYPE:
            for entry in config.get("staticListeners") or []:
                listeners.append(entry.get("listener") or {})
            for entry in config.get("dynamicListeners") or []:
                listeners.append((entry.get("activeState") or {}).get("listener") or {})
        elif config_type == ROUTES_DUMP_TYPE:
            for entry in (config.get("staticRouteConfigs") or []) + (config.get("dynamicRouteConfigs") or []):
                route = entry.get("routeConfig") or {}
                routes[route.get("name", "")] = route
    if bootstrap is None:
        raise BootstrapError("the ConfigDump has no BootstrapConfigDump; is it egctl's xds output for one Gateway?")
    return bootstrap, endpoints, clusters, listeners, routes


def secret_material(objects: list[dict]) -> dict[str, dict[str, str]]:
    """Base64 values of every Secret and ConfigMap, keyed ``namespace/name`` then data key.

    Secrets: ``data`` is taken as it is (already base64), ``stringData`` (PEM text) is encoded and
    wins, as the API server merges it. ConfigMaps (CA bundles) contribute ``data``, encoded.
    """
    material: dict[str, dict[str, str]] = {}
    for manifest in objects:
        kind = manifest.get("kind")
        if kind not in ("Secret", "ConfigMap"):
            continue
        metadata = manifest.get("metadata") or {}
        key = f"{metadata.get('namespace', 'default')}/{metadata.get('name', '')}"
        values: dict[str, str] = {}
        if kind == "Secret":
            for name, value in (manifest.get("data") or {}).items():
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    raise BootstrapError(f"Secret {key} data {name!r} is not valid base64") from None
                values[name] = value
            for name, value in (manifest.get("stringData") or {}).items():
                values[name] = base64.b64encode(str(value).encode()).decode()
        else:
            for name, value in (manifest.get("data") or {}).items():
                values[name] = base64.b64encode(str(value).encode()).decode()
        material.setdefault(key, {}).update(values)
    material.update(client_validation_bundles(objects, material))
    return material


def client_validation_bundles(objects: list[dict], material: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The CA bundle of each ClientTrafficPolicy with client validation, as Envoy Gateway serves
    it: one SDS secret ``<namespace>/<policy>/ca.crt`` holding the ``ca.crt`` of every Secret or
    ConfigMap the policy's ``caCertificateRefs`` name, concatenated."""
    bundles: dict[str, dict[str, str]] = {}
    for manifest in objects:
        if manifest.get("kind") != "ClientTrafficPolicy":
            continue
        metadata = manifest.get("metadata") or {}
        namespace = metadata.get("namespace", "default")
        validation = (((manifest.get("spec") or {}).get("tls") or {}).get("clientValidation")) or {}
        pems = []
        for ref in validation.get("caCertificateRefs") or []:
            values = material.get(f"{ref.get('namespace', namespace)}/{ref.get('name', '')}") or {}
            if values.get("ca.crt"):
                pems.append(base64.b64decode(values["ca.crt"]).decode().strip() + "\n")
        if pems:
            bundles[f"{namespace}/{metadata.get('name', '')}/ca.crt"] = {"ca.crt": base64.b64encode("".join(pems).encode()).decode()}
    return bundles


def static_secret(name: str, secret_kind: str, material: dict[str, dict[str, str]]) -> dict:
    """A ``staticResources.secrets`` entry for SDS secret ``name`` (``namespace/name``)."""
    values = material.get(name)
    if values is None:
        raise BootstrapError(f"the listener TLS refers to secret {name}, but no Secret {name} is among the objects")
    if secret_kind == "tlsCertificate":
        if not values.get("tls.crt") or not values.get("tls.key"):
            raise BootstrapError(f"Secret {name} needs non-empty tls.crt and tls.key for a TLS certificate")
        return {
            "name": name,
            "tlsCertificate": {
                "certificateChain": {"inlineBytes": values["tls.crt"]},
                "privateKey": {"inlineBytes": values["tls.key"]},
            },
        }
    if not values.get("ca.crt"):
        raise BootstrapError(f"{name} needs a non-empty ca.crt to validate peers")
    return {"name": name, "validationContext": {"trustedCa": {"inlineBytes": values["ca.crt"]}}}


def detach_sds_from_ads(resource: dict) -> list[tuple[str, str]]:
    """Strip ``sdsConfig: {ads: ...}`` from SDS references in ``resource`` (rewrite 5).

    Returns the ``(secret name, tlsCertificate | validationContext)`` pairs that must be static.
    References served by other SDS sources (a file path) are left alone.
    """
    needed: list[tuple[str, str]] = []
    for node in walk_dictionaries(resource):
        for key, secret_kind in (
            ("tlsCertificateSdsSecretConfigs", "tlsCertificate"),
            ("validationContextSdsSecretConfig", "validationContext"),
        ):
            references = node.get(key)
            if references is None:
                continue
            for reference in references if isinstance(references, list) else [references]:
                if "ads" in (reference.get("sdsConfig") or {}):
                    reference.pop("sdsConfig")
                    needed.append((reference["name"], secret_kind))
    return needed


def inline_route_configurations(listener: dict, routes: dict[str, dict]) -> None:
    """Replace each ``rds`` in ``listener`` by the inline ``routeConfig`` it names (rewrite 3)."""
    for node in list(walk_dictionaries(listener)):
        if "rds" in node:
            route_name = node.pop("rds").get("routeConfigName", "")
            if route_name not in routes:
                raise BootstrapError(
                    f"listener {listener.get('name')} uses route configuration {route_name!r}, which the ConfigDump lacks"
                )
            node["routeConfig"] = without_type(routes[route_name])


def rebind_listener(listener: dict) -> None:
    """Bind ``listener`` to 127.0.0.1; shift privileged ports; give Envoy Gateway's own listeners any free port."""
    socket_address = listener.setdefault("address", {}).setdefault("socketAddress", {})
    socket_address["address"] = LOCAL_ADDRESS
    socket_address.pop("ipv4Compat", None)  # only meaningful for an IPv6 wildcard address
    listener.pop("additionalAddresses", None)  # dual-stack twins of the same port
    if listener.get("name", "").startswith(ENVOY_GATEWAY_INTERNAL_LISTENER_PREFIX):
        socket_address["portValue"] = 0
        return
    port = int(socket_address.get("portValue", 0))
    if 0 < port < PRIVILEGED_PORT_LIMIT:
        socket_address["portValue"] = port + PRIVILEGED_PORT_SHIFT


def static_cluster(cluster: dict, endpoints: dict[str, dict]) -> dict:
    """A Cluster without ``@type``; an EDS cluster becomes STATIC with its endpoints inlined (rewrite 4)."""
    cluster = without_type(cluster)
    if cluster.get("type") == "EDS" or "edsClusterConfig" in cluster:
        eds = cluster.pop("edsClusterConfig", {}) or {}
        assignment_name = eds.get("serviceName") or cluster.get("name", "")
        assignment = endpoints.get(assignment_name)
        load_assignment = without_type(assignment) if assignment else {"endpoints": []}
        load_assignment["clusterName"] = cluster.get("name", assignment_name)
        cluster["loadAssignment"] = load_assignment
        cluster["type"] = "STATIC"
    return cluster


def build_static_bootstrap(
    config_dump: dict,
    objects: list[dict],
    admin_port: int,
    node_name: str = "gatestack-local-gateway",
) -> dict:
    """A static Envoy bootstrap (JSON-ready dict) equivalent to ``config_dump``, for a local run.

    ``objects`` are the stack's objects (their Secrets and ConfigMaps supply listener
    certificates); ``admin_port`` is where the admin interface listens on 127.0.0.1;
    ``node_name`` (default ``gatestack-local-gateway``) becomes ``node.id`` and ``node.cluster``.
    Raises ``BootstrapError`` when something the config needs is missing.
    """
    original_bootstrap, endpoints, clusters, listeners, routes = split_config_dump(config_dump)
    bootstrap = copy.deepcopy(original_bootstrap)
    bootstrap.pop("dynamicResources", None)
    cluster_manager = bootstrap.get("clusterManager") or {}
    local_cluster_name = cluster_manager.pop("localClusterName", None)
    if not cluster_manager:
        bootstrap.pop("clusterManager", None)

    old_admin = ((bootstrap.get("admin") or {}).get("address") or {}).get("socketAddress") or {}
    old_admin_endpoint = (old_admin.get("address"), old_admin.get("portValue"))
    bootstrap.setdefault("admin", {})["address"] = {
        "socketAddress": {"address": LOCAL_ADDRESS, "portValue": admin_port}
    }
    node = bootstrap.setdefault("node", {})
    node.setdefault("id", node_name)
    node.setdefault("cluster", node_name)

    static_resources = bootstrap.setdefault("staticResources", {})
    kept_clusters = []
    for cluster in static_resources.get("clusters") or []:
        if cluster.get("name") in (XDS_CLUSTER_NAME, local_cluster_name):
            continue
        cluster = copy.deepcopy(cluster)
        # The prometheus_stats cluster forwards to the admin interface, which has moved.
        for node_dictionary in walk_dictionaries(cluster.get("loadAssignment")):
            address = node_dictionary.get("socketAddress")
            if address and (address.get("address"), address.get("portValue")) == old_admin_endpoint:
                address["address"], address["portValue"] = LOCAL_ADDRESS, admin_port
        kept_clusters.append(cluster)
    kept_clusters += [static_cluster(cluster, endpoints) for cluster in clusters]

    static_listeners = [copy.deepcopy(listener) for listener in static_resources.get("listeners") or []]
    static_listeners += [without_type(listener) for listener in listeners]
    needed_secrets: list[tuple[str, str]] = []
    for listener in static_listeners:
        rebind_listener(listener)
        inline_route_configurations(listener, routes)
        needed_secrets += detach_sds_from_ads(listener)
    for cluster in kept_clusters:
        needed_secrets += detach_sds_from_ads(cluster)

    material = secret_material(objects)
    secrets = [copy.deepcopy(secret) for secret in static_resources.get("secrets") or []]
    seen = {secret.get("name") for secret in secrets}
    for name, secret_kind in needed_secrets:
        if name not in seen:
            secrets.append(static_secret(name, secret_kind, material))
            seen.add(name)

    static_resources["clusters"] = kept_clusters
    static_resources["listeners"] = static_listeners
    if secrets:
        static_resources["secrets"] = secrets
    assert_no_ads(bootstrap)
    return bootstrap


def assert_no_ads(bootstrap: dict) -> None:
    """Raise BootstrapError if anything still refers to ADS (Envoy would validate it, then serve nothing)."""
    for node in walk_dictionaries(bootstrap):
        if "ads" in node or "adsConfig" in node:
            raise BootstrapError(
                f"the static bootstrap still refers to ADS in {sorted(node)}; a rewrite is missing for this config"
            )


def is_loopback_host(host: str, allow_hostname: bool) -> bool:
    """True for an IP in 127.0.0.0/8 or ::1, and (for DNS clusters only) the name ``localhost``."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return allow_hostname and host.lower() in LOOPBACK_HOSTNAMES


def describe_address(socket_address: dict) -> str:
    return f"{socket_address.get('address')}:{socket_address.get('portValue', socket_address.get('namedPort', '?'))}"


def assert_loopback_only(bootstrap: dict) -> None:
    """Raise NonLoopbackAddressError unless Envoy can only listen on and connect to 127.0.0.0/8.

    Refused: a listener, admin or endpoint address outside 127.0.0.0/8; a DNS cluster naming
    any host but ``localhost`` (resolving it would already query a name server); clusters whose
    upstreams are not in the config (EDS, ORIGINAL_DST, custom cluster types such as dynamic
    forward proxy); any management server (``dynamicResources``) or Google gRPC target.
    """
    refusal = "refusing to start Envoy: {}; a local run must never send traffic off this machine (only 127.0.0.0/8 is allowed)"
    if bootstrap.get("dynamicResources"):
        raise NonLoopbackAddressError(refusal.format("the bootstrap has dynamicResources (a management server)"))
    static_resources = bootstrap.get("staticResources") or {}
    checked: set[int] = set()
    for cluster in static_resources.get("clusters") or []:
        name = cluster.get("name", "?")
        cluster_type = cluster.get("type", "STATIC")
        if "clusterType" in cluster:
            custom = (cluster["clusterType"] or {}).get("name", "custom")
            if custom != DNS_CLUSTER_EXTENSION:
                raise NonLoopbackAddressError(refusal.format(f"cluster {name} has type {custom}, whose upstreams cannot be checked"))
            cluster_type = "STRICT_DNS"  # the extension form of a DNS cluster: its hosts are in loadAssignment
        if cluster_type not in CHECKABLE_CLUSTER_TYPES:
            raise NonLoopbackAddressError(refusal.format(f"cluster {name} has type {cluster_type}, whose upstreams cannot be checked"))
        for node in walk_dictionaries(cluster.get("loadAssignment")):
            socket_address = node.get("socketAddress")
            if socket_address is None:
                continue
            checked.add(id(socket_address))
            if not is_loopback_host(str(socket_address.get("address", "")), cluster_type in DNS_CLUSTER_TYPES):
                what = "DNS name" if cluster_type in DNS_CLUSTER_TYPES else "endpoint"
                raise NonLoopbackAddressError(
                    refusal.format(f"cluster {name} {what} {describe_address(socket_address)} is not a loopback address")
                )
    for listener in static_resources.get("listeners") or []:
        socket_address = (listener.get("address") or {}).get("socketAddress")
        if socket_address is not None:
            checked.add(id(socket_address))
            if not is_loopback_host(str(socket_address.get("address", "")), False):
                raise NonLoopbackAddressError(
                    refusal.format(f"listener {listener.get('name', '?')} binds {describe_address(socket_address)}")
                )
    for node in walk_dictionaries(bootstrap):
        if "googleGrpc" in node:
            target = (node["googleGrpc"] or {}).get("targetUri", "?")
            raise NonLoopbackAddressError(refusal.format(f"a Google gRPC service targets {target}"))
        socket_address = node.get("socketAddress")
        if isinstance(socket_address, dict) and id(socket_address) not in checked:
            if not is_loopback_host(str(socket_address.get("address", "")), False):
                raise NonLoopbackAddressError(
                    refusal.format(f"the bootstrap uses address {describe_address(socket_address)}")
                )


def listener_ports(bootstrap: dict) -> dict[str, int]:
    """Port of every static listener by listener name (0 means Envoy picks one)."""
    return {
        listener.get("name", ""): int(((listener.get("address") or {}).get("socketAddress") or {}).get("portValue", 0))
        for listener in (bootstrap.get("staticResources") or {}).get("listeners") or []
    }


def redirect_to_stand_ins(bootstrap: dict, stand_ins: dict[tuple[str, int], tuple[str, int, str]]) -> None:
    """Send each DNS cluster whose host and port are in `stand_ins` to the local stand-in
    ``(address, port, CA PEM)`` instead: a STATIC cluster on that loopback address whose TLS
    trusts only the stand-in's CA (the SNI stays the real host's). For local proofs only: a
    gateway fetching from the internet (a JWKS by URL) reaches a local server instead."""
    for cluster in (bootstrap.get("staticResources") or {}).get("clusters") or []:
        is_dns = cluster.get("type") in DNS_CLUSTER_TYPES or (cluster.get("clusterType") or {}).get("name") == DNS_CLUSTER_EXTENSION
        if not is_dns:
            continue
        for node in walk_dictionaries(cluster.get("loadAssignment")):
            socket_address = node.get("socketAddress")
            if socket_address is None:
                continue
            key = (str(socket_address.get("address")), int(socket_address.get("portValue", 0)))
            if key not in stand_ins:
                continue
            address, port, ca_pem = stand_ins[key]
            socket_address["address"], socket_address["portValue"] = address, port
            cluster.pop("clusterType", None)
            cluster["type"] = "STATIC"
            for dictionary in walk_dictionaries(cluster.get("transportSocket")):
                if "validationContext" in dictionary:
                    dictionary["validationContext"] = {"trustedCa": {"inlineString": ca_pem}}
