"""The environment a test starts a process with."""

from __future__ import annotations

import os


def clean_environ() -> dict[str, str]:
    """This process's environment without any `SCANTALK_*` setting, so a developer's own
    settings (or a CI runner's) never leak into what a test checks."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SCANTALK_")}
