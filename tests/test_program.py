"""Specification of the Pulumi program, run for real under the Pulumi SDK's mock engine.

For every stack file in stacks/: the components and Kubernetes objects it declares, their
order (nothing custom before the CRDs and the controller), secrets kept secret, outputs,
protection in production, determinism, and no collisions between stacks. For the dev
stack: every object of the seed guide (SEED-BRIEF.md), with the seed's exact values.
"""

from __future__ import annotations

import base64
import itertools
import logging
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from gatestack.mock_engine.program_run import DeclaredResource, ProgramFailed, ProgramRun, run_program
from gatestack.mock_engine.rendered_objects import kubernetes_objects, to_yaml
from gatestack.stand_ins.pulumi_tls_material import RealMaterial
from tests.conftest import STACK_NAMES, stack_raw_config

SEED_IMAGE = "registry-cn-hangzhou.ack.aliyuncs.com/ack-demo/envoygateway-echo-basic:v20231214-v1.0.0-140-gf544a46e"
COMPONENT = "api-gateway:components:"
CHART = "kubernetes:helm.sh/v4:Chart"


def only(run: ProgramRun, resource_type: str, name: str | None = None) -> DeclaredResource:
    matching = [r for r in run.of_type(resource_type) if name is None or r.name == name]
    assert len(matching) == 1, f"expected one {resource_type} {name or ''}, found {[r.name for r in matching]}"
    return matching[0]


def kubernetes_object(run: ProgramRun, kind: str, name: str) -> dict[str, Any]:
    matching = [
        item for item in kubernetes_objects(run, hide_secrets=False)
        if item["kind"] == kind and item["metadata"]["name"] == name
    ]
    assert len(matching) == 1, f"expected one {kind} {name}, found {len(matching)}"
    return matching[0]


def custom_resources(run: ProgramRun) -> list[DeclaredResource]:
    groups = ("gateway.networking.k8s.io", "gateway.envoyproxy.io")
    return [r for r in run.resources if r.custom and any(f"kubernetes:{g}/" in r.type for g in groups)]


# --- the seed, object for object (dev stack) ----------------------------------------------


@pytest.mark.parametrize("backend", ["backend", "backend-2"])
def test_seed_echo_backends_are_declared_exactly(stack_run, backend: str) -> None:
    run = stack_run("dev")
    service_account = kubernetes_object(run, "ServiceAccount", backend)
    service = kubernetes_object(run, "Service", backend)
    deployment = kubernetes_object(run, "Deployment", backend)

    assert service_account["metadata"] == {"name": backend, "namespace": "default"}
    assert service["metadata"]["labels"] == {"app": backend, "service": backend}
    assert service["spec"] == {
        "ports": [{"name": "http", "port": 3000, "targetPort": 3000}],
        "selector": {"app": backend},
    }
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["selector"] == {"matchLabels": {"app": backend, "version": "v1"}}
    assert spec["template"]["metadata"]["labels"] == {"app": backend, "version": "v1"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == backend
    (container,) = pod["containers"]
    assert container["image"] == SEED_IMAGE
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["name"] == backend
    assert container["ports"] == [{"containerPort": 3000}]
    assert container["env"] == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_echo_backend_pods_are_hardened(stack_run, stack: str) -> None:
    run = stack_run(stack)
    echo_backends = {backend["name"] for backend in stack_raw_config(stack).get("backends", [])}
    for deployment in [o for o in kubernetes_objects(run) if o["kind"] == "Deployment" and o["metadata"]["name"] in echo_backends]:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_seed_gateway_class_is_declared_exactly(stack_run) -> None:
    gateway_class = kubernetes_object(stack_run("dev"), "GatewayClass", "eg")
    assert gateway_class["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert gateway_class["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert gateway_class["spec"]["parametersRef"] == {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": "eg-proxy",
        "namespace": "default",
    }


def test_seed_gateway_has_http_and_https_listeners_exactly(stack_run) -> None:
    gateway = kubernetes_object(stack_run("dev"), "Gateway", "eg")
    assert gateway["metadata"]["namespace"] == "default"
    assert gateway["spec"] == {
        "gatewayClassName": "eg",
        "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {
                "name": "https",
                "port": 443,
                "protocol": "HTTPS",
                "tls": {
                    "certificateRefs": [{"group": "", "kind": "Secret", "name": "example-cert"}],
                    "mode": "Terminate",
                },
            },
        ],
    }


