"""Shared fixtures: the stack files, and runs of the real program under the mock engine."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from gateway_config.loader import raw_config_from_stack_file
from gatestack.mock_engine.program_run import ProgramRun, run_program
from gatestack.paths import REPOSITORY_ROOT

STACK_FILES = sorted((REPOSITORY_ROOT / "stacks").glob("Pulumi.*.yaml"))
STACK_NAMES = [path.name.split(".")[1] for path in STACK_FILES]


def stack_raw_config(stack: str) -> dict[str, Any]:
    """A stack file's project config (keys without the `api-gateway:` prefix)."""
    return raw_config_from_stack_file(REPOSITORY_ROOT / "stacks" / f"Pulumi.{stack}.yaml")


_RUNS: dict[str, ProgramRun] = {}


@pytest.fixture
def stack_run() -> Callable[[str], ProgramRun]:
    """Run the program for a stack file once per session (placeholder certificates)."""

    def run(stack: str) -> ProgramRun:
        if stack not in _RUNS:
            _RUNS[stack] = run_program(stack, stack_raw_config(stack))
        return _RUNS[stack]

    return run


@pytest.fixture
def raw_config() -> Callable[[str], dict[str, Any]]:
    """A deep copy of a stack's raw config, to change in a test."""
    return lambda stack: copy.deepcopy(stack_raw_config(stack))
