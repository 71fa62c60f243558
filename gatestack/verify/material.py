"""What verify needs besides the config to act as a legitimate client: client certificates
for mutual TLS, basic-auth passwords, API keys and keys that sign JWTs.

`conformance` fills it from the program's run with real material; against a deployed stack
`verify` gets what it is given (`--client-certificates`, `--credentials`: see
`credentials_file`), and checks that need something it lacks are reported as not checked
rather than failed.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional

from gatestack.verify.jwt_tokens import JwtSigner
from gatestack.verify.probes import QUERY_PARAMETER_PREFIX


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
    clients' certificates by client name (the program's CLIENT_CERTIFICATES output);
    `credentials` maps a SecurityPolicy's name to its users' passwords or clients' API keys;
    `jwt_signers` maps `<policy>/<provider>` to a key the provider's JWKS holds (in a proof,
    the JWKS is replaced by the signer's); `jwks_stand_ins` maps a remote JWKS URL to the JWKS
    a local stand-in serves there."""

    client_certificates: dict[str, dict[str, ClientCertificate]] = field(default_factory=dict)
    credentials: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    jwt_signers: dict[str, JwtSigner] = field(default_factory=dict, repr=False)
    jwks_stand_ins: dict[str, str] = field(default_factory=dict, repr=False)
    # `<policy>/<provider>` -> a valid token the provider issued (verify --credentials), when
    # verify has no key to sign its own.
    jwt_tokens: dict[str, str] = field(default_factory=dict, repr=False)

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

    def signer(self, policy: str, provider: str) -> Optional[JwtSigner]:
        return self.jwt_signers.get(f"{policy}/{provider}")

    def authentication(self, policy: Any) -> Optional[list[tuple[str, str]]]:
        """Headers that authenticate a request to a SecurityPolicy's basic auth, API key or JWT
        (valid credentials), [] when it asks for none, None when verify has none to give."""
        if policy.basic_auth is not None:
            passwords = self.credentials.get(policy.name, {})
            user = next((user for user in policy.basic_auth.users if user in passwords), None)
            if user is None:
                return None
            token = base64.b64encode(f"{user}:{passwords[user]}".encode()).decode()
            return [("Authorization", f"Basic {token}")]
        if policy.api_key_auth is not None:
            keys = self.credentials.get(policy.name, {})
            client = next((client for client in policy.api_key_auth.clients if client in keys), None)
            if client is None:
                return None
            return [(api_key_carrier(policy.api_key_auth), keys[client])]
        if policy.jwt is not None:
            for provider in policy.jwt.providers:
                signer = self.signer(policy.name, provider.name)
                if signer is not None:
                    claims = {item.claim: f"gatestack-{item.claim}" for item in provider.claim_to_headers if item.claim not in ("sub", "iss", "aud")}
                    return [("Authorization", f"Bearer {signer.token(**claims)}")]
            for provider in policy.jwt.providers:
                token = self.jwt_tokens.get(f"{policy.name}/{provider.name}")
                if token is not None:
                    return [("Authorization", f"Bearer {token}")]
            return None
        return []

    def client_certificate(self, authorities: list[str]) -> Optional[tuple[str, str, ClientCertificate]]:
        """A client certificate issued by one of `authorities`: (CA, client, certificate), or None."""
        for authority in authorities:
            for client, certificate in sorted(self.client_certificates.get(authority, {}).items()):
                return authority, client, certificate
        return None


def api_key_carrier(api_key_auth: Any) -> str:
    """Where a request carries its API key: the first header or query parameter `extractFrom`
    names, a query parameter as `?<name>` (see `probes.with_query_parameters`)."""
    first = api_key_auth.extract_from[0]
    return first.headers[0] if first.headers else QUERY_PARAMETER_PREFIX + first.params[0]


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
