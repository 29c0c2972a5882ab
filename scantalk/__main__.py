import sys

from scantalk.cli import main

sys.exit(main())
