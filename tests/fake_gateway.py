"""Small in-process fake gateways for the tests of `gatestack.verify`, and the seed as a config.

The fakes stand in for the gateway only to test verify's own logic (the real Envoy is
tested elsewhere): a threaded http.server on 127.0.0.1 that routes by Host and path per a
tiny table and answers like the seed's echo-basic (JSON with path, host, method, proto,
headers, namespace, ingress, service, pod). For TLS the same server is served over HTTPS with
a CA and server certificate generated with `cryptography`. Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway_config.loader import parse_stack_config
from gateway_config.models import StackConfig
from gatestack.verify import (
    CheckResult,
    Target,
)


LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
# --- the seed, as a stack config ------------------------------------------------------------

SEED_RULE = {
    "matches": [{"path": {"type": "PathPrefix", "value": "/get"}}],
    "filters": [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "added-header", "value": "foo"}]}}
    ],
    "backendRefs": [
        {"name": "backend", "port": 3000, "weight": 8},
        {"name": "backend-2", "port": 3000, "weight": 2},
    ],
}


def stack(routes: list[dict], **extra: Any) -> StackConfig:
    raw = {
        "gateway": {
            "name": "eg",
            "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80},
                {"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [{"name": "example-cert"}]}},
            ],
        },
        "certificates": [
            {
                "secretName": "example-cert",
                "ca": {"commonName": "example.com", "organization": "example Inc."},
                "subject": {"commonName": "www.example.com", "organization": "example organization"},
                "dnsNames": ["www.example.com"],
            }
        ],
        "backends": [{"name": "backend"}, {"name": "backend-2"}],
        "routes": routes,
        **extra,
    }
    return parse_stack_config(raw, "test")


def seed_config() -> StackConfig:
    return stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [SEED_RULE]}])


# --- certificates ---------------------------------------------------------------------------


@dataclass
class Pki:
    ca_pem: str
    ca_key: Any
    ca_cert: x509.Certificate


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    )


def make_ca(common_name: str) -> Pki:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = _name(common_name, "example Inc.")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pki(cert.public_bytes(serialization.Encoding.PEM).decode(), key, cert)


def write_server_files(directory: Path, ca: Pki, dns_name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name, "example organization"))
        .issuer_name(ca.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.ca_cert.public_key()), critical=False
        )
        .sign(ca.ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# --- the fake gateway -----------------------------------------------------------------------


def go_canonical(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@dataclass
class FakeRule:
    """One row of the fake's routing table: host + path -> what the 'gateway' does."""

    host: str
    path: str
    kind: str = "PathPrefix"  # or "Exact"
    backends: list[str] = field(default_factory=lambda: ["backend"])  # served in this cycle
    request_add: dict[str, str] = field(default_factory=dict)
    request_set: dict[str, str] = field(default_factory=dict)
    request_remove: list[str] = field(default_factory=list)
    response_set: dict[str, str] = field(default_factory=dict)
    response_add: dict[str, str] = field(default_factory=dict)
    response_remove: list[str] = field(default_factory=list)
    redirect: Optional[tuple[int, str]] = None
    rewrite_host: Optional[str] = None
    rewrite_path: Optional[str] = None
    served: int = 0

    def matches(self, path: str, segment_aware: bool) -> bool:
        if self.kind == "Exact":
            return path == self.path
        prefix = self.path.rstrip("/")
        if not segment_aware:
            return path.startswith(prefix)
        return prefix == "" or path == prefix or path.startswith(prefix + "/")


SEED_TABLE = lambda: [  # noqa: E731 - a fresh table (with fresh counters) per fake
    FakeRule("www.example.com", "/get", backends=["backend"] * 8 + ["backend-2"] * 2, request_add={"added-header": "foo"})
]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # e.g. a client refusing the fake's certificate: expected in these tests


