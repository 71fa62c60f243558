"""The policy objects the program emits for a stack config, valid or not (see `rendering`).

Envoy Gateway's BackendTrafficPolicy, ClientTrafficPolicy and SecurityPolicy, from the same
builders the components call (`gateway_config.policy_manifests`), with the Secrets they read:
each generated client CA's `ca.crt`, and a SecurityPolicy's basic-auth users (`.htpasswd`) or
API keys from `credentials`. `external_policy_objects` adds what the config says exists
elsewhere: the Secrets of client CAs with `source: existingSecret` and of CA references marked
`external: true`, with the ReferenceGrant a reference across namespaces needs.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import SecretStr

from gateway_config import manifests
from gateway_config.models import StackConfig
from gateway_config.policy_manifests import (
    BASIC_AUTH_KEY,
    CA_BUNDLE_KEY,
    CLIENT_CA_ALLOWED_USES,
    backend_traffic_policy_object,
    client_ca_secret_object,
    client_traffic_policy_object,
    credential_secret_object,
    htpasswd,
    security_policy_object,
)
from gateway_config.security_semantics import api_keys_secret_name, basic_auth_secret_name
from gatestack.differential.key_material import CachedKeyMaterial
from gatestack.stand_ins.pulumi_tls_material import PRIVATE_KEY, SELF_SIGNED_CERT

POLICY_KINDS = ("BackendTrafficPolicy", "ClientTrafficPolicy", "SecurityPolicy")


@functools.lru_cache(maxsize=None)
def client_ca_pem() -> str:
    """A CA certificate (PEM) as a client CA's Secret holds it; no validator looks at which CA it is."""
    material = CachedKeyMaterial()
    key = material.outputs(PRIVATE_KEY, "differential-client-ca-key", {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    return material.outputs(
        SELF_SIGNED_CERT, "differential-client-ca",
        {"privateKeyPem": key["privateKeyPem"], "subject": {"commonName": "differential client CA"},
         "isCaCertificate": True, "validityPeriodHours": 24, "allowedUses": CLIENT_CA_ALLOWED_USES},
    )["certPem"]


def _plain(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def policy_objects(config: StackConfig) -> list[dict[str, Any]]:
    """What the ClientCertificateAuthority, BackendTrafficPolicy, ClientTrafficPolicy and
    SecurityPolicy components declare for `config`, in their order."""
    objects: list[dict[str, Any]] = []
    for authority in config.client_certificate_authorities:
        if authority.source != "existingSecret":
            objects.append(client_ca_secret_object(config, authority, client_ca_pem()))
    objects.extend(backend_traffic_policy_object(config, policy) for policy in config.backend_traffic_policies)
    objects.extend(client_traffic_policy_object(config, policy) for policy in config.client_traffic_policies)
    for policy in config.security_policies:
        given = {holder: _plain(value) for holder, value in (config.credentials.get(policy.name) or {}).items()}
        if policy.basic_auth is not None:
            users = {user: given.get(user, "") for user in policy.basic_auth.users}
            objects.append(credential_secret_object(config, basic_auth_secret_name(policy), {BASIC_AUTH_KEY: htpasswd(users)}))
        if policy.api_key_auth is not None:
            keys = {client: given.get(client, "") for client in policy.api_key_auth.clients}
            objects.append(credential_secret_object(config, api_keys_secret_name(policy), keys))
        objects.append(security_policy_object(config, policy))
    return objects


def _ca_secret(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque", "stringData": {CA_BUNDLE_KEY: client_ca_pem()}}


def external_policy_objects(config: StackConfig) -> list[dict[str, Any]]:
    """Client CA Secrets managed elsewhere, and the ReferenceGrants references to them across namespaces need."""
    objects: dict[tuple[str, str, str], dict[str, Any]] = {}
    for authority in config.client_certificate_authorities:
        if authority.source == "existingSecret":
            objects[("Secret", config.namespace, authority.name)] = _ca_secret(authority.name, config.namespace)
    for policy in config.client_traffic_policies:
        validation = policy.tls.client_validation if policy.tls is not None else None
        for ref in validation.ca_certificate_refs if validation is not None else []:
            if ref.external is not True:
                continue
            namespace = ref.namespace or config.namespace
            objects.setdefault(("Secret", namespace, ref.name), _ca_secret(ref.name, namespace))
            if namespace != config.namespace:
                name = f"differential-clienttrafficpolicy-{ref.name}"[:253]
                objects.setdefault(("ReferenceGrant", namespace, name), {
                    "apiVersion": manifests.REFERENCE_GRANT_API_VERSION,
                    "kind": "ReferenceGrant",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {
                        "from": [{"group": manifests.ENVOY_GATEWAY_GROUP, "kind": "ClientTrafficPolicy", "namespace": config.namespace}],
                        "to": [{"group": "", "kind": "Secret", "name": ref.name}],
                    },
                })
    return list(objects.values())
