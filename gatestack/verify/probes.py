"""Sending probes: one HTTP(S) request or TLS handshake to a listener, standard library only."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any, Iterable, Optional

DEFAULT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Target:
    """Where a Gateway listener is reachable: connect to host:port (the Host header and SNI
    are the request's hostname, never this address)."""

    host: str
    port: int



# --- requests ---------------------------------------------------------------------------


class RequestFailed(Exception):
    """A request that got no HTTP response (connection refused, TLS failure, timeout...)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def echo(self) -> Optional[dict[str, Any]]:
        try:
            document = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return document if isinstance(document, dict) else None


class _SNIHTTPSConnection(http.client.HTTPSConnection):
    """Connect to an address, but use `server_hostname` for SNI and certificate checks."""

    def __init__(
        self, host: str, port: int, *, server_hostname: str, context: ssl.SSLContext, timeout: float,
        source_address: Optional[tuple[str, int]] = None,
    ):
        super().__init__(host, port, timeout=timeout, context=context, source_address=source_address)
        self.server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_hostname)


def _describe_error(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {error.verify_message or error}"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def verified_context(ca_pem: str) -> ssl.SSLContext:
    """Trust only `ca_pem`, check the hostname."""
    context = ssl.create_default_context(cadata=ca_pem)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# A "header" named `?<name>` is a query parameter: credentials an API key policy reads from the
# query string travel with the other credentials as (name, value) pairs, and the request line
# gets them here (no header name can start with '?').
QUERY_PARAMETER_PREFIX = "?"


def with_query_parameters(path: str, headers: Iterable[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """`path` with the `?<name>` pairs of `headers` appended as query parameters, and the rest."""
    plain, parameters = [], []
    for name, value in headers:
        if name.startswith(QUERY_PARAMETER_PREFIX):
            parameters.append((name[len(QUERY_PARAMETER_PREFIX):], value))
        else:
            plain.append((name, value))
    if parameters:
        path += ("&" if "?" in path else "?") + urllib.parse.urlencode(parameters)
    return path, plain


def without_query_parameters(path: str, names: set[str]) -> str:
    """`path` without the query parameters `names` (what the gateway was sent besides the
    probe's own path: credentials), so that an echoed path compares to the probe's and shows
    no key."""
    if not names or "?" not in path:
        return path
    base, query = path.split("?", 1)
    kept = [part for part in query.split("&") if part and urllib.parse.unquote_plus(part.split("=", 1)[0]) not in names]
    return base + ("?" + "&".join(kept) if kept else "")


def send_request(
    target: Target,
    method: str,
    host: str,
    path: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    tls: Optional[ssl.SSLContext] = None,
    sni: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    source: Optional[str] = None,
) -> Response:
    """One request on a fresh connection to target, with an explicit Host header (and SNI =
    `sni or host` over TLS), from the local address `source` if given (another loopback address
    is another client to the gateway). Raises RequestFailed when no HTTP response comes back."""
    source_address = (source, 0) if source else None
    path, headers = with_query_parameters(path, headers)
    if tls is not None:
        connection: http.client.HTTPConnection = _SNIHTTPSConnection(
            target.host, target.port, server_hostname=sni or host, context=tls, timeout=timeout,
            source_address=source_address,
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout, source_address=source_address)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in headers:
            connection.putheader(name, value)
        if method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return Response(response.status, list(response.getheaders()), body)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise RequestFailed(f"{target.host}:{target.port}: {_describe_error(error)}") from None
    finally:
        connection.close()


def tls_handshake(target: Target, server_hostname: str, context: ssl.SSLContext, timeout: float) -> dict[str, Any]:
    """Handshake only; returns the verified peer certificate (as ssl.getpeercert()), the TLS
    version, cipher and ALPN protocol. Raises RequestFailed on failure."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=server_hostname) as wrapped:
                return {
                    "cert": wrapped.getpeercert() or {},
                    "version": wrapped.version(),
                    "cipher": (wrapped.cipher() or ("",))[0],
                    "alpn": wrapped.selected_alpn_protocol(),
                }
    except (OSError, ValueError) as error:
        raise RequestFailed(f"{target.host}:{target.port}: {_describe_error(error)}") from None


_NAME_ABBREVIATIONS = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


def distinguished_name(rdns: Any) -> str:
    return ", ".join(f"{_NAME_ABBREVIATIONS.get(key, key)}={value}" for rdn in rdns for key, value in rdn)


class KeepAliveSession:
    """Requests one after another on one connection (reopened if the gateway closes it), for
    bursts where a handshake per request would take longer than what is measured."""

    def __init__(self, target: Target, *, tls: Optional[ssl.SSLContext], sni: str, timeout: float, source: Optional[str]):
        self.target, self.tls, self.sni, self.timeout = target, tls, sni, timeout
        self.source_address = (source, 0) if source else None
        self.connection: Optional[http.client.HTTPConnection] = None

    def _open(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return _SNIHTTPSConnection(
                self.target.host, self.target.port, server_hostname=self.sni, context=self.tls,
                timeout=self.timeout, source_address=self.source_address,
            )
        return http.client.HTTPConnection(self.target.host, self.target.port, timeout=self.timeout, source_address=self.source_address)

    def request(self, method: str, host: str, path: str, headers: Iterable[tuple[str, str]]) -> Response:
        path, headers = with_query_parameters(path, headers)
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = self._open()
            try:
                self.connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                self.connection.putheader("Host", host)
                for name, value in headers:
                    self.connection.putheader(name, value)
                self.connection.endheaders()
                response = self.connection.getresponse()
                body = response.read()
                if response.will_close:
                    self.close()
                return Response(response.status, list(response.getheaders()), body)
            except (OSError, http.client.HTTPException, ValueError) as error:
                self.close()
                if attempt == 2:
                    raise RequestFailed(f"{self.target.host}:{self.target.port}: {_describe_error(error)}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
