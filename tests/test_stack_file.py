"""Specification: a stack file that cannot be read as this project's config gets one clear line
per problem, naming the file (and the line, where YAML knows it), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway_config.loader import ConfigError, raw_config_from_stack_file
from tests.conftest import REPOSITORY_ROOT

# (case id, stack file text, the one line expected after "<file>: ")
BROKEN_FILES = [
    ("YAML syntax error", "config:\n  api-gateway:namespace: [a\n",
     "line 3: is not valid YAML: expected ',' or ']', but got '<stream end>', while parsing a flow sequence on line 2 (column 1)"),
    ("a tab for indentation", "config:\n\tapi-gateway:namespace: a\n",
     "line 2: is not valid YAML: found character '\\t' that cannot start any token (column 1)"),
    ("a key given twice", "config:\n  api-gateway:namespace: a\n  api-gateway:namespace: b\n",
     "line 3: key 'api-gateway:namespace' appears more than once (first on line 2); YAML keeps only the last, so give each key once"),
    ("a nested key given twice", "config:\n  api-gateway:gateway:\n    name: a\n    name: b\n",
     "line 4: key 'name' appears more than once (first on line 3); YAML keeps only the last, so give each key once"),
    ("config that is a list", "config: [1, 2]\n", "config: is a list; it must be a mapping of keys to values"),
    ("a file that is a list", "- config\n", "(file): must be a mapping with a 'config:' key, as Pulumi stack files are"),
    ("a misspelt project namespace", "config:\n  api-gatway:namespace: a\n",
     "api-gatway:namespace: namespace 'api-gatway' is not this project's ('api-gateway'); did you mean 'api-gateway:namespace'?"),
    ("a key without namespace", "config:\n  gateway: {}\n", "gateway: has no namespace; write 'api-gateway:gateway'"),
    ("an encrypted value", "config:\n  api-gateway:gateway:\n    annotations:\n      token:\n        secure: AAABAD==\n",
     "gateway.annotations.token: is an encrypted value (secure:), which only the Pulumi engine can decrypt; "
     "run `pulumi preview`/`up`, or give the value in plain text to use this command"),
]


@pytest.mark.parametrize("text, line", [case[1:] for case in BROKEN_FILES], ids=[case[0] for case in BROKEN_FILES])
def test_broken_stack_file_is_refused_with_one_line(tmp_path: Path, text: str, line: str) -> None:
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text(text)
    with pytest.raises(ConfigError) as raised:
        raw_config_from_stack_file(stack_file)
    assert str(raised.value) == f"{stack_file}: {line}"


def test_provider_keys_are_left_to_their_providers(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.ok.yaml"
    stack_file.write_text("config:\n  kubernetes:context: kind\n  api-gateway:namespace: team-a\n")
    assert raw_config_from_stack_file(stack_file) == {"namespace": "team-a"}


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text("config:\n  gateway: {}\n  api-gateway:namespace: a\n  api-gateway:namespace: b\n")
    with pytest.raises(ConfigError) as raised:
        raw_config_from_stack_file(stack_file)
    assert [line.split(": ")[1] for line in str(raised.value).splitlines()] == ["line 4", "gateway"]


@pytest.mark.parametrize("text", [case[1] for case in BROKEN_FILES], ids=[case[0] for case in BROKEN_FILES])
def test_gatestack_prints_a_broken_file_without_a_traceback(tmp_path: Path, text: str) -> None:
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text(text)
    result = subprocess.run([sys.executable, "-m", "gatestack", "render", "--config", str(stack_file)],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith(f"{stack_file}: ")
