"""`gatestack local`: a stack's gateway running on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.console import CONFIG_OPTION, STACK_OPTION, stack_or_exit
from gatestack.offline_proof.conformance_run import local_gateway_for
from gatestack.progress import progress
from gatestack.stack_source import StackSource


def local(
    stack: Optional[str] = STACK_OPTION,
    config_file: Optional[Path] = CONFIG_OPTION,
) -> None:
    """Run the stack's gateway on 127.0.0.1 (as `conformance` does) until interrupted."""
    source = stack_or_exit(stack, config_file)
    with local_gateway_for(source) as (gateway, ca_files, _material):
        typer.echo(f"gateway {source.config.gateway.name} of stack {source.name} is running:")
        for curl_line in curl_lines(source, gateway.listeners, ca_files):
            typer.echo(f"  {curl_line}")
        typer.echo("Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            progress("stopping")


def curl_lines(source: StackSource, listeners: dict[str, tuple[str, int]], ca_files: dict[str, Path]) -> list[str]:
    """A `curl` command per route and listener it attaches to, at the local gateway's addresses."""
    lines = []
    config = source.config
    by_name = {listener.name: listener for listener in config.gateway.listeners}
    for route in config.routes:
        hostname = route.hostnames[0] if route.hostnames else "gatestack-verify.example"
        first_match = route.rules[0].matches[0] if route.rules[0].matches else None
        path = first_match.path.value if first_match and first_match.path and first_match.path.type != "RegularExpression" else "/"
        attached = [ref.section_name for ref in route.parent_refs if ref.section_name] or list(listeners)
        for listener_name in attached:
            if listener_name not in listeners:
                continue
            address, port = listeners[listener_name]
            listener = by_name[listener_name]
            if listener.protocol == "HTTPS":
                secret = listener.tls.certificate_refs[0].name
                ca = f" --cacert {ca_files[secret]}" if secret in ca_files else ""
                lines.append(f"curl --resolve {hostname}:{port}:{address}{ca} https://{hostname}:{port}{path}")
            else:
                lines.append(f'curl -H "Host: {hostname}" http://{address}:{port}{path}')
    return lines
