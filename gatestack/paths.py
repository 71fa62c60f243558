"""Where gatestack finds the repository's files: every path it reads or writes, in one place.

gatestack is the repository's own tool (the proofs, the local cluster, the toolchain), run
from a checkout: `requirements.txt` installs the project editable (`-e .`), so this file's
folder is the checkout's `gatestack/`. The component package and the config models never
need these paths; a user's program imports them from any folder.
"""

from __future__ import annotations

from pathlib import Path

from gateway_config.loader import STACKS_DIRECTORY

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
"""The checkout: the project's Pulumi program (`Pulumi.yaml`, `__main__.py`) lives here."""

PROGRAM = REPOSITORY_ROOT / "__main__.py"
STACKS = REPOSITORY_ROOT / STACKS_DIRECTORY
"""`stacks/`: one `Pulumi.<stack>.yaml` per environment."""

VIRTUALENV = REPOSITORY_ROOT / ".venv"
"""The virtualenv `make` creates; the real engine runs the program with it."""

TOOLS_DIRECTORY = REPOSITORY_ROOT / ".tools"
"""Binaries built from the Go module proxy, one file or folder per tool and version."""

DEFAULT_CLUSTER_STATE = REPOSITORY_ROOT / ".local" / "cluster"
"""The local cluster's state (etcd data, certificates, logs, the engine's stacks) unless
`--state-dir` names another folder."""

RULE_INVENTORY = REPOSITORY_ROOT / "docs" / "rule-inventory.md"
"""The generated list of every rule the validators and the differential test know."""


def shown(path: Path) -> str:
    """`path` relative to the checkout when it is inside it (shorter in messages), else whole."""
    try:
        return str(path.relative_to(REPOSITORY_ROOT))
    except ValueError:
        return str(path)
