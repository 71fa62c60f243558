"""What pulumi-tls would compute, for runs of the program under the SDK's mock engine.

Two flavours. `PlaceholderMaterial` gives readable, deterministic stand-ins
(`<computed at deploy time: ...>`), so `gatestack render` prints the same text on every run
and never a key. `RealMaterial` makes real keys and certificates with `cryptography`,
from the same inputs pulumi-tls receives (algorithm and size, subject, DNS names,
validity, CA flag, key usages, CA signing), so a local Envoy can serve them and a client
can verify them against the CA exactly as it would in a cluster.
"""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED_CERT = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED_CERT = "tls:index/locallySignedCert:LocallySignedCert"
TLS_TYPES = {PRIVATE_KEY, SELF_SIGNED_CERT, CERT_REQUEST, LOCALLY_SIGNED_CERT}


class CertificateMaterial(Protocol):
    def outputs(self, resource_type: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """The outputs pulumi-tls would return for this resource."""


class PlaceholderMaterial:
    """Deterministic stand-ins: what a reviewer should see, never a real key."""

    def outputs(self, resource_type: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if resource_type == PRIVATE_KEY:
            return {
                "privateKeyPem": f"<computed at deploy time: private key {name}>",
                "publicKeyPem": f"<computed at deploy time: public key {name}>",
            }
        if resource_type == CERT_REQUEST:
            return {"certRequestPem": f"<computed at deploy time: certificate request {name}>"}
        return {"certPem": f"<computed at deploy time: certificate {name}>"}


_CURVES = {"P224": ec.SECP224R1, "P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}
_NAME_FIELDS = {
    "commonName": NameOID.COMMON_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "country": NameOID.COUNTRY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
}


def _name(subject: dict[str, Any]) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(oid, str(subject[key])) for key, oid in _NAME_FIELDS.items() if subject.get(key)]
    )


def _signature_hash(key: Any) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


class RealMaterial:
    """Real keys and certificates, made the way pulumi-tls makes them."""

    def outputs(self, resource_type: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if resource_type == PRIVATE_KEY:
            return self._private_key(inputs)
        if resource_type == CERT_REQUEST:
            return self._certificate_request(inputs)
        if resource_type == SELF_SIGNED_CERT:
            key = serialization.load_pem_private_key(inputs["privateKeyPem"].encode(), password=None)
            return self._certificate(inputs, _name(inputs.get("subject") or {}), key.public_key(), key, None)
        if resource_type == LOCALLY_SIGNED_CERT:
            request = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
            ca_key = serialization.load_pem_private_key(inputs["caPrivateKeyPem"].encode(), password=None)
            ca_certificate = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
            dns_names = [
                name.value
                for extension in request.extensions
                if isinstance(extension.value, x509.SubjectAlternativeName)
                for name in extension.value
            ]
            outputs = self._certificate(
                {**inputs, "dnsNames": dns_names}, request.subject, request.public_key(), ca_key, ca_certificate
            )
            return outputs
        raise ValueError(f"not a pulumi-tls resource: {resource_type}")

    @staticmethod
    def _private_key(inputs: dict[str, Any]) -> dict[str, Any]:
        algorithm = inputs.get("algorithm", "RSA")
        if algorithm == "RSA":
            key: Any = rsa.generate_private_key(public_exponent=65537, key_size=int(inputs.get("rsaBits") or 2048))
            private_format = serialization.PrivateFormat.TraditionalOpenSSL  # "RSA PRIVATE KEY", as pulumi-tls
        elif algorithm == "ECDSA":
            key = ec.generate_private_key(_CURVES[inputs.get("ecdsaCurve") or "P224"]())
            private_format = serialization.PrivateFormat.TraditionalOpenSSL  # "EC PRIVATE KEY"
        else:
            key = ed25519.Ed25519PrivateKey.generate()
            private_format = serialization.PrivateFormat.PKCS8
        private_pem = key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"privateKeyPem": private_pem.decode(), "publicKeyPem": public_pem.decode(), "algorithm": algorithm}

    @staticmethod
    def _certificate_request(inputs: dict[str, Any]) -> dict[str, Any]:
        key = serialization.load_pem_private_key(inputs["privateKeyPem"].encode(), password=None)
        builder = x509.CertificateSigningRequestBuilder().subject_name(_name(inputs.get("subject") or {}))
        if inputs.get("dnsNames"):
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in inputs["dnsNames"]]), critical=False
            )
        request = builder.sign(key, _signature_hash(key))
        return {"certRequestPem": request.public_bytes(serialization.Encoding.PEM).decode()}

    @staticmethod
    def _certificate(inputs: dict[str, Any], subject: x509.Name, public_key: Any, signing_key: Any, issuer: Any) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        end = now + datetime.timedelta(hours=int(inputs["validityPeriodHours"]))
        uses = set(inputs.get("allowedUses") or [])
        is_ca = bool(inputs.get("isCaCertificate"))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer is not None else subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature="digital_signature" in uses,
                    content_commitment=False,
                    key_encipherment="key_encipherment" in uses,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign="cert_signing" in uses,
                    crl_sign="crl_signing" in uses,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        extended_uses = [
            oid
            for use, oid in (("server_auth", ExtendedKeyUsageOID.SERVER_AUTH), ("client_auth", ExtendedKeyUsageOID.CLIENT_AUTH))
            if use in uses
        ]
        if extended_uses:
            builder = builder.add_extension(x509.ExtendedKeyUsage(extended_uses), critical=False)
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False
            )
        if inputs.get("dnsNames"):
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in inputs["dnsNames"]]), critical=False
            )
        certificate = builder.sign(signing_key, _signature_hash(signing_key))
        return {
            "certPem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "validityStartTime": now.isoformat(),
            "validityEndTime": end.isoformat(),
        }
