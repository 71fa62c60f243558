"""The edge: turn a stack's raw config into a `StackConfig`, or into one clear error.

Raw config arrives in two ways, which this module makes one: from the Pulumi engine
while `pulumi preview`/`up` runs (keys `api-gateway:<key>`, values as strings, objects
JSON-encoded), and from a stack file read directly by `gatestack` and the tests. Every
problem is reported at once, one line each, as
`stacks/Pulumi.<stack>.yaml: <dotted.path>: <what is wrong; what is allowed>`.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from gateway_config.models import StackConfig
from gateway_config.problems import Problem
from gateway_config.route_files import FileProblem, merge_route_files
from gateway_config.semantics import find_problems
from gateway_config.yaml_files import YamlSyntaxError, load_yaml

PROJECT_NAME = "api-gateway"
STACKS_DIRECTORY = "stacks"


class ConfigError(Exception):
    """A stack config that cannot be used; `str()` is the message for the user."""

    def __init__(self, stack_file: str, problems: list[Problem], note: str | None = None):
        self.stack_file = stack_file
        self.problems = problems
        # A problem in an entry from a route file names that file, not the stack file.
        lines = [
            f"{problem.file if isinstance(problem, FileProblem) else stack_file}: {problem.path}: {problem.message}"
            for problem in problems
        ]
        if note:
            lines.append(note)
        super().__init__("\n".join(lines))


def stack_file_name(stack: str) -> str:
    """The stack file's path as the user knows it, e.g. `stacks/Pulumi.dev.yaml`."""
    return f"{STACKS_DIRECTORY}/Pulumi.{stack}.yaml"


def parse_stack_config(raw: Mapping[str, Any], stack_file: str, project_directory: Path | None = None) -> StackConfig:
    """Validate `raw` (the project's keys without the `api-gateway:` prefix, values decoded).

    The files `raw`'s `routeFiles` names (relative to `project_directory`, by default this
    repository, see `route_files`) are read and their entries appended first, so the stack is
    validated as one config. Raises `ConfigError` naming every problem, an entry from a route
    file by that file and its index there. Cross-value rules (a route naming a backend, a
    listener's certificate, …) are checked once the shape of the config is valid.
    """
    merged = merge_route_files(raw, project_directory)
    try:
        config = StackConfig.model_validate(merged.raw)
    except ValidationError as error:
        problems = [merged.locate(_problem_from_pydantic(detail)) for detail in error.errors(include_url=False)]
        raise ConfigError(
            stack_file,
            merged.problems + _with_gateway_problem(merged.raw, problems),
            note="(references between sections are checked once these are fixed)",
        ) from None
    shape_problems = merged.problems + _with_gateway_problem(merged.raw, [])
    if shape_problems:
        raise ConfigError(stack_file, shape_problems, note="(references between sections are checked once these are fixed)")
    problems = [merged.locate(problem) for problem in find_problems(config)]
    if problems:
        raise ConfigError(stack_file, problems)
    return config


def _with_gateway_problem(raw: Mapping[str, Any], problems: list[Problem]) -> list[Problem]:
    """`problems` (the models', in the order of their keys) with one more where a stack declares no
    Gateway: neither `gateway` (the seed's) nor any of `gateways`. It stands where the models would
    put `gateway`'s own problem, as when `gateway` was a required key."""
    if raw.get("gateway") is not None or raw.get("gateways"):
        return problems
    if "gateways" in raw:
        missing = Problem("gateways", "is empty and there is no gateway; declare at least one Gateway (gateway or gateways)")
    else:
        missing = Problem("gateway", "is required but missing")
    keys = [info.alias or name for name, info in StackConfig.model_fields.items()]
    rank = {key: position for position, key in enumerate(keys)}
    later = next(
        (index for index, problem in enumerate(problems) if rank.get(problem.path.split(".")[0], -1) > rank[missing.path]),
        len(problems),
    )
    return problems[:later] + [missing] + problems[later:]


def raw_config_from_stack_file(path: Path) -> dict[str, Any]:
    """The project's config from a `Pulumi.<stack>.yaml` file, as the engine would pass it.

    Keys of other namespaces (e.g. `kubernetes:context`) belong to providers and are left out.
    A file that is not valid YAML, repeats a key, has a `config:` that is not a mapping, puts a
    project key under another or no namespace, or holds `secure:` values (which only the Pulumi
    engine can decrypt) is refused with one line per problem, naming the line where YAML knows it.
    """
    try:
        document, problems = load_yaml(path)
    except YamlSyntaxError as error:
        raise ConfigError(str(path), [error.problem]) from None
    if document is not None and not isinstance(document, dict):
        raise ConfigError(str(path), [Problem("(file)", "must be a mapping with a 'config:' key, as Pulumi stack files are")])
    config = (document or {}).get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(str(path), [*problems, Problem("config", f"is a {type(config).__name__}; it must be a mapping of keys to values")])
    problems += _namespace_problems(config)
    raw = {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if isinstance(key, str) and key.startswith(f"{PROJECT_NAME}:")
    }
    for key, value in raw.items():
        problems += _encrypted_value_problems(value, key)
    if problems:
        raise ConfigError(str(path), problems)
    return raw


# Namespaces of the providers this program uses, and Pulumi's own: their keys are not the project's.
_PROVIDER_NAMESPACES = ("kubernetes", "tls", "pulumi")


