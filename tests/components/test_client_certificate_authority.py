"""ClientCertificateAuthority: a client CA, its ca.crt Secret, and the client certificates it issues."""

import pulumi

from pulumi_envoy_gateway import ClientCertificateAuthority
from tests.components.conftest import declare, depends_on, named, names, namespace_output, one_line, refusal


def test_issues_client_certificates_and_keeps_the_ca_in_a_secret_of_an_output_namespace() -> None:
    holder = {}
    run = declare(lambda: holder.update(ca=ClientCertificateAuthority("clients", common_name="Example clients",
                                                                      clients=["ci"], namespace=namespace_output())))
    secret = named(run, "clients-secret")
    assert secret.inputs["metadata"] == {"name": "clients", "namespace": "apps"} and secret.inputs["type"] == "Opaque"
    assert "apps" in depends_on(run, "clients-secret")
    assert list(holder["ca"].client_certificates) == ["ci"]


def test_a_bad_argument_is_one_line_naming_it_and_nothing_is_declared() -> None:
    failure = refusal(lambda: ClientCertificateAuthority("clients", common_name="Example clients", key_algorithm="DSA"))
    assert one_line(failure).startswith("ClientCertificateAuthority 'clients': key_algorithm: is 'DSA'; allowed values: ")
    assert names(failure) == []


def test_a_namespace_output_that_resolves_bad_fails_before_the_secret_is_created() -> None:
    failure = refusal(lambda: ClientCertificateAuthority("clients", common_name="x", namespace=pulumi.Output.from_input("Bad")))
    assert one_line(failure).startswith("ClientCertificateAuthority 'clients': namespace: ")
    assert "clients-secret" not in names(failure)