def test_seed_http_route_has_path_header_filter_and_weights_exactly(stack_run) -> None:
    route = kubernetes_object(stack_run("dev"), "HTTPRoute", "backend")
    assert route["spec"] == {
        "parentRefs": [{"name": "eg"}],
        "hostnames": ["www.example.com"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/get"}}],
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {"add": [{"name": "added-header", "value": "foo"}]},
                    }
                ],
                "backendRefs": [
                    {"group": "", "kind": "Service", "name": "backend", "port": 3000, "weight": 8},
                    {"group": "", "kind": "Service", "name": "backend-2", "port": 3000, "weight": 2},
                ],
            }
        ],
    }


def test_seed_certificates_use_the_seed_subjects_key_and_validity(stack_run) -> None:
    run = stack_run("dev")
    ca_key = only(run, "tls:index/privateKey:PrivateKey", "example-cert-ca-key")
    server_key = only(run, "tls:index/privateKey:PrivateKey", "example-cert-key")
    ca = only(run, "tls:index/selfSignedCert:SelfSignedCert")
    request = only(run, "tls:index/certRequest:CertRequest")
    signed = only(run, "tls:index/locallySignedCert:LocallySignedCert")

    for key in (ca_key, server_key):
        assert (key.inputs["algorithm"], key.inputs["rsaBits"]) == ("RSA", 2048)
    assert ca.inputs["subject"] == {"commonName": "example.com", "organization": "example Inc."}
    assert ca.inputs["isCaCertificate"] is True
    assert ca.inputs["validityPeriodHours"] == 365 * 24
    assert request.inputs["subject"] == {"commonName": "www.example.com", "organization": "example organization"}
    assert request.inputs["dnsNames"] == ["www.example.com"]
    assert signed.inputs["validityPeriodHours"] == 365 * 24
    secret = kubernetes_object(run, "Secret", "example-cert")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"] == {"name": "example-cert", "namespace": "default"}
    assert set(secret["stringData"]) == {"tls.crt", "tls.key"}


def test_server_certificate_is_signed_by_the_ca_the_stack_exports() -> None:
    """GIVEN real certificate material WHEN the dev program runs THEN the Secret's certificate
    names www.example.com and was issued by the exported CA (the pulumi-tls resources are wired
    CA key -> CA certificate -> signed server certificate)."""
    run = run_program("dev", stack_raw_config("dev"), material=RealMaterial())
    secret = kubernetes_object(run, "Secret", "example-cert")
    certificate = x509.load_pem_x509_certificate(secret["stringData"]["tls.crt"].encode())
    ca = x509.load_pem_x509_certificate(run.outputs["CA_CERT_PEM"].encode())
    certificate.verify_directly_issued_by(ca)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "www.example.com"
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["www.example.com"]
    assert "PRIVATE KEY" in secret["stringData"]["tls.key"]


