"""The objects the program emits for a stack config: also for a config it refuses.

To compare the program's verdict with the validators' on a config the program refuses, the
validators need the objects the program *would* have emitted without its check. Two paths:

- `program_objects`: a config the program accepts goes through the real program
  (`__main__.py` under the SDK's mock engine, `gatestack.mock_engine.program_run`), with real certificates.
- `manifest_objects(lenient_config(raw))`: any config, valid or not, is built into models
  without validation and handed to the same manifest builders the components call
  (`gateway_config.manifests`; the policies' through `policy_rendering`). For accepted configs both paths give the same Gateway API and
  Envoy Gateway objects (checked by the differential test), which is what makes this path stand
  in for the program on the configs it refuses.

`external_objects` adds what `external: true` promises exists elsewhere (a Service with the
referenced port, a TLS Secret, and across namespaces the ReferenceGrant that permits the
reference), so that the validators judge the program's objects, not a missing neighbour.
"""

from __future__ import annotations

import functools
import typing
from typing import Any, Mapping

from pydantic import BaseModel

from gateway_config import manifests
from gateway_config.models import StackConfig
from gatestack.differential.key_material import CachedKeyMaterial
from gatestack.differential.model_fields import list_item_model, model_in
from gatestack.differential.policy_rendering import POLICY_KINDS, external_policy_objects, policy_objects
from gatestack.mock_engine.program_run import run_program
from gatestack.mock_engine.rendered_objects import is_helm_stand_in, kubernetes_objects
from gatestack.stand_ins.pulumi_tls_material import CERT_REQUEST, LOCALLY_SIGNED_CERT, PRIVATE_KEY, SELF_SIGNED_CERT

# Kinds the comparison of the two rendering paths looks at: every object a validator judges
# beyond the native ones, whose builders are shared anyway.
COMPARED_KINDS = ("EnvoyProxy", "GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant", "Service", *POLICY_KINDS)


# A certificate's key as the stack declares it (algorithm, RSA bits, ECDSA curve): Envoy Gateway
# refuses two certificates of one listener with the same key algorithm for one name.
KeySettings = tuple[str, Any, Any]
DEFAULT_KEY: KeySettings = ("ECDSA", None, "P256")


