"""ClientTrafficPolicy: TLS and mutual TLS on a Gateway's listener, after the CAs it trusts."""

from pulumi_envoy_gateway import ClientCertificateAuthority, ClientTrafficPolicy, Gateway, TlsCert
from tests.components.conftest import HTTP, declare, depends_on, named, one_line, refusal

HTTPS = {"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [{"name": "example-cert"}]}}
MUTUAL_TLS = {"tls": {"minVersion": "1.3", "clientValidation": {"caCertificateRefs": [{"name": "clients"}]}}}


def gateway() -> Gateway:
    certificate = TlsCert("example-cert", ca={"commonName": "example.com"}, subject={"commonName": "www.example.com"})
    return Gateway("eg", gateway_class="eg", certificates=[certificate], listeners=[HTTP, HTTPS])


def test_mutual_tls_on_a_listener_waits_for_the_gateway_and_the_ca() -> None:
    def program():
        authority = ClientCertificateAuthority("clients", common_name="Example clients")
        ClientTrafficPolicy("https-clients", targets=[(gateway(), "https")], spec=MUTUAL_TLS, client_certificate_authorities=[authority])

    run = declare(program)
    spec = named(run, "https-clients-client-traffic-policy").inputs["spec"]
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg", "sectionName": "https"}]
    assert spec["tls"]["clientValidation"]["caCertificateRefs"] == [{"group": "", "kind": "Secret", "name": "clients"}]
    assert {"eg-gateway", "clients-secret"} <= depends_on(run, "https-clients-client-traffic-policy")


def test_a_ca_it_is_not_given_is_refused_in_one_line() -> None:
    failure = refusal(lambda: ClientTrafficPolicy("https-clients", targets=[(gateway(), "https")], spec=MUTUAL_TLS))
    assert one_line(failure).startswith("ClientTrafficPolicy 'https-clients': spec.tls.clientValidation.caCertificateRefs[0]")
    assert not [r for r in failure.resources if "ClientTrafficPolicy" in r.type]
