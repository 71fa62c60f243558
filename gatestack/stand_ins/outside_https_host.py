"""A local HTTPS stand-in for a host outside this machine, for local proofs only.

A gateway may fetch from the internet at run time (a JWT provider's JWKS by URL). A local run
must never send traffic off this machine, so the proof serves the documents itself: an HTTPS
server on a loopback address, with a certificate for the real host name signed by a CA made
for the occasion, and the bootstrap's cluster for that host redirected to it, trusting that CA
(`envoy_bootstrap.redirect_to_stand_ins`).
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gatestack.stand_ins.echo_server import require_loopback


def stand_in_certificate(hostname: str) -> tuple[str, str, str]:
    """(CA PEM, certificate PEM for `hostname` signed by it, its key PEM), made now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatestack stand-in CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False).sign(ca_key, hashes.SHA256())
    )
    pem = lambda item: item.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return pem(ca), pem(certificate), key_pem


class _Handler(BaseHTTPRequestHandler):
    server: "_StandInServer"

    def log_message(self, format: str, *arguments: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.server.documents.get(self.path.split("?", 1)[0])
        self.send_response(200 if body is not None else 404)
        payload = (body or "not found").encode()
        self.send_header("Content-Type", "application/json" if body is not None else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with self.server.lock:
            self.server.served += 1


class _StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    documents: dict[str, str]


@dataclass
class HttpsStandIn:
    """Serves `documents` (path -> JSON text) over HTTPS for `hostname` on a loopback address."""

    hostname: str
    address: str
    documents: dict[str, str]
    ca_pem: str = field(default="", init=False)
    port: int = field(default=0, init=False)
    _server: _StandInServer | None = field(default=None, init=False, repr=False)

    def start(self) -> "HttpsStandIn":
        require_loopback(self.address)
        self.ca_pem, certificate_pem, key_pem = stand_in_certificate(self.hostname)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="gatestack-stand-in-") as directory:
            chain = Path(directory) / "chain.pem"
            chain.write_text(certificate_pem + key_pem)
            context.load_cert_chain(chain)
        server = _StandInServer((self.address, 0), _Handler, bind_and_activate=False)
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.documents = dict(self.documents)
        server.lock = threading.Lock()
        server.served = 0
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    @property
    def requests_served(self) -> int:
        return self._server.served if self._server else 0

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
