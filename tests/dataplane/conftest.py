"""Fixtures for the data-plane proofs: the seed's objects with a freshly generated certificate."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

# So this folder's `dataplane_support` imports however pytest is started (any import mode);
# `gatestack` is installed (editable, requirements.txt's `-e .`).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from dataplane_support import SeedCertificates, generate_seed_certificates, load_seed_objects  # noqa: E402


@pytest.fixture(scope="session")
def seed_certificates(tmp_path_factory: pytest.TempPathFactory) -> SeedCertificates:
    return generate_seed_certificates(tmp_path_factory.mktemp("seed-certificates"))


@pytest.fixture
def seed_objects(seed_certificates: SeedCertificates) -> list[dict]:
    """A fresh copy per test, so a test may break one object without affecting others."""
    return copy.deepcopy(load_seed_objects(seed_certificates))
