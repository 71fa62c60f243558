"""Tests of `gatestack.verify`: its checks against small in-process fake gateways.

The fakes stand in for the gateway only to test verify's own logic (the real Envoy is
tested elsewhere): a threaded http.server on 127.0.0.1 that routes by Host and path per a
tiny table written here and answers like the seed's echo-basic (JSON with path, host,
method, proto, headers, namespace, ingress, service, pod). For TLS the same server is
served over HTTPS with a CA and server certificate generated with `cryptography`.
Every request these tests make goes to 127.0.0.1.
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from math import comb
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway_config.loader import parse_stack_config, raw_config_from_stack_file
from gateway_config.models import StackConfig
from gatestack.verify import (
    FALSE_FAILURE_BOUND,
    CheckResult,
    Target,
    backend_of_pod,
    binomial_interval,
    binomial_outside_probability,
    canonical_header_name,
    format_table,
    split_intervals,
    verify,
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


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pki")
    ca = make_ca("example.com")
    other_ca = make_ca("example.com")  # same name, different key: only the signature tells them apart
    return {
        "ca": ca,
        "good": write_server_files(base / "good", ca, "www.example.com"),
        "wrong-host": write_server_files(base / "wrong-host", ca, "other.example.com"),
        "other-ca": write_server_files(base / "other-ca", other_ca, "www.example.com"),
    }


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


@pytest.fixture
def run_seed(pki: dict[str, Any]) -> Iterator[Any]:
    """Run verify(seed) against an HTTP and an HTTPS fake built from keyword arguments."""

    def run(
        table: Optional[list[FakeRule]] = None,
        tls: str = "good",
        config: Optional[StackConfig] = None,
        sample_size: int = 200,
        **fake_options: Any,
    ) -> list[CheckResult]:
        with FakeGateway(table or SEED_TABLE(), **fake_options) as http_fake, FakeGateway(
            table or SEED_TABLE(), tls_files=pki[tls], **fake_options
        ) as https_fake:
            return verify(
                config or seed_config(),
                {"http": http_fake.target, "https": https_fake.target},
                {"example-cert": pki["ca"].ca_pem},
                sample_size=sample_size,
            )

    yield run


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


# --- the binomial acceptance interval -------------------------------------------------------


def exact_outside(n: int, p: Fraction, lo: int, hi: int) -> Fraction:
    return sum((comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1) if k < lo or k > hi), Fraction(0))


def test_binomial_interval_for_8_to_2_over_200() -> None:
    alpha = FALSE_FAILURE_BOUND / 2  # two uncertain backends share the 1e-6
    lo, hi = binomial_interval(200, Fraction(8, 10), alpha)
    assert lo <= 160 <= hi
    assert not lo <= 100 <= hi  # a 50/50 split is caught
    assert (lo, hi) == (130, 186)  # the numbers the module docstring states
    outside = exact_outside(200, Fraction(8, 10), lo, hi)
    assert outside == binomial_outside_probability(200, Fraction(8, 10), lo, hi)
    assert outside <= alpha <= Fraction(1, 10**6)
    # Shortest: dropping either end pushes the false-failure probability over the bound.
    assert exact_outside(200, Fraction(8, 10), lo + 1, hi) > alpha
    assert exact_outside(200, Fraction(8, 10), lo, hi - 1) > alpha


def test_split_intervals_union_bound_and_edge_weights() -> None:
    assert split_intervals(200, [8, 2]) == [(130, 186), (14, 70)]
    intervals = split_intervals(200, [1, 1, 2])
    total_outside = sum(
        exact_outside(200, Fraction(w, 4), lo, hi) for w, (lo, hi) in zip([1, 1, 2], intervals)
    )
    assert total_outside <= FALSE_FAILURE_BOUND
    # weight 0 must get nothing; a lone positive weight gets everything
    assert split_intervals(50, [3, 0]) == [(50, 50), (0, 0)]
    assert binomial_interval(10, Fraction(0), Fraction(1, 100)) == (0, 0)
    assert binomial_interval(10, Fraction(1), Fraction(1, 100)) == (10, 10)
    with pytest.raises(ValueError):
        split_intervals(10, [0, 0])


@pytest.mark.parametrize("n,p", [(20, Fraction(8, 10)), (200, Fraction(1, 2)), (333, Fraction(1, 7)), (1000, Fraction(3, 4))])
def test_binomial_interval_bound_holds(n: int, p: Fraction) -> None:
    alpha = Fraction(1, 10**6)
    lo, hi = binomial_interval(n, p, alpha)
    assert 0 <= lo <= n * p <= hi <= n
    assert exact_outside(n, p, lo, hi) <= alpha


def test_names_of_pods_and_headers() -> None:
    assert backend_of_pod("backend-7c9d8f6b5d-x7k2p") == "backend"
    assert backend_of_pod("backend-2-7c9d8f6b5d-x7k2p") == "backend-2"
    assert backend_of_pod("backend") is None
    assert canonical_header_name("added-header") == "Added-Header"
    assert canonical_header_name("x-forwarded-proto") == "X-Forwarded-Proto"


# --- verify against fakes -------------------------------------------------------------------


def test_correct_fake_passes_every_seed_check(run_seed: Any) -> None:
    results = run_seed()
    table = format_table(results)
    assert all(result.status == "PASS" for result in results), table
    names = by_name(results)
    for expected in (ROUTE_HTTP, ROUTE_HTTPS, ADDED_HEADER, SPLIT, CERTIFICATE, UNKNOWN_HOST, GETTER, NO_SUCH_PATH):
        assert expected in names, table
    assert names[SPLIT].detail == "backend 160, backend-2 40 (accepted 130..186 / 14..70)"
    assert "X-Forwarded-Proto https" in names[ROUTE_HTTPS].detail
    assert "TLS verified" in names[ROUTE_HTTPS].detail
    assert table.splitlines()[-1] == f"{len(results)} passed, 0 failed"


def test_wrong_split_fails_the_split_check(run_seed: Any) -> None:
    table = [FakeRule("www.example.com", "/get", backends=["backend", "backend-2"], request_add={"added-header": "foo"})]
    results = run_seed(table)
    assert failed_names(results) == {SPLIT}
    assert by_name(results)[SPLIT].detail.startswith("backend 100, backend-2 100 (accepted 130..186 / 14..70)")


def test_weight_zero_backend_must_get_nothing(run_seed: Any) -> None:
    rule = {**SEED_RULE, "backendRefs": [{"name": "backend", "weight": 1}, {"name": "backend-2", "weight": 0}]}
    config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [rule]}])
    split = "route backend rule 0: split backend 1 : backend-2 0 over 50 requests"
    one_stray = ["backend"] * 49 + ["backend-2"]
    results = run_seed(
        [FakeRule("www.example.com", "/get", backends=one_stray, request_add={"added-header": "foo"})],
        config=config,
        sample_size=50,
    )
    assert failed_names(results) == {split}
    assert by_name(results)[split].detail == "backend 49, backend-2 1 (accepted 50..50 / 0..0)"
    # and the routing check no longer accepts backend-2
    assert "route backend rule 0: GET www.example.com/get -> backend (http)" in by_name(results)


def test_missing_added_header_fails_that_check(run_seed: Any) -> None:
    table = [FakeRule("www.example.com", "/get", backends=["backend"] * 8 + ["backend-2"] * 2)]
    results = run_seed(table)
    assert failed_names(results) == {ADDED_HEADER}
    assert by_name(results)[ADDED_HEADER].detail == "Added-Header absent from the echo headers"


def test_certificate_for_the_wrong_hostname_fails_the_certificate_check(run_seed: Any) -> None:
    results = run_seed(tls="wrong-host")
    assert failed_names(results) == {CERTIFICATE}
    detail = by_name(results)[CERTIFICATE].detail.lower()
    assert "hostname mismatch" in detail or "not valid for" in detail, detail
    # routing over TLS is still checked, on an unverified connection, and says so
    assert "TLS not verified" in by_name(results)[ROUTE_HTTPS].detail


def test_certificate_from_another_ca_fails_the_certificate_check(run_seed: Any) -> None:
    results = run_seed(tls="other-ca")
    assert failed_names(results) == {CERTIFICATE}
    assert "verification failed" in by_name(results)[CERTIFICATE].detail


def test_unknown_host_answered_with_200_fails(run_seed: Any) -> None:
    results = run_seed(unknown_host_status=200)
    assert failed_names(results) == {UNKNOWN_HOST}
    assert "-> 200 from pod backend-" in by_name(results)[UNKNOWN_HOST].detail


def test_prefix_that_is_not_segment_aware_fails_getter(run_seed: Any) -> None:
    results = run_seed(segment_aware=False)
    assert failed_names(results) == {GETTER}


def test_without_ca_the_certificate_is_not_checked_and_not_passed(pki: dict[str, Any]) -> None:
    with FakeGateway(SEED_TABLE()) as http_fake, FakeGateway(SEED_TABLE(), tls_files=pki["good"]) as https_fake:
        results = verify(seed_config(), {"http": http_fake.target, "https": https_fake.target}, None, sample_size=20)
    certificate = by_name(results)[CERTIFICATE]
    assert certificate.status == "SKIP" and not certificate.passed
    assert certificate.detail == "not checked: no CA PEM given for secret example-cert"
    table = format_table(results)
    assert table.splitlines()[-2] == "1 not checked"
    assert table.splitlines()[-1] == f"{len(results) - 1} passed, 0 failed"


def test_unreachable_gateway_fails_without_traceback() -> None:
    closed = socket.socket()
    closed.bind((LOOPBACK, 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens here now
    results = verify(seed_config(), {"http": Target(LOOPBACK, port), "https": Target(LOOPBACK, port)}, {}, sample_size=5)
    assert results and all(result.status in ("FAIL", "SKIP") for result in results)
    assert f"{LOOPBACK}:{port}" in by_name(results)[ROUTE_HTTP].detail
    assert "Refused" in by_name(results)[ROUTE_HTTP].detail
    assert by_name(results)[SPLIT.replace("200", "5")].detail.startswith("request 1 of 5 failed")


def test_silent_gateway_times_out_as_a_failure() -> None:
    silent = socket.socket()
    silent.bind((LOOPBACK, 0))
    silent.listen(16)  # accepts connections (backlog) but never answers
    try:
        config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [{"backendRefs": [{"name": "backend"}]}]}])
        target = Target(LOOPBACK, silent.getsockname()[1])
        results = verify(config, {"http": target}, {}, sample_size=1, timeout=0.3)
    finally:
        silent.close()
    routing = by_name(results)["route backend rule 0: GET www.example.com/ -> backend (http)"]
    assert routing.status == "FAIL" and "timed out" in routing.detail
    assert by_name(results)["listener https"].status == "SKIP"


def test_regex_path_is_reported_not_checked(run_seed: Any) -> None:
    regex_rule = {"matches": [{"path": {"type": "RegularExpression", "value": "/api/v[0-9]+"}}], "backendRefs": [{"name": "backend"}]}
    config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [SEED_RULE, regex_rule]}])
    results = run_seed(config=config)
    regex = by_name(results)["route backend rule 1: RegularExpression path /api/v[0-9]+ -> backend"]
    assert regex.status == "SKIP" and not regex.passed
    assert regex.detail == "not checked: regular-expression path"
    # /no-such-path cannot match /api/v[0-9]+, so it is still checked; everything else passes
    assert by_name(results)[NO_SUCH_PATH].status == "PASS"
    assert failed_names(results) == set()


def test_catch_all_prefix_suppresses_the_unmatched_path_checks(run_seed: Any) -> None:
    catch_all = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "backend"}]}
    config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [SEED_RULE, catch_all]}])
    table = SEED_TABLE() + [FakeRule("www.example.com", "/")]
    results = run_seed(table, config=config)
    names = by_name(results)
    assert GETTER not in names and NO_SUCH_PATH not in names
    # "/" itself is taken by rule 1; rule 0's /get keeps precedence (longer prefix)
    assert names["route backend rule 1: GET www.example.com/ -> backend (http)"].status == "PASS"
    assert failed_names(results) == set()


def filter_config() -> StackConfig:
    return stack(
        [
            {
                "name": "filters",
                "hostnames": ["api.example.com"],
                "parentRefs": [{"name": "eg", "sectionName": "http"}],
                "rules": [
                    {
                        "matches": [
                            {
                                "path": {"type": "Exact", "value": "/headers"},
                                "headers": [{"name": "x-env", "value": "prod"}],
                                "queryParams": [{"name": "v", "value": "1"}],
                                "method": "POST",
                            }
                        ],
                        "filters": [
                            {
                                "type": "RequestHeaderModifier",
                                "requestHeaderModifier": {
                                    "set": [{"name": "x-set", "value": "s"}],
                                    "remove": ["x-secret"],
                                },
                            },
                            {
                                "type": "ResponseHeaderModifier",
                                "responseHeaderModifier": {
                                    "set": [{"name": "x-resp-set", "value": "r"}],
                                    "add": [{"name": "x-resp-add", "value": "a"}],
                                    "remove": ["x-resp-remove"],
                                },
                            },
                        ],
                        "backendRefs": [{"name": "backend"}],
                    },
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/old"}}],
                        "filters": [
                            {
                                "type": "RequestRedirect",
                                "requestRedirect": {
                                    "scheme": "https",
                                    "hostname": "new.example.com",
                                    "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"},
                                    "statusCode": 301,
                                },
                            }
                        ],
                    },
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/rewrite"}}],
                        "filters": [
                            {
                                "type": "URLRewrite",
                                "urlRewrite": {
                                    "hostname": "internal.example.com",
                                    "path": {"type": "ReplaceFullPath", "replaceFullPath": "/inner"},
                                },
                            }
                        ],
                        "backendRefs": [{"name": "backend-2"}],
                    },
                ],
            }
        ]
    )


def filter_table(**changes: Any) -> list[FakeRule]:
    headers_rule = FakeRule(
        "api.example.com", "/headers", kind="Exact", request_set={"x-set": "s"}, request_remove=["x-secret"],
        response_set={"x-resp-set": "r"}, response_add={"x-resp-add": "a"}, response_remove=["x-resp-remove"],
    )
    redirect_rule = FakeRule("api.example.com", "/old", redirect=(301, "https://new.example.com/new/gatestack-verify"))
    rewrite_rule = FakeRule("api.example.com", "/rewrite", backends=["backend-2"], rewrite_host="internal.example.com", rewrite_path="/inner")
    for rule in (headers_rule, redirect_rule, rewrite_rule):
        for key, value in changes.get(rule.path, {}).items():
            setattr(rule, key, value)
    return [headers_rule, redirect_rule, rewrite_rule]


FILTER_CHECKS = {
    "routing": "route filters rule 0: POST api.example.com/headers?v=1 [x-env: prod] -> backend (http)",
    "set": "route filters rule 0: X-Set: s reaches the backend (set over the client's value)",
    "remove": "route filters rule 0: X-Secret sent by the client does not reach the backend",
    "response set": "route filters rule 0: response header X-Resp-Set: r is set",
    "response add": "route filters rule 0: response header X-Resp-Add: a is added",
    "response remove": "route filters rule 0: response header X-Resp-Remove is removed",
    "redirect": "route filters rule 1: GET api.example.com/old/gatestack-verify -> 301 https://new.example.com/new/gatestack-verify (http)",
    "rewrite": "route filters rule 2: GET api.example.com/rewrite is rewritten to internal.example.com/inner",
}


def run_filters(table: list[FakeRule]) -> list[CheckResult]:
    with FakeGateway(table) as http_fake:
        return verify(filter_config(), {"http": http_fake.target}, {}, sample_size=10)


def test_filters_redirect_and_rewrite_pass_on_a_correct_fake() -> None:
    results = run_filters(filter_table())
    names = by_name(results)
    for check in FILTER_CHECKS.values():
        assert names[check].status == "PASS", format_table(results)
    assert failed_names(results) == set(), format_table(results)
    assert "api.example.com/headerster gets 404" in names
    assert "api.example.com/oldter gets 404" in names


@pytest.mark.parametrize(
    "changes,failing",
    [
        ({"/headers": {"request_set": {}}}, "set"),
        ({"/headers": {"request_remove": []}}, "remove"),
        ({"/headers": {"response_set": {"x-resp-set": "wrong"}}}, "response set"),
        ({"/headers": {"response_add": {}}}, "response add"),
        ({"/headers": {"response_remove": []}}, "response remove"),
        ({"/old": {"redirect": (302, "https://new.example.com/new/gatestack-verify")}}, "redirect"),
        ({"/old": {"redirect": (301, "http://new.example.com/new/gatestack-verify")}}, "redirect"),
        ({"/old": {"redirect": (301, "https://new.example.com/old/gatestack-verify")}}, "redirect"),
        ({"/rewrite": {"rewrite_path": None}}, "rewrite"),
        ({"/headers": {"backends": ["backend-2"]}}, "routing"),
    ],
)
def test_each_filter_check_fails_on_its_own_fault(changes: dict, failing: str) -> None:
    results = run_filters(filter_table(**changes))
    assert failed_names(results) == {FILTER_CHECKS[failing]}, format_table(results)


def test_format_table_aligns_and_counts() -> None:
    results = [
        CheckResult("a short check", True, "fine"),
        CheckResult("a much longer check name", False, "broken"),
        CheckResult("skipped one", False, "not checked: because", skipped=True),
    ]
    lines = format_table(results).splitlines()
    assert lines[0].split("|")[0].strip() == "check"
    assert len({line.index("|") for line in lines[:-2] if "|" in line}) == 1
    assert [line.split("|")[1].strip() for line in lines[2:5]] == ["PASS", "FAIL", "SKIP"]
    assert lines[-2] == "1 not checked"
    assert re.fullmatch(r"\d+ passed, \d+ failed", lines[-1]) and lines[-1] == "1 passed, 1 failed"


def test_the_dev_stack_file_yields_the_seed_checks(run_seed: Any) -> None:
    path = REPO / "stacks" / "Pulumi.dev.yaml"
    config = parse_stack_config(raw_config_from_stack_file(path), "stacks/Pulumi.dev.yaml")
    results = run_seed(config=config)
    assert {ROUTE_HTTP, ROUTE_HTTPS, ADDED_HEADER, SPLIT, CERTIFICATE, UNKNOWN_HOST, GETTER} <= set(by_name(results))
    assert failed_names(results) == set(), format_table(results)


def test_a_match_shadowed_by_a_more_specific_rule_is_probed_below_it(run_seed: Any) -> None:
    rules = [
        {"matches": [{"path": {"type": "Exact", "value": "/get"}}], "backendRefs": [{"name": "backend-2"}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/get"}}], "backendRefs": [{"name": "backend"}]},
    ]
    config = stack([{"name": "shadow", "hostnames": ["www.example.com"], "parentRefs": [{"name": "eg", "sectionName": "http"}], "rules": rules}])
    table = [FakeRule("www.example.com", "/get", kind="Exact", backends=["backend-2"]), FakeRule("www.example.com", "/get")]
    results = run_seed(table, config=config)
    names = by_name(results)
    assert names["route shadow rule 0: GET www.example.com/get -> backend-2 (http)"].status == "PASS"
    assert names["route shadow rule 1: GET www.example.com/get/gatestack-verify -> backend (http)"].status == "PASS"
    assert failed_names(results) == set(), format_table(results)
    # a fake that ignores the Exact rule sends /get to backend: rule 0's check fails
    results = run_seed([FakeRule("www.example.com", "/get")], config=config)
    assert failed_names(results) == {"route shadow rule 0: GET www.example.com/get -> backend-2 (http)"}


def test_equal_precedence_across_routes_is_not_guessed(run_seed: Any) -> None:
    rule = {"matches": [{"path": {"type": "PathPrefix", "value": "/get"}}], "backendRefs": [{"name": "backend"}]}
    other = {"matches": [{"path": {"type": "PathPrefix", "value": "/get"}}], "backendRefs": [{"name": "backend-2"}]}
    config = stack(
        [
            {"name": "first", "hostnames": ["www.example.com"], "rules": [rule]},
            {"name": "second", "hostnames": ["www.example.com"], "rules": [other]},
        ]
    )
    results = run_seed([FakeRule("www.example.com", "/get")], config=config)
    skipped = {r.name: r.detail for r in results if r.status == "SKIP"}
    assert "route second rule 0: GET www.example.com/get -> backend-2 (http)" in skipped
    assert "equal precedence" in skipped["route second rule 0: GET www.example.com/get -> backend-2 (http)"]
    assert failed_names(results) == set(), format_table(results)


def test_wildcard_and_https_only_routes(run_seed: Any, pki: dict[str, Any]) -> None:
    config = stack(
        [
            {"name": "backend", "hostnames": ["www.example.com"], "rules": [SEED_RULE]},
            {
                "name": "secure",
                "hostnames": ["*.example.com"],
                "parentRefs": [{"name": "eg", "sectionName": "https"}],
                "rules": [{"matches": [{"path": {"type": "Exact", "value": "/secure"}}], "backendRefs": [{"name": "backend-2"}]}],
            },
        ]
    )
    table = SEED_TABLE() + [FakeRule("gatestack-verify.example.com", "/secure", kind="Exact", backends=["backend-2"])]
    results = run_seed(table, config=config)
    names = by_name(results)
    # the wildcard is asked for as gatestack-verify.example.com, over TLS only (the route's only listener)
    secure = names["route secure rule 0: GET https://gatestack-verify.example.com/secure -> backend-2 (https)"]
    assert secure.status == "PASS"
    assert "route secure rule 0: GET gatestack-verify.example.com/secure -> backend-2 (http)" not in names
    # the certificate only covers www.example.com: the wildcard host's handshake fails, as a client's would
    wildcard_certificate = "listener https: certificate for gatestack-verify.example.com verifies against CA of example-cert"
    assert failed_names(results) == {wildcard_certificate}
