"""Specification: the rule inventory (docs/rule-inventory.md) covers every field the program emits
into a Gateway API or Envoy Gateway object, names a check and a test for each constraint the pinned
CRDs put on it, and is current: a CRD version that adds or changes a rule shows up here."""

from __future__ import annotations

import re

from gatestack.paths import REPOSITORY_ROOT
from gatestack.differential.inventory import CONDITIONS, DOCUMENT, check_for, emitted_fields, entries, render
from gatestack.differential.field_catalogue import fields_not_in_catalogue
from gatestack.differential.program_rules import PROGRAM_ONLY_RULES


def test_the_inventory_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), (
        "docs/rule-inventory.md differs from the CRDs and the checks: review the changed rules, map each to a "
        "check and a test, then run `python -m gatestack.differential.inventory`"
    )


def test_every_emitted_field_has_a_check() -> None:
    unchecked = sorted(field for field in emitted_fields() if check_for(re.sub(r"\.(annotations|labels)\..*", r".\1.*", field)) is None)
    assert not unchecked, f"fields the program emits without a check in the inventory: {unchecked}"


def test_no_entry_lacks_a_check_or_a_test() -> None:
    rows = [(entry.field, entry.check, entry.test) for entry in entries()]
    rows += [(condition, check, test) for condition, check, test in CONDITIONS]
    rows += [(rule.name, rule.reason, rule.test) for rule in PROGRAM_ONLY_RULES]
    assert rows
    for subject, check, test in rows:
        assert check and check != "MISSING", f"{subject}: no check"
        path, _, name = test.partition("::")
        function = name.split("[", 1)[0]
        source = (REPOSITORY_ROOT / path).read_text()
        assert not function or f"def {function}(" in source, f"{subject}: test {test} does not exist"
        case = name.partition("[")[2].rstrip("]")
        assert not case or f'"{case}' in source, f"{subject}: no case '{case}' in {path}"


def test_the_policy_field_catalogue_sets_every_policy_field() -> None:
    """The inventory lists policy fields from `field_catalogue`: a field the policy models gain shows up here."""
    missing = fields_not_in_catalogue()
    assert not missing, f"set these in gatestack/differential/field_catalogue.py (then regenerate the inventory): {missing}"
