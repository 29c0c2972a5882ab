"""Benchmarks of the real nodes, each printing a small table.

Run one from the checkout root, so `scantalk` and `testbench` import as they do for the tests:

    .venv/bin/python -m bench.<name>
"""

import os


def lane_env(port: int, data_dir: str) -> dict[str, str]:
    """Settings for nodes under a benchmark: its broker, a scratch data dir, a voice that speaks
    every request at once (no startup phrase, no cooldown), audio to nowhere."""
    return {
        **os.environ,
        "SCANTALK_MQTT_PORT": str(port),
        "SCANTALK_DATA_DIR": data_dir,
        "SCANTALK_SAY_STARTUP": "no",
        "SCANTALK_VOICE_COOLDOWN": "0",
        "SDL_AUDIODRIVER": "disk",
        "SDL_DISKAUDIOFILE": os.devnull,
    }
