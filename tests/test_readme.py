"""Specification: the README tells the truth about set-up, CI and configuration."""

from __future__ import annotations

import re

from pydantic import BaseModel

from gateway_config.loader import _model_of
from gateway_config.models import StackConfig
from tests.conftest import REPOSITORY_ROOT

README = (REPOSITORY_ROOT / "README.md").read_text()


def config_keys(model: type[BaseModel] = StackConfig) -> set[str]:
    keys = set()
    for name, info in model.model_fields.items():
        keys.add(info.alias or name)
        nested = _model_of(info.annotation)
        if nested is not None:
            keys |= config_keys(nested)
    return keys


def test_every_config_key_is_documented() -> None:
    # A key counts as documented as `key`, as the end of `parent.key`, or as `key.child`.
    forms = lambda key: (f"`{key}`", f".{key}`", f"`{key}.")  # noqa: E731
    undocumented = sorted(key for key in config_keys() if not any(form in README for form in forms(key)))
    assert not undocumented, f"README's configuration reference lacks: {undocumented}"


def test_the_two_set_up_commands_are_the_ones_ci_runs() -> None:
    block = README.split("## Set up", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make up", "make test"]
    ci_script = (REPOSITORY_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci_script, re.MULTILINE)


def test_no_placeholder_is_left_in_the_readme() -> None:
    assert not re.findall(r"\b[A-Z]+_(EXAMPLE|TABLE)\b", README)
