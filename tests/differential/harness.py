"""Running generated configs through the program and the real validators, many at once.

`judge_configs` renders each config (the real program for those it accepts, the manifest
builders on an unvalidated config for those it refuses; see `gatestack.differential.rendering`),
hands batches to the validators while the next ones render, and returns one `Outcome` per config.
"""

from __future__ import annotations

import copy
import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from gateway_config.loader import PROJECT_NAME
from gateway_config.semantics import Problem
from gatestack.differential.compare import Disagreement, disagreement, program_verdict
from gatestack.differential.validator_verdicts import CONFIGS_PER_BATCH, Case, Verdict, judge_batch
from gatestack.differential.rendering import (
    COMPARED_KINDS,
    external_objects,
    lenient_config,
    manifest_objects,
    program_objects,
)
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION


@dataclass
class Outcome:
    raw: dict[str, Any]
    program_problems: list[Problem]
    verdict: Verdict | None = None  # None: the config cannot be rendered at all
    render_error: str | None = None
    disagreement: Disagreement | None = None


@dataclass
class Statistics:
    configs: int = 0
    accepted_by_program: int = 0
    accepted_by_validators: int = 0
    not_renderable: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = self.configs / self.seconds if self.seconds else 0.0
        return (
            f"{self.configs} configs in {self.seconds:.1f}s ({rate:.1f}/s): program accepted "
            f"{self.accepted_by_program}, validators accepted {self.accepted_by_validators}, "
            f"not renderable {self.not_renderable}"
        )


def canonical(raw: dict[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, default=str)


def _without_pulumi_annotations(item: dict[str, Any]) -> dict[str, Any]:
    """`item` without the annotations that speak to the Pulumi engine (`pulumi.com/...`, such as the skipAwait a
    component puts on a backend's Service): no validator reads them, and the builders need not make them."""
    annotations = (item.get("metadata") or {}).get("annotations")
    if not annotations:
        return item
    kept = {key: value for key, value in annotations.items() if not key.startswith("pulumi.com/")}
    metadata = {key: value for key, value in item["metadata"].items() if key != "annotations"}
    return {**item, "metadata": {**metadata, **({"annotations": kept} if kept else {})}}


def _key(item: dict[str, Any]) -> tuple:
    metadata = item.get("metadata") or {}
    return (item.get("kind"), metadata.get("namespace") or "", metadata.get("name") or "")


# One accepted config in this many also runs through the real program, whose objects must equal
# the manifest builders' (the program costs 100 ms a config, the builders 1 ms).
PROGRAM_PATH_EVERY = 4


def render_case(raw: dict[str, Any], through_program: bool) -> Case:
    """The case the validators judge: what the program emits for `raw` (the manifest builders on
    the unvalidated config; with `through_program`, the real program, checked against the builders)
    and what `external: true` promises. Raises when nothing can be rendered."""
    config = lenient_config(raw)
    built = manifest_objects(config)
    if through_program:
        emitted = program_objects("differential", raw)
        from_program = sorted((_without_pulumi_annotations(item) for item in emitted if item.get("kind") in COMPARED_KINDS), key=_key)
        from_builders = sorted((_without_pulumi_annotations(item) for item in built if item.get("kind") in COMPARED_KINDS), key=_key)
        if from_program != from_builders:
            raise AssertionError(
                "the manifest builders no longer emit what the program emits, so they cannot stand in "
                f"for it on refused configs:\nprogram:  {from_program}\nbuilders: {from_builders}"
            )
        built = emitted
    else:
        yaml.safe_dump_all(built)  # an unvalidated value that cannot even be written is not renderable
    external_parents = {
        (ref.namespace or config.namespace, ref.name)
        for route in config.routes for ref in route.parent_refs if getattr(ref, "external", False) is True
    }
    external = external_objects(config)
    yaml.safe_dump_all(external)  # nor is one whose promised neighbours cannot (a required name left out)
    return Case(objects=copy.deepcopy(built), external=external, external_parents=external_parents)


def judge_configs(configs: Sequence[dict[str, Any]], version: str = DEFAULT_ENVOY_GATEWAY_VERSION,
                  batch_size: int = CONFIGS_PER_BATCH) -> tuple[list[Outcome], Statistics]:
    started = time.monotonic()
    outcomes = [Outcome(raw=raw, program_problems=program_verdict(raw)) for raw in configs]
    pending: list[tuple[list[Outcome], Future]] = []
    batch_outcomes: list[Outcome] = []
    batch_cases: list[Case] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        def submit() -> None:
            if batch_cases:
                pending.append((list(batch_outcomes), pool.submit(judge_batch, list(batch_cases), version)))
                batch_outcomes.clear()
                batch_cases.clear()

        accepted_so_far = 0
        for outcome in outcomes:
            accepted = not outcome.program_problems
            through_program = accepted and accepted_so_far % PROGRAM_PATH_EVERY == 0
            accepted_so_far += accepted
            try:
                case = render_case(outcome.raw, through_program)
            except AssertionError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure to render an unvalidated config
                if not outcome.program_problems:
                    raise
                outcome.render_error = f"{type(error).__name__}: {error}"
                continue
            batch_outcomes.append(outcome)
            batch_cases.append(case)
            if len(batch_cases) >= batch_size:
                submit()
        submit()
        for judged, future in pending:
            for outcome, verdict in zip(judged, future.result()):
                outcome.verdict = verdict
                outcome.disagreement = disagreement(outcome.program_problems, verdict)
    statistics = Statistics(
        configs=len(outcomes),
        accepted_by_program=sum(not outcome.program_problems for outcome in outcomes),
        accepted_by_validators=sum(bool(outcome.verdict and outcome.verdict.accepted) for outcome in outcomes),
        not_renderable=sum(outcome.verdict is None for outcome in outcomes),
        seconds=time.monotonic() - started,
    )
    return outcomes, statistics


def as_stack_file(raw: dict[str, Any]) -> str:
    """A config as the stack file a user would write."""
    return yaml.safe_dump({"config": {f"{PROJECT_NAME}:{key}": value for key, value in raw.items()}}, sort_keys=False)


def report(outcome: Outcome) -> str:
    return f"{outcome.disagreement}\nstack file:\n{as_stack_file(outcome.raw)}"
