"""`verify --credentials FILE`: what a legitimate client of a deployed stack holds.

A deployed stack's passwords and API keys are Pulumi secrets, and a JWT issuer's signing key is
the issuer's: none of them is in the stack file verify reads. This file gives them (YAML or
JSON), keyed like the stack's own `credentials`:

    credentials:                 # basic-auth passwords and API keys: policy -> user or client -> secret
      admin-basic:
        alice: wonderland-7
      keys-api-key:
        client-a: key-aaaa-1111
    jwt:                         # policy -> provider -> a token it issued, or a key it trusts
      api-jwt:
        example-idp:
          token: eyJhbGciOi...   # a valid token: "a valid JWT gets 200" is checked
      partner-jwt:
        partner:
          privateKeyPem: |       # an RSA key whose public half is in the provider's JWKS,
            -----BEGIN PRIVATE KEY-----
            ...
          keyId: partner-2024    # under this `kid`: verify signs valid tokens and the wrong
                                 # ones (another issuer, another audience, expired) itself

Every name must be a SecurityPolicy of the stack with that kind of authentication and, under
it, one of its users, clients or providers; anything else is refused with a sentence naming the
file and the entry. What the file leaves out is "not checked" with the reason, never failed.
Secrets are never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway_config.models import StackConfig
from gatestack.verify.jwt_tokens import JwtSigner
from gatestack.verify.material import ProofMaterial


class CredentialsFileError(ValueError):
    """The credentials file does not fit the stack; the message says where and why."""


def _mapping(value: Any, where: str, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CredentialsFileError(f"{path}: {where} must be a mapping")
    return value


def load_credentials(path: Path, config: StackConfig, material: Optional[ProofMaterial] = None) -> ProofMaterial:
    """`material` (or a new one) with the file's passwords, API keys, tokens and signing keys."""
    material = material or ProofMaterial()
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CredentialsFileError(f"{path}: cannot be read as YAML or JSON ({type(error).__name__})") from None
    document = _mapping(document, "the file", path)
    unknown = sorted(set(document) - {"credentials", "jwt"})
    if unknown:
        raise CredentialsFileError(f"{path}: unknown key(s) {', '.join(unknown)}; use credentials and jwt")
    policies = {policy.name: policy for policy in config.security_policies}
    for policy_name, holders in _mapping(document.get("credentials"), "credentials", path).items():
        policy = policies.get(policy_name)
        known = list(policy.basic_auth.users) if policy and policy.basic_auth else list(policy.api_key_auth.clients) if policy and policy.api_key_auth else None
        if known is None:
            raise CredentialsFileError(f"{path}: credentials.{policy_name}: the stack has no SecurityPolicy '{policy_name}' with basicAuth or apiKeyAuth")
        for holder, secret in _mapping(holders, f"credentials.{policy_name}", path).items():
            if holder not in known:
                raise CredentialsFileError(f"{path}: credentials.{policy_name}.{holder}: not one of the policy's users or clients ({', '.join(known)})")
            if not isinstance(secret, str) or not secret:
                raise CredentialsFileError(f"{path}: credentials.{policy_name}.{holder}: give the password or key as a non-empty string")
            material.credentials.setdefault(policy_name, {})[holder] = secret
    for policy_name, providers in _mapping(document.get("jwt"), "jwt", path).items():
        policy = policies.get(policy_name)
        if policy is None or policy.jwt is None:
            raise CredentialsFileError(f"{path}: jwt.{policy_name}: the stack has no SecurityPolicy '{policy_name}' with jwt")
        by_name = {provider.name: provider for provider in policy.jwt.providers}
        for provider_name, entry in _mapping(providers, f"jwt.{policy_name}", path).items():
            provider = by_name.get(provider_name)
            where = f"jwt.{policy_name}.{provider_name}"
            if provider is None:
                raise CredentialsFileError(f"{path}: {where}: not one of the policy's providers ({', '.join(by_name)})")
            entry = _mapping(entry, where, path)
            key = f"{policy_name}/{provider_name}"
            if set(entry) == {"token"} and isinstance(entry["token"], str) and entry["token"].count(".") == 2:
                material.jwt_tokens[key] = entry["token"]
            elif set(entry) == {"privateKeyPem", "keyId"}:
                material.jwt_signers[key] = JwtSigner(provider.issuer, list(provider.audiences), _rsa_key(entry["privateKeyPem"], where, path), str(entry["keyId"]))
            else:
                raise CredentialsFileError(f"{path}: {where}: give either token (a JWT) or privateKeyPem and keyId")
    return material


def _rsa_key(pem: Any, where: str, path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(str(pem).encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsFileError(f"{path}: {where}.privateKeyPem: not an unencrypted RSA private key in PEM (verify signs RS256)")
    return key
