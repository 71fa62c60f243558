"""Specification: `verify --credentials FILE` against a deployed stack whose secrets verify cannot read.

The file gives basic-auth passwords and API keys (keyed like the stack's `credentials`) and, per
JWT provider, a token or a signing key the provider trusts. Entries that do not fit the stack
are refused with a sentence; with the file, the "valid credentials" checks run and pass; without
it they are not checked (with the reason), never failed or passed; a wrong password fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify.credentials_file import CredentialsFileError, load_credentials
from gatestack.verify.jwt_tokens import JwtSigner
from tests.conftest import REPOSITORY_ROOT
from tests.test_conformance import passed_checks
from tests.test_security_policy_conformance import stack_file

VALID_CHECKS = [
    "SecurityPolicy admin-basic: route admin rule 0: a valid user and password gets 200",
    "SecurityPolicy keys-api-key: route keys rule 0: a valid API key gets 200",
    "SecurityPolicy params-api-key: route params rule 0: a valid API key gets 200",
    "SecurityPolicy api-jwt: route api rule 0: a valid JWT gets 200",
    "SecurityPolicy inline-jwt: route inline rule 0: a valid JWT gets 200",
]


def write(directory: Path, document: Any) -> Path:
    path = directory / "credentials.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def private_pem(signer: JwtSigner) -> str:
    return signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture
def config(tmp_path: Path) -> Any:
    return load_stack(None, stack_file(tmp_path)).config


@pytest.mark.parametrize(
    "document, message",
    [
        ({"credentials": {"nobody": {"alice": "x"}}}, "credentials.nobody: the stack has no SecurityPolicy 'nobody' with basicAuth or apiKeyAuth"),
        ({"credentials": {"admin-basic": {"carol": "x"}}}, "credentials.admin-basic.carol: not one of the policy's users or clients (alice, bob)"),
        ({"credentials": {"admin-basic": {"alice": ""}}}, "give the password or key as a non-empty string"),
        ({"jwt": {"admin-basic": {}}}, "jwt.admin-basic: the stack has no SecurityPolicy 'admin-basic' with jwt"),
        ({"jwt": {"api-jwt": {"other": {"token": "a.b.c"}}}}, "jwt.api-jwt.other: not one of the policy's providers (example)"),
        ({"jwt": {"api-jwt": {"example": {"token": "not-a-jwt"}}}}, "give either token (a JWT) or privateKeyPem and keyId"),
        ({"jwt": {"api-jwt": {"example": {"privateKeyPem": "garbage", "keyId": "k"}}}}, "not an unencrypted RSA private key in PEM"),
        ({"passwords": {}}, "unknown key(s) passwords; use credentials and jwt"),
    ],
    ids=["unknown policy", "unknown user", "empty password", "policy without jwt", "unknown provider", "not a token", "not a key", "unknown key"],
)
def test_an_entry_that_does_not_fit_the_stack_is_refused_with_a_sentence(tmp_path: Path, config: Any, document: Any, message: str) -> None:
    with pytest.raises(CredentialsFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_credentials(write(tmp_path, document), config)


def test_passwords_keys_tokens_and_signing_keys_become_what_verify_authenticates_with(tmp_path: Path, config: Any) -> None:
    signer = JwtSigner.new("https://partner.example.net", [])
    material = load_credentials(write(tmp_path, {
        "credentials": {"admin-basic": {"bob": "builder-9"}, "params-api-key": {"client-b": "key-b"}},
        "jwt": {"api-jwt": {"example": {"token": "header.claims.signature"}},
                "inline-jwt": {"partner": {"privateKeyPem": private_pem(signer), "keyId": "partner-1"}}},
    }), config)
    policies = {policy.name: policy for policy in config.security_policies}
    assert material.authentication(policies["admin-basic"]) == [("Authorization", "Basic Ym9iOmJ1aWxkZXItOQ==")]
    assert material.authentication(policies["params-api-key"]) == [("?api_key", "key-b")]  # a query parameter
    assert material.authentication(policies["api-jwt"]) == [("Authorization", "Bearer header.claims.signature")]
    loaded = material.signer("inline-jwt", "partner")
    assert loaded.key_id == "partner-1" and loaded.issuer == "https://partner.example.net"
    assert loaded.private_key.private_numbers() == signer.private_key.private_numbers()
    assert material.authentication(policies["keys-api-key"]) is None  # not in the file: not checked


def run_verify(stack: Path, gateway: Any, ca_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    http, https = gateway.listeners["http"][1], gateway.listeners["https"][1]
    return subprocess.run(
        [sys.executable, "-m", "gatestack", "verify", "--config", str(stack), "--host", "127.0.0.1", "--http-port", str(http),
         "--https-port", str(https), "--ca-file", str(ca_file), "--sample-size", "20", *extra],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300,
    )


def not_checked(output: str) -> dict[str, str]:
    return {line.split(" | ")[0].strip(): line.split(" | ")[2].strip() for line in output.splitlines() if "| SKIP" in line}


def test_verify_authenticates_with_the_file_and_lists_what_it_lacks_as_not_checked(tmp_path: Path) -> None:
    stack = stack_file(tmp_path)
    source = load_stack(None, stack)
    objects, ca_pems, material = rendered_for_proof(source)
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(next(iter(ca_pems.values())))
    jwt = {}
    for key, signer in material.jwt_signers.items():
        policy, provider = key.split("/", 1)
        jwt.setdefault(policy, {})[provider] = {"privateKeyPem": private_pem(signer), "keyId": signer.key_id}
    good = write(tmp_path, {"credentials": material.credentials, "jwt": jwt})
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({"credentials": {"admin-basic": {"alice": "not-her-password"}}}))
    with run_local_gateway(objects, source.config.controller.version, https_stand_ins=material.jwks_stand_ins) as gateway:
        with_file = run_verify(stack, gateway, ca_file, "--credentials", str(good))
        without = run_verify(stack, gateway, ca_file)
        wrong_password = run_verify(stack, gateway, ca_file, "--credentials", str(wrong))
    assert with_file.returncode == 0, with_file.stdout + with_file.stderr
    assert set(VALID_CHECKS) <= set(passed_checks(with_file.stdout))
    assert without.returncode == 0, without.stdout + without.stderr
    skipped = not_checked(without.stdout)
    assert all("verify --credentials FILE" in skipped.get(name, "") for name in VALID_CHECKS), skipped
    assert "verify has no key the provider trusts" in skipped["SecurityPolicy api-jwt: route api rule 0: an expired JWT gets 401"]
    assert wrong_password.returncode == 1
    assert "SecurityPolicy admin-basic: route admin rule 0: a valid user and password gets 200 | FAIL" in " ".join(
        " | ".join(part.strip() for part in line.split(" | ")[:2]) for line in wrong_password.stdout.splitlines())
    for secret in ("wonderland-7", "key-aaaa-1111", "key-bbbb-2222", "not-her-password", "PRIVATE KEY"):
        assert secret not in with_file.stdout + with_file.stderr + wrong_password.stdout + wrong_password.stderr
