"""Checks of ClientTrafficPolicies, by real TLS handshakes, requests and connections.

On each HTTPS listener a policy is in effect for (one on the listener over one on the Gateway):

* TLS versions: a handshake offering exactly each of TLS 1.0 to 1.3 succeeds precisely for the
  versions from `minVersion` to `maxVersion` (Envoy Gateway's defaults: 1.2 and 1.3);
* ciphers: a TLS 1.2 handshake offering one declared suite succeeds, one offering a suite the
  policy leaves out (of the certificate's key type) is refused;
* ALPN: a client offering h2 and http/1.1 gets the first of the declared protocols it offers
  (none when the list is empty);
* mutual TLS: a client with a certificate from a trusted CA (from `clientCertificateAuthorities`,
  when verify has one) gets 200, one with a certificate from an unknown CA is refused, and one
  without a certificate is refused (`RequireAndVerify`) or gets 200 (`VerifyIfGiven`);
* `timeout.http.idleTimeout` (at most 15 s): an idle connection is closed by the gateway after it;
* `timeout.http.requestReceivedTimeout` (at most 15 s): a request whose body never comes gets 408
  at that time;
* `connection.connectionLimit` (at most 64): one connection more than the limit is closed.

Where the client's address comes from (`clientIPDetection`) shows only through rules keyed by
it (rate limits, IP authorization), which use it; on its own it is reported as not checked.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import time
import warnings
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway_config.policy_semantics import duration_seconds
from gatestack.verify.material import ClientCertificate, load_client_certificate
from gatestack.verify.route_matching import Probe
from gatestack.verify.policy_targets import effective_listener_policy
from gatestack.verify.probes import RequestFailed, tls_handshake, unverified_context

_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
MAX_IDLE_SECONDS = 15
MAX_CONNECTIONS = 64

# IANA names Envoy Gateway accepts -> the OpenSSL names Python's ssl module takes.
_IANA_TO_OPENSSL = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
}
_CANDIDATES = {
    "RSA": ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305", "AES128-GCM-SHA256"],
    "ECDSA": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"],
}


def openssl_cipher(name: str) -> str:
    return _IANA_TO_OPENSSL.get(name, name)


def version_context(version: str, ciphers: Optional[str] = None) -> ssl.SSLContext:
    """A client context offering exactly one TLS version (and, below 1.3, the given suites)."""
    context = unverified_context()
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: asking for them is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        tls_version = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2,
                       "1.3": ssl.TLSVersion.TLSv1_3}[version]
        context.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
        context.minimum_version = tls_version
        context.maximum_version = tls_version
    return context


def foreign_client_certificate() -> ClientCertificate:
    """A client certificate from a CA nobody trusts (made here, for the refusal check)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatestack unknown client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256())
    )
    return ClientCertificate(
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    )


