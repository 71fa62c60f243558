"""Support for the data-plane tests: the seed's objects and certificates, finding objects, real HTTP(S) requests.

The certificate pair follows the seed guide's openssl commands: a self-signed CA
``CN=example.com, O=example Inc.`` (RSA 2048, 365 days) signs a server certificate for
``CN=www.example.com, O=example organization`` (no subjectAltName, as ``openssl x509 -req``
without extensions produces), stored in the ``kubernetes.io/tls`` Secret ``example-cert``.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

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


def find_object(objects: list[dict], kind: str, name: str) -> dict:
    """The object of ``kind`` named ``name`` (tests edit it in place)."""
    return next(manifest for manifest in objects if manifest["kind"] == kind and manifest["metadata"]["name"] == name)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def read_response(connection: http.client.HTTPConnection, path: str, host: str) -> Response:
    connection.request("GET", path, headers={"Host": host, "User-Agent": "curl/8.9.1", "Accept": "*/*"})
    response = connection.getresponse()
    return Response(response.status, {name.lower(): value for name, value in response.getheaders()}, response.read())


def http_get(address: tuple[str, int], path: str, host: str) -> Response:
    """``curl -H "Host: <host>" http://<address><path>`` on a new connection."""
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        return read_response(connection, path, host)
    finally:
        connection.close()


def https_get(address: tuple[str, int], path: str, host: str, ca_path: Path) -> tuple[Response, dict]:
    """``curl --resolve <host>:<port>:<address> --cacert <ca> https://<host><path>``.

    The certificate is verified against the CA and the name ``host``, sent as SNI. Returns the
    response and the verified peer certificate (as ``ssl.getpeercert()`` describes it).
    """
    context = ssl.create_default_context(cafile=str(ca_path))
    raw_socket = socket.create_connection(address, timeout=10)
    tls_socket = context.wrap_socket(raw_socket, server_hostname=host)
    connection = http.client.HTTPConnection(*address, timeout=10)
    connection.sock = tls_socket  # already connected and verified; http.client uses it as is
    try:
        return read_response(connection, path, host), tls_socket.getpeercert()
    finally:
        connection.close()
