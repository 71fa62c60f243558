"""Specification of certificates supplied as existing Secrets (`gatestack/stand_ins/existing_secrets.py`).

Where pulumi-tls cannot run, each certificate is made beforehand as a `kubernetes.io/tls`
Secret and the stack reads it (`source: existingSecret`). That Secret must be what TlsCert
would have generated, and the config change must leave everything else alone.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from gateway_config.loader import ConfigError, parse_stack_config, stack_file_name
from gatestack.offline_proof.conformance_run import rendered_with_real_certificates
from gatestack.stand_ins.existing_secrets import existing_certificate_secrets, with_certificates_from_existing_secrets
from gatestack.mock_engine.program_run import ProgramFailed, run_program
from gatestack.mock_engine.rendered_objects import kubernetes_objects
from gatestack.stack_source import load_stack
from gatestack.stand_ins.pulumi_tls_material import RealMaterial
from tests.conftest import STACK_NAMES, stack_raw_config

# Differ between any two certificates, since each is made with new keys.
KEY_IDENTIFIERS = {ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER}


def stack_config(stack: str):
    return parse_stack_config(stack_raw_config(stack), stack_file_name(stack))


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def public_key_bytes(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def shape(pem: str) -> dict[str, Any]:
    """Everything of a certificate that its inputs decide (not its keys, serial or start time)."""
    made = certificate(pem)
    key = made.public_key()
    return {
        "subject": made.subject,
        "issuer": made.issuer,
        "lifetime": made.not_valid_after_utc - made.not_valid_before_utc,
        "key": (type(key).__name__, getattr(key, "key_size", None), getattr(getattr(key, "curve", None), "name", None)),
        "extensions": {ext.oid: (ext.critical, ext.value) for ext in made.extensions if ext.oid not in KEY_IDENTIFIERS},
        "key identifiers": {ext.oid for ext in made.extensions if ext.oid in KEY_IDENTIFIERS},
    }


def test_the_dev_secret_holds_a_certificate_for_the_stack_files_names_signed_by_its_ca() -> None:
    """GIVEN the dev stack WHEN its existing Secrets are made THEN there is one kubernetes.io/tls
    Secret default/example-cert whose tls.crt names the stack file's subject and DNS names,
    was issued by its ca.crt (the stack file's CA), and goes with its tls.key."""
    (secret,) = existing_certificate_secrets(stack_config("dev"))
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == ("v1", "Secret", "kubernetes.io/tls")
    assert secret["metadata"] == {"name": "example-cert", "namespace": "default"}
    files = decoded(secret)
    assert set(files) == {"tls.crt", "tls.key", "ca.crt"}

    server, ca = certificate(files["tls.crt"]), certificate(files["ca.crt"])
    server.verify_directly_issued_by(ca)
    assert ca.subject.rfc4514_string() == "O=example Inc.,CN=example.com"
    assert server.subject.rfc4514_string() == "O=example organization,CN=www.example.com"
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["www.example.com"]
    key = serialization.load_pem_private_key(files["tls.key"].encode(), password=None)
    assert public_key_bytes(key.public_key()) == public_key_bytes(server.public_key())


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_each_secret_holds_what_tls_cert_would_have_generated(stack: str) -> None:
    """GIVEN a stack WHEN its existing Secrets are made THEN each certificate and its CA have
    the subject, issuer, lifetime, key type and size, and extensions (key usages, CA flag, DNS
    names) of the ones TlsCert's pulumi-tls resources make for the same stack."""
    config = stack_config(stack)
    generated = run_program(stack, stack_raw_config(stack), material=RealMaterial())
    generated_secrets = {
        (item["metadata"]["namespace"], item["metadata"]["name"]): item
        for item in kubernetes_objects(generated, hide_secrets=False)
        if item["kind"] == "Secret" and item.get("type") == "kubernetes.io/tls"
    }
    secrets = existing_certificate_secrets(config)
    assert len(secrets) == len(config.certificates) == len(generated_secrets)
    for secret in secrets:
        files = decoded(secret)
        name = secret["metadata"]["name"]
        expected = generated_secrets[(secret["metadata"]["namespace"], name)]["stringData"]
        assert shape(files["tls.crt"]) == shape(expected["tls.crt"])
        assert shape(files["ca.crt"]) == shape(generated.outputs["CA_CERTS"][name])


def test_every_certificate_is_switched_to_the_existing_secret_in_a_copy() -> None:
    """GIVEN a stack file's config mapping, and the program's view of it WHEN switched THEN
    every certificate says source: existingSecret, nothing else changed, the input untouched."""
    program_view = stack_raw_config("prod")
    program_view["certificates"].append({**program_view["certificates"][0], "source": "generate"})
    stack_file_view = {f"api-gateway:{key}": value for key, value in program_view.items()}
    stack_file_view["kubernetes:context"] = "local"
    for raw in (program_view, stack_file_view):
        original = copy.deepcopy(raw)
        switched = with_certificates_from_existing_secrets(raw)
        assert raw == original
        key = "certificates" if "certificates" in raw else "api-gateway:certificates"
        assert [item["source"] for item in switched[key]] == ["existingSecret", "existingSecret"]
        for item in switched[key]:
            item.pop("source")
        for item in original[key]:
            item.pop("source", None)
        assert switched == original


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"certificates": "example-cert"},
        {"certificates": None},
        {"certificates": [1, "example-cert", None, ["secretName"]]},
        {"api-gateway:certificates": {"secretName": "example-cert"}},
        ["not", "a", "mapping"],
        "certificates",
    ],
    ids=["no certificates", "a string", "null", "items not mappings", "a mapping", "a list", "a string config"],
)
def test_what_is_not_a_list_of_certificates_passes_through_untouched(raw: Any) -> None:
    assert with_certificates_from_existing_secrets(raw) == raw


