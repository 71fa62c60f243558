"""`gatestack verify`: the checks derived from a stack's config, sent to a running gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gatestack.cli.console import BAD_INPUT, CONFIG_OPTION, FAILED, SAMPLE_SIZE_OPTION, STACK_OPTION, fail, stack_or_exit
from gatestack.verify.credentials_file import CredentialsFileError
from gatestack.verify.verification_run import VerificationRequest, run_verification


def verify(
    host: str = typer.Option(..., "--host", help="The gateway's address (the stack output GATEWAY_HOST)."),
    stack: Optional[str] = STACK_OPTION,
    config_file: Optional[Path] = CONFIG_OPTION,
    http_port: Optional[int] = typer.Option(None, "--http-port", help="Port of the HTTP listener (default: as declared)."),
    https_port: Optional[int] = typer.Option(None, "--https-port", help="Port of the HTTPS listener (default: as declared)."),
    ca_file: Optional[Path] = typer.Option(None, "--ca-file", help="CA certificate (PEM) the HTTPS listeners' certificates chain to."),
    sample_size: int = SAMPLE_SIZE_OPTION,
    client_certificates: Optional[Path] = typer.Option(
        None,
        "--client-certificates",
        help="JSON of mutual-TLS clients, as `pulumi stack output CLIENT_CERTIFICATES --show-secrets --json` prints it.",
    ),
    credentials: Optional[Path] = typer.Option(
        None,
        "--credentials",
        help="YAML or JSON of basic-auth passwords, API keys and JWTs or signing keys a legitimate client holds "
        "(gatestack/verify/credentials_file.py); checks needing what it leaves out are not checked.",
    ),
    state_directory: Optional[Path] = typer.Option(
        None,
        "--state-dir",
        help="The local cluster's state directory: lets verify stop and start an inference pool's Endpoint Picker.",
    ),
) -> None:
    """Send the checks derived from the stack's config to a running gateway; exit 1 on any failure."""
    request = VerificationRequest(
        stack=stack_or_exit(stack, config_file),
        host=host,
        http_port=http_port,
        https_port=https_port,
        ca_pem=None if ca_file is None else ca_file.read_text(),
        sample_size=sample_size,
        client_certificates=None if client_certificates is None else json.loads(client_certificates.read_text()),
        credentials_file=credentials,
        cluster_state_directory=None if state_directory is None else state_directory.resolve(),
    )
    try:
        passed = run_verification(request)
    except CredentialsFileError as error:
        fail(str(error), BAD_INPUT)
    if not passed:
        raise typer.Exit(FAILED)