# --- every stack -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_stack_declares_its_components(stack_run, stack: str) -> None:
    run = stack_run(stack)
    config = stack_raw_config(stack)
    names = {r.type.removeprefix(COMPONENT): [] for r in run.resources if r.type.startswith(COMPONENT)}
    for resource in run.resources:
        if resource.type.startswith(COMPONENT):
            names[resource.type.removeprefix(COMPONENT)].append(resource.name)
    assert names["EnvoyGatewayController"] == ["envoy-gateway"]
    assert len(names["EnvoyProxy"]) == len(names["GatewayClass"]) == len(names["Gateway"]) == 1
    assert sorted(names["EchoBackend"]) == sorted(b["name"] for b in config.get("backends", []))
    assert sorted(names["WeightedRoute"]) == sorted(r["name"] for r in config.get("routes", []))
    assert sorted(names["TlsCert"]) == sorted(c["secretName"] for c in config.get("certificates", []))


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_custom_resources_are_created_after_the_crds_and_the_controller(stack_run, stack: str) -> None:
    run = stack_run(stack)
    crds_chart = only(run, CHART, "envoy-gateway-crds")
    controller_chart = only(run, CHART, "envoy-gateway-chart")
    assert crds_chart.urn in controller_chart.dependencies
    crs = custom_resources(run)
    assert {cr.inputs["kind"] for cr in crs if not cr.read} >= {"EnvoyProxy", "GatewayClass", "Gateway", "HTTPRoute"}
    for custom_resource in crs:
        assert crds_chart.urn in custom_resource.dependencies, f"{custom_resource.name} does not wait for the CRDs"
        assert controller_chart.urn in custom_resource.dependencies, f"{custom_resource.name} does not wait for the controller"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_controller_charts_are_pinned_and_crds_come_from_their_own_chart(stack_run, stack: str) -> None:
    run = stack_run(stack)
    crds_chart = only(run, CHART, "envoy-gateway-crds").inputs
    controller_chart = only(run, CHART, "envoy-gateway-chart").inputs
    assert crds_chart["chart"] == "oci://docker.io/envoyproxy/gateway-crds-helm"
    assert controller_chart["chart"] == "oci://docker.io/envoyproxy/gateway-helm"
    assert crds_chart["version"] == controller_chart["version"] == "v1.9.0"
    assert crds_chart["values"]["crds"] == {
        "gatewayAPI": {"enabled": True, "channel": "standard"},
        "envoyGateway": {"enabled": True},
    }
    assert controller_chart["skipCrds"] is True
    assert controller_chart["values"]["crds"] == {"enabled": False}
    assert controller_chart["namespace"] == "envoy-gateway-system"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_private_keys_are_secret_and_never_exported_or_rendered(stack: str) -> None:
    """GIVEN real keys WHEN the program runs THEN every input that carries a private key is a
    Pulumi secret (in the Secret, and in the pulumi-tls resources that sign with it), no
    rendered object shows one, and the only output holding keys (the client certificates a
    stack issues for mutual TLS, CLIENT_CERTIFICATES) is a secret output."""
    run = run_program(stack, stack_raw_config(stack), material=RealMaterial())
    carriers = [
        (resource.name, key)
        for resource in run.resources
        if resource.type != "tls:index/privateKey:PrivateKey"  # its outputs, not inputs, hold the key
        for key, value in resource.inputs.items()
        if "PRIVATE KEY" in str(value)
    ]
    assert carriers, "no resource received a private key: the test would prove nothing"
    for name, key in carriers:
        assert key in next(r for r in run.resources if r.name == name).secret_inputs, f"{name}.{key} is not secret"
    public_outputs = {key: value for key, value in run.outputs.items() if key not in run.secret_outputs}
    assert "PRIVATE KEY" not in str(public_outputs)
    assert {key for key, value in run.outputs.items() if "PRIVATE KEY" in str(value)} <= {"CLIENT_CERTIFICATES"} & run.secret_outputs
    assert "PRIVATE KEY" not in to_yaml(kubernetes_objects(run))


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_outputs_give_the_gateway_address_urls_and_ca(stack: str) -> None:
    run = run_program(stack, stack_raw_config(stack), gateway_address="127.0.0.42")
    assert run.outputs["GATEWAY_HOST"] == "127.0.0.42"
    assert run.outputs["HTTP_URL"] == "http://127.0.0.42"
    assert run.outputs["HTTPS_URL"] == "https://127.0.0.42"
    assert run.outputs["CA_CERT_PEM"] in run.outputs["CA_CERTS"].values()
    # Only the client certificates a stack issues (with their keys) are secret.
    assert run.secret_outputs == ({"CLIENT_CERTIFICATES"} if "CLIENT_CERTIFICATES" in run.outputs else set())


def test_gateway_host_is_read_from_the_live_gateway_after_it_is_programmed(stack_run) -> None:
    run = stack_run("dev")
    gateway = only(run, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "eg-gateway")
    live = only(run, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "eg-gateway-status")
    assert gateway.inputs["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "condition=Programmed",
        "pulumi.com/timeoutSeconds": "600",
    }
    assert live.read and gateway.urn in live.dependencies


