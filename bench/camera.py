"""CPU of the camera and classifier nodes with a still scene versus a moving one.

    .venv/bin/python -m bench.camera [--seconds 20]

Both nodes run as processes against a real broker; the camera reads a 640x480 video at 15 fps
(made from tuxpaint photos: an empty counter with sensor noise, or items moving in and out),
with the motion gate on. Process CPU time is read from /proc over the same window for both
scenes, in one run. Also: frames published per minute while idle, and how many frames pass
between an item being placed and the first frame published for it (the gate, in process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import cpu_seconds
from camera_node.gate import Gate, GateSettings
from classifier_node.settings import ClassifierSettings
from scantalk.commands.broker import Broker, free_port
from scantalk.contract import Topics
from scantalk.processes import stop_process
from testbench.bus import Bus, wait_online
from testbench.scenes import footage, write_video

FPS = 15


def run_scene(video: Path, seconds: float, tmp: Path) -> dict[str, float]:
    with Broker(free_port(), tmp / f"broker-{video.stem}") as broker:
        env = {
            **os.environ, "SCANTALK_MQTT_PORT": str(broker.port),
            "SCANTALK_DATA_DIR": str(tmp / f"data-{video.stem}"),
            "SCANTALK_CAMERA_SOURCE": str(video), "SCANTALK_CAMERA_FPS": str(FPS),
        }  # fmt: skip
        # the wire format, on purpose: Topics has no "+" for the node
        bus = Bus(broker.port, [Topics("+").frame, "scantalk/+/+/status"])
        nodes = {
            name: subprocess.Popen([sys.executable, "-m", "scantalk", "node", name], env=env)
            for name in ("classifier", "camera")
        }
        try:
            wait_online(bus, *nodes)
            time.sleep(3)  # past start-up (model load, first frames): measure the steady state
            before = {name: cpu_seconds(p.pid) for name, p in nodes.items()}
            frames_before, started = len(bus.matching(Topics("+").frame)), time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            used = {name: cpu_seconds(p.pid) - before[name] for name, p in nodes.items()}
            frames = len(bus.matching(Topics("+").frame)) - frames_before
        finally:
            for process in nodes.values():
                stop_process(process)
            bus.close()
    return {
        "camera %": 100 * used["camera"] / elapsed,
        "classifier %": 100 * used["classifier"] / elapsed,
        "frames/min": 60 * frames / elapsed,
    }


def placement_delay() -> tuple[int, float]:
    """Frames from placement to the first published frame, and the gate's time per frame."""
    frames = footage()
    empty = [f for phase, f in frames if phase == "empty"][:15]
    resting = [f for phase, f in frames if phase == "resting"][:5]
    # As many settle frames as the classifier says it needs at its default settings.
    gate = Gate(GateSettings(settle_frames=ClassifierSettings().thresholds.settle_frames))
    timings, first = [], None
    for i, frame in enumerate(empty + resting):
        started = time.perf_counter()
        published = gate.check(frame, now=i / FPS).publish
        timings.append((time.perf_counter() - started) * 1000)
        if i >= len(empty) and published and first is None:
            first = i - len(empty)
    return first if first is not None else -1, statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    frames = footage()
    still = [(phase, frame) for phase, frame in footage(noise=2.0, seed=7) if phase == "empty"] * 6
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results = {
            "still": run_scene(write_video(tmp / "still.avi", still, FPS), args.seconds, tmp),
            "moving": run_scene(write_video(tmp / "moving.avi", frames, FPS), args.seconds, tmp),
        }
    print(f"{args.seconds:.0f} s a scene, camera 640x480 at {FPS} fps, gate on; CPU % of one core")
    print(f"{'scene':<10}{'camera %':>10}{'classifier %':>14}{'frames/min':>12}")
    for scene, r in results.items():
        print(
            f"{scene:<10}{r['camera %']:>10.1f}{r['classifier %']:>14.1f}{r['frames/min']:>12.0f}"
        )
    for node in ("camera %", "classifier %"):
        ratio = results["moving"][node] / max(results["still"][node], 1e-9)
        print(f"{node.split()[0]} CPU moving/still: {ratio:.1f}x")
    delay, gate_ms = placement_delay()
    print(f"placement to first published frame: {delay} frames later (gate {gate_ms:.2f} ms/frame, "
          f"frame interval {1000 / FPS:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