class ClientPolicyChecks:
    def __init__(self, verifier: Any, listeners: dict[str, Any]):
        self.verifier = verifier
        self.listeners = listeners
        self.policies = list(verifier.config.client_traffic_policies)

    def run(self) -> None:
        for policy in self.policies:
            governed = [
                listener for listener in self.listeners.values()
                if effective_listener_policy(self.policies, listener.name) is policy
            ]
            if not governed:
                self.verifier.skip(f"ClientTrafficPolicy {policy.name}", "it is in effect on no listener verify can reach")
                continue
            for listener in governed:
                label = f"ClientTrafficPolicy {policy.name}: listener {listener.name}"
                host = (self.verifier.served_hostnames(listener) or ["gatestack-verify.example"])[0] if listener.https else None
                if policy.tls is not None and listener.https:
                    self.verifier.guarded(f"{label}: TLS", self.check_tls, label, policy.tls, listener, host)
                if policy.timeout is not None and policy.timeout.http.idle_timeout:
                    self.verifier.guarded(f"{label}: idle timeout", self.check_idle_timeout, label, policy.timeout.http.idle_timeout, listener, host)
                if policy.timeout is not None and policy.timeout.http.request_received_timeout:
                    self.verifier.guarded(
                        f"{label}: request timeout", self.check_request_received_timeout, label,
                        policy.timeout.http.request_received_timeout, listener, host,
                    )
                if policy.connection is not None:
                    self.verifier.guarded(f"{label}: connection limit", self.check_connection_limit, label, policy.connection.connection_limit.value, listener, host)
                if policy.client_ip_detection is not None:
                    self.verifier.skip(
                        f"{label}: client address from X-Forwarded-For",
                        "observable only through rules keyed by the client address, whose checks use it",
                    )

    # --- TLS -------------------------------------------------------------------------------
    def handshake(self, listener: Any, host: str, context: ssl.SSLContext) -> tuple[Optional[dict], str]:
        certificate = self.verifier.client_certificate_for(listener.name)
        if certificate is not None:
            load_client_certificate(context, certificate)
        try:
            return tls_handshake(listener.target, host, context, self.verifier.timeout), ""
        except RequestFailed as error:
            return None, str(error).split(": ", 1)[-1]

    def check_tls(self, label: str, tls: Any, listener: Any, host: str) -> None:
        low = _VERSIONS.index(tls.min_version) if tls.min_version not in (None, "Auto") else 2
        high = _VERSIONS.index(tls.max_version) if tls.max_version not in (None, "Auto") else 3
        outcomes, problems = [], []
        for index, version in enumerate(_VERSIONS):
            result, error = self.handshake(listener, host, version_context(version))
            expected = low <= index <= high
            outcomes.append(f"TLS {version} {'accepted' if result else 'refused'}")
            if bool(result) != expected:
                problems.append(f"TLS {version} {'accepted' if result else 'refused (' + error + ')'}, expected {'accepted' if expected else 'refused'}")
        name = f"{label}: TLS {_VERSIONS[low]} to {_VERSIONS[high]} only"
        self.verifier.add(name, not problems, "; ".join(problems) or ", ".join(outcomes))
        if tls.ciphers:
            self.check_ciphers(label, tls, listener, host, low <= 2 <= high)
        if tls.alpn_protocols is not None:
            self.check_alpn(label, tls.alpn_protocols, listener, host)
        if tls.client_validation is not None:
            self.check_client_certificates(label, tls.client_validation, listener, host)

    def check_ciphers(self, label: str, tls: Any, listener: Any, host: str, tls12: bool) -> None:
        declared = [openssl_cipher(cipher) for cipher in tls.ciphers]
        name = f"{label}: TLS 1.2 ciphers are {', '.join(tls.ciphers)}"
        if not tls12:
            self.verifier.skip(name, "TLS 1.2 is not allowed on this listener")
            return
        accepted, error = None, ""
        for cipher in declared:
            accepted, error = self.handshake(listener, host, version_context("1.2", cipher))
            if accepted:
                break
        if accepted is None:
            self.verifier.add(name, False, f"no declared suite was accepted ({error})")
            return
        key_type = "ECDSA" if "ECDSA" in accepted["cipher"] else "RSA"
        left_out = next((cipher for cipher in _CANDIDATES[key_type] if cipher not in declared), None)
        if left_out is None:
            self.add_result(name, True, f"{accepted['cipher']} accepted; every {key_type} suite is declared")
            return
        refused, _ = self.handshake(listener, host, version_context("1.2", left_out))
        self.add_result(
            name, refused is None,
            f"{accepted['cipher']} accepted; {left_out} (not declared) {'refused' if refused is None else 'accepted'}",
        )

    def add_result(self, name: str, passed: bool, detail: str) -> None:
        self.verifier.add(name, passed, detail)

    def check_alpn(self, label: str, protocols: list[str], listener: Any, host: str) -> None:
        offered = ["h2", "http/1.1"]
        expected = next((protocol for protocol in protocols if protocol in offered), None)
        context = unverified_context()
        context.set_alpn_protocols(offered)
        result, error = self.handshake(listener, host, context)
        name = f"{label}: ALPN offers {', '.join(protocols) or 'nothing'}"
        if result is None:
            self.verifier.add(name, False, error)
            return
        self.verifier.add(name, result["alpn"] == expected, f"client offered h2, http/1.1; negotiated {result['alpn'] or 'none'}, expected {expected or 'none'}")

    # --- mutual TLS ------------------------------------------------------------------------
    def request_with(self, listener: Any, host: str, certificate: Optional[ClientCertificate]) -> str:
        context = unverified_context()
        if certificate is not None:
            load_client_certificate(context, certificate)
        probe = Probe("GET", host, self.verifier.some_path(listener))
        try:
            response = self.verifier.send(listener, probe, context=context)
        except RequestFailed as error:
            return f"refused ({str(error).split(': ', 1)[-1]})"
        return f"status {response.status}"

    def check_client_certificates(self, label: str, validation: Any, listener: Any, host: str) -> None:
        required = (validation.mode or "RequireAndVerify") == "RequireAndVerify"
        trusted = self.verifier.material.client_certificate([ref.name for ref in validation.ca_certificate_refs])
        with_trusted = f"{label}: a client certificate from a trusted CA is accepted"
        if trusted is None:
            self.verifier.skip(with_trusted, "verify was given no client certificate from these CAs")
        else:
            outcome = self.request_with(listener, host, trusted[2])
            self.verifier.add(with_trusted, not outcome.startswith("refused"), f"{trusted[1]} of {trusted[0]}: {outcome}")
        outcome = self.request_with(listener, host, foreign_client_certificate())
        self.verifier.add(f"{label}: a client certificate from an unknown CA is refused", outcome.startswith("refused") or outcome == "status 403", outcome)
        outcome = self.request_with(listener, host, None)
        if required:
            self.verifier.add(f"{label}: a client without a certificate is refused (RequireAndVerify)", outcome.startswith("refused"), outcome)
        else:
            self.verifier.add(f"{label}: a client without a certificate is let through (VerifyIfGiven)", not outcome.startswith("refused"), outcome)

    # --- connections -----------------------------------------------------------------------
    def connect(self, listener: Any, host: Optional[str]) -> socket.socket:
        raw = socket.create_connection((listener.target.host, listener.target.port), timeout=self.verifier.timeout)
        if not listener.https:
            return raw
        context = self.verifier.context_for(listener, host)
        return context.wrap_socket(raw, server_hostname=host)

    @staticmethod
    def closed_by_peer(connection: socket.socket, wait: float) -> bool:
        connection.settimeout(wait)
        try:
            return connection.recv(1) == b""
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True

    def check_idle_timeout(self, label: str, idle: str, listener: Any, host: Optional[str]) -> None:
        seconds = duration_seconds(idle)
        name = f"{label}: an idle connection is closed after {idle}"
        if seconds > MAX_IDLE_SECONDS:
            self.verifier.skip(name, f"longer than verify waits ({MAX_IDLE_SECONDS} s)")
            return
        started = time.monotonic()
        with self.connect(listener, host) as connection:
            early = self.closed_by_peer(connection, max(seconds - 0.5, 0.1))
            closed = early or self.closed_by_peer(connection, 2.0)
        elapsed = time.monotonic() - started
        self.verifier.add(name, closed and not early, f"closed after {elapsed:.1f}s" if closed else f"still open after {elapsed:.1f}s")

    def check_request_received_timeout(self, label: str, limit: str, listener: Any, host: Optional[str]) -> None:
        seconds = duration_seconds(limit)
        name = f"{label}: a request not received within {limit} gets 408"
        if seconds > MAX_IDLE_SECONDS:
            self.verifier.skip(name, f"longer than verify waits ({MAX_IDLE_SECONDS} s)")
            return
        started = time.monotonic()
        with self.connect(listener, host) as connection:
            # The headers promise a body that never comes.
            head = f"POST {self.verifier.some_path(listener)} HTTP/1.1\r\nHost: {host or 'gatestack-verify.example'}\r\nContent-Length: 10\r\n\r\n"
            connection.sendall(head.encode())
            connection.settimeout(seconds + 3)
            try:
                answer = connection.recv(64).decode(errors="replace")
            except (OSError, ssl.SSLError) as error:
                answer = f"({type(error).__name__})"
        elapsed = time.monotonic() - started
        status = answer.split(" ", 2)[1] if answer.startswith("HTTP/") else answer or "closed"
        ok = status == "408" and seconds - 0.25 <= elapsed <= seconds + 1.0
        self.verifier.add(name, ok, f"{status} after {elapsed:.2f}s")

    def check_connection_limit(self, label: str, limit: int, listener: Any, host: Optional[str]) -> None:
        name = f"{label}: at most {limit} connections"
        if limit > MAX_CONNECTIONS:
            self.verifier.skip(name, f"more connections than verify opens (at most {MAX_CONNECTIONS})")
            return
        opened = []
        try:
            for _ in range(limit):
                opened.append(self.connect(listener, host))
            time.sleep(0.2)
            extra = self.connect(listener, host)
            opened.append(extra)
            refused = self.closed_by_peer(extra, 1.0)
            earlier_open = not any(self.closed_by_peer(connection, 0.05) for connection in opened[:limit])
        except (OSError, ssl.SSLError) as error:
            self.verifier.add(name, len(opened) >= limit, f"connection {len(opened) + 1} failed: {error}")
            return
        finally:
            for connection in opened:
                connection.close()
        self.verifier.add(name, refused and earlier_open, f"{limit} connections open; connection {limit + 1} {'closed by the gateway' if refused else 'kept open'}")