@functools.lru_cache(maxsize=None)
def tls_files(hostnames: tuple[str, ...], key_settings: KeySettings = DEFAULT_KEY) -> tuple[str, str]:
    """A valid server certificate and key (PEM) for `hostnames`, signed by a throwaway CA."""
    material = CachedKeyMaterial()
    ca_key = material.outputs(PRIVATE_KEY, "differential-ca-key", {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    algorithm, rsa_bits, ecdsa_curve = key_settings
    key = material.outputs(PRIVATE_KEY, "differential-key",
                           {"algorithm": algorithm, "rsaBits": rsa_bits, "ecdsaCurve": ecdsa_curve})
    ca = material.outputs(
        SELF_SIGNED_CERT,
        "differential-ca",
        {"privateKeyPem": ca_key["privateKeyPem"], "subject": {"commonName": "differential CA"},
         "isCaCertificate": True, "validityPeriodHours": 24, "allowedUses": manifests.CA_ALLOWED_USES},
    )
    request = material.outputs(
        CERT_REQUEST, "differential-request",
        {"privateKeyPem": key["privateKeyPem"], "subject": {"commonName": hostnames[0][:64]}, "dnsNames": list(hostnames)},
    )
    certificate = material.outputs(
        LOCALLY_SIGNED_CERT, "differential-certificate",
        {"certRequestPem": request["certRequestPem"], "caPrivateKeyPem": ca_key["privateKeyPem"],
         "caCertPem": ca["certPem"], "validityPeriodHours": 24, "allowedUses": manifests.SERVER_ALLOWED_USES},
    )
    return certificate["certPem"], key["privateKeyPem"]


def tls_secret(name: str, namespace: str, hostnames: Any = None, key_settings: KeySettings = DEFAULT_KEY) -> dict[str, Any]:
    """A kubernetes.io/tls Secret for `hostnames`; by default for a name of its own (after the Secret's
    namespace and name), which no other certificate's names overlap (Envoy Gateway flags listeners
    whose certificates' names overlap)."""
    own = ".".join(part[:40] for part in (name, namespace) if isinstance(part, str) and part) + ".certificate.invalid"
    names = tuple(hostnames) if isinstance(hostnames, (list, tuple)) and hostnames else (own,)
    certificate, key = tls_files(names, key_settings)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": certificate, "tls.key": key},
    }


def _key_settings(certificate: Any) -> KeySettings:
    """The key a declared certificate holds: a generated one's as declared, an existing Secret's as
    its keyAlgorithm states; an unvalidated value falls back to the default."""
    algorithm, rsa_bits, ecdsa_curve = certificate.key_algorithm, certificate.rsa_bits, certificate.ecdsa_curve
    valid = algorithm in ("RSA", "ECDSA", "ED25519") and rsa_bits in (2048, 3072, 4096) and ecdsa_curve in ("P224", "P256", "P384", "P521")
    if not valid:
        return DEFAULT_KEY
    return (algorithm, rsa_bits if algorithm == "RSA" else None, ecdsa_curve if algorithm == "ECDSA" else None)


def _dns_names(certificate: Any) -> list[str] | None:
    try:
        return [str(name) for name in certificate.effective_dns_names]
    except Exception:  # noqa: BLE001 - an unvalidated certificate: any names will do
        return None


# --- a config built without validation ------------------------------------------------------


def _construct(model: type[BaseModel], raw: Mapping[str, Any]) -> BaseModel:
    values: dict[str, Any] = {}
    given: set[str] = set()  # what the stack file sets: builders that emit only that (policies) see it so
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in raw:
            values[name] = field.get_default(call_default_factory=True)
            continue
        given.add(name)
        value = raw[key]
        nested = model_in(field.annotation)
        item_model = list_item_model(field.annotation)
        if nested is not None and isinstance(value, Mapping):
            value = _construct(nested, value)
        elif item_model is not None and isinstance(value, list):
            value = [_construct(item_model, item) if isinstance(item, Mapping) else item for item in value]
        values[name] = value
    return model.model_construct(_fields_set=given, **values)


def lenient_config(raw: Mapping[str, Any]) -> StackConfig:
    """`raw` as a StackConfig without any validation: defaults filled in, values as given
    (wrong types included). Only for rendering what the program would emit without its checks."""
    return typing.cast(StackConfig, _construct(StackConfig, raw))


# --- the two rendering paths ------------------------------------------------------------------


def manifest_objects(config: StackConfig) -> list[dict[str, Any]]:
    """The objects the components build for `config`, from the same manifest builders."""
    objects: list[dict[str, Any]] = []
    if config.create_namespace:
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": config.namespace}})
    for backend in config.backends:
        objects.extend(manifests.echo_backend_objects(backend, config.namespace).values())
    for certificate in config.certificates:
        if certificate.source != "existingSecret":
            objects.append(tls_secret(certificate.secret_name, config.certificate_namespace(certificate),
                                      _dns_names(certificate), _key_settings(certificate)))
        grant = manifests.reference_grant_object(config, certificate)
        if grant is not None:
            objects.append(grant)
    objects.append(manifests.envoy_proxy_object(config))
    objects.append(manifests.gateway_class_object(config))
    objects.append(manifests.gateway_object(config))
    objects.extend(manifests.http_route_object(config, route) for route in config.routes)
    objects.extend(policy_objects(config))
    return objects


def program_objects(stack: str, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The objects the real program declares for `raw` (which it must accept), Helm charts left out."""
    run = run_program(stack, dict(raw), material=CachedKeyMaterial())
    return [item for item in kubernetes_objects(run, hide_secrets=False) if not is_helm_stand_in(item)]


def external_objects(config: StackConfig) -> list[dict[str, Any]]:
    """What the config says exists elsewhere: external backends and certificates, certificates
    read from existing Secrets, and the ReferenceGrants that cross-namespace ones need."""
    objects: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()

    def add(kind: str, namespace: str, name: str, build: Any) -> None:
        if (kind, namespace, name) not in seen:
            seen.add((kind, namespace, name))
            objects.append(build())

    def grant(namespace: str, from_kind: str, to_kind: str, name: str) -> None:
        if namespace == config.namespace:
            return
        add("ReferenceGrant", namespace, f"differential-{from_kind.lower()}-{name}", lambda: {
            "apiVersion": manifests.REFERENCE_GRANT_API_VERSION,
            "kind": "ReferenceGrant",
            "metadata": {"name": f"differential-{from_kind.lower()}-{name}"[:253], "namespace": namespace},
            "spec": {
                "from": [{"group": manifests.GATEWAY_API_GROUP, "kind": from_kind, "namespace": config.namespace}],
                "to": [{"group": "", "kind": to_kind, "name": name}],
            },
        })

    for certificate in config.certificates:
        if certificate.source == "existingSecret":
            namespace = config.certificate_namespace(certificate)
            add("Secret", namespace, certificate.secret_name,
                lambda: tls_secret(certificate.secret_name, namespace, _dns_names(certificate), _key_settings(certificate)))
    for listener in config.gateway.listeners:
        for ref in (listener.tls.certificate_refs if listener.tls is not None else []):
            if ref.external:
                namespace = ref.namespace or config.namespace
                add("Secret", namespace, ref.name, lambda: tls_secret(ref.name, namespace))
                grant(namespace, "Gateway", "Secret", ref.name)
    ports: dict[tuple[str, str], set[int]] = {}
    for route in config.routes:
        for rule in route.rules:
            mirrors = [getattr(item, "request_mirror", None) for item in rule.filters if not isinstance(item, dict)]
            for ref in [*rule.backend_refs, *(mirror.backend_ref for mirror in mirrors if mirror is not None)]:
                if getattr(ref, "external", False) is True and isinstance(ref.port, int):
                    namespace = ref.namespace or config.namespace
                    ports.setdefault((namespace, ref.name), set()).add(ref.port)
                    grant(namespace, "HTTPRoute", "Service", ref.name)
    for item in external_policy_objects(config):
        metadata = item["metadata"]
        add(item["kind"], metadata["namespace"], metadata["name"], lambda item=item: item)
    for (namespace, name), service_ports in sorted(ports.items()):
        objects.append({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": f"port-{port}", "port": port} for port in sorted(service_ports)]},
        })
    return objects
