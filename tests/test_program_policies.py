"""Specification of the program's policies under the Pulumi SDK's mock engine: one component
per policy and client CA, each waiting for what it attaches to, client keys kept secret."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gatestack.mock_engine.program_run import ProgramRun, run_program
from gatestack.mock_engine.rendered_objects import kubernetes_objects, to_yaml
from gatestack.stand_ins.pulumi_tls_material import RealMaterial
from tests.conftest import STACK_NAMES, stack_raw_config

COMPONENT = "api-gateway:components:"
BACKEND_POLICY_TYPE = "kubernetes:gateway.envoyproxy.io/v1alpha1:BackendTrafficPolicy"
CLIENT_POLICY_TYPE = "kubernetes:gateway.envoyproxy.io/v1alpha1:ClientTrafficPolicy"


def components(run: ProgramRun, kind: str) -> dict[str, str]:
    return {r.name: r.urn for r in run.resources if r.type == f"{COMPONENT}{kind}"}


def test_every_stack_declares_one_component_per_policy_and_client_ca(stack_run) -> None:
    for stack in STACK_NAMES:
        run, config = stack_run(stack), stack_raw_config(stack)
        assert sorted(components(run, "BackendTrafficPolicy")) == sorted(p["name"] for p in config.get("backendTrafficPolicies", []))
        assert sorted(components(run, "ClientTrafficPolicy")) == sorted(p["name"] for p in config.get("clientTrafficPolicies", []))
        assert sorted(components(run, "ClientCertificateAuthority")) == sorted(
            a["name"] for a in config.get("clientCertificateAuthorities", [])
        )


def test_prod_declares_tls_12_minimum_retries_and_a_rate_limit_on_the_api(stack_run) -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in kubernetes_objects(stack_run("prod"))}
    client = objects[("ClientTrafficPolicy", "https-clients")]["spec"]
    assert client["tls"]["minVersion"] == "1.2"
    assert client["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg", "sectionName": "https"}]
    api = objects[("BackendTrafficPolicy", "api-resilience")]["spec"]
    assert api["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "api"}]
    assert api["retry"]["numRetries"] == 2
    assert api["rateLimit"]["local"]["rules"][0]["limit"] == {"requests": 600, "unit": "Minute"}


def test_staging_shows_mutual_tls_and_a_rate_limit(stack_run) -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in kubernetes_objects(stack_run("staging"))}
    validation = objects[("ClientTrafficPolicy", "https-clients")]["spec"]["tls"]["clientValidation"]
    assert validation["caCertificateRefs"] == [{"group": "", "kind": "Secret", "name": "staging-client-ca"}]
    assert objects[("Secret", "staging-client-ca")]["type"] == "Opaque"
    assert "rateLimit" in objects[("BackendTrafficPolicy", "backend-rate-limit")]["spec"]


def test_a_policy_waits_for_the_gateway_and_the_route_it_attaches_to(stack_run) -> None:
    run = stack_run("prod")
    (policy,) = run.of_type(BACKEND_POLICY_TYPE)
    # The engine records a component dependency as the component's custom resources.
    routes = {r.name: r.urn for r in run.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")}
    gateway = next(r.urn for r in run.of_type("kubernetes:gateway.networking.k8s.io/v1:Gateway") if not r.read)
    assert routes["api-http-route"] in policy.dependencies and gateway in policy.dependencies
    assert routes["web-http-route"] not in policy.dependencies
    assert only_chart_urns(run) <= set(policy.dependencies)


def only_chart_urns(run: ProgramRun) -> set[str]:
    return {r.urn for r in run.of_type("kubernetes:helm.sh/v4:Chart")}


def test_mutual_tls_waits_for_the_client_ca(stack_run) -> None:
    run = stack_run("staging")
    (policy,) = run.of_type(CLIENT_POLICY_TYPE)
    (secret,) = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name == "staging-client-ca-secret"]
    assert secret.urn in policy.dependencies


def test_policies_are_rendered_after_the_routes(stack_run) -> None:
    kinds = [o["kind"] for o in kubernetes_objects(stack_run("prod"))]
    assert kinds.index("ClientTrafficPolicy") > kinds.index("HTTPRoute")
    assert kinds.index("BackendTrafficPolicy") > kinds.index("HTTPRoute")


def issued(run: ProgramRun) -> dict[str, Any]:
    return run.outputs["CLIENT_CERTIFICATES"]


def test_issued_client_certificates_chain_to_the_ca_the_gateway_trusts_and_stay_secret() -> None:
    """GIVEN staging's client CA with client ci-smoke-test WHEN the program runs with real
    material THEN the exported certificate is for that client, usable for client auth, signed
    by the CA in the Secret the ClientTrafficPolicy names; its key is only in the secret output."""
    run = run_program("staging", stack_raw_config("staging"), material=RealMaterial())
    pair = issued(run)["staging-client-ca"]["ci-smoke-test"]
    assert "CLIENT_CERTIFICATES" in run.secret_outputs
    certificate = x509.load_pem_x509_certificate(pair["certificatePem"].encode())
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ci-smoke-test"
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    secret = next(o for o in kubernetes_objects(run, hide_secrets=False) if o["kind"] == "Secret" and o["metadata"]["name"] == "staging-client-ca")
    assert set(secret["stringData"]) == {"ca.crt"}
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(secret["stringData"]["ca.crt"].encode()))
    assert "PRIVATE KEY" in pair["privateKeyPem"]
    assert pair["privateKeyPem"] not in to_yaml(kubernetes_objects(run, hide_secrets=False))


def test_a_production_client_ca_is_protected(raw_config) -> None:
    config = raw_config("prod")
    config["clientCertificateAuthorities"] = [{"name": "partners", "commonName": "partners CA"}]
    run = run_program("prod", config)
    protected = {r.name for r in run.resources if r.protect}
    assert {"partners-ca-key", "partners-ca-certificate"} <= protected
    assert "CLIENT_CERTIFICATES" not in run.outputs  # no clients, nothing issued


def test_a_client_ca_from_an_existing_secret_declares_nothing_and_reads_it(raw_config) -> None:
    config = raw_config("staging")
    config["clientCertificateAuthorities"] = [{"name": "staging-client-ca", "source": "existingSecret", "commonName": "partners CA"}]
    run = run_program("staging", config)
    secrets = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name == "staging-client-ca-secret"]
    assert [secret.read for secret in secrets] == [True]
    assert not [r for r in run.resources if r.type.startswith("tls:") and r.name.startswith("staging-client-ca")]


# --- SecurityPolicies: credentials stay secret ------------------------------------------------------


def security_config() -> dict[str, Any]:
    from tests.test_security_policy_config import with_security

    return with_security()


def test_credentials_in_clear_text_stop_the_program() -> None:
    """GIVEN credentials the engine does not mark secret (set without --secret) WHEN the
    program runs THEN it stops before declaring anything, saying how to set them."""
    from gatestack.mock_engine.program_run import ProgramFailed

    try:
        run_program("dev", security_config(), secret_keys=[])
    except ProgramFailed as error:
        assert "credentials: holds passwords and API keys in clear text" in str(error)
        assert "pulumi config set --secret --path 'credentials.<policy>.<user>'" in str(error)
        assert not error.resources
    else:
        raise AssertionError("the program accepted credentials in clear text")


def test_passwords_and_keys_are_secret_hashed_and_never_shown() -> None:
    from tests.test_security_policy_config import API_KEY, PASSWORD

    run = run_program("dev", security_config())
    secrets = {r.name: r for r in run.of_type("kubernetes:core/v1:Secret")}
    for name in ("admin-basic-auth", "keys-api-keys"):
        assert "stringData" in secrets[name].secret_inputs, f"{name} data is not a Pulumi secret"
    basic = secrets["admin-basic-auth"].inputs["stringData"][".htpasswd"]
    assert basic.startswith("alice:{SHA}") and PASSWORD not in basic
    assert secrets["keys-api-keys"].inputs["stringData"] == {"client-a": API_KEY, "client-b": API_KEY + "-b"}
    elsewhere = [r.name for r in run.resources if r.name != "keys-api-keys" and (PASSWORD in repr(r.inputs) or API_KEY in repr(r.inputs))]
    assert not elsewhere
    rendered = to_yaml(kubernetes_objects(run))
    assert PASSWORD not in rendered and API_KEY not in rendered and "{SHA}" not in rendered
    assert PASSWORD not in str(run.outputs) and API_KEY not in str(run.outputs)


def test_a_security_policy_waits_for_its_secret_and_its_route() -> None:
    run = run_program("dev", security_config())
    policies = {r.name: r for r in run.of_type("kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy")}
    secrets = {r.name: r.urn for r in run.of_type("kubernetes:core/v1:Secret")}
    routes = {r.name: r.urn for r in run.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")}
    assert secrets["admin-basic-auth"] in policies["admin-security-policy"].dependencies
    assert routes["admin-http-route"] in policies["admin-security-policy"].dependencies
    assert components(run, "SecurityPolicy").keys() == {"web", "admin", "keys"}
