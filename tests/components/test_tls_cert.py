"""TlsCert: a CA and a server certificate in a TLS Secret, generated or read from an existing Secret."""

import pulumi

from pulumi_envoy_gateway import EnvoyGatewayController, TlsCert
from tests.components.conftest import declare, depends_on, named, names, namespace_output, one_line, refusal

NAMES = {"ca": {"commonName": "example.com"}, "subject": {"commonName": "www.example.com"}}


def test_generates_a_certificate_for_output_hostnames_in_a_secret_of_an_output_namespace() -> None:
    # GIVEN DNS names and a namespace that are Outputs
    run = declare(lambda: TlsCert("example-cert", **NAMES, namespace=namespace_output(),
                                  dns_names=[pulumi.Output.from_input("www.example.com"), "api.example.com"]))
    # THEN the request names them, and the Secret lands in that namespace after it exists
    assert named(run, "example-cert-certificate-request").inputs["dnsNames"] == ["www.example.com", "api.example.com"]
    secret = named(run, "example-cert-secret")
    assert secret.inputs["metadata"] == {"name": "example-cert", "namespace": "apps"} and secret.inputs["type"] == "kubernetes.io/tls"
    assert "apps" in depends_on(run, "example-cert-secret")
    assert "stringData" in secret.secret_inputs


def test_a_gateway_in_another_namespace_gets_a_reference_grant_after_the_crds() -> None:
    run = declare(lambda: TlsCert("example-cert", **NAMES, namespace="certs", gateway_namespace="edge",
                                  controller=EnvoyGatewayController("envoy-gateway")))
    grant = named(run, "example-cert-reference-grant")
    assert grant.inputs["metadata"] == {"name": "eg-example-cert", "namespace": "certs"}
    assert grant.inputs["spec"]["from"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "edge"}]
    assert "envoy-gateway-crds" in depends_on(run, "example-cert-reference-grant")


def test_an_existing_secret_is_read_not_generated() -> None:
    holder = {}
    run = declare(lambda: holder.update(cert=TlsCert("example-cert", **NAMES, source="existingSecret")))
    assert [r.name for r in run.resources if r.read] == ["example-cert-secret"]
    assert not [r for r in run.resources if r.type.startswith("tls:")]


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    failure = refusal(lambda: TlsCert("example-cert", **NAMES, validity_hours=100))
    assert one_line(failure).startswith("TlsCert 'example-cert': validity_hours: validityHours (100) is not longer than earlyRenewalHours (720)")
    assert names(failure) == []


def test_a_dns_name_output_that_resolves_bad_fails_before_the_certificate_request() -> None:
    failure = refusal(lambda: TlsCert("example-cert", **NAMES, dns_names=[pulumi.Output.from_input("not a hostname")]))
    assert one_line(failure).startswith("TlsCert 'example-cert': dns_names[0]: ")
    assert "example-cert-certificate-request" not in names(failure)
