"""Specification: a stack deployed with the program before issue #17 (components copied into the
project, every component handed the whole stack config) is updated in place by this code.

The session's `deployments` (conftest.py) deploys dev, staging, prod and inference with that
earlier commit, then runs this code's `pulumi preview --json` and `pulumi up` on each; every
other real-engine test (verify through the Envoys, a second up changes nothing, destroy) then
runs on those updated stacks.
"""

from __future__ import annotations

import pytest

from tests.cluster.cluster_support import Deployment
from tests.cluster.previous_code import DESTRUCTIVE_OPERATIONS, PREVIOUS_COMMIT, operation_counts
from tests.conftest import STACK_NAMES


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_updating_a_stack_of_the_previous_code_replaces_and_deletes_nothing(deployments: dict[str, Deployment], stack: str) -> None:
    # GIVEN the stack deployed with the previous code
    steps = deployments[stack].upgrade_steps
    assert steps is not None, f"{stack} was not deployed with {PREVIOUS_COMMIT} first"
    # WHEN this code previews it (`--json` lists every step but the unchanged ones)
    counts = operation_counts(steps)
    print(f"{stack}: {counts or 'nothing but unchanged resources'}")
    # THEN nothing is replaced or deleted
    destructive = [(step["op"], step["urn"]) for step in steps if step.get("op") in DESTRUCTIVE_OPERATIONS]
    assert destructive == []
