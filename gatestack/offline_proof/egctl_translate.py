"""Offline control plane: Envoy Gateway's own translator (``egctl x translate``) run on a stack's objects.

``translate(objects)`` runs ``egctl x translate --from gateway-api --to gateway-api,xds -o json``
once and returns the objects with the status conditions Envoy Gateway would write (statuses) and,
per Gateway, the ``envoy.admin.v3.ConfigDump`` its Envoy would be programmed with.

Before translation the objects are prepared the way a cluster would hold them:
- namespaced objects without a namespace go to ``default`` (what ``kubectl apply`` does; egctl
  alone would put them in ``envoy-gateway-system``);
- every Service gets a distinct loopback clusterIP, 127.0.0.2 upwards in sorted
  ``namespace/name`` order (127.0.0.1 stays free for the gateway's own listeners), because egctl
  routes to ``clusterIP:port`` and the local data plane must never reach another address;
- a Secret's ``stringData`` is folded into base64 ``data``, as the API server stores it;
- only kinds egctl reads are given to it (Deployments and the like affect no translation).

``condition_failures(result)`` lists every status condition that says the configuration is not
(fully) in effect, as sentences.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, ensure_egctl

FIRST_SERVICE_ADDRESS = ipaddress.IPv4Address("127.0.0.2")
LAST_LOOPBACK_ADDRESS = ipaddress.IPv4Address("127.255.255.254")
DEFAULT_NAMESPACE = "default"

# Bounded so a wedged translator cannot hang a test run; a translation takes about a second.
TRANSLATION_TIMEOUT_SECONDS = 120

# The kinds egctl v1.9.0's loader reads (internal/gatewayapi/resource/load.go); it ignores or
# rejects the rest.
KINDS_EGCTL_READS = frozenset({
    "GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute",
    "ReferenceGrant", "BackendTLSPolicy", "EnvoyProxy", "EnvoyPatchPolicy", "ClientTrafficPolicy",
    "BackendTrafficPolicy", "SecurityPolicy", "EnvoyExtensionPolicy", "HTTPRouteFilter", "Backend",
    "Namespace", "Service", "Secret", "ConfigMap",
})

CLUSTER_SCOPED_KINDS = frozenset({
    "GatewayClass", "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PriorityClass", "StorageClass", "IngressClass", "ClusterTrustBundle",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PersistentVolume",
})

# Keys of egctl's output holding routes (Gateway API route kinds), in the order they are reported.
ROUTE_KEYS = ("httpRoutes", "grpcRoutes", "tlsRoutes", "tcpRoutes", "udpRoutes")

# Conditions that must be present and True for the configuration to be in effect.
REQUIRED_GATEWAY_CLASS_CONDITIONS = ("Accepted",)
REQUIRED_LISTENER_CONDITIONS = ("Accepted", "ResolvedRefs", "Programmed")
REQUIRED_ROUTE_PARENT_CONDITIONS = ("Accepted", "ResolvedRefs")
REQUIRED_POLICY_ANCESTOR_CONDITIONS = ("Accepted",)

# Conditions whose healthy value is False (Gateway API "abnormal-true" polarity).
ABNORMAL_WHEN_TRUE = frozenset({"Conflicted", "OverlappingTLSConfig", "PartiallyInvalid"})


class TranslationError(RuntimeError):
    """egctl could not translate the objects at all (as opposed to reporting False conditions)."""


@dataclass(frozen=True)
class TranslationResult:
    """What Envoy Gateway makes of a set of objects.

    ``statuses`` is egctl's Gateway API output (``gatewayClass``, ``gateways``, ``httpRoutes``,
    policies, ...) with status; ``config_dumps`` maps ``<namespace>/<gateway>`` to its ConfigDump;
    ``service_cluster_ips`` maps ``<namespace>/<service>`` to the loopback clusterIP given to it;
    ``objects`` are the prepared objects that were translated (all kinds, not only egctl's).
    """

    statuses: dict
    config_dumps: dict[str, dict]
    service_cluster_ips: dict[str, str]
    objects: list[dict] = field(default_factory=list)

    @property
    def gateway_class(self) -> dict | None:
        return self.statuses.get("gatewayClass")

    @property
    def gateways(self) -> list[dict]:
        return self.statuses.get("gateways") or []

    @property
    def routes(self) -> list[dict]:
        return [route for key in ROUTE_KEYS for route in self.statuses.get(key) or []]


def object_key(manifest: dict) -> str:
    """``namespace/name`` of a namespaced object."""
    metadata = manifest.get("metadata", {})
    return f"{metadata.get('namespace', DEFAULT_NAMESPACE)}/{metadata.get('name', '')}"


def with_default_namespaces(objects: list[dict]) -> list[dict]:
    """Deep copies of ``objects`` with ``metadata.namespace`` set to ``default`` where a namespaced object has none."""
    prepared = []
    for manifest in objects:
        manifest = copy.deepcopy(manifest)
        if manifest.get("kind") not in CLUSTER_SCOPED_KINDS:
            manifest.setdefault("metadata", {}).setdefault("namespace", DEFAULT_NAMESPACE)
        prepared.append(manifest)
    return prepared


def assign_loopback_cluster_ips(objects: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Give every Service a distinct loopback clusterIP (127.0.0.2 upwards, by sorted namespace/name).

    Returns deep copies of the objects and the mapping ``namespace/name`` -> address. Any
    clusterIP the object had is replaced: a real cluster's address must never be dialled locally.
    """
    prepared = copy.deepcopy(objects)
    services = sorted(
        (manifest for manifest in prepared if manifest.get("kind") == "Service"),
        key=lambda manifest: (manifest.get("metadata", {}).get("namespace", DEFAULT_NAMESPACE),
                              manifest.get("metadata", {}).get("name", "")),
    )
    mapping: dict[str, str] = {}
    for index, service in enumerate(services):
        address = FIRST_SERVICE_ADDRESS + index
        if address > LAST_LOOPBACK_ADDRESS:
            raise TranslationError(f"too many Services ({len(services)}) to give each a loopback address")
        spec = service.setdefault("spec", {})
        spec["clusterIP"] = str(address)
        spec.pop("clusterIPs", None)
        mapping[object_key(service)] = str(address)
    return prepared, mapping


def fold_string_data(objects: list[dict]) -> list[dict]:
    """Deep copies where each Secret's ``stringData`` is merged into base64 ``data``, as the API server stores it."""
    prepared = copy.deepcopy(objects)
    for manifest in prepared:
        if manifest.get("kind") == "Secret" and manifest.get("stringData"):
            data = manifest.setdefault("data", {}) or {}
            for key, value in manifest.pop("stringData").items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            manifest["data"] = data
    return prepared


def prepare_objects(objects: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Objects as a cluster would hold them for translation, and the Service address mapping."""
    prepared = fold_string_data(with_default_namespaces(objects))
    return assign_loopback_cluster_ips(prepared)


def run_egctl_translate(egctl: Path, objects: list[dict]) -> dict:
    """Run ``egctl x translate`` on ``objects`` and return its parsed JSON output."""
    with tempfile.TemporaryDirectory(prefix="gatestack-translate-") as scratch:
        input_path = Path(scratch) / "objects.yaml"
        input_path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        command = [
            str(egctl), "x", "translate",
            "--from", "gateway-api",
            "--to", "gateway-api,xds",
            "--type", "all",
            "--output", "json",
            "--file", str(input_path),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=TRANSLATION_TIMEOUT_SECONDS)
    if completed.returncode != 0:
        reason = (completed.stderr.strip() or completed.stdout.strip() or "no output").splitlines()[-1]
        raise TranslationError(f"egctl x translate failed (exit {completed.returncode}): {reason}")
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise TranslationError(f"egctl x translate printed no JSON: {completed.stdout[:200]!r}") from None


def translate(objects: list[dict], envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> TranslationResult:
    """Translate ``objects`` with egctl at ``envoy_gateway_version`` (default v1.9.0; built if absent)."""
    prepared, service_cluster_ips = prepare_objects(objects)
    if not any(manifest.get("kind") == "GatewayClass" for manifest in prepared):
        raise TranslationError("there is no GatewayClass among the objects; Envoy Gateway translates nothing without one")
    egctl_input = [manifest for manifest in prepared if manifest.get("kind") in KINDS_EGCTL_READS]
    output = run_egctl_translate(ensure_egctl(envoy_gateway_version), egctl_input)
    config_dumps = output.pop("xds", None) or {}
    return TranslationResult(
        statuses=output,
        config_dumps=config_dumps,
        service_cluster_ips=service_cluster_ips,
        objects=prepared,
    )


def describe_condition(condition: dict) -> str:
    """``ResolvedRefs is False (InvalidCertificateRef): <message>``."""
    reason = f" ({condition['reason']})" if condition.get("reason") else ""
    message = f": {condition['message'].rstrip('.')}" if condition.get("message") else ""  # the caller ends the sentence
    return f"{condition.get('type')} is {condition.get('status')}{reason}{message}"


def unhealthy_conditions(subject: str, conditions: list[dict] | None, required: tuple[str, ...]) -> list[str]:
    """Sentences for conditions that are missing, not True, or abnormal-when-True."""
    conditions = conditions or []
    failures = []
    present = {condition.get("type") for condition in conditions}
    for condition_type in required:
        if condition_type not in present:
            failures.append(f"{subject} has no {condition_type} condition.")
    for condition in conditions:
        abnormal = condition.get("type") in ABNORMAL_WHEN_TRUE
        if (condition.get("status") == "True") == abnormal:
            failures.append(f"{subject}: {describe_condition(condition)}.")
    return failures


def condition_failures(result: TranslationResult) -> list[str]:
    """Every status condition showing the configuration is not in effect, as readable sentences.

    Checked: the GatewayClass (Accepted); each Gateway's own conditions if any; each listener
    (Accepted, ResolvedRefs, Programmed); each route's parents (Accepted, ResolvedRefs); each
    policy's ancestors (Accepted). A missing required condition is a failure too. Empty when all is well.
    """
    failures: list[str] = []
    gateway_class = result.gateway_class
    if gateway_class is None:
        failures.append("egctl reported no GatewayClass status.")
    else:
        subject = f"GatewayClass {gateway_class['metadata']['name']}"
        failures += unhealthy_conditions(
            subject, (gateway_class.get("status") or {}).get("conditions"), REQUIRED_GATEWAY_CLASS_CONDITIONS
        )
    for gateway in result.gateways:
        subject = f"Gateway {object_key(gateway)}"
        status = gateway.get("status") or {}
        failures += unhealthy_conditions(subject, status.get("conditions"), ())
        listener_statuses = {listener.get("name"): listener for listener in status.get("listeners") or []}
        for listener in gateway.get("spec", {}).get("listeners") or []:
            listener_subject = f"{subject} listener {listener.get('name')}"
            listener_status = listener_statuses.get(listener.get("name"))
            if listener_status is None:
                failures.append(f"{listener_subject} has no status: Envoy Gateway did not translate it.")
                continue
            failures += unhealthy_conditions(
                listener_subject, listener_status.get("conditions"), REQUIRED_LISTENER_CONDITIONS
            )
    for route in result.routes:
        subject = f"{route.get('kind', 'Route')} {object_key(route)}"
        parents = (route.get("status") or {}).get("parents") or []
        if not parents:
            failures.append(f"{subject} has no parent status: it is not attached to any Gateway.")
        for parent in parents:
            reference = parent.get("parentRef") or {}
            parent_name = reference.get("name", "?")
            if reference.get("namespace"):
                parent_name = f"{reference['namespace']}/{parent_name}"
            if reference.get("sectionName"):
                parent_name += f" section {reference['sectionName']}"
            failures += unhealthy_conditions(
                f"{subject} on parent {reference.get('kind', 'Gateway')} {parent_name}",
                parent.get("conditions"),
                REQUIRED_ROUTE_PARENT_CONDITIONS,
            )
    for key, value in result.statuses.items():
        if key == "gatewayClass" or key == "gateways" or key in ROUTE_KEYS or not isinstance(value, list):
            continue
        for policy in value:
            if not isinstance(policy, dict):
                continue
            ancestors = (policy.get("status") or {}).get("ancestors")
            if ancestors is None:
                continue
            for ancestor in ancestors:
                reference = ancestor.get("ancestorRef") or {}
                failures += unhealthy_conditions(
                    f"{policy.get('kind', key)} {object_key(policy)} on {reference.get('kind', '?')} {reference.get('name', '?')}",
                    ancestor.get("conditions"),
                    REQUIRED_POLICY_ANCESTOR_CONDITIONS,
                )
    return failures
