"""Run the real Pulumi program (`__main__.py`) under the Pulumi SDK's mock engine.

The same code path as `pulumi preview`/`up`: the stack file's config is handed to the
runtime the way the engine hands it over, the program runs unchanged, and every resource
it registers is recorded with its inputs, parent, dependencies, protection and which
inputs are secret. Nothing here talks to a cluster. The mocks stand in only for what a
cluster or provider would compute or already hold: certificates (see `gatestack/stand_ins/pulumi_tls_material.py`),
object IDs, the Gateway's status address once the controller has programmed it, and the
TLS Secrets a stack reads instead of generating (`source: existingSecret`).
"""

from __future__ import annotations

import base64
import runpy
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from gateway_config.loader import PROJECT_NAME, engine_config_from_raw
from gatestack.paths import PROGRAM
from gatestack.stand_ins.existing_secrets import TLS_SECRET_KEYS, TLS_SECRET_TYPE
from gatestack.stand_ins.pulumi_tls_material import TLS_TYPES, CertificateMaterial, PlaceholderMaterial

# What the mock engine reports as the Gateway's address when no other is given.
PLACEHOLDER_ADDRESS = "<address assigned by the load balancer>"
SECRET_TYPE = "kubernetes:core/v1:Secret"
_SECRET_SIGNATURE = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
_SECRET_VALUE = rpc._special_secret_sig
# Config keys that hold secrets (basic-auth passwords and API keys).
SECRET_CONFIG_KEYS = ("credentials",)


@dataclass
class DeclaredResource:
    """One resource the program registered (or read), as the engine would have seen it."""

    type: str
    name: str
    urn: str
    parent: Optional[str]
    dependencies: list[str]
    inputs: dict[str, Any]
    secret_inputs: set[str]
    protect: bool
    custom: bool
    read: bool = False


@dataclass
class ProgramRun:
    """What one run declared, and what it exported."""

    resources: list[DeclaredResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, resource_type: str) -> list[DeclaredResource]:
        return [resource for resource in self.resources if resource.type == resource_type]

    def by_urn(self) -> dict[str, DeclaredResource]:
        return {resource.urn: resource for resource in self.resources}


class ProgramFailed(Exception):
    """The program stopped (e.g. a config error); `resources` is what it declared before."""

    def __init__(self, message: str, resources: list[DeclaredResource]):
        super().__init__(message)
        self.resources = resources


def _unwrap_secrets(value: Any) -> tuple[Any, bool]:
    """The value with Pulumi's secret wrappers removed, and whether any was found."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIGNATURE) == _SECRET_VALUE:
            inner, _ = _unwrap_secrets(value.get("value"))
            return inner, True
        found = False
        result = {}
        for key, item in value.items():
            result[key], item_secret = _unwrap_secrets(item)
            found = found or item_secret
        return result, found
    if isinstance(value, list):
        pairs = [_unwrap_secrets(item) for item in value]
        return [item for item, _ in pairs], any(secret for _, secret in pairs)
    return value, False


def whole_numbers(value: Any) -> Any:
    """Protobuf carries every number as a float: give integral ones back as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def placeholder_secret_data(secret_id: str) -> dict[str, str]:
    """What the mock cluster answers for a TLS Secret it was not given: readable stand-ins,
    base64 like every Secret's `data`, never a key."""
    return {
        key: base64.b64encode(f"<read at deploy time: {key} of the existing Secret {secret_id}>".encode()).decode()
        for key in TLS_SECRET_KEYS
    }