def _namespace_problems(config: Mapping[Any, Any]) -> list[Problem]:
    project_keys = [info.alias or name for name, info in StackConfig.model_fields.items()]
    problems = []
    for key in config:
        if not isinstance(key, str):
            problems.append(Problem(str(key), f"is not a key of the form '{PROJECT_NAME}:<key>'"))
            continue
        namespace, separator, name = key.rpartition(":")
        if not separator:
            if key in project_keys:
                problems.append(Problem(key, f"has no namespace; write '{PROJECT_NAME}:{key}'"))
            else:
                problems.append(Problem(key, f"has no namespace; this project's keys are '{PROJECT_NAME}:<key>'"))
        elif namespace != PROJECT_NAME and namespace not in _PROVIDER_NAMESPACES and (
            name in project_keys or difflib.get_close_matches(namespace, [PROJECT_NAME], n=1, cutoff=0.6)
        ):
            problems.append(Problem(
                key, f"namespace '{namespace}' is not this project's ('{PROJECT_NAME}'); did you mean '{PROJECT_NAME}:{name}'?"))
    return problems


def _encrypted_value_problems(value: Any, path: str) -> list[Problem]:
    if isinstance(value, dict) and set(value) == {"secure"}:
        return [Problem(path, "is an encrypted value (secure:), which only the Pulumi engine can decrypt; run `pulumi "
                              "preview`/`up`, or give the value in plain text to use this command")]
    if isinstance(value, dict):
        return [problem for key, item in value.items() for problem in _encrypted_value_problems(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value) for problem in _encrypted_value_problems(item, f"{path}.{index}")]
    return []


def engine_config_from_raw(raw: Mapping[str, Any]) -> dict[str, str]:
    """The same config in the form the Pulumi engine hands a program: namespaced keys,
    strings as they are, everything else JSON-encoded."""
    return {
        f"{PROJECT_NAME}:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in raw.items()
    }


def raw_config_from_engine(engine_config: Mapping[str, str]) -> dict[str, Any]:
    """Decode the engine's form back: objects, lists, numbers and booleans from JSON."""
    raw: dict[str, Any] = {}
    for key, value in engine_config.items():
        if not key.startswith(f"{PROJECT_NAME}:"):
            continue
        try:
            decoded = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            decoded = value  # a plain string such as a namespace name
        raw[key.split(":", 1)[1]] = decoded
    return raw


def _problem_from_pydantic(detail: Mapping[str, Any]) -> Problem:
    location = [str(part) for part in detail["loc"]]
    kind = detail["type"]
    value = detail.get("input")
    context = detail.get("ctx") or {}
    if kind == "extra_forbidden":
        return Problem(".".join(location), _unknown_key_message(location))
    if location and location[0] == "credentials":
        # Never repeat a password or key: say what is wrong without the value.
        return Problem(".".join(location), "must map policy names to users (or clients) and their password (or key) as strings; the value is not shown")
    if kind == "missing":
        return Problem(".".join(location), "is required but missing")
    if kind == "too_long":
        return Problem(
            ".".join(location),
            f"has {context.get('actual_length')} entries; at most {context.get('max_length')} are allowed",
        )
    if kind == "too_short":
        return Problem(
            ".".join(location),
            f"has {context.get('actual_length')} entries; at least {context.get('min_length')} required",
        )
    if kind in ("greater_than_equal", "greater_than"):
        bound = context.get("ge", context.get("gt"))
        return Problem(".".join(location), f"is {value!r}; it must be {'at least' if 'ge' in context else 'above'} {bound}")
    if kind in ("less_than_equal", "less_than"):
        bound = context.get("le", context.get("lt"))
        return Problem(".".join(location), f"is {value!r}; it must be {'at most' if 'le' in context else 'below'} {bound}")
    if kind == "literal_error":
        return Problem(".".join(location), f"is {value!r}; allowed values: {context.get('expected')}")
    if kind.endswith("_type") or kind.startswith("int_") or kind == "model_type":
        expected = _expected_type(kind)
        return Problem(".".join(location), f"is {value!r} ({type(value).__name__}); {expected} is required")
    return Problem(".".join(location), detail["msg"])


def _expected_type(kind: str) -> str:
    return {
        "int_type": "a whole number",
        "int_from_float": "a whole number",
        "int_parsing": "a whole number",
        "string_type": "a string",
        "bool_type": "true or false",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
    }.get(kind, "another type")


def _unknown_key_message(location: list[str]) -> str:
    unknown = location[-1]
    allowed = _allowed_keys(location[:-1])
    suggestion = difflib.get_close_matches(unknown, allowed, n=1, cutoff=0.6)
    hint = f"did you mean '{suggestion[0]}'? " if suggestion else ""
    return f"unknown key '{unknown}'; {hint}allowed keys: {', '.join(allowed)}"


def _allowed_keys(parent_location: list[str]) -> list[str]:
    """The keys the model at `parent_location` accepts, found by walking the models."""
    model: type[BaseModel] | None = StackConfig
    for part in parent_location:
        if model is None or part.isdigit():
            continue
        field = next(
            (info for name, info in model.model_fields.items() if (info.alias or name) == part),
            None,
        )
        model = _model_of(field.annotation) if field is not None else None
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()) or ():
        model = _model_of(argument)
        if model is not None:
            return model
    return None
