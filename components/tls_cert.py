"""TlsCert: a self-signed CA, a server certificate it signs, and the TLS Secret holding it."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes
import pulumi_tls as tls

from components.options import child_options, custom_resource

from gateway_config.manifests import reference_grant_object
from gateway_config.models import CertificateConfig, DistinguishedName, StackConfig

# What each certificate may be used for (x509 key usages, as pulumi-tls names them).
CA_USES = ["cert_signing", "crl_signing", "digital_signature"]
SERVER_USES = ["digital_signature", "key_encipherment", "server_auth"]


def _subject(name: DistinguishedName) -> dict[str, str]:
    fields = {
        "commonName": name.common_name,
        "organization": name.organization,
        "organizationalUnit": name.organizational_unit,
        "country": name.country,
        "province": name.province,
        "locality": name.locality,
    }
    return {key: value for key, value in fields.items() if value is not None}


class TlsCert(pulumi.ComponentResource):
    """The seed's `openssl` steps, declared with pulumi-tls.

    A CA key and self-signed CA certificate (`ca`), a server key and a certificate for
    `subject` / `dnsNames` signed by that CA, stored as a `kubernetes.io/tls` Secret
    (`tls.crt`, `tls.key`). Defaults: RSA 2048, valid 8760 h (365 days), renewed by
    `pulumi up` once fewer than 720 h remain (`earlyRenewalHours`). Private keys stay Pulumi
    secrets end to end. When the Secret lives outside the Gateway's namespace a
    ReferenceGrant lets the Gateway read it. With `protect=True` the CA cannot be deleted
    (or replaced) by accident, since every client trusts it.
    """

    ca_certificate_pem: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]
    secret: kubernetes.core.v1.Secret
    reference_grant: Optional[kubernetes.apiextensions.CustomResource]

    def __init__(
        self,
        name: str,
        *,
        certificate: CertificateConfig,
        config: StackConfig,
        protect: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("api-gateway:components:TlsCert", name, None, opts)
        child = child_options(self, opts)
        protected = child_options(self, opts, protect=protect)
        key_settings = {
            "algorithm": certificate.key_algorithm,
            "rsa_bits": certificate.rsa_bits if certificate.key_algorithm == "RSA" else None,
            "ecdsa_curve": certificate.ecdsa_curve if certificate.key_algorithm == "ECDSA" else None,
        }

        ca_key = tls.PrivateKey(f"{name}-ca-key", **key_settings, opts=protected)
        ca_certificate = tls.SelfSignedCert(
            f"{name}-ca-certificate",
            private_key_pem=ca_key.private_key_pem,
            subject=_subject(certificate.ca),
            is_ca_certificate=True,
            validity_period_hours=certificate.ca_validity_hours,
            early_renewal_hours=certificate.early_renewal_hours,
            allowed_uses=CA_USES,
            opts=protected,
        )
        server_key = tls.PrivateKey(f"{name}-key", **key_settings, opts=child)
        request = tls.CertRequest(
            f"{name}-certificate-request",
            private_key_pem=server_key.private_key_pem,
            subject=_subject(certificate.subject),
            dns_names=certificate.effective_dns_names,
            opts=child,
        )
        server_certificate = tls.LocallySignedCert(
            f"{name}-certificate",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca_certificate.cert_pem,
            validity_period_hours=certificate.validity_hours,
            early_renewal_hours=certificate.early_renewal_hours,
            allowed_uses=SERVER_USES,
            opts=child,
        )
        self.secret = kubernetes.core.v1.Secret(
            f"{name}-secret",
            metadata={"name": certificate.secret_name, "namespace": config.certificate_namespace(certificate)},
            type="kubernetes.io/tls",
            string_data={
                "tls.crt": server_certificate.cert_pem,
                # pulumi-tls already marks the key secret; saying so here keeps it secret
                # even if that ever changed upstream.
                "tls.key": pulumi.Output.secret(server_key.private_key_pem),
            },
            opts=child,
        )
        grant = reference_grant_object(config, certificate)
        self.reference_grant = None
        if grant is not None:
            self.reference_grant = custom_resource(f"{name}-reference-grant", grant, child)
        self.ca_certificate_pem = ca_certificate.cert_pem
        self.certificate_pem = server_certificate.cert_pem
        self.register_outputs({"caCertificatePem": self.ca_certificate_pem, "secretName": certificate.secret_name})
