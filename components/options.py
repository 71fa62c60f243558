"""Shared by the components: options for their children, and custom resources from manifests."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes


def child_options(
    parent: pulumi.ComponentResource,
    opts: Optional[pulumi.ResourceOptions],
    *,
    protect: bool = False,
    depends_on: Optional[list[pulumi.Resource]] = None,
) -> pulumi.ResourceOptions:
    """Options for a child of `parent`: parented to it, and waiting for what `parent` waits for.

    Pulumi does not pass a component's `depends_on` on to its children, so without this a
    custom resource inside a component could be created before the CRDs and controller the
    component was told to wait for.
    """
    inherited = list(opts.depends_on) if opts is not None and isinstance(opts.depends_on, list) else []
    if opts is not None and isinstance(opts.depends_on, pulumi.Resource):
        inherited = [opts.depends_on]
    return pulumi.ResourceOptions(parent=parent, protect=protect, depends_on=inherited + list(depends_on or []))


def custom_resource(
    name: str, manifest: dict, opts: pulumi.ResourceOptions
) -> kubernetes.apiextensions.CustomResource:
    """A resource of the manifest's kind, declared from a manifest built in `gateway_config`.

    For CRD kinds, and for Deployments: the type token is `kubernetes:<apiVersion>:<kind>`
    either way, so the URN, the inputs and what the provider does are those of
    `kubernetes.apps.v1.Deployment`. The typed class also registers three aliases (the
    Deployment kinds of apps/v1beta1, apps/v1beta2 and extensions/v1beta1, which Kubernetes
    1.16 removed and this program never declared), which the SDK resolves per resource: about
    a quarter of a 300-route stack's evaluation time (benchmarks/README.md).
    """
    return kubernetes.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )
