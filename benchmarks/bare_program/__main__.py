"""A bare Pulumi program: the Pulumi SDK's floor for the resources another program declared.

It reads the file named by the config key `bench-bare:declared` (written by
`benchmarks/floor.py` from a run of `__main__.py`: `custom`, `component`, `modules` and every
resource in the order it was registered, with its URN, type, parent, dependencies, inputs and
whether it was a read), imports the same `pulumi_kubernetes` modules and declares the same
numbers of component and custom resources. Nothing else: no config models, no options but
`parent`, `id` for a read and (graph `same`) `depends_on`, no outputs.

`bench-bare:graph` (default `flat`):
* `flat`: the floor. Every custom resource is parented to a component (round robin over the
  local ones; a remote component, a Helm v4 Chart, stays remote), with no dependencies.
* `same`: the program's own graph: each resource has the parent and the dependencies the
  program gave it. The program beside this one shows the program's Python; this one beside
  `flat` shows what its ordering costs (a resource is registered only once its dependencies
  have been, and the real engine answers a registration once its step is done).

`bench-bare:inputs` (default `same`):
* `same`: each custom resource has the program's type and inputs, as plain data (the provider
  gets the same objects); a read stays a read, of the object with the same type and name;
* `none`: each is a ConfigMap with only `apiVersion` and `kind` (the provider names it): the
  least a custom resource can cost the SDK and the Kubernetes provider.

Resources are declared through two one-line subclasses, as every real program declares them
(a component class, a typed `pulumi_kubernetes` class): the SDK records a resource's source
position (a stack trace per resource, `pulumi.runtime.resource._get_stack_trace`) only when
its class is a subclass of `CustomResource` or `ComponentResource`, so a program using the
base classes directly would skip work no real program can.
"""

import importlib
import json
from pathlib import Path

import pulumi

config = pulumi.Config("bench-bare")
declared = json.loads(Path(config.require("declared")).read_text())
same_inputs = (config.get("inputs") or "same") == "same"
same_graph = (config.get("graph") or "flat") == "same"
for module in declared["modules"]:
    importlib.import_module(module)


class BareComponent(pulumi.ComponentResource):
    def __init__(self, name: str, options: pulumi.ResourceOptions, remote: bool = False) -> None:
        super().__init__("bench:index:Component", name, None, options, remote=remote)
        if not remote:
            self.register_outputs({})


class BareCustom(pulumi.CustomResource):
    def __init__(self, resource_type: str, name: str, inputs: dict, options: pulumi.ResourceOptions) -> None:
        super().__init__(resource_type, name, inputs, options)


def object_key(resource_type: str, inputs: dict) -> tuple:
    metadata = inputs.get("metadata") or {}
    return resource_type, metadata.get("namespace"), metadata.get("name")


records = declared["resources"]
custom_records = [record for record in records if record["custom"]]
components, declared_objects, by_urn = [], {}, {}
if not same_graph:
    components = [
        BareComponent(f"component-{index}", pulumi.ResourceOptions(), record.get("remote", False))
        for index, record in enumerate(record for record in records if not record["custom"])
    ]
    # Children go to local components only, as a remote component's children are its provider's.
    local_components = [component for component, record in zip(components, (r for r in records if not r["custom"])) if not record.get("remote")]


def declare_custom(index: int, record: dict, options: pulumi.ResourceOptions) -> pulumi.CustomResource:
    if not same_inputs:
        return BareCustom("kubernetes:core/v1:ConfigMap", f"custom-{index}", {"apiVersion": "v1", "kind": "ConfigMap"}, options)
    key = object_key(record["type"], record["inputs"])
    if record["read"]:
        options.id = declared_objects[key].id
        return BareCustom(record["type"], f"custom-{index}", record["inputs"], options)
    declared_objects[key] = BareCustom(record["type"], f"custom-{index}", record["inputs"], options)
    return declared_objects[key]


if same_graph:
    for index, record in enumerate(records):
        options = pulumi.ResourceOptions(
            parent=by_urn.get(record["parent"]), depends_on=[by_urn[urn] for urn in record["dependencies"] if urn in by_urn]
        )
        if record["custom"]:
            by_urn[record["urn"]] = declare_custom(index, record, options)
        else:
            by_urn[record["urn"]] = BareComponent(f"component-{index}", options, record.get("remote", False))
else:
    for index, record in enumerate(custom_records):
        declare_custom(index, record, pulumi.ResourceOptions(parent=local_components[index % len(local_components)]))
