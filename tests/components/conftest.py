"""Run a few lines of a user's program under the Pulumi SDK's mock engine, as `pulumi up` would,
and see what they declared: the components on their own, from typed arguments."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Callable

import pulumi
import pytest
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from gatestack.mock_engine.program_run import PLACEHOLDER_ADDRESS, DeclaredResource, ProgramFailed, ProgramRun, _Mocks, _RecordingMonitor
from gatestack.stand_ins.pulumi_tls_material import PlaceholderMaterial

PROJECT = "components-test"


def declare(program: Callable[[], Any]) -> ProgramRun:
    """Run `program` (which declares resources) under mocks; raise `ProgramFailed` with its
    message (and what was registered before) when it stops, e.g. on a bad argument."""
    mocks = _Mocks(PlaceholderMaterial(), PLACEHOLDER_ADDRESS, {})
    monitor = _RecordingMonitor(mocks)
    settings.set_root_resource(None)
    settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config({}, [])
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False, monitor=monitor)
    root = settings.get_root_resource()
    try:
        _sync_await(run_pulumi_func(program))
    except pulumi.RunError as error:
        _forget_failed_outputs()
        raise ProgramFailed(str(error), monitor.declared) from None
    outputs = {key: _sync_await(pulumi.Output.from_input(value).future()) for key, value in root.outputs.items()}
    return ProgramRun(resources=monitor.declared, outputs=outputs)


def _forget_failed_outputs() -> None:
    """Retrieve, and collect now, the errors a failed program's Outputs hold.

    Each Output built on the failed one holds the error in an asyncio future nobody awaits;
    collected later, each would be logged ("exception was never retrieved") wherever the garbage
    collector happens to run, e.g. inside the `ast.parse` of a module pytest imports at the end
    of a session, which this CPython (3.11.7) then fails with "SystemError: AST constructor
    recursion depth mismatch" (seen here; pytest-dev/pytest#10763, python/cpython#106905).
    """
    settings.SETTINGS.outputs.clear()
    for item in gc.get_objects():
        if isinstance(item, asyncio.Future) and item.done() and not item.cancelled():
            item.exception()  # marks it retrieved
    gc.collect()


def refusal(program: Callable[[], Any]) -> ProgramFailed:
    """The failure `program` stops with (the test fails if it runs through)."""
    with pytest.raises(ProgramFailed) as caught:
        declare(program)
    return caught.value


def named(run_or_failure: Any, name: str) -> DeclaredResource:
    matching = [r for r in run_or_failure.resources if r.name == name]
    assert len(matching) == 1, f"expected one resource {name}, found {[r.name for r in run_or_failure.resources]}"
    return matching[0]


def names(run_or_failure: Any) -> list[str]:
    return [r.name for r in run_or_failure.resources]


def one_line(failure: ProgramFailed) -> str:
    """The failure's message, which must be one line (a sentence for the person who wrote the call)."""
    message = str(failure)
    assert "\n" not in message, message
    return message


def depends_on(run_or_failure: Any, name: str) -> set[str]:
    """The names of what the resource `name` waits for."""
    by_urn = {r.urn: r.name for r in run_or_failure.resources}
    return {by_urn.get(urn, urn) for urn in named(run_or_failure, name).dependencies}


def namespace_output(name: str = "apps") -> Any:
    """A namespace name as users get one: the `metadata.name` Output of a Namespace resource."""
    import pulumi_kubernetes as kubernetes

    return kubernetes.core.v1.Namespace(name, metadata={"name": name}).metadata["name"]


HTTP = {"name": "http", "protocol": "HTTP", "port": 80}
