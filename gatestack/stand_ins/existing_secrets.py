"""Certificates supplied as existing Secrets (`source: existingSecret`) instead of generated.

Where a stack cannot run pulumi-tls (no provider plugin, as on a machine that cannot build
it), each certificate is made here instead, as a `kubernetes.io/tls` Secret to apply before
`pulumi up`, and the stack is told to read it. The Secret holds what TlsCert would have
generated: `RealMaterial` is handed the same inputs TlsCert hands pulumi-tls (key algorithm
and size or curve, subjects, DNS names, validities, CA flag, allowed uses, CA signing),
wired the same way (CA key -> CA certificate; server key -> request -> certificate signed
by the CA), plus `ca.crt` for the CA, as cert-manager writes it.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from gateway_config.loader import PROJECT_NAME
from gateway_config.manifests import (
    CA_ALLOWED_USES,
    SERVER_ALLOWED_USES,
    certificate_subject,
    private_key_settings,
)
from gateway_config.models import CertificateConfig, StackConfig
from gateway_config.policy_manifests import CLIENT_ALLOWED_USES, CLIENT_CA_ALLOWED_USES, client_ca_secret_object, client_ca_subject
from gatestack.stand_ins.pulumi_tls_material import (
    CERT_REQUEST,
    LOCALLY_SIGNED_CERT,
    PRIVATE_KEY,
    SELF_SIGNED_CERT,
    RealMaterial,
)

TLS_SECRET_TYPE = "kubernetes.io/tls"
# What a Secret read for a certificate holds: the certificate, its key and the CA that signed it.
TLS_SECRET_KEYS = ("tls.crt", "tls.key", "ca.crt")
# The stack file's keys of the lists whose entries have a `source`, and the same keys as the
# program sees them: server certificates and mutual-TLS client CAs.
_CERTIFICATES_KEYS = (
    f"{PROJECT_NAME}:certificates",
    "certificates",
    f"{PROJECT_NAME}:clientCertificateAuthorities",
    "clientCertificateAuthorities",
)


def certificate_files(certificate: CertificateConfig) -> dict[str, str]:
    """PEM `tls.crt`, `tls.key` and `ca.crt` for `certificate`, made as TlsCert's pulumi-tls
    resources make them (names as TlsCert gives them, for the messages of `RealMaterial`)."""
    material = RealMaterial()
    name = certificate.secret_name
    key_settings = private_key_settings(certificate)
    ca_key = material.outputs(PRIVATE_KEY, f"{name}-ca-key", key_settings)
    ca_certificate = material.outputs(
        SELF_SIGNED_CERT,
        f"{name}-ca-certificate",
        {
            "privateKeyPem": ca_key["privateKeyPem"],
            "subject": certificate_subject(certificate.ca),
            "isCaCertificate": True,
            "validityPeriodHours": certificate.ca_validity_hours,
            "earlyRenewalHours": certificate.early_renewal_hours,
            "allowedUses": CA_ALLOWED_USES,
        },
    )
    server_key = material.outputs(PRIVATE_KEY, f"{name}-key", key_settings)
    request = material.outputs(
        CERT_REQUEST,
        f"{name}-certificate-request",
        {
            "privateKeyPem": server_key["privateKeyPem"],
            "subject": certificate_subject(certificate.subject),
            "dnsNames": certificate.effective_dns_names,
        },
    )
    server_certificate = material.outputs(
        LOCALLY_SIGNED_CERT,
        f"{name}-certificate",
        {
            "certRequestPem": request["certRequestPem"],
            "caPrivateKeyPem": ca_key["privateKeyPem"],
            "caCertPem": ca_certificate["certPem"],
            "validityPeriodHours": certificate.validity_hours,
            "earlyRenewalHours": certificate.early_renewal_hours,
            "allowedUses": SERVER_ALLOWED_USES,
        },
    )
    return {
        "tls.crt": server_certificate["certPem"],
        "tls.key": server_key["privateKeyPem"],
        "ca.crt": ca_certificate["certPem"],
    }


def certificate_secret(config: StackConfig, certificate: CertificateConfig) -> dict[str, Any]:
    """The `kubernetes.io/tls` Secret `secretName` in the certificate's namespace, with new
    real material, values base64 in `data` as the API server stores them."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": certificate.secret_name, "namespace": config.certificate_namespace(certificate)},
        "type": TLS_SECRET_TYPE,
        "data": {key: base64.b64encode(pem.encode()).decode() for key, pem in certificate_files(certificate).items()},
    }


