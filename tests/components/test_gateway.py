"""Gateway: listeners checked with the stack file's rules, created after its class and certificates."""

import pulumi

from pulumi_envoy_gateway import EnvoyProxy, Gateway, GatewayClass, TlsCert
from tests.components.conftest import HTTP, declare, depends_on, named, names, namespace_output, one_line, refusal

HTTPS = {"name": "https", "protocol": "HTTPS", "port": 443, "tls": {"certificateRefs": [{"name": "example-cert"}]}}


def certificate(**arguments) -> TlsCert:
    return TlsCert("example-cert", ca={"commonName": "example.com"}, subject={"commonName": "www.example.com"}, **arguments)


def test_serves_its_certificates_and_waits_for_them_and_its_class() -> None:
    # GIVEN a class, a certificate and a namespace from a Namespace resource
    def program():
        namespace = namespace_output()
        Gateway("eg", gateway_class=GatewayClass("eg"), certificates=[certificate(namespace=namespace)],
                namespace=namespace, listeners=[HTTP, HTTPS])

    # WHEN the Gateway is declared THEN it has both listeners, waits for all three, and its address is read after it
    run = declare(program)
    gateway = named(run, "eg-gateway")
    assert gateway.inputs["metadata"]["namespace"] == "apps"
    assert [item["name"] for item in gateway.inputs["spec"]["listeners"]] == ["http", "https"]
    assert {"eg-gateway-class", "example-cert-secret", "apps"} <= depends_on(run, "eg-gateway")
    assert "eg-gateway" in depends_on(run, "eg-gateway-status")


def test_a_listener_hostname_may_be_an_output() -> None:
    listener = {**HTTP, "hostname": pulumi.Output.from_input("www.example.com")}
    run = declare(lambda: Gateway("eg", gateway_class="eg", listeners=[listener]))
    assert named(run, "eg-gateway").inputs["spec"]["listeners"][0]["hostname"] == "www.example.com"


def test_an_https_listener_without_a_certificate_is_refused_and_nothing_is_declared() -> None:
    failure = refusal(lambda: Gateway("eg", gateway_class="eg", listeners=[HTTP, {"name": "https", "protocol": "HTTPS", "port": 443}]))
    assert one_line(failure).startswith("Gateway 'eg': listeners[1].tls: HTTPS listener 'https' has no certificate")
    assert names(failure) == []


def test_a_certificate_it_is_not_given_is_refused() -> None:
    failure = refusal(lambda: Gateway("eg", gateway_class="eg", listeners=[HTTP, HTTPS]))
    assert one_line(failure).startswith(
        "Gateway 'eg': listeners[1].tls.certificateRefs[0].name: certificate 'default/example-cert' is not declared in 'certificates'"
    )


def test_http_and_https_on_one_port_are_refused_as_the_stack_file_refuses_them() -> None:
    # GIVEN an HTTPS listener on the HTTP listener's port WHEN the Gateway is declared THEN one line names the port
    failure = refusal(lambda: Gateway("eg", gateway_class="eg", certificates=[certificate()], listeners=[HTTP, {**HTTPS, "port": 80}]))
    assert one_line(failure).startswith(
        "Gateway 'eg': listeners[1].port: HTTPS listener 'https' is on port 80, where HTTP listener 'http' is; "
        "all listeners of a port must use one protocol"
    )
    assert "eg-gateway" not in names(failure)


def test_a_hostname_output_that_resolves_bad_fails_before_the_gateway_is_created() -> None:
    listener = {**HTTP, "hostname": pulumi.Output.from_input("Not a hostname")}
    failure = refusal(lambda: Gateway("eg", gateway_class="eg", listeners=[listener]))
    assert one_line(failure).startswith("Gateway 'eg': listeners[0].hostname: ")
    assert "eg-gateway" not in names(failure) and "eg-gateway-status" not in names(failure)


def test_a_provider_given_to_the_component_is_used_by_its_children() -> None:
    # GIVEN a Kubernetes provider for another cluster WHEN it is given to the Gateway THEN its objects use it
    holder = {}

    def program():
        import pulumi_kubernetes as kubernetes

        holder["provider"] = kubernetes.Provider("other-cluster", context="other")
        holder["gateway"] = Gateway("eg", gateway_class="eg", listeners=[HTTP], opts=pulumi.ResourceOptions(provider=holder["provider"]))

    run = declare(program)
    assert "eg-gateway" in names(run)
    assert holder["gateway"].resource._provider is holder["provider"]


def test_a_gateway_of_its_own_envoy_proxy_names_it_and_waits_for_it() -> None:
    # GIVEN an EnvoyProxy for this Gateway alone WHEN the Gateway is given it
    run = declare(lambda: Gateway("internal", gateway_class="eg", envoy_proxy=EnvoyProxy("internal-proxy"), listeners=[HTTP]))
    # THEN its infrastructure names the proxy (Envoy Gateway uses it instead of the class's) and it is created after it
    spec = named(run, "internal-gateway").inputs["spec"]
    assert spec["infrastructure"] == {"parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": "internal-proxy"}}
    assert "internal-proxy-envoy-proxy" in depends_on(run, "internal-gateway")
