"""What verify needs besides the config to act as a legitimate client: client certificates
for mutual TLS (and, for security policies, credentials and token signing keys).

`conformance` fills it from the program's run with real material; against a deployed stack
`verify` gets what it is given, and checks that need something it lacks are reported as not
checked rather than failed.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate and its private key, PEM."""

    certificate_pem: str
    private_key_pem: str

    def __repr__(self) -> str:  # never show a key in a traceback or a log
        return "ClientCertificate(<PEM>)"


@dataclass
class ProofMaterial:
    """Client identities verify may use. `client_certificates` maps a client CA's name to its
    clients' certificates by client name (the program's CLIENT_CERTIFICATES output)."""

    client_certificates: dict[str, dict[str, ClientCertificate]] = field(default_factory=dict)

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any]) -> "ProofMaterial":
        """From a program run's outputs (CLIENT_CERTIFICATES, when the stack issues any)."""
        certificates = {
            authority: {
                client: ClientCertificate(pair["certificatePem"], pair["privateKeyPem"])
                for client, pair in (clients or {}).items()
            }
            for authority, clients in (outputs.get("CLIENT_CERTIFICATES") or {}).items()
        }
        return cls(client_certificates=certificates)

    def client_certificate(self, authorities: list[str]) -> Optional[tuple[str, str, ClientCertificate]]:
        """A client certificate issued by one of `authorities`: (CA, client, certificate), or None."""
        for authority in authorities:
            for client, certificate in sorted(self.client_certificates.get(authority, {}).items()):
                return authority, client, certificate
        return None


def load_client_certificate(context: ssl.SSLContext, certificate: ClientCertificate) -> ssl.SSLContext:
    """`context` presenting `certificate` (ssl reads keys from files only: a private temporary
    file, removed at once)."""
    handle, path = tempfile.mkstemp(prefix="gatestack-client-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(certificate.certificate_pem.strip() + "\n" + certificate.private_key_pem.strip() + "\n")
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return context
