"""The CRDs' character rules, read for the differential test's generators: which patterns (a schema
`pattern`, or a CEL rule's `matches()`) judge a string of a stack config, and values one character
away from it on either side of them.

A generator that draws values only from what the program already allows never shows a rule the
program lacks (issue 22: a path match with a space). `value_patterns(raw, path)` marks the value at
`path`, renders the config with the manifest builders (`rendering`), finds the fields of the emitted
objects that hold the mark and returns the patterns the pinned CRDs put on them (`value_rules`: and the
substrings their CEL rules test it for, such as `contains('//')`); `variants` makes
values one character (or escape) away from a value, split into those every pattern allows and those
one refuses. The CRDs are read, not retyped, so a new CRD version brings its rules into the test.
"""

from __future__ import annotations

import copy
import functools
import re
import string
from typing import Any, Iterator, Mapping, Sequence

import yaml

from gatestack.differential.rendering import lenient_config, manifest_objects
from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, envoy_gateway_crd_directory

# The served version of each kind the program emits whose CRD the generators and the inventory read.
CRD_VERSIONS = {"GatewayClass": "v1", "Gateway": "v1", "HTTPRoute": "v1", "ReferenceGrant": "v1beta1",
                "EnvoyProxy": "v1alpha1", "BackendTrafficPolicy": "v1alpha1", "ClientTrafficPolicy": "v1alpha1",
                "SecurityPolicy": "v1alpha1"}
# Lowercase letters only: a value nearly every field accepts, so the marked config still renders.
MARK = "zqxmarkzqx"
# Sections whose strings reach only pulumi-tls inputs and Secrets (and would cost a key pair to render).
UNTRACED_SECTIONS = ("certificates", "clientCertificateAuthorities", "credentials", "controller")
# What is put into a value: every printable ASCII character, blanks, letters outside ASCII, and
# percent-escapes well and badly formed (the path pattern takes '%' only before two hex digits).
INSERTIONS = (*string.ascii_letters[:3], *string.digits[:2], *string.punctuation, " ", "\t", "é", "ü", "\u00a0",
              "%20", "%7E", "%2F", "%5C", "%zz", "%")
# A CEL rule's `self.<field>.matches(<regex>)`, the regex in any of CEL's string quotings.
_CEL_MATCHES = re.compile(r"self\.(\w+)\.matches\(r?(?:\"\"\"(.*?)\"\"\"|'(.*?)'|\"(.*?)\")\)", re.S)
# A CEL rule testing a field for a substring: `self.<field>.contains('//')`, `.startsWith('/')`, `.endsWith('/.')`.
_CEL_SUBSTRINGS = re.compile(r"self\.(\w+)\.(?:contains|startsWith|endsWith)\('([^']*)'\)")
# A CEL rule comparing an item's field with strings: `l.protocol == 'HTTPS'`, `l.protocol in ['HTTP', 'TCP']`.
_CEL_COMPARISON = re.compile(r"\b\w+\.(\w+)\s*(?:==\s*'([^']*)'|in\s*\[([^\]]*)\])")


