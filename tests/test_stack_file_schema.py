"""Specification of the stack files' JSON Schema (stacks/stack-file.schema.json).

It is generated from the models and committed; editors use it through each stack file's first
line; a standard validator (check-jsonschema) accepts every stack file with it; and where a bad
stack file breaks a rule of shape, the schema and the program name the same field.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gateway_config.loader import PROJECT_NAME, ConfigError, parse_stack_config
from gateway_config.schema import SCHEMA_COMMENT, SCHEMA_FILE, schema_text, stack_file_schema
from tests.conftest import REPOSITORY_ROOT, STACK_FILES, stack_raw_config

# Every Pulumi stack file of the repository: this program's and the examples' projects'.
ALL_STACK_FILES = sorted(
    [*STACK_FILES, *(REPOSITORY_ROOT / "examples").rglob("Pulumi.*.yaml")], key=str
)
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def test_the_committed_schema_is_the_one_the_models_give() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "stale: run `python -m gateway_config.schema`"


@pytest.mark.parametrize("stack_file", ALL_STACK_FILES, ids=lambda path: str(path.relative_to(REPOSITORY_ROOT)))
def test_every_stack_file_names_its_schema_on_its_first_line(stack_file: Path) -> None:
    first_line = stack_file.read_text().splitlines()[0]
    assert first_line.startswith(SCHEMA_COMMENT), f"{stack_file} must start with '{SCHEMA_COMMENT}<path>'"
    schema = stack_file.parent / first_line.removeprefix(SCHEMA_COMMENT).strip()
    assert schema.is_file(), f"{stack_file}: its schema {schema} does not exist"


@pytest.mark.parametrize("stack_file", ALL_STACK_FILES, ids=lambda path: str(path.relative_to(REPOSITORY_ROOT)))
def test_check_jsonschema_accepts_every_stack_file_with_the_schema_it_names(stack_file: Path) -> None:
    schema = stack_file.parent / stack_file.read_text().splitlines()[0].removeprefix(SCHEMA_COMMENT).strip()
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(schema), str(stack_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_refuses_a_stack_file_with_an_unknown_key(tmp_path: Path) -> None:
    # The validator run above can fail: a misspelt key is flagged.
    document = yaml.safe_load((REPOSITORY_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"][f"{PROJECT_NAME}:gateway"]["listenres"] = []
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA_FILE), str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "listenres" in result.stdout


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    parts = [int(part) if part.isdigit() else part for part in path.split(".")]
    target: Any = document
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value


# Bad values of shape: (what is broken, dotted path in the project's config, the bad value).
BAD_VALUES = [
    ("a misspelt gateway key", "gateway.listenres", []),
    ("a port out of range", "gateway.listeners.0.port", 70000),
    ("an unknown protocol", "gateway.listeners.1.protocol", "FTP"),
    ("a number as a string", "backends.0.replicas", "2"),
    ("an unknown path match type", "routes.0.rules.0.matches.0.path.type", "Prefix"),
    ("a path match with a space (Gateway API's path characters)", "routes.0.rules.0.matches.0.path.value", "/a b"),
    ("a listener name that is no DNS label", "gateway.listeners.0.name", "HTTP Listener"),
    ("an unknown key algorithm", "certificates.0.keyAlgorithm", "DSA"),
    ("a weight below zero", "routes.0.rules.0.backendRefs.0.weight", -1),
    ("an unknown top-level key", "gatewayClas", {"name": "eg"}),
]


@pytest.mark.parametrize(("case", "path", "value"), BAD_VALUES, ids=[case for case, _, _ in BAD_VALUES])
def test_the_schema_and_the_program_flag_the_same_field(case: str, path: str, value: Any) -> None:
    # GIVEN the dev stack with one bad value
    raw = copy.deepcopy(stack_raw_config("dev"))
    _set(raw, path, value)
    # WHEN the program validates it
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(raw, "stacks/Pulumi.dev.yaml")
    program_paths = {problem.path for problem in refused.value.problems}
    # AND the schema validates the same stack file
    document = {"config": {f"{PROJECT_NAME}:{key}": item for key, item in raw.items()}}
    errors = list(jsonschema.Draft202012Validator(stack_file_schema()).iter_errors(document))
    assert errors, f"the schema accepts {case}"
    # An error of a union (anyOf) carries, as its context, why each branch refused the value.
    schema_paths = {_dotted(error) for error in errors} | {_dotted(reason) for error in errors for reason in error.context}
    # THEN both name the field
    assert program_paths & schema_paths, f"program {program_paths} / schema {schema_paths}"


def _dotted(error: jsonschema.ValidationError) -> str:
    """The project-config path of a schema error, as the program writes it (`gateway.listeners.0.port`)."""
    parts = [str(part) for part in error.absolute_path][1:]  # past `config`
    if "propertyNames" in error.absolute_schema_path:
        # The schema names the mapping; its instance is the key it refused, which the program names.
        parts.append(str(error.instance))
    elif error.validator == "additionalProperties":
        parts += [key for key in error.instance if key not in error.schema.get("properties", {})][:1]
    if parts:
        parts[0] = parts[0].removeprefix(f"{PROJECT_NAME}:")
    return ".".join(parts)
