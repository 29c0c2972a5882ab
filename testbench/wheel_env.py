"""ScanTalk installed as the IoT Edge module images install it, for tests that run what an image
runs: the wheel built from what the images' build stage copies, and per node a fresh virtual
environment outside the checkout holding that wheel with the node's extra only.

Both are made once per test session: a second test asking for the same wheel or the same extra
of it gets the first one, wherever it asked for it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from testbench import CHECKOUT

BUILD_SOURCES = (
    "pyproject.toml",
    "scantalk",
    "camera_node",
    "classifier_node",
    "voice_node",
    "bridge",
    "scale_node",
)
"""What the images' build stage copies from the context (the checkout) to build the wheel."""
NOT_SOURCE = ("__pycache__", "*.pyc")
"""Left out of the context by .dockerignore."""
INSTALL_TIMEOUT_S = 900

_wheels: dict[Path, Path] = {}
_venvs: dict[tuple[str, Path], Path] = {}


def build(into: Path, checkout: Path = CHECKOUT) -> Path:
    """The project's wheel, built in `into` from a copy of BUILD_SOURCES, as in an image: from a
    copy because setuptools leaves build/ beside what it builds, and re-reads a stale egg-info."""
    if checkout not in _wheels:
        source = into / "source"
        source.mkdir(parents=True)
        for name in BUILD_SOURCES:
            if (checkout / name).is_dir():
                ignore = shutil.ignore_patterns(*NOT_SOURCE)
                shutil.copytree(checkout / name, source / name, ignore=ignore)
            else:
                shutil.copy2(checkout / name, source / name)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", into, source],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        (_wheels[checkout],) = into.glob("scantalk-*.whl")
    return _wheels[checkout]


def install(extra: str, wheel: Path, into: Path) -> Path:
    """The `scantalk` executable of a virtual environment at `into` holding `wheel` with `extra`
    only, made as the images make theirs: a venv without pip, filled by another Python's pip."""
    if (extra, wheel) not in _venvs:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", into], check=True)
        python = into / "bin" / "python"
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", python, "install", "-q", f"{wheel}[{extra}]"],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        _venvs[extra, wheel] = into / "bin" / "scantalk"
    return _venvs[extra, wheel]
