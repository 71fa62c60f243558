"""MkDocs hook: the stack configuration reference, rendered from the stack files' JSON Schema.

The schema is generated from the pydantic models (`gateway_config.schema`), so the page lists
exactly the keys the program accepts, with their types, defaults, allowed values and
descriptions; a hand-written table could drift, this cannot. The page
`reference/configuration.md` holds the marker below where the tables go.
"""

from __future__ import annotations

import json
from typing import Any

from gateway_config.loader import PROJECT_NAME
from gateway_config.schema import stack_file_schema

MARKER = "<!-- configuration-reference -->"
PAGE = "reference/configuration.md"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    return markdown.replace(MARKER, configuration_reference(stack_file_schema()))


def configuration_reference(schema: dict[str, Any]) -> str:
    """One table for the top level, then one per model the keys lead to, in reading order."""
    definitions = schema["$defs"]
    config = schema["properties"]["config"]
    top_level = {key.removeprefix(f"{PROJECT_NAME}:"): value for key, value in config["properties"].items()}
    required = {key.removeprefix(f"{PROJECT_NAME}:") for key in config.get("required", [])}
    sections = [_table("Top level", f"Keys of `config:`, each written `{PROJECT_NAME}:<key>`.", top_level, required, definitions)]
    seen: set[str] = set()
    queue = _models_named(top_level)
    while queue:
        name = queue.pop(0)
        if name in seen or name == "SecureValue":
            continue
        seen.add(name)
        model = definitions[name]
        properties = model.get("properties", {})
        sections.append(_table(name, model.get("description", ""), properties, set(model.get("required", [])), definitions))
        queue += _models_named(properties)
    return "\n\n".join(sections) + "\n"


def _models_named(properties: dict[str, Any]) -> list[str]:
    """The models the given properties refer to, in order."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str):
                names.append(reference.rsplit("/", 1)[-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for value in properties.values():
        walk(value)
    return list(dict.fromkeys(names))


def _table(
    title: str, description: str, properties: dict[str, Any], required: set[str], definitions: dict[str, Any]
) -> str:
    lines = [f"### {title}", ""]
    if description:
        lines += [_one_line(description), ""]
    lines += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    for key, schema in properties.items():
        default = "required" if key in required else _default(schema)
        lines.append(
            f"| `{key}` | {_type(schema)} | {default} | {_allowed(schema)} | {_description(schema, definitions)} |"
        )
    return "\n".join(lines)


def _description(schema: dict[str, Any], definitions: dict[str, Any]) -> str:
    """The field's own description, else the first sentence of the model it holds."""
    if schema.get("description"):
        return _one_line(schema["description"])
    reference = schema.get("$ref") or schema.get("items", {}).get("$ref")
    if reference:
        text = definitions[reference.rsplit("/", 1)[-1]].get("description", "")
        return _one_line(text.split("\n\n", 1)[0].split(". ", 1)[0].rstrip(".") + ".") if text else ""
    return ""


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name == "SecureValue":
            return "`secure:` value (`pulumi config set --secret`)"
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        branches = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
        return " or ".join(_type(branch) for branch in branches) or "null"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return "string" if all(isinstance(value, str) for value in schema["enum"]) else kind
    return str(kind)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return "none"
    value = schema["default"]
    if isinstance(value, dict) and value and "$ref" in schema:
        return "each key's own"  # a section whose keys all have defaults: see its table
    if value in ({}, []):
        return f"`{json.dumps(value)}`"
    return f"`{json.dumps(value)}`".replace("|", "\\|")


def _allowed(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return "; ".join(filter(None, (_allowed(branch) for branch in schema["anyOf"])))
    parts = []
    if "enum" in schema:
        parts.append(", ".join(f"`{value}`" for value in schema["enum"]))
    for bound, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if bound in schema:
            parts.append(f"{word} {schema[bound]}")
    for bound, word in (("minItems", "at least"), ("maxItems", "at most"), ("minLength", "at least"), ("maxLength", "at most")):
        if bound in schema:
            unit = "items" if "Items" in bound else "characters"
            parts.append(f"{word} {schema[bound]} {unit}")
    if "pattern" in schema:
        parts.append(f"matches `{schema['pattern']}`".replace("|", "\\|"))
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        inner = _allowed(schema["items"])
        if inner:
            parts.append(f"each: {inner}")
    return "; ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
