"""The local cluster's own certificates: what kubeadm would make for a real control plane.

One CA signs the API server's serving certificate (for 127.0.0.1, localhost and the
`kubernetes` Service's cluster IP) and the admin client certificate (`O=system:masters`,
which RBAC lets do anything). A separate RSA key pair signs service-account tokens. All of
it lives in the cluster's state directory, private keys readable by the owner only, and is
made once: a restarted cluster keeps trusting the kubeconfig it handed out.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gatestack.cluster.layout import BRIDGE_ADDRESS

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class ClusterPki:
    """Paths of the files `ensure_pki` writes into `directory`."""

    directory: Path

    @property
    def ca_certificate(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_certificate(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_certificate(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "sa.pub"


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    is_ca: bool,
    extended_usage: list[x509.ObjectIdentifier],
    alternative_names: list[x509.GeneralName],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if extended_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_usage), critical=False)
    if alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def ensure_serving_certificate(pki: ClusterPki, name: str, dns_names: list[str]) -> tuple[Path, Path]:
    """`<name>.crt` and `<name>.key` in the PKI's folder: a serving certificate for `dns_names`
    signed by the cluster's CA (made by `ensure_pki` first), made once and reused; its paths."""
    certificate_file, key_file = pki.directory / f"{name}.crt", pki.directory / f"{name}.key"
    if certificate_file.exists() and key_file.exists():
        return certificate_file, key_file
    ca = x509.load_pem_x509_certificate(pki.ca_certificate.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]),
        key.public_key(),
        ca.subject,
        ca_key,
        is_ca=False,
        extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        alternative_names=[x509.DNSName(dns_name) for dns_name in dns_names],
    )
    _write_private(key_file, _key_pem(key))
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate_file, key_file


def ensure_pki(directory: Path, kubernetes_service_ip: str) -> ClusterPki:
    """Make the cluster's CA, serving, admin and service-account keys once; reuse them after."""
    pki = ClusterPki(directory)
    if pki.service_account_public_key.exists():
        return pki
    directory.mkdir(parents=True, exist_ok=True)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatestack-local-cluster-ca")])
    ca = _certificate(ca_name, ca_key.public_key(), ca_name, ca_key, is_ca=True, extended_usage=[], alternative_names=[])
    pki.ca_certificate.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.ca_key, _key_pem(ca_key))

    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving = _certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        serving_key.public_key(),
        ca_name,
        ca_key,
        is_ca=False,
        extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        alternative_names=[
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address(kubernetes_service_ip)),
            # The pods' bridge: where a pod (an Endpoint Picker) reaches the API server.
            x509.IPAddress(ipaddress.ip_address(BRIDGE_ADDRESS)),
        ],
    )
    pki.serving_certificate.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.serving_key, _key_pem(serving_key))

    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _certificate(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "gatestack-admin"),
            ]
        ),
        admin_key.public_key(),
        ca_name,
        ca_key,
        is_ca=False,
        extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
        alternative_names=[],
    )
    pki.admin_certificate.write_bytes(admin.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.admin_key, _key_pem(admin_key))

    # Service-account tokens are signed with RSA: every Kubernetes component accepts it.
    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(pki.service_account_key, _key_pem(service_account_key))
    pki.service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
