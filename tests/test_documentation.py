"""Specification of the documentation: a short, true README and a site built strictly whose
references are generated (configuration from the models, components from their docstrings,
command line from the commands)."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

import pulumi_envoy_gateway
from gateway_config.loader import _model_of
from gateway_config.models import StackConfig
from gatestack.cli.app import click_command
from gatestack.mock_engine.program_run import PLACEHOLDER_ADDRESS
from tests.components.conftest import declare
from tests.conftest import REPOSITORY_ROOT

README = (REPOSITORY_ROOT / "README.md").read_text()
MKDOCS = Path(sys.executable).parent / "mkdocs"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `mkdocs build --strict` builds it: any warning (a broken link, a
    missing anchor, an API reference that does not resolve) fails the build."""
    directory = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(directory)],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=600,
        # mkdocs-material's notice about MkDocs 2.0 is not a warning about this site.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


def model_keys(model: type[BaseModel] = StackConfig) -> set[str]:
    """Every key a stack file may hold, at any depth (camelCase, as written)."""
    keys = set()
    for name, info in model.model_fields.items():
        keys.add(info.alias or name)
        nested = _model_of(info.annotation)
        if nested is not None:
            keys |= model_keys(nested)
    return keys


def _first_column_keys(page: str) -> set[str]:
    """The keys in the first column of the page's tables."""
    cells = re.findall(r"<tr>\s*<td><code>([^<]+)</code></td>", page)
    return {html.unescape(cell) for cell in cells}


def test_the_configuration_reference_lists_exactly_the_models_keys(site: Path) -> None:
    page = (site / "reference" / "configuration" / "index.html").read_text()
    documented = _first_column_keys(page)
    assert model_keys() - documented == set(), "keys the models accept but the reference lacks"
    assert documented - model_keys() == set(), "keys the reference lists but the models do not accept"


def test_the_components_reference_documents_every_public_component(site: Path) -> None:
    page = (site / "reference" / "components" / "index.html").read_text()
    missing = [name for name in pulumi_envoy_gateway.__all__ if f'id="pulumi_envoy_gateway.{name}"' not in page]
    assert missing == []


def test_the_command_line_reference_is_generated_from_the_commands(site: Path) -> None:
    page = (site / "reference" / "cli" / "index.html").read_text()
    missing = [name for name in click_command.commands if f"gatestack {name}" not in page]
    assert missing == []


def test_the_readme_is_short_and_names_no_path_outside_the_repository() -> None:
    assert len(README.splitlines()) <= 200
    assert "../" not in README
    assert not re.search(r"\b[0-9a-f]{7,40}\b", README), "commit hashes belong in the docs, not the front page"


def test_the_two_set_up_commands_are_the_ones_ci_runs() -> None:
    block = README.split("## Set up", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make up", "make test"]
    ci_script = (REPOSITORY_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci_script, re.MULTILINE)


def test_every_page_the_readme_links_exists() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README maps the documentation"
    assert [link for link in local if not (REPOSITORY_ROOT / link).exists()] == []


def test_no_placeholder_is_left_in_the_readme() -> None:
    assert not re.findall(r"\b[A-Z]+_(EXAMPLE|TABLE)\b", README)


# Programs the documentation shows a user: (where, the text holding the first ```python block).
SHOWN_PROGRAMS = {
    "README": README.split("## In your own Pulumi program", 1)[1],
    "docs/guides/components.md": (REPOSITORY_ROOT / "docs" / "guides" / "components.md").read_text(),
}


@pytest.mark.parametrize("where", sorted(SHOWN_PROGRAMS))
def test_a_program_the_docs_show_runs_and_declares_the_gateway_it_exports(where: str) -> None:
    # GIVEN the example of the package in one's own program
    source = SHOWN_PROGRAMS[where].split("```python", 1)[1].split("```", 1)[0]
    # WHEN it runs under the SDK's mocks, as `pulumi up` would run it
    run = declare(lambda: exec(compile(source, where, "exec"), {"__name__": "__main__"}))
    # THEN it declares the controller, the class, the Gateway, a backend and the route, and exports the address
    declared = {(resource.type, resource.name) for resource in run.resources}
    for component in ("EnvoyGatewayController", "GatewayClass", "Gateway", "EchoBackend", "WeightedRoute"):
        assert any(kind == f"api-gateway:components:{component}" for kind, _ in declared), component
    assert ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "backend-http-route") in declared
    assert run.outputs["GATEWAY_HOST"] == PLACEHOLDER_ADDRESS
