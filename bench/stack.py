"""A whole lane as `scantalk up` runs it, measured per process: CPU seconds and peak RSS of the
supervisor, the broker and each node, over a window after the lane is up and warm.

    .venv/bin/python -m bench.stack [--seconds 40] [--still] [--model-dir DIR]

The camera reads the demo photos (each item `DWELL_S`, then the empty counter `GAP_S`, at
`FPS`), or with `--still` a folder holding only the empty counter. A listener counts the
classifier's predictions (frames classified) and scans in the window.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bench import cpu_seconds, rss_mb
from scantalk.commands.broker import free_port
from scantalk.contract import Topics
from scantalk.processes import stop_process
from scantalk.scene import empty_scene
from testbench.bus import Bus
from testbench.environ import clean_environ
from testbench.output import Output

FPS = 15
DWELL_S, GAP_S = 3.0, 3.0
"""An item 3 s, then the empty counter 3 s: one placement every 6 s."""
WARM_S = 8.0
"""After "lane is up": the model loaded, the first frames classified, caches filled."""
PROCESSES = ("supervisor", "broker", "camera", "classifier", "voice", "bridge")
T = Topics("lane-1")


@dataclass
class StackRun:
    seconds: float
    cpu_s: dict[str, float] = field(default_factory=dict)
    """Per process, over the window."""
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    inference_ms: list[float] = field(default_factory=list)
    """The classifier's own time per frame (decode, preprocessing, inference)."""
    frames: int = 0
    """Frames the classifier classified in the window."""
    scans: int = 0

    @property
    def placements(self) -> float:
        return self.seconds / (DWELL_S + GAP_S)

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_s.values())

    @property
    def rss_total(self) -> float:
        return sum(self.peak_rss_mb.values())


def run(
    seconds: float, still: bool = False, model_dir: Path | None = None, warm_s: float = WARM_S
) -> StackRun:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = "demo"
        if still:
            (folder / "still").mkdir()
            Image.fromarray(empty_scene((640, 480))).save(folder / "still" / "empty.png")
            source = str(folder / "still")
        port = free_port()
        env = {
            **clean_environ(), "SCANTALK_MQTT_PORT": str(port),
            "SCANTALK_DATA_DIR": str(folder / "data"), "SCANTALK_SAY_STARTUP": "no",
            "SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": "/dev/null",
            "SCANTALK_CAMERA_SOURCE": source, "SCANTALK_CAMERA_FPS": str(FPS),
            "SCANTALK_CAMERA_DWELL": str(DWELL_S), "SCANTALK_CAMERA_GAP": str(GAP_S),
        }  # fmt: skip
        if model_dir:
            env["SCANTALK_MODEL_DIR"] = str(model_dir)
        up = subprocess.Popen(
            [sys.executable, "-m", "scantalk", "up"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert up.stdout
        output = Output(up.stdout)
        bus = None
        try:
            output.wait_for(r"^lane is up", timeout=180)
            pids = {name: _pid(output, name) for name in PROCESSES[1:]}
            pids["supervisor"] = up.pid
            bus = Bus(port, [T.prediction, T.scan])
            time.sleep(warm_s)  # a warm-up period, not a synchronisation
            return _measure(pids, bus, seconds)
        finally:
            if bus:
                bus.close()
            stop_process(up)


def _pid(output: Output, name: str) -> int:
    started = [line for line in output.lines if f"{name} started (pid " in line]
    return int(started[-1].rsplit("pid ", 1)[1].rstrip(")"))


def _measure(pids: dict[str, int], bus: Bus, seconds: float) -> StackRun:
    start_cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    peak = dict.fromkeys(pids, 0.0)
    started = time.monotonic()
    while (now := time.monotonic()) - started < seconds:
        for name, pid in pids.items():
            peak[name] = max(peak[name], rss_mb(pid))
        time.sleep(0.25)  # sampling memory
    result = StackRun(now - started)
    result.cpu_s = {name: cpu_seconds(pid) - start_cpu[name] for name, pid in pids.items()}
    result.peak_rss_mb = peak
    window = [h for h in bus.matching(T.prediction) if started <= h.received < now]
    result.inference_ms = [h.json()["inference_ms"] for h in window]
    result.frames = len(window)
    result.scans = len(bus.matching(T.scan, lambda h: started <= h.received < now))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--still", action="store_true")
    parser.add_argument("--model-dir", type=Path)
    args = parser.parse_args()
    result = run(args.seconds, args.still, args.model_dir)
    print(f"{'process':<12}{'CPU s/min':>10}{'peak RSS MB':>12}")
    for name in PROCESSES:
        per_min = result.cpu_s[name] * 60 / result.seconds
        print(f"{name:<12}{per_min:>10.2f}{result.peak_rss_mb[name]:>12.1f}")
    print(
        f"total: {result.cpu_total * 60 / result.seconds:.2f} CPU s/min, "
        f"{result.rss_total:.0f} MB; {result.frames} frames classified, {result.scans} scans "
        f"in {result.seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