@functools.lru_cache(maxsize=None)
def load_schemas(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> dict[str, dict[str, Any]]:
    """The openAPIV3Schema of each kind of `CRD_VERSIONS`, as the CRDs of Envoy Gateway `version` declare it."""
    directory = envoy_gateway_crd_directory(version)
    schemas = {}
    for path in [directory / "gatewayapi-crds.yaml", *sorted((directory / "generated").glob("*.yaml"))]:
        # libyaml's loader: the pure-Python one takes 20 s over these 2 MB on a loaded machine.
        for document in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            kind = ((document or {}).get("spec") or {}).get("names", {}).get("kind")
            for served in (document or {}).get("spec", {}).get("versions", []) if kind in CRD_VERSIONS else []:
                if served["name"] == CRD_VERSIONS[kind]:
                    schemas[kind] = served["schema"]["openAPIV3Schema"]
    return schemas


def schema_node(schema: dict[str, Any], parts: Sequence[str]) -> dict[str, Any] | None:
    """The schema of the field at `parts` ("[]" for a list's items), or None where the schema has none."""
    node = schema
    for part in parts:
        if part == "[]":
            node = node.get("items") or {}
        elif part in (node.get("properties") or {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    return node


def field_patterns(kind: str, parts: Sequence[str], version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[str]:
    """The patterns on a field: its schema's `pattern` and the CEL `matches()` rules on it, including those
    its parent states of it (`self.value.matches(...)` on an HTTPRoute's path match)."""
    schema = load_schemas(version).get(kind)
    node = schema_node(schema, parts) if schema else None
    if node is None:
        return []
    found = [node["pattern"]] if "pattern" in node else []
    for match in _parent_rule_matches(schema, parts, _CEL_MATCHES):
        found.append(next(group for group in match.groups()[1:] if group is not None))
    return list(dict.fromkeys(found))


def field_substrings(kind: str, parts: Sequence[str], version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[str]:
    """The substrings the CEL rules its parent states of a field test it for (`self.value.contains('//')`,
    `startsWith('/')`, `endsWith('/.')` on an HTTPRoute's path match): the values those rules tell apart."""
    schema = load_schemas(version).get(kind)
    if schema is None or schema_node(schema, parts) is None:
        return []
    return list(dict.fromkeys(match.group(2) for match in _parent_rule_matches(schema, parts, _CEL_SUBSTRINGS) if match.group(2)))


def _parent_rule_matches(schema: dict[str, Any], parts: Sequence[str], expression: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """The matches of `expression` in the CEL rules of the field's parent that name the field (group 1)."""
    parent = schema_node(schema, parts[:-1]) if parts and parts[-1] != "[]" else None
    for rule in (parent or {}).get("x-kubernetes-validations") or []:
        for match in expression.finditer(rule.get("rule", "")):
            if match.group(1) == parts[-1]:
                yield match


def _marked_fields(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths ("[]" for list items) of the strings in `value` that hold the mark."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _marked_fields(item, (*path, str(key)))
    elif isinstance(value, list):
        for item in value:
            yield from _marked_fields(item, (*path, "[]"))
    elif isinstance(value, str) and MARK in value:
        yield path


def value_patterns(raw: Mapping[str, Any], path: Sequence[Any], version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[str]:
    """The CRD patterns that judge the string at `path` of the stack config `raw`, wherever the program emits it."""
    return value_rules(raw, path, version)[0]


def value_rules(raw: Mapping[str, Any], path: Sequence[Any],
                version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> tuple[list[str], list[str]]:
    """The CRD patterns and the CEL rules' substrings (`field_substrings`) that judge the string at `path` of the
    stack config `raw`, wherever the program emits it."""
    if not path or path[0] in UNTRACED_SECTIONS:
        return [], []
    marked = copy.deepcopy(dict(raw))
    target: Any = marked
    for part in path[:-1]:
        target = target[part]
    if not isinstance(target[path[-1]], str):
        return [], []
    target[path[-1]] = MARK
    try:
        objects = manifest_objects(lenient_config(marked))
    except Exception:  # noqa: BLE001 - an unvalidated config that cannot be built has no fields to trace
        return [], []
    patterns: list[str] = []
    substrings: list[str] = []
    for item in objects:
        if item.get("kind") in CRD_VERSIONS:
            for field in _marked_fields({key: value for key, value in item.items() if key not in ("apiVersion", "kind")}):
                patterns += field_patterns(item["kind"], field, version)
                substrings += field_substrings(item["kind"], field, version)
    return list(dict.fromkeys(patterns)), list(dict.fromkeys(substrings))


def _compiled(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error:  # a construct Python's engine lacks: that rule is not split on
            continue
    return compiled


def variants(value: str, patterns: Sequence[str], substrings: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Values one insertion (`INSERTIONS` and the CEL rules' `substrings`, after the first character and at the
    end) away from `value`: those every pattern matches whole, and those at least one does not."""
    compiled = _compiled(patterns)
    inside: list[str] = []
    outside: list[str] = []
    for insertion in dict.fromkeys((*INSERTIONS, *substrings)):
        for position in sorted({min(1, len(value)), len(value)}):
            candidate = value[:position] + insertion + value[position:]
            (inside if all(pattern.fullmatch(candidate) for pattern in compiled) else outside).append(candidate)
    return list(dict.fromkeys(inside)), list(dict.fromkeys(outside))


def enum_values(kind: str, parts: Sequence[str], version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[str]:
    """The values the schema of the field at `parts` enumerates (empty where it has no enum)."""
    schema = load_schemas(version).get(kind)
    node = schema_node(schema, parts) if schema else None
    return list((node or {}).get("enum") or [])


def compared_values(kind: str, parts: Sequence[str], field: str, version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[str]:
    """The strings the CEL rules on the list at `parts` compare its items' `field` with, in the order they
    first appear: the values those rules tell apart (a Gateway's listener protocols, for `protocol`)."""
    schema = load_schemas(version).get(kind)
    node = schema_node(schema, parts) if schema else None
    found: list[str] = []
    for rule in (node or {}).get("x-kubernetes-validations") or []:
        for match in _CEL_COMPARISON.finditer(rule.get("rule", "")):
            if match.group(1) == field:
                listed = match.group(2) if match.group(2) is not None else match.group(3)
                found += [value for value in re.findall(r"'([^']*)'", f"'{listed}'" if match.group(2) is not None else listed) if value]
    return list(dict.fromkeys(found))
