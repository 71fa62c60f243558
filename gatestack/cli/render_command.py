"""`gatestack render`: every Kubernetes object a stack declares, as multi-document YAML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.console import BAD_INPUT, CONFIG_OPTION, STACK_OPTION, fail, stack_or_exit
from gatestack.mock_engine.program_run import ProgramFailed, run_program
from gatestack.mock_engine.rendered_objects import kubernetes_objects, to_yaml
from gatestack.progress import progress


def render(
    stack: Optional[str] = STACK_OPTION,
    config_file: Optional[Path] = CONFIG_OPTION,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Print every Kubernetes object the stack declares (multi-document YAML).

    Runs the real program under the Pulumi SDK's mock engine. Certificates and keys appear
    as `<computed at deploy time: ...>` placeholders and Secret values as `<secret: ...>`;
    Helm charts appear as `apiVersion: helm.sh/v4, kind: Chart` stand-ins.
    """
    source = stack_or_exit(stack, config_file)
    try:
        run = run_program(source.name, source.raw_config)
    except ProgramFailed as error:
        fail(str(error), BAD_INPUT)
    text = to_yaml(kubernetes_objects(run))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        progress(f"wrote {output}")
