"""`python -m engine` is the `sous` command."""

from engine.cli import main

raise SystemExit(main())
