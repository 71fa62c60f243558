"""Identities a local proof may use as a legitimate client of a stack's SecurityPolicies.

The stack's passwords and API keys are its `credentials` (in a local proof, stand-ins for the
encrypted values, see `stack_source`). A JWT provider's real signing key is the issuer's, never
known here: the proof makes a key per provider and swaps it in, as the provider's inline JWKS
in the config the program runs with, or as the JWKS a local HTTPS stand-in serves at the
provider's `remoteJWKS.uri` (the bootstrap sends the URL's host there, see `local_gateway`).
"""

from __future__ import annotations

import copy
from typing import Any

from gateway_config.models import StackConfig
from gatestack.verify.jwt_tokens import JwtSigner
from gatestack.verify.material import ProofMaterial


def with_proof_identities(config: StackConfig, raw_config: dict[str, Any]) -> tuple[dict[str, Any], ProofMaterial]:
    """The raw config with every inline JWKS replaced by a proof key's, and the material:
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
            material.jwt_signers[f"{policy.name}/{provider.name}"] = signer
            raw_provider = raw["securityPolicies"][policy_index]["jwt"]["providers"][provider_index]
            if provider.local_jwks is not None:
                raw_provider["localJWKS"]["inline"] = signer.jwks()
            else:
                material.jwks_stand_ins[provider.remote_jwks.uri] = signer.jwks()
    return raw, material
