"""``python -m gatestack.toolchain [VERSION] [--cluster] [--engine]``: install tools, print their paths.

Without flags it installs the data-plane tools only; ``--cluster`` adds the local cluster's
binaries and ``--engine`` the Pulumi engine's. Errors are printed as one line (exit status 1).
"""

from __future__ import annotations

import argparse
import sys

from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, ToolchainError, ensure_tools


def main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatestack.toolchain", description="Install pinned tools into .tools/ and print their paths.")
    parser.add_argument(
        "version", nargs="?", default=DEFAULT_ENVOY_GATEWAY_VERSION, help="Envoy Gateway version (default %(default)s)"
    )
    parser.add_argument("--cluster", action="store_true", help="also build the local cluster's binaries")
    parser.add_argument("--engine", action="store_true", help="also build the Pulumi engine's binaries")
    options = parser.parse_args(arguments)
    try:
        paths = ensure_tools(options.version, cluster=options.cluster, engine=options.engine)
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
