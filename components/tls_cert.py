"""TlsCert: a server certificate, the CA that signed it, and the TLS Secret holding them."""

from __future__ import annotations

import base64
from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes
import pulumi_tls as tls

from .options import child_options, custom_resource

from gateway_config.manifests import (
    CA_ALLOWED_USES,
    SERVER_ALLOWED_USES,
    certificate_subject,
    private_key_settings,
    reference_grant_object,
)
from gateway_config.models import CertificateConfig, StackConfig


class TlsCert(pulumi.ComponentResource):
    """A server certificate for `subject` / `dnsNames` and the CA `ca` that signed it, in a
    `kubernetes.io/tls` Secret, from one of two sources.

    `source: generate` (the default) declares the seed's `openssl` steps with pulumi-tls: a
    CA key and self-signed CA certificate, a server key and a certificate signed by that
    CA, stored in a Secret it declares (`tls.crt`, `tls.key`). Defaults: RSA 2048, valid
    8760 h (365 days), renewed by `pulumi up` once fewer than 720 h remain
    (`earlyRenewalHours`). Private keys stay Pulumi secrets end to end. With `protect=True`
    the CA cannot be deleted (or replaced) by accident, since every client trusts it.

    `source: existingSecret` declares no pulumi-tls resource and no Secret: it reads the
    Secret `secretName`, which must already exist in the certificate's namespace (issued by
    cert-manager or a security team) and hold `tls.crt`, `tls.key` and `ca.crt`. The
    certificates are taken from it; the private key is left where it is.

    Either way, when the Secret lives outside the Gateway's namespace a ReferenceGrant lets
    the Gateway read it.
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
        if certificate.source == "existingSecret":
            self._read_existing_secret(name, certificate, config, child)
        else:
            self._generate(name, certificate, config, child, child_options(self, opts, protect=protect))
        grant = reference_grant_object(config, certificate)
        self.reference_grant = None
        if grant is not None:
            self.reference_grant = custom_resource(f"{name}-reference-grant", grant, child)
        self.register_outputs({"caCertificatePem": self.ca_certificate_pem, "secretName": certificate.secret_name})

    def _generate(
        self,
        name: str,
        certificate: CertificateConfig,
        config: StackConfig,
        child: pulumi.ResourceOptions,
        protected: pulumi.ResourceOptions,
    ) -> None:
        key_settings = private_key_settings(certificate)
        key_arguments = {
            "algorithm": key_settings["algorithm"],
            "rsa_bits": key_settings.get("rsaBits"),
            "ecdsa_curve": key_settings.get("ecdsaCurve"),
        }
        ca_key = tls.PrivateKey(f"{name}-ca-key", **key_arguments, opts=protected)
        ca_certificate = tls.SelfSignedCert(
            f"{name}-ca-certificate",
            private_key_pem=ca_key.private_key_pem,
            subject=certificate_subject(certificate.ca),
            is_ca_certificate=True,
            validity_period_hours=certificate.ca_validity_hours,
            early_renewal_hours=certificate.early_renewal_hours,
            allowed_uses=CA_ALLOWED_USES,
            opts=protected,
        )
        server_key = tls.PrivateKey(f"{name}-key", **key_arguments, opts=child)
        request = tls.CertRequest(
            f"{name}-certificate-request",
            private_key_pem=server_key.private_key_pem,
            subject=certificate_subject(certificate.subject),
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
            allowed_uses=SERVER_ALLOWED_USES,
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
        self.ca_certificate_pem = ca_certificate.cert_pem
        self.certificate_pem = server_certificate.cert_pem

    def _read_existing_secret(
        self, name: str, certificate: CertificateConfig, config: StackConfig, child: pulumi.ResourceOptions
    ) -> None:
        secret_id = f"{config.certificate_namespace(certificate)}/{certificate.secret_name}"
        pulumi.log.info(
            f"certificate {name}: read from the existing Secret {secret_id} (source: existingSecret), not generated",
            resource=self,
        )
        self.secret = kubernetes.core.v1.Secret.get(f"{name}-secret", secret_id, opts=child)
        self.ca_certificate_pem = _certificate_from(self.secret, "ca.crt", name, secret_id)
        self.certificate_pem = _certificate_from(self.secret, "tls.crt", name, secret_id)


def _certificate_from(secret: kubernetes.core.v1.Secret, key: str, name: str, secret_id: str) -> pulumi.Output[str]:
    """The PEM certificate under `key` of a live Secret's `data`, decoded.

    The provider marks all of `data` secret, because `tls.key` is in it. A certificate is
    public (clients need the CA to trust the gateway), so it is unwrapped; the key is not read.
    """

    def decode(data: Optional[dict[str, str]]) -> str:
        value = (data or {}).get(key)
        if not value:
            raise pulumi.RunError(
                f"certificate {name}: the Secret {secret_id} has no {key}; with source: existingSecret it must "
                "hold tls.crt, tls.key and ca.crt (the CA that signed the certificate)"
            )
        return base64.b64decode(value).decode()

    return pulumi.Output.unsecret(secret.data.apply(decode))
