"""`python -m engine` is the `sous` command."""

from engine.cli import entry

entry()
