"""TlsCert: a server certificate, the CA that signed it, and the TLS Secret holding them."""

from __future__ import annotations

import base64
from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as kubernetes
import pulumi_tls as tls

from .envoy_gateway_controller import EnvoyGatewayController
from .options import child_options, controller_ready, custom_resource
from .validation import check_rules, gateway_view, has_outputs, part, stack_view, validate_model, validate_value, when_known

from gateway_config.manifests import (
    CA_ALLOWED_USES,
    SERVER_ALLOWED_USES,
    certificate_subject,
    private_key_settings,
    REFERENCE_GRANT_API_VERSION,
    reference_grant_object,
)
from gateway_config.fields import DnsLabel
from gateway_config.models import CertificateConfig, DistinguishedName

# The model's keys -> this component's keyword arguments, for messages.
ARGUMENTS = {
    "secretName": "secret_name", "dnsNames": "dns_names", "keyAlgorithm": "key_algorithm", "rsaBits": "rsa_bits",
    "ecdsaCurve": "ecdsa_curve", "validityHours": "validity_hours", "caValidityHours": "ca_validity_hours",
    "earlyRenewalHours": "early_renewal_hours",
}


class TlsCert(pulumi.ComponentResource):
    """A server certificate for `subject` / `dns_names` and the CA `ca` that signed it, in a
    `kubernetes.io/tls` Secret, from one of two sources.

    `source="generate"` (the default) declares the seed's `openssl` steps with pulumi-tls: a
    CA key and self-signed CA certificate, a server key and a certificate signed by that
    CA, stored in a Secret it declares (`tls.crt`, `tls.key`). Private keys stay Pulumi
    secrets end to end. With `protect=True` the CA cannot be deleted (or replaced) by
    accident, since every client trusts it.

    `source="existingSecret"` declares no pulumi-tls resource and no Secret: it reads the
    Secret `secret_name`, which must already exist in `namespace` (issued by cert-manager or a
    security team) and hold `tls.crt`, `tls.key` and `ca.crt`. The certificates are taken
    from it; the private key is left where it is.

    Either way, when the Gateway serving it lives in another namespace (`gateway_namespace`)
    a ReferenceGrant lets that Gateway read the Secret. A Gateway given this component in
    `certificates` waits for it.
    """

    ca_certificate_pem: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]
    secret: kubernetes.core.v1.Secret
    reference_grant: Optional[kubernetes.apiextensions.CustomResource]
    secret_name: str
    namespace: pulumi.Input[str]
    settings: CertificateConfig

    def __init__(
        self,
        name: str,
        *,
        ca: Union[DistinguishedName, Mapping[str, Any]],
        subject: Union[DistinguishedName, Mapping[str, Any]],
        dns_names: pulumi.Input[Sequence[pulumi.Input[str]]] = (),
        secret_name: Optional[str] = None,
        namespace: pulumi.Input[str] = "default",
        source: str = "generate",
        key_algorithm: str = "RSA",
        rsa_bits: int = 2048,
        ecdsa_curve: str = "P256",
        validity_hours: int = 8760,
        ca_validity_hours: int = 8760,
        early_renewal_hours: int = 720,
        gateway_name: str = "eg",
        gateway_namespace: Optional[pulumi.Input[str]] = None,
        controller: Optional[EnvoyGatewayController] = None,
        protect: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """Arguments (defaults in brackets):

        - `ca`, `subject`: distinguished names, `{"commonName", "organization"?, ...}`.
        - `dns_names` [the subject's common name]: an Input; its hostnames may be Outputs.
        - `secret_name` [`name`]: of the TLS Secret; `namespace` ["default"]: its namespace (an Input).
        - `source` ["generate"] or "existingSecret".
        - `key_algorithm` ["RSA"] ("ECDSA", "ED25519"), `rsa_bits` [2048], `ecdsa_curve` ["P256"].
        - `validity_hours`, `ca_validity_hours` [8760, 365 days]; `early_renewal_hours` [720]:
          `pulumi up` renews once fewer remain.
        - `gateway_name` ["eg"], `gateway_namespace` [None: the Gateway is in `namespace`]:
          the Gateway serving it, when in another namespace; a ReferenceGrant
          `<gateway_name>-<secret_name>` then lets it read the Secret.
        - `controller` [None]: the EnvoyGatewayController whose CRDs the ReferenceGrant waits for.
        - `protect` [False]: protect the CA key and certificate.
        """
        secret_name = secret_name or name
        arguments = {
            "secretName": secret_name,
            "source": source,
            "ca": ca,
            "subject": subject,
            "keyAlgorithm": key_algorithm,
            "rsaBits": rsa_bits,
            "ecdsaCurve": ecdsa_curve,
            "validityHours": validity_hours,
            "caValidityHours": ca_validity_hours,
            "earlyRenewalHours": early_renewal_hours,
        }

        def validate(values: dict[str, Any]) -> CertificateConfig:
            settings = validate_model(CertificateConfig, values["settings"], component="TlsCert", name=name, arguments=ARGUMENTS)
            check_rules(stack_view("default", certificates=[settings]), "certificates.0", component="TlsCert", name=name, arguments=ARGUMENTS)
            for argument in ("namespace", "gateway_namespace"):
                if values[argument] is not None:
                    validate_value(DnsLabel, values[argument], component="TlsCert", name=name, argument=argument)
            return settings

        # Everything but the DNS names and namespaces is needed to declare the resources: known now.
        known = {**arguments, "dnsNames": [] if has_outputs(dns_names) else list(dns_names)}
        self.settings = validate({"settings": known, "namespace": None, "gateway_namespace": None})
        checked = when_known(
            {"settings": {**arguments, "dnsNames": dns_names if has_outputs(dns_names) else list(dns_names)}, "namespace": namespace, "gateway_namespace": gateway_namespace},
            validate,
        )
        super().__init__("api-gateway:components:TlsCert", name, None, opts)
        self.secret_name = secret_name
        self.namespace = namespace
        child = child_options(self, opts)
        if self.settings.source == "existingSecret":
            self._read_existing_secret(name, secret_name, checked, child)
        else:
            self._generate(name, checked, child, child_options(self, opts, protect=protect))
        self.reference_grant = None
        if gateway_namespace is not None and gateway_namespace != namespace:
            view = {"namespace": namespace, "gateway_namespace": gateway_namespace, "checked": checked}
            grant = when_known(view, lambda values: _reference_grant(gateway_name, values))
            self.reference_grant = custom_resource(
                f"{name}-reference-grant",
                grant,
                child_options(self, opts, depends_on=controller_ready(controller)),
                api_version=REFERENCE_GRANT_API_VERSION,
                kind="ReferenceGrant",
            )
        self.register_outputs({"caCertificatePem": self.ca_certificate_pem, "secretName": secret_name})

    def _generate(
        self,
        name: str,
        checked: Union[CertificateConfig, pulumi.Output[CertificateConfig]],
        child: pulumi.ResourceOptions,
        protected: pulumi.ResourceOptions,
    ) -> None:
        certificate = self.settings
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
            dns_names=part(checked, lambda settings: settings.effective_dns_names),
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
            metadata={"name": certificate.secret_name, "namespace": self.namespace},
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
        self, name: str, secret_name: str, checked: Any, child: pulumi.ResourceOptions
    ) -> None:
        # Read only once the namespace is known to be sound.
        secret_id = pulumi.Output.all(checked, self.namespace).apply(lambda pair: f"{pair[1]}/{secret_name}")

        def log(identifier: str) -> str:
            pulumi.log.info(
                f"certificate {name}: read from the existing Secret {identifier} (source: existingSecret), not generated",
                resource=self,
            )
            return identifier

        secret_id = secret_id.apply(log)
        self.secret = kubernetes.core.v1.Secret.get(f"{name}-secret", secret_id, opts=child)
        self.ca_certificate_pem = _certificate_from(self.secret, "ca.crt", name, secret_id)
        self.certificate_pem = _certificate_from(self.secret, "tls.crt", name, secret_id)


def _reference_grant(gateway_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The ReferenceGrant letting Gateways of `gateway_namespace` read the Secret."""
    certificate = values["checked"].model_copy(update={"namespace": values["namespace"]})
    view = stack_view(values["gateway_namespace"], gateway=gateway_view(gateway_name))
    return reference_grant_object(view, certificate)


def _certificate_from(secret: kubernetes.core.v1.Secret, key: str, name: str, secret_id: pulumi.Output[str]) -> pulumi.Output[str]:
    """The PEM certificate under `key` of a live Secret's `data`, decoded.

    The provider marks all of `data` secret, because `tls.key` is in it. A certificate is
    public (clients need the CA to trust the gateway), so it is unwrapped; the key is not read.
    """

    def decode(pair: list[Any]) -> str:
        data, secret_id = pair
        value = (data or {}).get(key)
        if not value:
            raise pulumi.RunError(
                f"certificate {name}: the Secret {secret_id} has no {key}; with source: existingSecret it must "
                "hold tls.crt, tls.key and ca.crt (the CA that signed the certificate)"
            )
        return base64.b64decode(value).decode()

    return pulumi.Output.unsecret(pulumi.Output.all(secret.data, secret_id).apply(decode))
