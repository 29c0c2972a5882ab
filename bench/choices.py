"""The lane's cost choices, each measured before and after in the same run, in this process.

    .venv/bin/python -m bench.choices [--quick]

- The camera stops a scene's settle frames once the classifier's prediction says it is
  `settled` (the item named, asked about or called unsure, or the counter empty again). The
  demo's photos go through the real gate, the real model and the real scan decision, with and
  without that feedback: frames classified per placement, and what was announced (which must be
  the same).
- onnxruntime's pool threads spin-wait between frames, or sleep (`allow_spinning` 0): wall
  and CPU time per frame at the camera's 15 fps pace.
- OpenCV's thread pool (a thread per core) or one thread for the camera's gate and JPEG
  encoding, at the same pace.

Pacing uses sleeps on purpose: the cost of a frame after the core went idle is what a lane pays.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import onnxruntime as ort

from bench.report import Cell, Section, Table
from camera_node.gate import Gate, GateSettings
from camera_node.sources import DEMO_ITEMS
from classifier_node.decision import ScanDecider
from classifier_node.model import Model
from classifier_node.settings import ClassifierSettings
from scantalk.contract import Guess
from scantalk.scene import TUXPAINT_FOOD, empty_scene, photo_frame
from scantalk.settings import DEFAULT_MODEL_DIR

FPS = 15
DWELL_FRAMES = GAP_FRAMES = 45
"""An item 3 s, then the empty counter 3 s, at 15 fps: as `bench.stack` runs the demo."""
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 85]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settle_feedback(model: Model, items: int) -> list[list[Cell]]:
    """Frames classified per placement, and what was announced, with and without the
    classifier's `settled` feedback to the gate."""
    thresholds = ClassifierSettings().thresholds
    scenes = [np.ascontiguousarray(empty_scene((640, 480))[:, :, ::-1])]
    for item in DEMO_ITEMS[:items]:
        scenes.append(np.ascontiguousarray(photo_frame(TUXPAINT_FOOD / item)[:, :, ::-1]))
    stream = []
    for scene in scenes[1:]:
        stream += [scene] * DWELL_FRAMES + [scenes[0]] * GAP_FRAMES
    rows: list[list[Cell]] = []
    for feedback in (False, True):
        gate = Gate(GateSettings(settle_frames=thresholds.settle_frames, heartbeat_s=1000))
        decider = ScanDecider(thresholds)
        classified, said = 0, []
        for i, frame in enumerate(stream):
            verdict = gate.check(frame, i / FPS)
            if not verdict.publish:
                continue
            jpeg = bytes(cv2.imencode(".jpg", frame, JPEG)[1])
            decided = decider.observe(model.read(model.decode(jpeg)))
            classified += 1
            if isinstance(decided, Guess):
                said.append(decided.label)
            if feedback and decider.settled:
                gate.settled(verdict.sequence)
        mode = "with `settled` (now)" if feedback else "settle frames only (before)"
        rows.append([mode, classified / items, ", ".join(said) or "-"])
    return rows


def paced(frames: int, work: Callable[[], object]) -> tuple[float, float]:
    """Median wall ms and mean CPU ms of `work`, once every 1/FPS s."""
    stop = threading.Event()
    work()
    walls, started_cpu = [], _cpu()
    for _ in range(frames):
        t = time.perf_counter()
        work()
        walls.append((time.perf_counter() - t) * 1000)
        stop.wait(1 / FPS)  # the camera's pace: the core goes idle between frames
    return statistics.median(walls), (_cpu() - started_cpu) * 1000 / frames


def spinning(frames: int) -> list[list[Cell]]:
    tensor = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    rows: list[list[Cell]] = []
    for label, spin in (("spin-wait (before)", "1"), ("sleep, `allow_spinning` 0 (now)", "0")):
        options = ort.SessionOptions()
        options.intra_op_num_threads = ClassifierSettings().inference_threads
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        session = ort.InferenceSession(
            str(DEFAULT_MODEL_DIR / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        wall, cpu = paced(frames, functools.partial(session.run, None, {name: tensor}))
        rows.append([label, wall, cpu])
    return rows


def opencv_threads(frames: int) -> list[list[Cell]]:
    frame = np.ascontiguousarray(photo_frame(TUXPAINT_FOOD / DEMO_ITEMS[0])[:, :, ::-1])
    still = np.ascontiguousarray(empty_scene((640, 480))[:, :, ::-1])
    rows: list[list[Cell]] = []
    before = cv2.getNumThreads()
    try:
        for label, threads in ((f"{before} (a thread per core, before)", before), ("1 (now)", 1)):
            cv2.setNumThreads(threads)
            gate = Gate(GateSettings(settle_frames=7, heartbeat_s=1000))
            gate_wall, gate_cpu = paced(frames, functools.partial(gate.check, still, 0.0))
            jpeg_wall, jpeg_cpu = paced(frames, lambda: cv2.imencode(".jpg", frame, JPEG))
            rows.append([label, gate_wall, gate_cpu, jpeg_wall, jpeg_cpu])
    finally:
        cv2.setNumThreads(before)
    return rows


def section(quick: bool, frames: int = 150) -> Section:
    items = 3 if quick else len(DEMO_ITEMS)
    model = Model(DEFAULT_MODEL_DIR, threads=ClassifierSettings().inference_threads)
    out = Section("The lane's cost choices, before and after")
    out.tables.append(
        Table(
            ["camera", "frames classified per placement", "announced"],
            settle_feedback(model, items),
            f"The demo's first {items} photos (each {DWELL_FRAMES} frames, then "
            f"{GAP_FRAMES} of the empty counter) through the real gate, model and scan "
            "decision, in this process: what is announced must not change.",
        )
    )
    out.tables.append(
        Table(
            ["onnxruntime pool threads between frames", "wall ms per frame", "CPU ms per frame"],
            spinning(frames),
            f"Inference alone, the default model, {ClassifierSettings().inference_threads} "
            f"threads, one frame every 1/{FPS} s, {frames} frames.",
        )
    )
    out.tables.append(
        Table(
            ["OpenCV threads", "gate wall ms", "gate CPU ms", "JPEG wall ms", "JPEG CPU ms"],
            opencv_threads(frames),
            f"The camera's work per frame at a still counter (gate) and per frame it sends "
            f"(JPEG, 640x480), one every 1/{FPS} s, {frames} frames.",
        )
    )
    return out


def main() -> None:
    from bench.report import markdown

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(markdown("Choices", [section(args.quick, 15 if args.quick else 150)], "plots"))


if __name__ == "__main__":
    main()
