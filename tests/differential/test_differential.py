"""Specification: what the program accepts, the real validators accept, and the other way round.

Generated stack configs (valid ones and single-field mutations of valid ones, Hypothesis) are
judged by the program (`parse_stack_config`) and by the real validators on what it renders:
kubectl-validate against the pinned CRDs (schemas and CEL rules) and `egctl x translate`'s
status conditions. Any disagreement fails: a missing rule (the program accepts, a validator
refuses) or an over-strict one (the program refuses, every validator accepts) that is not one of
the program's documented own rules (`gatestack/differential/program_rules.py`).

Two passes over the same seed: the first draws every config and judges them in batches (one tool
process per 50 configs); only if something disagrees, the second replays the search with the
cached verdicts so that Hypothesis shrinks the failure to a minimal stack file (configs it has not
seen are judged one by one).

The seed is fixed (`DEFAULT_SEED`, verified to agree on all its configs), so `make test` judges the
same 500 configs on every run and a submission fails only for what it changed. Exploring new
configs: `DIFFERENTIAL_SEED=random` (printed, so a failure can be run again with
`DIFFERENTIAL_SEED=<printed seed>`) or any number; longer runs: `DIFFERENTIAL_EXAMPLES=5000`.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from gatestack.differential.compare import disagreement, program_verdict
from gatestack.differential.validator_verdicts import judge_batch
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION
from tests.differential.harness import Outcome, as_stack_file, canonical, judge_configs, render_case, report
from tests.differential.strategies import generated_stack_configs

# The seed CI runs: every one of its 500 configs agrees (checked when it was chosen, and by every
# `make test` since). Change it only to one that passes as well.
DEFAULT_SEED = 20261130
EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "500"))


def chosen_seed(setting: str | None) -> int:
    """`DIFFERENTIAL_SEED`: unset or empty for the default seed, `random` for a new one, or a number."""
    if not setting:
        return DEFAULT_SEED
    if setting.strip().lower() == "random":
        return random.randrange(2**32)
    return int(setting)


SEED = chosen_seed(os.environ.get("DIFFERENTIAL_SEED"))
COMMON = dict(database=None, deadline=None, suppress_health_check=list(HealthCheck))


def _draw_all() -> list[dict]:
    drawn: list[dict] = []

    @settings(max_examples=EXAMPLES, phases=[Phase.generate], **COMMON)
    @seed(SEED)
    @given(generated_stack_configs())
    def draw(raw: dict) -> None:
        drawn.append(raw)

    draw()
    return drawn


def _shrink(outcomes: list[Outcome]) -> str:
    """Replay the search with the verdicts known so far; Hypothesis shrinks the first disagreement."""
    known = {canonical(outcome.raw): outcome for outcome in outcomes}

    @settings(max_examples=EXAMPLES, phases=[Phase.generate, Phase.shrink], **COMMON)
    @seed(SEED)
    @given(generated_stack_configs())
    def agree(raw: dict) -> None:
        outcome = known.get(canonical(raw))
        if outcome is None:
            problems = program_verdict(raw)
            try:
                case = render_case(raw, through_program=False)
            except Exception:  # noqa: BLE001 - not renderable: nothing to compare
                return
            verdict = judge_batch([case], DEFAULT_ENVOY_GATEWAY_VERSION)[0]
            outcome = Outcome(raw, problems, verdict, disagreement=disagreement(problems, verdict))
            known[canonical(raw)] = outcome
        assert outcome.disagreement is None, report(outcome)

    try:
        agree()
    except AssertionError as error:
        return str(error)
    return "(the disagreement did not reproduce while shrinking)"


def test_program_and_real_validators_agree_on_generated_configs() -> None:
    configs = _draw_all()
    outcomes, statistics = judge_configs(configs)
    print(f"\ndifferential (seed {SEED}): {statistics.line()}")
    assert len(configs) >= min(EXAMPLES, 500) * 0.9, f"only {len(configs)} configs were drawn"
    disagreeing = [outcome for outcome in outcomes if outcome.disagreement is not None]
    if disagreeing:
        pytest.fail(
            f"{len(disagreeing)} of {len(configs)} configs disagree (seed {SEED}); first found:\n{report(disagreeing[0])}\n"
            f"minimal example after shrinking:\n{_shrink(outcomes)}\n"
            "keep it as a regression test in tests/differential/test_regressions.py",
            pytrace=False,
        )
    # Enough accepted configs that the accepting side is exercised too. A quarter, not a third:
    # a third of the Gateways start with a listener pair whose classes are conflicts as often as
    # not (listener_strategies.py), so seeds accept 145 to 214 of 500 (seed 2874240068: 145).
    assert statistics.accepted_by_program >= len(configs) // 4, "the generator draws too few valid configs"


def test_the_seed_is_fixed_unless_exploring_is_asked_for() -> None:
    assert chosen_seed(None) == chosen_seed("") == DEFAULT_SEED
    assert chosen_seed("11") == 11
    assert len({chosen_seed("random") for _ in range(3)}) > 1


def test_as_stack_file_writes_the_project_namespace() -> None:
    assert as_stack_file({"namespace": "team-a"}) == "config:\n  api-gateway:namespace: team-a\n"
