"""Small helpers shared by the data-plane tests: finding an object, sending real HTTP(S) requests."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path


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
