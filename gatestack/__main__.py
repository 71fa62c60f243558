"""`python -m gatestack`: see `gatestack/cli.py`."""

from gatestack.cli import main

main()
