"""Specification: how the node agent runs Envoy Gateway's own pods (envoy_gateway_pod.py), and
the control plane's side of it: Job pods end when their containers exit, and the API server
keeps a record of the ServiceAccounts' requests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gatestack.cluster.containers import ContainerStartError
from gatestack.cluster.control_plane import AUDIT_POLICY, POD_COMPLETE_STAGE, api_server_command, kwok_stages
from gatestack.cluster.envoy_gateway_pod import IMAGE_ENTRYPOINT, binary_for_image, container_command
from gatestack.cluster.layout import ClusterLayout
from gatestack.cluster.pki import ClusterPki
from gatestack.toolchain.cluster_builds import ensure_envoy_gateway, kwok_stage_files


def test_the_image_tag_picks_the_binary_built_at_that_version() -> None:
    assert binary_for_image("docker.io/envoyproxy/gateway:v1.9.0") == ensure_envoy_gateway("v1.9.0")
    assert binary_for_image("envoyproxy/gateway:v1.9.0") == ensure_envoy_gateway("v1.9.0")


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("docker.io/envoyproxy/gateway:v0.0.0-not-built", "envoy-gateway v0.0.0-not-built has not been built"),
        ("docker.io/envoyproxy/gateway", "only docker.io/envoyproxy/gateway:<tag> is"),
        ("docker.io/envoyproxy/gateway@sha256:0123", "only docker.io/envoyproxy/gateway:<tag> is"),
        ("registry.example/gateway:v1.9.0", "only docker.io/envoyproxy/gateway:<tag> is"),
    ],
)
def test_an_image_that_was_not_built_fails_the_container_with_the_reason(image: str, says: str) -> None:
    with pytest.raises(ContainerStartError, match=says.replace("<", ".").replace(">", ".")):
        binary_for_image(image)


def test_the_command_is_the_images_entrypoint_or_the_containers_resolved_on_its_path(tmp_path: Path) -> None:
    (tmp_path / IMAGE_ENTRYPOINT.lstrip("/")).parent.mkdir(parents=True)
    (tmp_path / IMAGE_ENTRYPOINT.lstrip("/")).write_text("")
    # the controller: arguments only, so the image's entrypoint runs them
    assert container_command({"args": ["server", "--config-path=/config/envoy-gateway.yaml"]}, tmp_path) == [
        IMAGE_ENTRYPOINT, "server", "--config-path=/config/envoy-gateway.yaml"]
    # certgen: a bare command name, found on the image's PATH inside the pod's root
    assert container_command({"command": ["envoy-gateway", "certgen"], "args": ["--disable-topology-injector"]}, tmp_path) == [
        IMAGE_ENTRYPOINT, "certgen", "--disable-topology-injector"]


def test_kwok_no_longer_completes_job_pods_on_its_own(tmp_path: Path) -> None:
    stages = kwok_stages(tuple(kwok_stage_files()), ClusterLayout(tmp_path))
    assert POD_COMPLETE_STAGE in {path.name for path in kwok_stage_files()}
    assert POD_COMPLETE_STAGE not in {path.name for path in stages} and len(stages) == len(kwok_stage_files()) - 1


def test_the_api_server_audits_service_account_requests_only(tmp_path: Path) -> None:
    layout = ClusterLayout(tmp_path)
    command = api_server_command(Path("kube-apiserver"), layout, ClusterPki(layout.pki_directory))
    policy_file = next(Path(flag.split("=", 1)[1]) for flag in command if flag.startswith("--audit-policy-file="))
    assert yaml.safe_load(policy_file.read_text()) == AUDIT_POLICY
    assert f"--audit-log-path={layout.audit_log}" in command
    assert AUDIT_POLICY["rules"] == [{"level": "Metadata", "userGroups": ["system:serviceaccounts"]}, {"level": "None"}]