def test_the_live_gateway_is_read_in_the_stacks_namespace(stack_run) -> None:
    # pulumi-kubernetes reads a custom resource in its `metadata.namespace`, not in the ID's:
    # without it, a stack outside `default` would export another stack's Gateway address.
    live = only(stack_run("staging"), "kubernetes:gateway.networking.k8s.io/v1:Gateway", "eg-gateway-status")
    assert live.inputs["metadata"] == {"name": "eg", "namespace": "gateway-staging"}


def test_production_protects_the_controller_and_the_ca_and_nothing_is_protected_in_dev(stack_run) -> None:
    prod = stack_run("prod")
    protected = {r.name for r in prod.resources if r.protect}
    assert {"envoy-gateway-crds", "envoy-gateway-chart", "envoy-gateway-namespace"} <= protected
    assert {"prod-example-cert-ca-key", "prod-example-cert-ca-certificate"} <= protected
    assert "gateway-prod" in protected  # the stack's namespace: deleting it deletes everything in it
    assert not [r.name for r in stack_run("dev").resources if r.protect]


def test_prod_proxy_has_replicas_hpa_pdb_resources_and_load_balancer_annotations(stack_run) -> None:
    proxy = kubernetes_object(stack_run("prod"), "EnvoyProxy", "eg-prod-proxy")
    kubernetes = proxy["spec"]["provider"]["kubernetes"]
    assert proxy["spec"]["provider"]["type"] == "Kubernetes"
    assert kubernetes["envoyDeployment"]["replicas"] >= 2
    assert kubernetes["envoyDeployment"]["container"]["image"] == "docker.io/envoyproxy/envoy:distroless-v1.39.0"
    assert kubernetes["envoyDeployment"]["container"]["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert kubernetes["envoyHpa"]["minReplicas"] == 2 and kubernetes["envoyHpa"]["maxReplicas"] == 10
    assert kubernetes["envoyHpa"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert kubernetes["envoyPDB"] == {"minAvailable": 1}
    service = kubernetes["envoyService"]
    assert service["type"] == "LoadBalancer" and service["externalTrafficPolicy"] == "Local"
    assert service["annotations"]["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type"] == "internet"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_the_same_config_declares_the_same_resources_every_time(stack: str) -> None:
    first = run_program(stack, stack_raw_config(stack))
    second = run_program(stack, stack_raw_config(stack))

    def declared(run: ProgramRun) -> list[tuple]:
        return sorted(
            (r.type, r.name, repr(r.inputs), tuple(sorted(r.dependencies)), r.protect, r.parent or "")
            for r in run.resources
        )

    assert declared(first) == declared(second)
    assert to_yaml(kubernetes_objects(first)) == to_yaml(kubernetes_objects(second))


# --- stacks side by side ---------------------------------------------------------------------

CLUSTER_SCOPED = {"Namespace", "GatewayClass", "Chart"}


def cluster_keys(run: ProgramRun) -> set[tuple[str, str, str]]:
    keys = set()
    for item in kubernetes_objects(run):
        namespace = "" if item["kind"] in CLUSTER_SCOPED else item["metadata"].get("namespace", "default")
        keys.add((item["kind"], namespace, item["metadata"]["name"]))
    return keys


def controller_keys(run: ProgramRun) -> set[tuple[str, str, str]]:
    """The cluster's one Envoy Gateway installation: shared, never duplicated per stack."""
    return {key for key in cluster_keys(run) if key[0] == "Chart" or key == ("Namespace", "", "envoy-gateway-system")}


@pytest.mark.parametrize("first, second", list(itertools.combinations(STACK_NAMES, 2)))
def test_two_stacks_in_one_cluster_share_nothing_but_the_controller(stack_run, first: str, second: str) -> None:
    shared = cluster_keys(stack_run(first)) & cluster_keys(stack_run(second))
    assert shared <= controller_keys(stack_run(first)), f"{first} and {second} both declare {shared}"


def test_a_stack_that_leaves_the_controller_to_another_shares_nothing_with_it(stack_run, raw_config) -> None:
    staging = raw_config("staging")
    staging["controller"] = {"install": False}
    staging_run = run_program("staging", staging)
    assert not cluster_keys(stack_run("dev")) & cluster_keys(staging_run)


# --- controller modes ------------------------------------------------------------------------


def test_ack_managed_controller_installs_nothing_and_the_rest_still_works(raw_config) -> None:
    """GIVEN controller.install: false (ACK's managed add-on) WHEN the program runs THEN no chart,
    no controller namespace, and every custom resource still declared."""
    config = raw_config("dev")
    config["controller"] = {"install": False}
    run = run_program("dev", config)
    assert not run.of_type(CHART)
    assert not [r for r in run.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "envoy-gateway-system"]
    kinds = {r.inputs["kind"] for r in custom_resources(run) if not r.read}
    assert kinds == {"EnvoyProxy", "GatewayClass", "Gateway", "HTTPRoute"}
    assert run.outputs["GATEWAY_HOST"]


def test_platform_provided_gateway_api_crds_install_only_envoy_gateway_crds(raw_config) -> None:
    config = raw_config("dev")
    config["controller"] = {"installGatewayApiCrds": False}
    run = run_program("dev", config)
    values = only(run, CHART, "envoy-gateway-crds").inputs["values"]
    assert values["crds"] == {"gatewayAPI": {"enabled": False, "channel": "standard"}, "envoyGateway": {"enabled": True}}


def test_controller_values_escape_hatch_is_merged_over_the_curated_values(raw_config) -> None:
    config = raw_config("dev")
    config["controller"] = {
        "replicas": 3,
        "resources": {"requests": {"cpu": "250m"}},
        "values": {"deployment": {"pod": {"labels": {"team": "platform"}}}, "config": {"envoyGateway": {"logging": {"level": {"default": "debug"}}}}},
    }
    values = only(run_program("dev", config), CHART, "envoy-gateway-chart").inputs["values"]
    assert values["deployment"]["replicas"] == 3
    assert values["deployment"]["envoyGateway"]["resources"] == {"requests": {"cpu": "250m"}}
    assert values["deployment"]["pod"]["labels"] == {"team": "platform"}
    assert values["config"]["envoyGateway"]["logging"]["level"]["default"] == "debug"
    assert values["crds"] == {"enabled": False}


def test_certificate_in_another_namespace_gets_a_reference_grant(stack_run, raw_config) -> None:
    config = raw_config("dev")
    config["certificates"][0]["namespace"] = "certificates"
    config["gateway"]["listeners"][1]["tls"]["certificateRefs"][0]["namespace"] = "certificates"
    run = run_program("dev", config)
    grant = kubernetes_object(run, "ReferenceGrant", "eg-example-cert")
    assert grant["metadata"]["namespace"] == "certificates"
    assert grant["spec"] == {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "default"}],
        "to": [{"group": "", "kind": "Secret", "name": "example-cert"}],
    }
    assert not [o for o in kubernetes_objects(stack_run("dev")) if o["kind"] == "ReferenceGrant"]


