"""Certificate material for the differential test: real, as pulumi-tls makes it, but fast."""

from __future__ import annotations

import functools
from typing import Any

from gatestack.stand_ins.pulumi_tls_material import RealMaterial


class CachedKeyMaterial(RealMaterial):
    """Real certificates as pulumi-tls makes them, with one private key per algorithm and size
    or curve for the whole run: key generation (seconds for RSA 4096) is the only slow part,
    and no validator looks at which key it is."""

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def _cached_key(algorithm: str, rsa_bits: Any, ecdsa_curve: Any) -> dict[str, Any]:
        inputs = {"algorithm": algorithm, "rsaBits": rsa_bits, "ecdsaCurve": ecdsa_curve}
        return RealMaterial._private_key(inputs)

    @staticmethod
    def _private_key(inputs: dict[str, Any]) -> dict[str, Any]:
        return dict(CachedKeyMaterial._cached_key(inputs.get("algorithm", "RSA"), inputs.get("rsaBits"), inputs.get("ecdsaCurve")))
