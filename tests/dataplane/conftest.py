"""Fixtures for the data-plane proofs: the seed's objects with a freshly generated certificate.

The certificate pair follows the seed guide's openssl commands: a self-signed CA
``CN=example.com, O=example Inc.`` (RSA 2048, 365 days) signs a server certificate for
``CN=www.example.com, O=example organization`` (no subjectAltName, as ``openssl x509 -req``
without extensions produces), stored in the ``kubernetes.io/tls`` Secret ``example-cert``.
"""

from __future__ import annotations

import base64
import copy
import datetime
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# So `gwctl` and this folder's `helpers` import however pytest is started (any import mode).
for import_root in (REPOSITORY_ROOT, Path(__file__).resolve().parent):
    if str(import_root) not in sys.path:
        sys.path.insert(0, str(import_root))

SEED_OBJECTS_PATH = Path(__file__).parent / "fixtures" / "seed-objects.yaml"
CERTIFICATE_LIFETIME = datetime.timedelta(days=365)


@dataclass(frozen=True)
class SeedCertificates:
    """PEM bytes of the seed's CA certificate and of the server certificate and key it signed."""

    ca_certificate: bytes
    server_certificate: bytes
    server_key: bytes
    ca_path: Path


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def generate_seed_certificates(directory: Path) -> SeedCertificates:
    """The seed's CA and server certificate, as its three openssl commands make them."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = new_rsa_key()
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "example Inc."),
        x509.NameAttribute(NameOID.COMMON_NAME, "example.com"),
    ])
    ca_certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = new_rsa_key()
    server_certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "example organization"),
        ]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(1)  # the guide uses -set_serial 0; RFC 5280 wants a positive serial number
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_certificate.public_bytes(serialization.Encoding.PEM)
    ca_path = directory / "example.com.crt"
    ca_path.write_bytes(ca_pem)
    return SeedCertificates(
        ca_certificate=ca_pem,
        server_certificate=server_certificate.public_bytes(serialization.Encoding.PEM),
        server_key=pem_key(server_key),
        ca_path=ca_path,
    )


def load_seed_objects(certificates: SeedCertificates) -> list[dict]:
    """The fixture file's objects with the Secret ``example-cert`` holding the generated pair (base64 ``data``)."""
    objects = [document for document in yaml.safe_load_all(SEED_OBJECTS_PATH.read_text()) if document]
    for manifest in objects:
        if manifest["kind"] == "Secret" and manifest["metadata"]["name"] == "example-cert":
            manifest["data"] = {
                "tls.crt": base64.b64encode(certificates.server_certificate).decode(),
                "tls.key": base64.b64encode(certificates.server_key).decode(),
            }
    return objects


@pytest.fixture(scope="session")
def seed_certificates(tmp_path_factory: pytest.TempPathFactory) -> SeedCertificates:
    return generate_seed_certificates(tmp_path_factory.mktemp("seed-certificates"))


@pytest.fixture
def seed_objects(seed_certificates: SeedCertificates) -> list[dict]:
    """A fresh copy per test, so a test may break one object without affecting others."""
    return copy.deepcopy(load_seed_objects(seed_certificates))