def test_a_malformed_config_still_gets_the_programs_usual_message() -> None:
    """GIVEN certificates written as a mapping by mistake WHEN switched and run THEN the program
    refuses it with its usual one-line message (no traceback from the switch)."""
    raw = stack_raw_config("dev")
    raw["certificates"] = raw["certificates"][0]
    switched = with_certificates_from_existing_secrets(raw)
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(switched, "stacks/Pulumi.dev.yaml")
    with pytest.raises(ProgramFailed) as failed:
        run_program("dev", switched)
    assert str(failed.value) == str(refused.value)
    assert str(refused.value).startswith("stacks/Pulumi.dev.yaml: certificates: ")


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_a_switched_stack_reads_the_secrets_made_for_it(stack: str) -> None:
    """GIVEN a stack's Secrets made beforehand and its config switched WHEN the program runs
    THEN it declares no pulumi-tls resource and exports each Secret's ca.crt as its CA."""
    secrets = existing_certificate_secrets(stack_config(stack))
    run = run_program(stack, with_certificates_from_existing_secrets(stack_raw_config(stack)), existing_secrets=secrets)
    assert not [r.name for r in run.resources if r.type.startswith("tls:")]
    assert run.outputs["CA_CERTS"] == {item["metadata"]["name"]: decoded(item)["ca.crt"] for item in secrets}


def test_conformance_serves_the_secret_it_made_for_a_switched_stack() -> None:
    """GIVEN a stack whose certificate is read from an existing Secret WHEN conformance renders
    it THEN the Secret it made is among the objects (for the local Envoy to serve) and the CA
    it exports is that Secret's ca.crt, which signed its tls.crt."""
    source = load_stack("dev", None)
    raw = with_certificates_from_existing_secrets(source.raw_config)
    switched = dataclasses.replace(source, raw_config=raw, config=parse_stack_config(raw, source.display_file))
    objects, ca_pems = rendered_with_real_certificates(switched)
    (secret,) = [item for item in objects if item["kind"] == "Secret"]
    files = decoded(secret)
    assert ca_pems == {"example-cert": files["ca.crt"]}
    certificate(files["tls.crt"]).verify_directly_issued_by(certificate(files["ca.crt"]))


def test_a_client_ca_secret_and_the_clients_it_signed_are_made_together() -> None:
    """GIVEN staging's mutual-TLS client CA WHEN its material is made for the local cluster
    THEN the Secret holds only `ca.crt`, and each declared client's certificate chains to it
    with the client-auth usage and its key matches."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from gatestack.stand_ins.existing_secrets import client_authority_material

    config = stack_config("staging")
    secrets, clients = client_authority_material(config)
    authority = config.client_certificate_authorities[0]
    assert [(item["metadata"]["namespace"], item["metadata"]["name"], sorted(item["data"])) for item in secrets] == [
        (config.namespace, authority.name, ["ca.crt"])
    ]
    ca = x509.load_pem_x509_certificate(base64.b64decode(secrets[0]["data"]["ca.crt"]))
    assert sorted(clients[authority.name]) == sorted(authority.clients)
    for name, pair in clients[authority.name].items():
        certificate = x509.load_pem_x509_certificate(pair["certificatePem"].encode())
        certificate.verify_directly_issued_by(ca)
        assert certificate.subject.rfc4514_string() == f"CN={name}"
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
        key = serialization.load_pem_private_key(pair["privateKeyPem"].encode(), password=None)
        assert public_key_bytes(key.public_key()) == public_key_bytes(certificate.public_key())


def test_a_switched_client_ca_reads_its_secret_and_issues_nothing() -> None:
    switched = with_certificates_from_existing_secrets(stack_raw_config("staging"))
    assert [(item["source"], "clients" in item) for item in switched["clientCertificateAuthorities"]] == [
        ("existingSecret", False)
    ]
    run = run_program("staging", switched)
    assert not [resource.name for resource in run.resources if resource.type.startswith("tls:")]