def existing_certificate_secrets(config: StackConfig) -> list[dict[str, Any]]:
    """`certificate_secret` for every certificate of `config`, whatever its `source`: what to
    apply before `pulumi up` runs the stack with `with_certificates_from_existing_secrets`.
    Every call makes new keys."""
    return [certificate_secret(config, certificate) for certificate in config.certificates]


def with_certificates_from_existing_secrets(raw_config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a raw stack config in which every certificate and every client CA has
    `source: existingSecret`.

    `raw_config` is a stack file's `config:` mapping (key `api-gateway:certificates`) or
    the program's view of it (key `certificates`). Anything that is not a list of mappings
    where the certificates belong is left as it is, so a malformed config still reaches
    the program's validation and its usual message.
    """
    result = copy.deepcopy(raw_config)
    if not isinstance(result, dict):
        return result
    for key in _CERTIFICATES_KEYS:
        certificates = result.get(key)
        if isinstance(certificates, list):
            for certificate in certificates:
                if isinstance(certificate, dict):
                    certificate["source"] = "existingSecret"
                    # A client CA read from a Secret issues no certificates itself: whoever
                    # made the Secret holds its key (see `client_authority_material`).
                    if key.endswith("clientCertificateAuthorities"):
                        certificate.pop("clients", None)
    return result


def client_authority_material(config: StackConfig) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, str]]]]:
    """For every client CA of `config`: the Secret holding its `ca.crt` (what
    ClientCertificateAuthority declares with `source: generate`), and a certificate for each
    of its `clients`, signed by it, as the program's CLIENT_CERTIFICATES output shapes them
    (`{ca: {client: {certificatePem, privateKeyPem}}}`). Made as that component's pulumi-tls
    resources make them; every call makes new keys."""

    material = RealMaterial()
    secrets: list[dict[str, Any]] = []
    issued: dict[str, dict[str, dict[str, str]]] = {}
    for authority in config.client_certificate_authorities:
        key_settings = {"algorithm": authority.key_algorithm}
        key_settings.update({"rsaBits": 2048} if authority.key_algorithm == "RSA" else {"ecdsaCurve": "P256"})
        ca_key = material.outputs(PRIVATE_KEY, f"{authority.name}-ca-key", key_settings)
        ca_certificate = material.outputs(
            SELF_SIGNED_CERT,
            f"{authority.name}-ca-certificate",
            {
                "privateKeyPem": ca_key["privateKeyPem"],
                "subject": client_ca_subject(authority),
                "isCaCertificate": True,
                "validityPeriodHours": authority.validity_hours,
                "allowedUses": CLIENT_CA_ALLOWED_USES,
            },
        )
        manifest = client_ca_secret_object(config, authority, ca_certificate["certPem"])
        secrets.append(
            {
                **{key: value for key, value in manifest.items() if key != "stringData"},
                "data": {key: base64.b64encode(value.encode()).decode() for key, value in manifest["stringData"].items()},
            }
        )
        issued[authority.name] = {}
        for client in authority.clients:
            client_key = material.outputs(PRIVATE_KEY, f"{authority.name}-{client}-key", key_settings)
            request = material.outputs(
                CERT_REQUEST,
                f"{authority.name}-{client}-request",
                {"privateKeyPem": client_key["privateKeyPem"], "subject": {"commonName": client}},
            )
            certificate = material.outputs(
                LOCALLY_SIGNED_CERT,
                f"{authority.name}-{client}-certificate",
                {
                    "certRequestPem": request["certRequestPem"],
                    "caPrivateKeyPem": ca_key["privateKeyPem"],
                    "caCertPem": ca_certificate["certPem"],
                    "validityPeriodHours": authority.validity_hours,
                    "allowedUses": CLIENT_ALLOWED_USES,
                },
            )
            issued[authority.name][client] = {
                "certificatePem": certificate["certPem"],
                "privateKeyPem": client_key["privateKeyPem"],
            }
    return secrets, issued
