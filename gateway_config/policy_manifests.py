"""The Kubernetes objects built from a stack's policies: Envoy Gateway policy objects and the
Secrets they read. Pure functions of the config, like `manifests.py`."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from pydantic import BaseModel

from gateway_config.base import ConfigModel
from gateway_config.kubernetes_objects import ENVOY_GATEWAY_API_VERSION, GATEWAY_API_GROUP, object_metadata
from gateway_config.models import StackConfig
from gateway_config.security_policies import SecurityPolicyConfig
from gateway_config.security_semantics import api_keys_secret_name, basic_auth_secret_name
from gateway_config.traffic_policies import (
    BackendTrafficPolicyConfig,
    ClientCertificateAuthorityConfig,
    ClientTrafficPolicyConfig,
    PolicyTargetRef,
)

POLICY_API_VERSION = ENVOY_GATEWAY_API_VERSION
# The key Envoy Gateway reads a CA bundle from, in a Secret or ConfigMap.
CA_BUNDLE_KEY = "ca.crt"
# What a client CA's certificates may be used for (x509 key usages, as pulumi-tls names them).
CLIENT_CA_ALLOWED_USES = ["cert_signing", "crl_signing", "digital_signature"]
CLIENT_ALLOWED_USES = ["digital_signature", "key_encipherment", "client_auth"]


def target_refs(refs: list[PolicyTargetRef]) -> list[dict[str, Any]]:
    """Gateway API LocalPolicyTargetReferenceWithSectionName entries."""
    return [
        {
            "group": GATEWAY_API_GROUP,
            "kind": ref.kind,
            "name": ref.name,
            **({"sectionName": ref.section_name} if ref.section_name else {}),
        }
        for ref in refs
    ]


def spec_of(block: BaseModel, drop: tuple[str, ...] = ()) -> Any:
    """A config block as its CRD fragment: camelCase keys (the models' aliases are the CRD's
    field names) and only what the stack file sets, so Envoy Gateway's defaults apply to the
    rest (an empty list given on purpose, such as `alpnProtocols: []`, is kept)."""
    return _without(block.model_dump(by_alias=True, exclude_unset=True, exclude_none=True), set(drop))


def _without(value: Any, drop: set[str]) -> Any:
    if isinstance(value, dict):
        return {key: _without(item, drop) for key, item in value.items() if key not in drop}
    if isinstance(value, list):
        return [_without(item, drop) for item in value]
    return value


def _policy(kind: str, config: StackConfig, policy: ConfigModel, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": POLICY_API_VERSION,
        "kind": kind,
        "metadata": object_metadata(policy.name, config.namespace),
        "spec": {"targetRefs": target_refs(policy.target_refs), **spec},
    }


def backend_traffic_policy_object(config: StackConfig, policy: BackendTrafficPolicyConfig) -> dict[str, Any]:
    """A BackendTrafficPolicy with exactly the blocks the stack sets."""
    spec = spec_of(policy)
    for key in ("name", "targetRefs"):
        spec.pop(key)
    return _policy("BackendTrafficPolicy", config, policy, spec)


def client_traffic_policy_object(config: StackConfig, policy: ClientTrafficPolicyConfig) -> dict[str, Any]:
    """A ClientTrafficPolicy; CA references become Secret references in the stack's namespace."""
    spec = spec_of(policy, drop=("external",))
    for key in ("name", "targetRefs"):
        spec.pop(key)
    validation = (spec.get("tls") or {}).get("clientValidation")
    if validation is not None:
        validation["caCertificateRefs"] = [
            {"group": "", "kind": "Secret", "name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})}
            for ref in policy.tls.client_validation.ca_certificate_refs
        ]
    return _policy("ClientTrafficPolicy", config, policy, spec)


def client_ca_secret_object(config: StackConfig, authority: ClientCertificateAuthorityConfig, ca_pem: Any) -> dict[str, Any]:
    """The Secret holding a client CA's certificate under `ca.crt` (no key: only the CA's
    certificate is needed to verify clients)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_metadata(authority.name, config.namespace),
        "type": "Opaque",
        "stringData": {CA_BUNDLE_KEY: ca_pem},
    }


def client_ca_subject(authority: ClientCertificateAuthorityConfig) -> dict[str, str]:
    subject = {"commonName": authority.common_name}
    if authority.organization:
        subject["organization"] = authority.organization
    return subject


# --- SecurityPolicy -------------------------------------------------------------------------------

BASIC_AUTH_KEY = ".htpasswd"  # the key Envoy Gateway reads users from


def htpasswd(passwords: dict[str, str]) -> str:
    """htpasswd lines `user:{SHA}<base64 SHA-1>`, the only scheme Envoy's basic auth reads."""
    return "".join(
        f"{user}:{{SHA}}{base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()}\n"
        for user, password in passwords.items()
    )


def security_policy_object(config: StackConfig, policy: SecurityPolicyConfig) -> dict[str, Any]:
    """A SecurityPolicy; basic-auth users and API keys become references to the Secrets the
    stack declares for them (`<policy>-basic-auth`, `<policy>-api-keys`)."""
    spec = spec_of(policy)
    for key in ("name", "targetRefs"):
        spec.pop(key)
    if policy.basic_auth is not None:
        spec["basicAuth"].pop("users")
        spec["basicAuth"]["users"] = {"group": "", "kind": "Secret", "name": basic_auth_secret_name(policy)}
    if policy.api_key_auth is not None:
        block = spec["apiKeyAuth"]
        block.pop("clients")
        block["credentialRefs"] = [{"group": "", "kind": "Secret", "name": api_keys_secret_name(policy)}]
    return _policy("SecurityPolicy", config, policy, spec)


def credential_secret_object(config: StackConfig, name: str, string_data: Any) -> dict[str, Any]:
    """An Opaque Secret of the stack's (its values are Pulumi secrets in the component)."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": object_metadata(name, config.namespace), "type": "Opaque", "stringData": string_data}
