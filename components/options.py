"""Shared by the components: options for their children, custom resources from manifests, and
the ordering one component passes on to those built on it."""

from __future__ import annotations

from typing import Any, Iterable, Optional, Union

import pulumi
import pulumi_kubernetes as kubernetes


def child_options(
    parent: pulumi.ComponentResource,
    opts: Optional[pulumi.ResourceOptions],
    *,
    protect: bool = False,
    depends_on: Optional[Iterable[pulumi.Resource]] = None,
) -> pulumi.ResourceOptions:
    """Options for a child of `parent`: parented to it (so it inherits its provider), waiting
    for what `parent` was told to wait for, and deleted with what `parent` is deleted with.

    Pulumi does not pass a component's `depends_on` on to its children, so without this a
    custom resource inside a component could be created before what the component's own
    `depends_on` names. Nor does it pass `deleted_with`: given a component whose objects live
    in a Namespace the stack creates (`deleted_with=<the Namespace>`), `pulumi destroy` leaves
    those objects to the namespace's deletion instead of deleting and awaiting each one in
    turn (benchmarks/kubectl_compare.py measured the difference).
    """
    inherited = list(opts.depends_on) if opts is not None and isinstance(opts.depends_on, list) else []
    if opts is not None and isinstance(opts.depends_on, pulumi.Resource):
        inherited = [opts.depends_on]
    deleted_with = opts.deleted_with if opts is not None else None
    return pulumi.ResourceOptions(
        parent=parent, protect=protect, depends_on=inherited + list(depends_on or []), deleted_with=deleted_with
    )


# pulumi-kubernetes waits after creating a Service with a selector until its Endpoints have
# settled: 10 s after the last change of them (provider pkg/await/service.go), whether or not
# anything needs the Service then. A backend is awaited through its Deployment (Available:
# its pods are ready, so the endpoints follow), as `kubectl rollout status` would; the
# Service's own wait only held one of the engine's parallel slots for 10 s per backend.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


def without_await(metadata: Union[dict, pulumi.Output[dict]]) -> Union[dict, pulumi.Output[dict]]:
    """`metadata` with the annotation that makes pulumi-kubernetes create or update the object
    without waiting for it to become ready (and delete it without waiting for it to be gone)."""

    def annotated(built: dict) -> dict:
        return {**built, "annotations": {**(built.get("annotations") or {}), **SKIP_AWAIT}}

    return metadata.apply(annotated) if isinstance(metadata, pulumi.Output) else annotated(metadata)


def custom_resource(
    name: str,
    manifest: Union[dict, pulumi.Output[dict]],
    opts: pulumi.ResourceOptions,
    *,
    api_version: Optional[str] = None,
    kind: Optional[str] = None,
) -> kubernetes.apiextensions.CustomResource:
    """A resource of the manifest's kind, declared from a manifest built in `gateway_config`.

    `manifest` may be an Output (built once a component's Output arguments resolve): then
    `api_version` and `kind` must be given, since they make the resource's type. Its metadata
    and spec wait for that Output, so the resource is registered only once it was built (and
    never, when building it failed).

    For CRD kinds, and for Deployments: the type token is `kubernetes:<apiVersion>:<kind>`
    either way, so the URN, the inputs and what the provider does are those of
    `kubernetes.apps.v1.Deployment`. The typed class also registers three aliases (the
    Deployment kinds of apps/v1beta1, apps/v1beta2 and extensions/v1beta1, which Kubernetes
    1.16 removed and this program never declared), which the SDK resolves per resource: about
    a quarter of a 300-route stack's evaluation time (benchmarks/README.md).
    """
    if isinstance(manifest, pulumi.Output):
        assert api_version is not None and kind is not None, "an Output manifest needs api_version and kind"
        return kubernetes.apiextensions.CustomResource(
            name,
            api_version=api_version,
            kind=kind,
            metadata=manifest.apply(lambda built: built["metadata"]),
            spec=manifest.apply(lambda built: built["spec"]),
            opts=opts,
        )
    return kubernetes.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )


def field(manifest: Union[dict, pulumi.Output[dict]], *keys: str) -> Any:
    """`manifest[keys[0]][keys[1]]...`, inside the Output when the manifest is one."""

    def get(built: dict) -> Any:
        value: Any = built
        for key in keys:
            value = value[key]
        return value

    return manifest.apply(get) if isinstance(manifest, pulumi.Output) else get(manifest)


def controller_ready(*components: Any) -> list[pulumi.Resource]:
    """What the controller needs created before a custom resource of its kinds: the
    `EnvoyGatewayController.ready` that the first of `components` (a controller, or any
    component built on one) was given, passed from component to component, so a route built
    on a Gateway waits for the CRDs and the controller without being told. Empty when none was
    given (a controller another stack or the platform installed)."""
    for component in components:
        ready = getattr(component, "_controller_ready", None)
        if ready:
            return list(ready)
    return []
