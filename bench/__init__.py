"""Benchmarks of the real nodes, each printing a small table.

Run one from the checkout root, so `scantalk` and `testbench` import as they do for the tests:

    .venv/bin/python -m bench.<name>
"""

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time a process used so far, user and system, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    """A process's resident memory now, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
