"""ClientCertificateAuthority: a CA for mutual TLS, the Secret (`ca.crt`) the Gateway trusts,
and the client certificates it issues."""

from __future__ import annotations

import base64
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as kubernetes
import pulumi_tls as tls

from .options import child_options
from .validation import check_rules, stack_view, validate_model, validate_value, when_known

from gateway_config.policy_manifests import (
    CA_BUNDLE_KEY,
    CLIENT_ALLOWED_USES,
    CLIENT_CA_ALLOWED_USES,
    client_ca_secret_object,
    client_ca_subject,
)
from gateway_config.fields import DnsLabel
from gateway_config.traffic_policies import ClientCertificateAuthorityConfig

# The model's keys -> this component's keyword arguments, for messages.
ARGUMENTS = {"commonName": "common_name", "keyAlgorithm": "key_algorithm", "validityHours": "validity_hours"}


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
    settings: ClientCertificateAuthorityConfig
    namespace: pulumi.Input[str]

    def __init__(
        self,
        name: str,
        *,
        common_name: str,
        organization: Optional[str] = None,
        clients: Sequence[str] = (),
        source: str = "generate",
        key_algorithm: str = "ECDSA",
        validity_hours: int = 8760,
        namespace: pulumi.Input[str] = "default",
        protect: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `name`: of the component and of the Secret (`ca.crt`) a ClientTrafficPolicy trusts.
        - `common_name`, `organization` [none]: the CA's subject.
        - `clients` [()]: one client certificate per entry (its common name).
        - `source` ["generate"], or "existingSecret" (read `ca.crt` from the Secret `name`).
        - `key_algorithm` ["ECDSA" P-256] or "RSA" (2048); `validity_hours` [8760].
        - `namespace` ["default"]: an Input, e.g. a Namespace's `metadata.name`.
        - `protect` [False]: protect the CA key and certificate.
        """
        self.settings = authority = validate_model(
            ClientCertificateAuthorityConfig,
            {
                "name": name, "commonName": common_name, "organization": organization, "clients": list(clients),
                "source": source, "keyAlgorithm": key_algorithm, "validityHours": validity_hours,
            },
            component="ClientCertificateAuthority",
            name=name,
            arguments=ARGUMENTS,
        )
        check_rules(
            stack_view("default", client_certificate_authorities=[authority]),
            "clientCertificateAuthorities.0",
            component="ClientCertificateAuthority",
            name=name,
            arguments=ARGUMENTS,
        )
        checked_namespace = when_known(
            {"namespace": namespace},
            lambda values: validate_value(DnsLabel, values["namespace"], component="ClientCertificateAuthority", name=name, argument="namespace"),
        )
        super().__init__("api-gateway:components:ClientCertificateAuthority", name, None, opts)
        self.namespace = namespace
        child = child_options(self, opts)
        self.client_certificates = {}
        if authority.source == "existingSecret":
            secret_id = pulumi.Output.concat(checked_namespace, "/", authority.name)
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
        manifest = client_ca_secret_object(stack_view("default"), authority, ca_certificate.cert_pem)
        kubernetes.core.v1.Secret(
            f"{name}-secret",
            metadata={**manifest["metadata"], "namespace": checked_namespace},
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
