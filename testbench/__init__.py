"""Real parts for tests and benchmarks: a bus listener, an IoT Hub stand-in, camera footage,
Custom Vision-shaped models, the tuxpaint evaluation set and the pytest fixtures.

Not shipped in the wheel: it is imported from the checkout root (pytest's `pythonpath`, or
`.venv/bin/python -m bench.<name>` run there), so tests and benchmarks share one copy.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
"""The checkout root, for files that are not package data (the IoT Edge manifest, the
lane-to-store bridge config)."""
