"""Classifier latency per frame against bare inference, fp32 and int8, 1 and 2 threads.

    .venv/bin/python -m bench.classifier [--frames 300]

"pipeline" is what the node does per frame: JPEG decode + preprocess + inference; "bare" is
`session.run` alone on the same preprocessed tensor. Both are measured in the same run,
interleaved, on a real camera-size (640x480) JPEG of a tuxpaint photo. Accuracy is
`scantalk model eval` on the tuxpaint set (testbench/tuxpaint-eval.csv).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from classifier_node.evaluation import evaluate
from classifier_node.model import Model
from classifier_node.settings import ClassifierSettings
from scantalk.latency import percentile
from scantalk.scene import TUXPAINT_FOOD, photo_frame
from scantalk.settings import BUILT_IN_MODELS
from testbench.eval_set import make as make_eval_set

PHOTO = TUXPAINT_FOOD / "fruit" / "banana.png"


def measure(model: Model, jpeg: bytes, frames: int) -> tuple[list[float], list[float]]:
    tensor = model.preprocess(model.decode(jpeg))
    run = model.session.run
    bare, pipeline = [], []
    for _ in range(10):  # warm up both paths
        model.run(model.preprocess(model.decode(jpeg)))
    for _ in range(frames):
        started = time.perf_counter()
        run([model.output], {model.input_name: tensor})
        bare.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        model.run(model.preprocess(model.decode(jpeg)))
        pipeline.append((time.perf_counter() - started) * 1000)
    return bare, pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    rgb = photo_frame(PHOTO)
    jpeg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    thresholds = ClassifierSettings().thresholds
    with tempfile.TemporaryDirectory() as tmp:
        eval_set = make_eval_set(Path(tmp))
        accuracy = {
            name: evaluate(Model(BUILT_IN_MODELS / name), eval_set, thresholds)
            for name in ("produce", "produce-int8")
        }
    print(f"classifier latency per 640x480 JPEG frame, {args.frames} frames each, ms")
    print(
        f"{'model':<14}{'threads':>8}{'bare med':>10}{'bare p99':>10}{'pipe med':>10}"
        f"{'pipe p99':>10}{'overhead':>10}"
    )
    medians = {}
    for name in ("produce", "produce-int8"):
        for threads in (1, 2):
            bare, pipeline = measure(Model(BUILT_IN_MODELS / name, threads), jpeg, args.frames)
            b, p = statistics.median(bare), statistics.median(pipeline)
            medians[name, threads] = p
            print(
                f"{name:<14}{threads:>8}{b:>10.2f}{percentile(bare, 0.99):>10.2f}{p:>10.2f}"
                f"{percentile(pipeline, 0.99):>10.2f}{(p - b) / b:>10.1%}"
            )
    print()
    for threads in (1, 2):
        ratio = medians["produce", threads] / medians["produce-int8", threads]
        print(f"int8 speed-up, pipeline median, {threads} thread(s): {ratio:.2f}x")
    for name, result in accuracy.items():
        print(
            f"{name}: produce accuracy {result['produce_accuracy']:.1%}, overall "
            f"{result['accuracy']:.1%}, false scans {result['false_scans']} "
            f"on {result['images']} tuxpaint images"
        )
    drop = accuracy["produce"]["produce_accuracy"] - accuracy["produce-int8"]["produce_accuracy"]
    print(f"int8 produce accuracy change: {-drop * 100:+.1f} points")


if __name__ == "__main__":
    main()
