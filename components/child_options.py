"""Resource options for a component's children."""

from __future__ import annotations

from typing import Optional

import pulumi


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
