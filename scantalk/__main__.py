"""`python -m scantalk`: the `scantalk` command (scantalk/commands/cli.py), the one module of
the core that reaches into the CLI package."""

import sys

from scantalk.commands.cli import main

sys.exit(main())
