"""Identities a local proof may use as a legitimate client of a stack's SecurityPolicies.

The stack's passwords and API keys are its `credentials` (in a local proof, stand-ins for the
encrypted values, see `stack_source`). A JWT provider's real signing key is the issuer's, never
known here: the proof makes a key per provider and *adds* it, to the provider's inline JWKS in
the config the program runs with (a JWKS is a set: the stack's own keys stay, so a token signed
with one of them passes locally exactly as it would in the cluster), or as the JWKS a local
HTTPS stand-in serves at the provider's `remoteJWKS.uri` (the bootstrap sends the URL's host
there, see `local_gateway`; the issuer's real keys live behind that URL and cannot be fetched).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gateway_config.models import StackConfig
from gatestack.verify.jwt_tokens import PROOF_KEY_ID, JwtSigner
from gatestack.verify.material import ProofMaterial


def jwks_with_key(stack_jwks: str, proof_jwks: str) -> str:
    """The stack's JWKS (a JSON document with a `keys` list) with the proof's keys appended;
    every member of the stack's document is kept as written."""
    document = json.loads(stack_jwks)
    return json.dumps({**document, "keys": [*document.get("keys", []), *json.loads(proof_jwks)["keys"]]})


def unused_key_id(stack_jwks: str) -> str:
    """A `kid` for the proof's key that none of the stack's keys has, so Envoy picks the
    proof's key for the proof's tokens and the stack's keys for the stack's."""
    used = {key.get("kid") for key in json.loads(stack_jwks).get("keys") or [] if isinstance(key, dict)}
    key_id, number = PROOF_KEY_ID, 1
    while key_id in used:
        number += 1
        key_id = f"{PROOF_KEY_ID}-{number}"
    return key_id


def with_proof_identities(config: StackConfig, raw_config: dict[str, Any]) -> tuple[dict[str, Any], ProofMaterial]:
    """The raw config with a proof key added to every inline JWKS, and the material:
    credentials, one signer per provider, and the JWKS each remote URL must serve."""
    raw = copy.deepcopy(raw_config)
    material = ProofMaterial(
        credentials={
            policy: {holder: secret.get_secret_value() for holder, secret in holders.items()}
            for policy, holders in config.credentials.items()
        }
    )
    for policy_index, policy in enumerate(config.security_policies):
        if policy.jwt is None:
            continue
        for provider_index, provider in enumerate(policy.jwt.providers):
            signer = JwtSigner.new(provider.issuer, list(provider.audiences))
            if provider.local_jwks is not None:
                signer.key_id = unused_key_id(provider.local_jwks.inline)
            material.jwt_signers[f"{policy.name}/{provider.name}"] = signer
            raw_provider = raw["securityPolicies"][policy_index]["jwt"]["providers"][provider_index]
            if provider.local_jwks is not None:
                raw_provider["localJWKS"]["inline"] = jwks_with_key(provider.local_jwks.inline, signer.jwks())
            else:
                material.jwks_stand_ins[provider.remote_jwks.uri] = signer.jwks()
    return raw, material
