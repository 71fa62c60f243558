"""Which stack a `gatestack` command is about: `--stack NAME` or `--config FILE`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from gateway_config.loader import ConfigError, parse_stack_config, raw_config_from_stack_file, stack_file_name
from gateway_config.models import StackConfig
from gatestack.paths import REPOSITORY_ROOT, STACKS


@dataclass(frozen=True)
class StackSource:
    """A stack's name, its file and that file's text, the raw config in it and that config
    validated: read and parsed once, then handed on whole (to the engine, to `verify`)."""

    name: str
    file: Path
    display_file: str
    text: str
    raw_config: dict[str, Any]
    config: StackConfig


def load_stack(stack: Optional[str], config_file: Optional[Path]) -> StackSource:
    """Resolve and validate; raises `ConfigError` (a message for the user) on any problem."""
    if (stack is None) == (config_file is None):
        raise ConfigError("gatestack", [], note="give exactly one of --stack NAME or --config FILE")
    if stack is not None:
        display_file = stack_file_name(stack)
        file = REPOSITORY_ROOT / display_file
        name = stack
    else:
        file = Path(config_file)
        display_file = str(config_file)
        # Pulumi.<stack>.yaml names its stack; any other file is a stack called "local".
        parts = file.name.split(".")
        name = parts[1] if len(parts) == 3 and parts[0] == "Pulumi" and parts[2] in ("yaml", "yml") else "local"
    if not file.is_file():
        available = sorted(path.name.split(".")[1] for path in STACKS.glob("Pulumi.*.yaml"))
        raise ConfigError(display_file, [], note=f"{display_file}: no such file (stacks: {', '.join(available)})")
    raw = raw_config_from_stack_file(file)
    config = parse_stack_config(raw, display_file)
    return StackSource(name=name, file=file, display_file=display_file, text=file.read_text(), raw_config=raw, config=config)
