"""What every rule reports and the small helpers every rule shares.

A rule returns `Problem`s: the dotted path of the value to fix in the stack file
(`routes.0.rules.1.backendRefs`) and one sentence saying what is wrong and what is allowed.
The loader prefixes each with the file it came from. This module imports nothing of the
package, so the rules, the loader and the YAML reader can all build on it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a stack config: where (dotted path) and what (a sentence)."""

    path: str
    message: str


def dotted_path(*parts: object) -> str:
    """The path of a value as the stack file spells it: `dotted_path("routes", 0, "name")` is `routes.0.name`."""
    return ".".join(str(part) for part in parts)


def repeated_values(values: Iterable[str]) -> set[str]:
    """The values that occur more than once in `values`."""
    return {value for value, count in Counter(values).items() if count > 1}
