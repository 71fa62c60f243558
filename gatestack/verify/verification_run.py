"""One run of `verify` against a gateway: what to check (a `VerificationRequest`) and the run.

`gatestack verify` builds a request from its options; `gatestack up` builds one from the stack
object it deployed, the one it parsed and derived for the local cluster, and hands it as a
pickle to `python -m gatestack.verify.verification_run` inside the cluster's network
namespace (where the Gateway's address exists). Pickle, as `multiprocessing` does: the child
gets that very object, so verify checks what was deployed and reads or parses nothing again.
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional

from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.lifecycle import start_endpoint_picker, stop_endpoint_picker
from gatestack.stack_source import StackSource
from gatestack.verify import EndpointPickerControl, InferenceEnvironment, Target, format_table, verify
from gatestack.verify.credentials_file import load_credentials
from gatestack.verify.material import ProofMaterial


@dataclass(frozen=True)
class VerificationRequest:
    """What `verify` needs besides the stack. Defaults: each listener at its declared port, no
    CA (HTTPS checks report not checked), 200 requests per split, no client material, and no
    local cluster (the inference checks that stop an Endpoint Picker report not checked)."""

    stack: StackSource
    host: str
    http_port: Optional[int] = None
    https_port: Optional[int] = None
    ca_pem: Optional[str] = None
    sample_size: int = 200
    client_certificates: Optional[dict] = None
    """As `pulumi stack output CLIENT_CERTIFICATES --show-secrets --json` prints it."""
    credentials_file: Optional[Path] = None
    cluster_state_directory: Optional[Path] = None


def _targets(request: VerificationRequest) -> dict[str, Target]:
    targets = {}
    for listener in request.stack.config.gateway.listeners:
        override = request.http_port if listener.protocol == "HTTP" else request.https_port
        targets[listener.name] = Target(request.host, override if override is not None else listener.port)
    return targets


def _inference(request: VerificationRequest) -> Optional[InferenceEnvironment]:
    if request.cluster_state_directory is None:
        return None
    layout = ClusterLayout(request.cluster_state_directory)
    return InferenceEnvironment(
        control=EndpointPickerControl(stop=partial(stop_endpoint_picker, layout), start=partial(start_endpoint_picker, layout))
    )


def run_verification(request: VerificationRequest) -> bool:
    """Send the checks, print their table on stdout; True when none failed (a check that
    cannot be made, e.g. a regular-expression path, is listed as not checked and does not
    fail the run). Raises `CredentialsFileError` for a credentials file that does not fit."""
    config = request.stack.config
    ca_pems = None if request.ca_pem is None else {certificate.secret_name: request.ca_pem for certificate in config.certificates}
    material = None
    if request.client_certificates is not None:
        material = ProofMaterial.from_outputs({"CLIENT_CERTIFICATES": request.client_certificates})
    if request.credentials_file is not None:
        material = load_credentials(request.credentials_file, config, material)
    results = verify(config, _targets(request), ca_pems, sample_size=request.sample_size, material=material, inference=_inference(request))
    print(format_table(results), flush=True)
    return not any(not result.passed and not result.skipped for result in results)


if __name__ == "__main__":
    sys.exit(0 if run_verification(pickle.load(sys.stdin.buffer)) else 1)
