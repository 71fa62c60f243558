"""One config's verdicts side by side: the program's and the validators'.

A disagreement is either a missing rule (the program accepts what a validator refuses: the
user would be hurt at apply time) or an over-strict rule (the program refuses what every
validator accepts), unless every refusal is one of the program's own documented rules
(`program_rules.PROGRAM_ONLY_RULES`: safety rules and the program's deliberate scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from gateway_config.loader import ConfigError, parse_stack_config
from gateway_config.semantics import Problem
from gatestack.differential.program_rules import program_only_rule
from gatestack.differential.validator_verdicts import Verdict

STACK_FILE = "stacks/Pulumi.differential.yaml"


def program_verdict(raw: Mapping[str, Any]) -> list[Problem]:
    """The program's problems with `raw`; empty when it accepts."""
    try:
        parse_stack_config(dict(raw), STACK_FILE)
    except ConfigError as error:
        return error.problems
    return []


@dataclass(frozen=True)
class Disagreement:
    kind: str  # "missing rule" or "over-strict rule"
    details: list[str]

    def __str__(self) -> str:
        return f"{self.kind}:\n" + "\n".join(f"  {line}" for line in self.details)


def disagreement(program_problems: list[Problem], verdict: Verdict) -> Disagreement | None:
    if not program_problems and not verdict.accepted:
        return Disagreement("missing rule (the program accepts, a validator refuses)", verdict.problems)
    if program_problems and verdict.accepted:
        unexplained = [problem for problem in program_problems if program_only_rule(problem) is None]
        if unexplained:
            return Disagreement(
                "over-strict rule (the program refuses, every validator accepts)",
                [f"{problem.path}: {problem.message}" for problem in unexplained],
            )
    return None