def _as_secret(value: Any) -> dict[str, Any]:
    """`value` marked secret, as the engine marks a Secret's `data` when it reads one."""
    return {_SECRET_SIGNATURE: _SECRET_VALUE, "value": value}


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, material: CertificateMaterial, gateway_address: str, existing_secrets: dict[str, dict[str, Any]]):
        self.material = material
        self.gateway_address = gateway_address
        self.existing_secrets = existing_secrets

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs, _ = _unwrap_secrets(args.inputs)
        inputs = whole_numbers(inputs)
        if args.typ in TLS_TYPES:
            return [f"{args.name}-id", {**inputs, **self.material.outputs(args.typ, args.name, inputs)}]
        if args.resource_id:  # a read of a live object: what the cluster would answer
            state = dict(inputs)
            if args.typ.endswith(":Gateway"):
                state["status"] = {
                    "addresses": [{"type": "IPAddress", "value": self.gateway_address}],
                    "conditions": [{"type": "Programmed", "status": "True"}],
                }
            if args.typ == SECRET_TYPE:
                state = self._read_secret(args.resource_id)
            return [args.resource_id, state]
        metadata = inputs.get("metadata") or {}
        object_id = "/".join(part for part in (metadata.get("namespace"), metadata.get("name") or args.name) if part)
        return [object_id, inputs]

    def _read_secret(self, secret_id: str) -> dict[str, Any]:
        namespace, _, name = secret_id.rpartition("/")
        held = self.existing_secrets.get(secret_id) or {"type": TLS_SECRET_TYPE, "data": placeholder_secret_data(secret_id)}
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": held["type"],
            "data": _as_secret(held["data"]),
        }

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping what `MockResourceArgs` leaves out."""

    def __init__(self, mocks: _Mocks):
        super().__init__(mocks)
        self.declared: list[DeclaredResource] = []

    def _record(self, request: Any, urn: str, read: bool) -> None:
        properties = rpc.deserialize_properties(request.properties if read else request.object, keep_unknowns=True)
        inputs, _ = _unwrap_secrets(properties)
        secret_inputs = {key for key, value in properties.items() if _unwrap_secrets(value)[1]}
        self.declared.append(
            DeclaredResource(
                type=request.type,
                name=request.name,
                urn=urn,
                parent=request.parent or None,
                dependencies=list(getattr(request, "dependencies", []) or []),
                inputs=whole_numbers(inputs),
                secret_inputs=secret_inputs,
                protect=bool(getattr(request, "protect", False)),
                custom=bool(getattr(request, "custom", True)),
                read=read,
            )
        )

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, response.urn, read=False)
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self._record(request, response.urn, read=True)
        return response


def run_program(
    stack: str,
    raw_config: dict[str, Any],
    material: Optional[CertificateMaterial] = None,
    gateway_address: str = PLACEHOLDER_ADDRESS,
    existing_secrets: Sequence[dict[str, Any]] = (),
    secret_keys: Optional[Sequence[str]] = None,
) -> ProgramRun:
    """Run `__main__.py` for `stack` with `raw_config` (a stack file's project keys).

    `material` makes what pulumi-tls would (placeholders by default). `existing_secrets`
    are Secret objects (with base64 `data`) the mock cluster already holds: a read of one
    answers its `data`, e.g. the real material of `existing_certificate_secrets`; a read of
    any other Secret answers `placeholder_secret_data`. `secret_keys` are the config keys the
    engine marks secret (default: `credentials` when present, as `--secret` would). Raises
    `ProgramFailed` with the program's message when it stops, e.g. on a config error.
    """
    held = {f"{item['metadata']['namespace']}/{item['metadata']['name']}": item for item in existing_secrets}
    mocks = _Mocks(material or PlaceholderMaterial(), gateway_address, held)
    monitor = _RecordingMonitor(mocks)
    settings.set_root_resource(None)  # a fresh Stack for every run, with no old exports
    # A run that failed inside an apply leaves its other outputs' tasks here, and every run
    # awaits all of them at its end: start empty, as the SDK's own `pulumi.runtime.test` does.
    settings.SETTINGS.outputs.clear()
    if secret_keys is None:
        # As the engine marks them when set with --secret (the program refuses them otherwise).
        secret_keys = [f"{PROJECT_NAME}:{key}" for key in SECRET_CONFIG_KEYS if key in raw_config]
    pulumi.runtime.set_all_config(engine_config_from_raw(raw_config), list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=PROJECT_NAME, stack=stack, preview=False, monitor=monitor)
    root = settings.get_root_resource()
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")))
    except pulumi.RunError as error:
        raise ProgramFailed(str(error), monitor.declared) from None
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for key, value in root.outputs.items():
        output = pulumi.Output.from_input(value)
        outputs[key] = whole_numbers(_sync_await(output.future()))
        if _sync_await(output.is_secret()):
            secret_outputs.add(key)
    return ProgramRun(resources=monitor.declared, outputs=outputs, secret_outputs=secret_outputs)