class FakeGateway:
    """A threaded HTTP(S) server on 127.0.0.1 that routes per a FakeRule table and answers like echo-basic."""

    def __init__(
        self,
        table: list[FakeRule],
        *,
        tls_files: Optional[tuple[Path, Path]] = None,
        unknown_host_status: int = 404,
        segment_aware: bool = True,
    ):
        self.table = table
        self.unknown_host_status = unknown_host_status
        self.segment_aware = segment_aware
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.server = _QuietServer((LOOPBACK, 0), _FakeHandler)
        self.server.daemon_threads = True
        self.server.gateway = self  # type: ignore[attr-defined]
        self.scheme = "http"
        if tls_files is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def target(self) -> Target:
        return Target(LOOPBACK, self.server.server_address[1])

    def __enter__(self) -> "FakeGateway":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, host: str, path: str) -> tuple[Optional[FakeRule], int]:
        rules = [rule for rule in self.table if rule.host == host]
        if not rules:
            if self.unknown_host_status == 404:
                return None, 404
            rules = self.table  # a broken gateway: any host reaches the first rule
        for rule in rules:
            if rule.matches(path.split("?", 1)[0], self.segment_aware):
                return rule, 200
        return None, 404


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def respond(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def handle_any(self) -> None:
        gateway: FakeGateway = self.server.gateway  # type: ignore[attr-defined]
        host = self.headers.get("Host", "")
        with gateway.lock:
            gateway.requests.append((host, self.path))
            rule, status = gateway.route(host, self.path)
        if rule is None:
            self.respond(status, b"", [])
            return
        if rule.redirect is not None:
            self.respond(rule.redirect[0], b"", [("Location", rule.redirect[1])])
            return
        with gateway.lock:
            backend = rule.backends[rule.served % len(rule.backends)]
            rule.served += 1
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            if name.lower() == "host":
                continue
            headers.setdefault(go_canonical(name), []).append(value)
        for name in rule.request_remove:
            headers.pop(go_canonical(name), None)
        for name, value in rule.request_add.items():
            headers.setdefault(go_canonical(name), []).append(value)
        for name, value in rule.request_set.items():
            headers[go_canonical(name)] = [value]
        headers["X-Forwarded-Proto"] = [gateway.scheme]
        document = {
            "path": rule.rewrite_path or self.path,
            "host": rule.rewrite_host or host,
            "method": self.command,
            "proto": self.request_version,
            "headers": headers,
            "namespace": "default",
            "ingress": "",
            "service": "",
            "pod": f"{backend}-7c9d8f6b5d-x7k2p",
        }
        response_headers = [("Content-Type", "application/json")]
        for pairs in headers.get("X-Echo-Set-Header", []):  # echo-basic's own feature
            for pair in pairs.split(","):
                name, _, value = pair.strip().partition(":")
                response_headers.append((name, value))
        removed = {name.lower() for name in [*rule.response_remove, *rule.response_set]}
        response_headers = [(n, v) for n, v in response_headers if n.lower() not in removed]
        response_headers += list(rule.response_set.items()) + list(rule.response_add.items())
        self.respond(200, json.dumps(document).encode(), response_headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def failed_names(results: list[CheckResult]) -> set[str]:
    return {result.name for result in results if result.status == "FAIL"}


ROUTE_HTTP = "route backend rule 0: GET www.example.com/get -> backend|backend-2 (http)"
ROUTE_HTTPS = "route backend rule 0: GET https://www.example.com/get -> backend|backend-2 (https)"
ADDED_HEADER = "route backend rule 0: Added-Header: foo reaches the backend"
SPLIT = "route backend rule 0: split backend 8 : backend-2 2 over 200 requests"
CERTIFICATE = "listener https: certificate for www.example.com verifies against CA of example-cert"
UNKNOWN_HOST = "unknown host gets 404"
GETTER = "www.example.com/getter gets 404"
NO_SUCH_PATH = "www.example.com/no-such-path gets 404"
