"""Specification: a local proof adds its material to the stack's, never replaces it.

A JWKS is a set. `gatestack local` and `conformance` add a proof key to a provider's inline
JWKS, so a token signed with the stack's own key still passes (as it would in a cluster), and
the proof's tokens pass too.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from gatestack.offline_proof.proof_identities import jwks_with_key, unused_key_id, with_proof_identities
from gatestack.stack_source import load_stack
from gatestack.verify.jwt_tokens import PROOF_KEY_ID, JwtSigner
from tests.conftest import REPOSITORY_ROOT, stack_raw_config

STACK_KEY_ID = "stack-own-key"
LOCAL_START_SECONDS = 240


def collect_lines(process: subprocess.Popen, lines: list[str]) -> None:
    """Append the process's output lines to `lines` as they come (on a thread of its own)."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


def stack_with_inline_jwt(signer: JwtSigner) -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["certificates"][0]["dnsNames"] = ["www.example.com", "partner.example.com"]
    config["routes"].append({"name": "partner", "hostnames": ["partner.example.com"], "rules": [{"backendRefs": [{"name": "backend"}]}]})
    config["securityPolicies"] = [
        {"name": "partner-jwt", "targetRefs": [{"kind": "HTTPRoute", "name": "partner"}],
         "jwt": {"providers": [{"name": "partner", "issuer": "https://partner.example.net", "audiences": ["api"],
                                "localJWKS": {"type": "Inline", "inline": signer.jwks()}}]}},
    ]
    return config


def write_stack_file(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / "Pulumi.partner.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in config.items()}}))
    return path


def test_the_proof_key_is_added_to_the_stacks_inline_jwks_and_the_stacks_keys_stay(tmp_path: Path) -> None:
    # GIVEN a stack whose provider trusts its own key
    stack_signer = JwtSigner("https://partner.example.net", ["api"], JwtSigner.new(None, []).private_key, STACK_KEY_ID)
    source = load_stack(None, write_stack_file(tmp_path, stack_with_inline_jwt(stack_signer)))
    # WHEN the proof prepares its identities
    raw, material = with_proof_identities(source.config, source.raw_config)
    # THEN the inline JWKS holds the stack's key and the proof's, under different key ids
    inline = json.loads(raw["securityPolicies"][0]["jwt"]["providers"][0]["localJWKS"]["inline"])
    key_ids = [key["kid"] for key in inline["keys"]]
    assert key_ids == [STACK_KEY_ID, material.jwt_signers["partner-jwt/partner"].key_id]
    assert json.loads(stack_signer.jwks())["keys"][0] in inline["keys"]


def test_a_proof_key_never_takes_the_key_id_of_a_stack_key() -> None:
    stack_jwks = JwtSigner.new(None, []).jwks()  # its kid is PROOF_KEY_ID too
    assert unused_key_id(stack_jwks) == f"{PROOF_KEY_ID}-2"
    merged = json.loads(jwks_with_key(stack_jwks, JwtSigner.new(None, []).jwks()))
    assert len(merged["keys"]) == 2


def _request(port: int, token: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", headers={"Host": "partner.example.com", "Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_token_signed_with_the_stacks_own_inline_key_gets_200_from_gatestack_local(tmp_path: Path) -> None:
    # GIVEN a stack whose JWT provider's inline JWKS holds the stack's own key
    stack_signer = JwtSigner("https://partner.example.net", ["api"], JwtSigner.new(None, []).private_key, STACK_KEY_ID)
    stack_file = write_stack_file(tmp_path, stack_with_inline_jwt(stack_signer))
    # WHEN `gatestack local` runs it
    process = subprocess.Popen(
        [sys.executable, "-m", "gatestack", "local", "--config", str(stack_file)],
        cwd=REPOSITORY_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        output: list[str] = []
        threading.Thread(target=collect_lines, args=(process, output), daemon=True).start()
        deadline = time.monotonic() + LOCAL_START_SECONDS
        while time.monotonic() < deadline and process.poll() is None and not any("Ctrl-C to stop." in line for line in output):
            time.sleep(0.2)
        lines = [line for line in list(output) if "Host: partner.example.com" in line and "http://127.0.0.1:" in line]
        port = int(lines[0].split("http://127.0.0.1:")[1].split("/")[0]) if lines else None
        assert port is not None, "".join(output)
        # THEN a token signed with the stack's own key gets 200, an unknown key's 401
        assert _request(port, stack_signer.token()) == 200
        assert _request(port, JwtSigner("https://partner.example.net", ["api"], JwtSigner.new(None, []).private_key, "other").token()) == 401
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
