"""ClientCertificateAuthority: a CA for mutual TLS, the Secret (`ca.crt`) the Gateway trusts,
and the client certificates it issues."""

from __future__ import annotations

import base64
from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes
import pulumi_tls as tls

from .options import child_options

from gateway_config.policy_manifests import (
    CA_BUNDLE_KEY,
    CLIENT_ALLOWED_USES,
    CLIENT_CA_ALLOWED_USES,
    client_ca_secret_object,
    client_ca_subject,
)
from gateway_config.models import StackConfig
from gateway_config.traffic_policies import ClientCertificateAuthorityConfig


class ClientCertificateAuthority(pulumi.ComponentResource):
    """A CA whose client certificates a ClientTrafficPolicy's `clientValidation` accepts.

    `source: generate` (the default) makes the CA with pulumi-tls (ECDSA P-256 or RSA 2048,
    valid `validityHours`), declares the Opaque Secret `name` holding only its certificate
    under `ca.crt`, and issues one client certificate per entry of `clients` (common name =
    the entry, usage client_auth). `client_certificates` maps each client to its certificate
    and key, a Pulumi secret (the stack exports them as CLIENT_CERTIFICATES). With
    `protect=True` the CA cannot be replaced by accident: every client trusts it.

    `source: existingSecret` declares nothing and reads `ca.crt` from the existing Secret.
    """

    ca_certificate_pem: pulumi.Output[str]
    client_certificates: dict[str, pulumi.Output[dict[str, str]]]

    def __init__(
        self,
        name: str,
        *,
        authority: ClientCertificateAuthorityConfig,
        config: StackConfig,
        protect: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:ClientCertificateAuthority", name, None, opts)
        child = child_options(self, opts)
        self.client_certificates = {}
        if authority.source == "existingSecret":
            secret_id = f"{config.namespace}/{authority.name}"
            secret = kubernetes.core.v1.Secret.get(f"{name}-secret", secret_id, opts=child)
            self.ca_certificate_pem = pulumi.Output.unsecret(
                secret.data.apply(lambda data: base64.b64decode((data or {}).get(CA_BUNDLE_KEY, "")).decode())
            )
            self.register_outputs({"caCertificatePem": self.ca_certificate_pem})
            return
        key_settings = {"algorithm": authority.key_algorithm}
        key_settings.update({"rsa_bits": 2048} if authority.key_algorithm == "RSA" else {"ecdsa_curve": "P256"})
        ca_key = tls.PrivateKey(f"{name}-ca-key", **key_settings, opts=child_options(self, opts, protect=protect))
        ca_certificate = tls.SelfSignedCert(
            f"{name}-ca-certificate",
            private_key_pem=ca_key.private_key_pem,
            subject=client_ca_subject(authority),
            is_ca_certificate=True,
            validity_period_hours=authority.validity_hours,
            allowed_uses=CLIENT_CA_ALLOWED_USES,
            opts=child_options(self, opts, protect=protect),
        )
        manifest = client_ca_secret_object(config, authority, ca_certificate.cert_pem)
        kubernetes.core.v1.Secret(
            f"{name}-secret",
            metadata=manifest["metadata"],
            type=manifest["type"],
            string_data=manifest["stringData"],
            opts=child,
        )
        for client in authority.clients:
            client_key = tls.PrivateKey(f"{name}-{client}-key", **key_settings, opts=child)
            request = tls.CertRequest(
                f"{name}-{client}-request",
                private_key_pem=client_key.private_key_pem,
                subject={"commonName": client},
                opts=child,
            )
            certificate = tls.LocallySignedCert(
                f"{name}-{client}-certificate",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem,
                ca_cert_pem=ca_certificate.cert_pem,
                validity_period_hours=authority.validity_hours,
                allowed_uses=CLIENT_ALLOWED_USES,
                opts=child,
            )
            self.client_certificates[client] = pulumi.Output.secret(
                pulumi.Output.all(certificate.cert_pem, client_key.private_key_pem).apply(
                    lambda pair: {"certificatePem": pair[0], "privateKeyPem": pair[1]}
                )
            )
        self.ca_certificate_pem = ca_certificate.cert_pem
        self.register_outputs({"caCertificatePem": self.ca_certificate_pem, "clients": list(authority.clients)})
