"""`python -m gwctl`: see `gwctl/cli.py`."""

from gwctl.cli import main

main()
