"""`python -m gatestack`: the command line (see `gatestack/cli/app.py`)."""

from gatestack.cli.app import main

main()
