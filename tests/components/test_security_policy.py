"""SecurityPolicy: basic auth with passwords from Outputs, kept secret, after its target."""

import pulumi

from pulumi_envoy_gateway import Gateway, SecurityPolicy, WeightedRoute
from tests.components.conftest import HTTP, declare, depends_on, named, one_line, refusal

RULES = [{"backendRefs": [{"name": "elsewhere", "external": True, "port": 80}]}]


def route() -> WeightedRoute:
    return WeightedRoute("admin", gateway=Gateway("eg", gateway_class="eg", listeners=[HTTP]), rules=RULES)


def test_basic_auth_with_a_secret_password_is_hashed_into_a_secret_the_policy_waits_for() -> None:
    run = declare(lambda: SecurityPolicy(
        "admin", targets=[route()], spec={"basicAuth": {"users": ["alice"]}},
        credentials={"alice": pulumi.Output.secret("correct-horse")},
    ))
    secret = named(run, "admin-basic-auth")
    assert secret.inputs["stringData"][".htpasswd"].startswith("alice:{SHA}") and "stringData" in secret.secret_inputs
    assert named(run, "admin-security-policy").inputs["spec"]["basicAuth"]["users"]["name"] == "admin-basic-auth"
    assert {"admin-basic-auth", "admin-http-route", "eg-gateway"} <= depends_on(run, "admin-security-policy")


def test_a_user_without_a_password_is_refused_in_one_line_and_nothing_is_declared() -> None:
    failure = refusal(lambda: SecurityPolicy("admin", targets=[route()], spec={"basicAuth": {"users": ["alice"]}}))
    assert one_line(failure).startswith("SecurityPolicy 'admin': credentials.alice: ")
    assert not [r for r in failure.resources if "SecurityPolicy" in r.type or r.name == "admin-basic-auth"]
