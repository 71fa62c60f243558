"""The JSON Schema of a stack file (`stacks/Pulumi.<stack>.yaml`), generated from the models.

Editors read it through the first line of every stack file
(`# yaml-language-server: $schema=stack-file.schema.json`) and validate and complete as one
types; `make test` validates every stack file with it (check-jsonschema) and keeps the
committed copy current. The documentation's configuration reference is rendered from the
same schema, so neither can drift from the models.

The schema describes the shape the models accept; rules that relate several values (a route
naming a backend, a listener's certificate, ...) are the program's alone, checked by
`gatestack render` or `pulumi preview`.

`python -m gateway_config.schema` rewrites the committed copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from gateway_config.loader import PROJECT_NAME, STACKS_DIRECTORY
from gateway_config.models import StackConfig

SCHEMA_FILE = Path(__file__).resolve().parent.parent / STACKS_DIRECTORY / "stack-file.schema.json"
# What the first line of a stack file says, relative to the stack file's folder.
SCHEMA_COMMENT = "# yaml-language-server: $schema="

# A value `pulumi config set --secret` writes: only the engine can decrypt it.
_SECURE_VALUE = {
    "type": "object",
    "properties": {"secure": {"type": "string"}},
    "required": ["secure"],
    "additionalProperties": False,
    "description": "A value encrypted by `pulumi config set --secret`.",
}


class _WithFactoryDefaults(GenerateJsonSchema):
    """Pydantic's generator, also stating the defaults that `default_factory` makes (`{}`,
    `[]`, a section's own defaults): an editor shows them, and so does the reference."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()
        return super().get_default_value(schema)


def _allow_secure_strings(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every string leaf also accepting a `secure:` value (credentials are secrets)."""
    if schema.get("type") == "string":
        return {"anyOf": [schema, {"$ref": "#/$defs/SecureValue"}]}
    result = dict(schema)
    for key in ("additionalProperties", "items"):
        if isinstance(result.get(key), dict):
            result[key] = _allow_secure_strings(result[key])
    return result


def stack_file_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole `Pulumi.<stack>.yaml`."""
    model = StackConfig.model_json_schema(by_alias=True, schema_generator=_WithFactoryDefaults)
    definitions = {"SecureValue": _SECURE_VALUE, **model.pop("$defs", {})}
    properties = {f"{PROJECT_NAME}:{key}": value for key, value in model["properties"].items()}
    credentials_key = f"{PROJECT_NAME}:credentials"
    if credentials_key in properties:
        properties[credentials_key] = _allow_secure_strings(properties[credentials_key])
    config: dict[str, Any] = {
        "type": "object",
        "description": model.get("description", ""),
        "properties": properties,
        # Unknown project keys are refused, as the program refuses them; other namespaces
        # (providers' keys such as kubernetes:context) belong to others and are let through.
        "propertyNames": {
            "anyOf": [
                {"enum": sorted(properties)},
                {"pattern": f"^(?!{PROJECT_NAME}:)[A-Za-z0-9_.-]+:.+$"},
            ]
        },
    }
    required = [f"{PROJECT_NAME}:{key}" for key in model.get("required", [])]
    if required:
        config["required"] = required
    # A stack declares at least one Gateway: the seed's `gateway`, or one under `gateways`.
    config["anyOf"] = [{"required": [f"{PROJECT_NAME}:gateway"]}, {"required": [f"{PROJECT_NAME}:gateways"]}]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Pulumi stack file of the {PROJECT_NAME} program",
        "type": "object",
        "properties": {
            "config": config,
            # Written by Pulumi itself (`pulumi stack init`, `pulumi stack change-secrets-provider`).
            "encryptionsalt": {"type": "string"},
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "environment": {"description": "Pulumi ESC environments imported by the stack."},
        },
        "additionalProperties": False,
        "$defs": definitions,
    }


def schema_text() -> str:
    """The schema as committed: indented, keys in the models' order, a final newline."""
    return json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE}")
