"""How gatestack's long runs show where they are: `==> step` and `done in N s` on stderr, where
they never mix with a command's output (a rendered YAML, a check table)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator


def progress(message: str) -> None:
    """Print a progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Print a step and, when it ends, how long it took."""
    progress(f"==> {title}")
    started = time.monotonic()
    yield
    progress(f"    done in {time.monotonic() - started:.1f}s")
