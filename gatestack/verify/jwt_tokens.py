"""JSON Web Tokens signed here, for proving JWT authentication: an RSA key, its JWKS, tokens.

RS256 (RSASSA-PKCS1-v1_5 with SHA-256) written with `cryptography` alone (RFC 7515/7519): a
token is `base64url(header).base64url(claims).base64url(signature)`.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PROOF_KEY_ID = "gatestack-proof"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _integer(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class JwtSigner:
    """A provider's signing key (made for the proof: the real issuer's key is never known here)."""

    issuer: Optional[str]
    audiences: list[str]
    private_key: rsa.RSAPrivateKey = field(repr=False)
    key_id: str = PROOF_KEY_ID

    @classmethod
    def new(cls, issuer: Optional[str], audiences: list[str]) -> "JwtSigner":
        return cls(issuer, list(audiences), rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwks(self) -> str:
        numbers = self.private_key.public_key().public_numbers()
        key = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.key_id, "n": _integer(numbers.n), "e": _integer(numbers.e)}
        return json.dumps({"keys": [key]})

    def token(self, **overrides: Any) -> str:
        """A valid token (issuer, first audience, issued now, expiring in 10 minutes), with
        `overrides` applied to its claims (None removes a claim)."""
        now = int(time.time())
        claims: dict[str, Any] = {"sub": "gatestack-verify", "iat": now, "nbf": now - 5, "exp": now + 600}
        if self.issuer:
            claims["iss"] = self.issuer
        if self.audiences:
            claims["aud"] = self.audiences[0]
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"alg": "RS256", "typ": "JWT", "kid": self.key_id}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"