def test_a_route_waits_for_its_own_backends_only(stack_run) -> None:
    """A route waits for the backends it forwards to; waiting for every backend would make
    each route's dependencies grow with the stack (quadratic in routes)."""
    run = stack_run("prod")
    route = only(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "web-http-route")
    services = {r.name: r.urn for r in run.of_type("kubernetes:core/v1:Service")}
    assert services["web-service"] in route.dependencies
    assert services["web-next-service"] in route.dependencies
    assert services["api-stable-service"] not in route.dependencies


# --- certificates read from an existing Secret (source: existingSecret) ----------------------

TLS_TYPES_PREFIX = "tls:"
SECRET = "kubernetes:core/v1:Secret"


def from_existing_secret(config: dict[str, Any]) -> dict[str, Any]:
    for certificate in config["certificates"]:
        certificate["source"] = "existingSecret"
    return config


def test_a_certificate_from_an_existing_secret_declares_nothing_and_reads_the_secret(raw_config) -> None:
    """GIVEN the dev certificate with source: existingSecret WHEN the program runs THEN no
    pulumi-tls resource and no Secret are declared, the Secret default/example-cert is read
    (at once: a Secret that exists needs no CRD or controller), and the exported CA is its ca.crt."""
    run = run_program("dev", from_existing_secret(raw_config("dev")))
    assert not [r.name for r in run.resources if r.type.startswith(TLS_TYPES_PREFIX)]
    assert not [r.name for r in run.of_type(SECRET) if not r.read]
    live = only(run, SECRET, "example-cert-secret")
    assert live.read
    assert live.dependencies == []
    assert run.outputs["CA_CERT_PEM"] == "<read at deploy time: ca.crt of the existing Secret default/example-cert>"
    assert run.outputs["CA_CERTS"] == {"example-cert": run.outputs["CA_CERT_PEM"]}
    assert "Secret" not in {item["kind"] for item in kubernetes_objects(run)}


