"""Fixtures for the data-plane proofs: the seed's objects with a freshly generated certificate."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# So `gatestack` and this folder's `dataplane_support` import however pytest is started (any import mode).
for import_root in (REPOSITORY_ROOT, Path(__file__).resolve().parent):
    if str(import_root) not in sys.path:
        sys.path.insert(0, str(import_root))

from dataplane_support import SeedCertificates, generate_seed_certificates, load_seed_objects  # noqa: E402


@pytest.fixture(scope="session")
def seed_certificates(tmp_path_factory: pytest.TempPathFactory) -> SeedCertificates:
    return generate_seed_certificates(tmp_path_factory.mktemp("seed-certificates"))


@pytest.fixture
def seed_objects(seed_certificates: SeedCertificates) -> list[dict]:
    """A fresh copy per test, so a test may break one object without affecting others."""
    return copy.deepcopy(load_seed_objects(seed_certificates))
