"""Reading one YAML file the way the person who wrote it expects: a syntax error or a repeated
key is a `Problem` naming its line, never a traceback and never a value silently dropped.

Used for stack files (`loader.raw_config_from_stack_file`) and route files (`route_files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway_config.problems import Problem


class YamlSyntaxError(Exception):
    """A file that is not YAML at all; `problem` says where (`line N`) and why."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(f"{problem.path}: {problem.message}")


def load_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """The document in `path` (None for an empty file) and one problem per repeated key.

    Raises `YamlSyntaxError` when the text is not YAML, naming the line where YAML knows it
    (and the line of the construct it was parsing, when that is another)."""
    loader = _DuplicateKeyLoader(path.read_text())
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        column = f" (column {mark.column + 1})" if mark is not None else ""
        reason = " ".join(str(error.problem or error.context or "syntax error").split())
        if error.context and error.context_mark is not None and error.context_mark is not mark:
            reason += f", {' '.join(error.context.split())} on line {error.context_mark.line + 1}"
        raise YamlSyntaxError(Problem(where, f"is not valid YAML: {reason}{column}")) from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(Problem("(file)", f"is not valid YAML: {' '.join(str(error).split())}")) from None
    finally:
        loader.dispose()
    return document, loader.duplicates


class _DuplicateKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, keeping a problem for every key a mapping repeats (it keeps the last silently)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                self.duplicates.append(Problem(
                    f"line {line}", f"key '{key}' appears more than once (first on line {seen[key]}); YAML keeps only the "
                    "last, so give each key once"))
            elif isinstance(key, (str, int, float, bool)):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)