def test_the_exported_ca_is_the_existing_secrets_ca_crt_unwrapped_from_secret(raw_config) -> None:
    """GIVEN a cluster holding real material for the Secret WHEN the program runs THEN
    CA_CERT_PEM is that Secret's ca.crt, no longer a secret (a CA certificate is public,
    though the provider marks all of `data` secret), and no key shows anywhere."""
    from gatestack.stand_ins.existing_secrets import existing_certificate_secrets
    from gateway_config.loader import parse_stack_config

    config = from_existing_secret(raw_config("dev"))
    (secret,) = existing_certificate_secrets(parse_stack_config(config, "stacks/Pulumi.dev.yaml"))
    run = run_program("dev", config, material=RealMaterial(), existing_secrets=[secret])
    assert run.outputs["CA_CERT_PEM"] == base64.b64decode(secret["data"]["ca.crt"]).decode()
    assert run.secret_outputs == set()
    assert "PRIVATE KEY" not in str(run.outputs) + str([r.inputs for r in run.resources])
    assert "PRIVATE KEY" not in to_yaml(kubernetes_objects(run, hide_secrets=False))


def test_reading_an_existing_secret_is_logged_once(raw_config, caplog) -> None:
    with caplog.at_level(logging.INFO):
        run_program("dev", from_existing_secret(raw_config("dev")))
    messages = [record.getMessage() for record in caplog.records if "existingSecret" in record.getMessage()]
    assert messages == [
        "certificate example-cert: read from the existing Secret default/example-cert (source: existingSecret), not generated"
    ]


def test_an_existing_secret_in_another_namespace_is_read_there_with_a_reference_grant(raw_config) -> None:
    config = from_existing_secret(raw_config("dev"))
    config["certificates"][0]["namespace"] = "certificates"
    config["gateway"]["listeners"][1]["tls"]["certificateRefs"][0]["namespace"] = "certificates"
    run = run_program("dev", config)
    assert "existing Secret certificates/example-cert>" in run.outputs["CA_CERT_PEM"]
    grant = kubernetes_object(run, "ReferenceGrant", "eg-example-cert")
    assert grant["metadata"]["namespace"] == "certificates"
    assert grant["spec"]["to"] == [{"group": "", "kind": "Secret", "name": "example-cert"}]


def test_an_existing_secret_without_ca_crt_stops_the_program_with_a_sentence(raw_config) -> None:
    incomplete = {
        "metadata": {"name": "example-cert", "namespace": "default"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "eA==", "tls.key": "eA=="},
    }
    with pytest.raises(ProgramFailed) as raised:
        run_program("dev", from_existing_secret(raw_config("dev")), existing_secrets=[incomplete])
    assert str(raised.value) == (
        "certificate example-cert: the Secret default/example-cert has no ca.crt; with source: existingSecret "
        "it must hold tls.crt, tls.key and ca.crt (the CA that signed the certificate)"
    )


def test_generate_is_the_default_source(stack_run) -> None:
    """GIVEN a certificate without `source` WHEN the program runs THEN it is generated as
    before: its five pulumi-tls resources (two keys, CA, request, signed certificate) and a
    declared Secret, nothing read."""
    run = stack_run("dev")
    assert len([r for r in run.resources if r.type.startswith(TLS_TYPES_PREFIX)]) == 5
    (secret,) = run.of_type(SECRET)
    assert not secret.read
