"""What a component passes on to its children (components/options.py), and the Service wait."""

import pulumi

from pulumi_envoy_gateway import EchoBackend
from pulumi_envoy_gateway.options import child_options
from tests.components.conftest import declare, named


def test_children_are_deleted_with_what_their_component_is_deleted_with() -> None:
    # GIVEN a component told to be deleted with a Namespace (the program does this for what
    # lives in a namespace the stack creates)
    namespace, parent = object(), object()
    # WHEN it makes its children's options
    options = child_options(parent, pulumi.ResourceOptions(deleted_with=namespace))
    # THEN `pulumi destroy` leaves them to the Namespace's deletion
    assert options.deleted_with is namespace
    assert options.parent is parent


def test_without_deleted_with_children_are_deleted_themselves() -> None:
    assert child_options(object(), None).deleted_with is None


def test_the_backend_is_awaited_through_its_deployment_not_its_service() -> None:
    # pulumi-kubernetes holds a Service 10 s after its endpoints last change; the Deployment's
    # Available condition already says the pods behind it are ready.
    run = declare(lambda: EchoBackend("backend"))
    assert named(run, "backend-service").inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert "pulumi.com/skipAwait" not in (named(run, "backend-deployment").inputs["metadata"].get("annotations") or {})
